"""Compositions of components (hpc, spark, containers) selected by the spec."""
