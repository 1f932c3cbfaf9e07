"""Everything after ``up``: SSH to the nodes the outputs contract names, and the steps run over it.

Reads only ``spec.outputs`` (never ``targets/`` or pulumi), so it works the same on every target:
``ssh`` (one pinned, retried connection), ``pool`` (the head directly, other nodes through it),
``run``/``files`` (commands and SFTP), ``fanout`` (a step on many nodes at once), ``slurm`` (the job
lifecycle), ``mpi_job`` / ``job_follow`` (run-mpi's programs and batch scripts, submitted and followed) and
``mounts`` (shared file system and volumes). Every failure is a ``RemoteError`` (or ``BadInput``, for what the
user gave).
"""
