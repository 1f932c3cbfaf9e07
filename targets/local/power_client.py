#!/usr/bin/python3
"""Slurm's ResumeProgram and SuspendProgram on a local cluster's head: ``chpc-power --socket S start|stop HOSTLIST``
asks the host's power agent to start or stop those nodes, and says what it answered.

Copied onto the head by ``up`` and run there by slurmctld as the slurm user, with the system's ``python3``: the
standard library only. Slurm gives a hostlist (``cpu-[0-2],gpu-1``); ``scontrol show hostnames`` expands it, as
Slurm's own documentation does in its examples.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys

TIMEOUT = 30.0  # the agent answers at once and starts or stops the nodes afterwards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chpc-power")
    parser.add_argument("--socket", required=True, help="the power agent's unix socket")
    parser.add_argument("verb", choices=("start", "stop"))
    parser.add_argument("hostlist", help="Slurm's hostlist expression")
    args = parser.parse_args(argv)
    expanded = subprocess.run(["scontrol", "show", "hostnames", args.hostlist], capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    names = expanded.stdout.split()
    if expanded.returncode != 0 or not names:
        print(f"chpc-power {args.verb} {args.hostlist}: scontrol cannot expand it: {expanded.stderr.strip()}",
              file=sys.stderr)
        return 1
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as agent:
            agent.settimeout(TIMEOUT)
            agent.connect(args.socket)
            agent.sendall(f"{args.verb} {' '.join(names)}\n".encode())
            answer = agent.makefile("r", encoding="utf-8").readline().strip()
    except OSError as exc:
        print(f"chpc-power {args.verb} {args.hostlist}: the power agent at {args.socket} did not answer ({exc}); "
              "is the environment being destroyed?", file=sys.stderr)
        return 1
    print(f"chpc-power {args.verb} {args.hostlist}: {answer}", file=sys.stderr)
    return 0 if answer.startswith("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
