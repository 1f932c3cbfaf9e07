"""Writes results whose names attack the download (the driver runs on the head, in client mode): a folder named
``q\\n..`` holding ``.bashrc``, which a listing split on newlines reads as ``q`` and ``../.bashrc``, and that
``.bashrc`` beside the output folder too, so such a download would find it and write it beside the local one."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    output = sys.argv[1]
    os.makedirs(os.path.join(output, "q\n.."))
    for path in (os.path.join(output, "q\n..", ".bashrc"), os.path.join(output, "..", ".bashrc")):
        with open(path, "w") as handle:
            handle.write("echo owned\n")
    with open(os.path.join(output, "part-00000"), "w") as handle:
        handle.write("ok\n")
