"""Pulumi ComponentResources, one concern each (aws/, azure/)."""
