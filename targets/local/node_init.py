"""PID 1 of a local node: sets the hostname and the node's private mounts, then reaps orphans.

Started by ``node.py`` inside fresh UTS, mount and PID namespaces. Killing it kills every process of
the node (the kernel ends a PID namespace with its init), which is how destroy leaves nothing behind.
Standard library only: it runs before anything else is set up.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time


def _mount(source: str, target: str, kind: str) -> None:
    if kind == "tmpfs":
        os.makedirs(target, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", target], check=True)
        return
    if kind == "dir":
        os.makedirs(target, exist_ok=True)
    # recursive, so that folders re-bound inside a private tree (see node.start) come along
    subprocess.run(["mount", "--rbind", source, target], check=True)


def main() -> None:
    config = json.loads(sys.argv[1])
    socket.sethostname(config["hostname"])
    for source, target, kind in config["mounts"]:
        _mount(source, target, kind)
    for path in config.get("dirs", []):
        os.makedirs(path, exist_ok=True)
    with open(config["ready_file"], "w") as ready:
        ready.write("ready\n")
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1)


if __name__ == "__main__":
    main()
