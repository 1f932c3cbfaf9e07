"""AWS components (network, Slurm cluster, storage, containers)."""
