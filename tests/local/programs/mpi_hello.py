"""Each rank says, as one JSON line, where it runs, what arguments and MSG it got; rank 0 then says the sum of
every rank's number, which only a working communicator can give."""

import json
import os
import socket
import sys

from mpi4py import MPI

comm = MPI.COMM_WORLD
print(json.dumps({"rank": comm.rank, "size": comm.size, "host": socket.gethostname(), "argv": sys.argv[1:],
                  "msg": os.environ.get("MSG"), "empty": os.environ.get("EMPTY")}), flush=True)
total = comm.allreduce(comm.rank, op=MPI.SUM)
if comm.rank == 0:
    print(f"sum of ranks: {total}")
