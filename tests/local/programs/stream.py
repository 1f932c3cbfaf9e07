"""Prints a line, then waits (at most a minute) for the file named by its argument before printing the next: the
test creates that file only once it has seen the first line, so the job cannot end before its output showed."""

import os
import sys
import time

from mpi4py import MPI

if MPI.COMM_WORLD.rank == 0:
    print("first line")
    print("first error line", file=sys.stderr)
    deadline = time.monotonic() + 60
    while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    print("second line" if os.path.exists(sys.argv[1]) else "the test never answered")
MPI.COMM_WORLD.Barrier()
