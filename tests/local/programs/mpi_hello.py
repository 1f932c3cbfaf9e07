"""Each rank says where it runs, what arguments and MSG it got; rank 0 prints every rank's record as one JSON line
(gathered: ranks printing their own lines at once could share a line of the job's output, since Open MPI forwards
ranks' writes as they come), then the sum of every rank's number, which only a working communicator can give."""

import json
import os
import socket
import sys

from mpi4py import MPI

comm = MPI.COMM_WORLD
mine = {"rank": comm.rank, "size": comm.size, "host": socket.gethostname(), "argv": sys.argv[1:],
        "msg": os.environ.get("MSG"), "empty": os.environ.get("EMPTY")}
records = comm.gather(mine, root=0)
total = comm.allreduce(comm.rank, op=MPI.SUM)
if comm.rank == 0:
    for record in records:
        print(json.dumps(record), flush=True)
    print(f"sum of ranks: {total}", flush=True)
