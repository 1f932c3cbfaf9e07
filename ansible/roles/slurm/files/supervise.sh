#!/bin/sh
# Written by the cloud-hpc-toolkit slurm role, for nodes without an init system (the local target's).
# Runs a daemon in the foreground ("$@") and starts it again 5 s after it dies, as systemd's drop-in
# Restart=on-failure RestartSec=5 does on a cloud node: a killed slurmd comes back and Slurm
# (ReturnToService=2) puts its node back in service. A clean stop (exit 0, SIGHUP, SIGINT, SIGPIPE,
# SIGTERM: what systemd counts as clean) stays stopped.
while :; do
    "$@"
    status=$?
    case $status in
        0 | 129 | 130 | 141 | 143) exit 0 ;;
    esac
    echo "$(date -u +%FT%TZ) $1 ended with status $status; starting it again in 5 s" >&2
    sleep 5
done
