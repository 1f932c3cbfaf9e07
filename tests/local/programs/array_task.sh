#!/bin/sh
# One array task: says its index on stdout and stderr; task 1 fails with exit code 5, task 2 with 3.
echo "task $SLURM_ARRAY_TASK_ID out"
echo "task $SLURM_ARRAY_TASK_ID err" >&2
case "$SLURM_ARRAY_TASK_ID" in
  1) exit 5 ;;
  2) exit 3 ;;
esac
