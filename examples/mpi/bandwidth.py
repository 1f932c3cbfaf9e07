"""MPI bandwidth from one rank to another, in the OSU micro-benchmarks' pattern (osu_bw), with mpi4py.

For each message size: rank 0 posts a window of non-blocking sends, rank 1 the matching receives, and rank 1
acknowledges the window with a small message; after warm-up windows, the timed windows give the rate. Rank 0
prints which hosts hold the two ranks (as latency.py does), then one line per size:

    bandwidth bytes=4194304 MB/s=1180.52 iterations=20 window=64

Run it with one rank per node, latency.py beside it (the two share their loop):
`mpirun -np 2 --map-by node python3 bandwidth.py`.
"""

from __future__ import annotations

import argparse

from latency import each_size, sizes, timed
from mpi4py import MPI

ACK = 4  # bytes of the acknowledgement, as osu_bw sends


def bandwidth_mb_s(comm: MPI.Comm, size: int, window: int, warmup: int, iterations: int) -> float:
    """Megabytes (10^6 bytes) per second over ``iterations`` timed windows of ``window`` messages of ``size``."""
    message = [bytearray(size), MPI.BYTE]  # one buffer for the whole window, as osu_bw: the rate matters, not the data
    ack = [bytearray(ACK), MPI.BYTE]
    peer = 1 - comm.Get_rank()

    def send() -> None:
        MPI.Request.Waitall([comm.Isend(message, dest=peer, tag=2) for _ in range(window)])
        comm.Recv(ack, source=peer, tag=3)

    def receive() -> None:
        MPI.Request.Waitall([comm.Irecv(message, source=peer, tag=2) for _ in range(window)])
        comm.Send(ack, dest=peer, tag=3)

    return size * window * iterations / timed(comm, warmup, iterations, send, receive) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes, default=[1 << 20, 4 << 20],
                        help="message sizes in bytes (default 1048576,4194304)")
    parser.add_argument("--iterations", type=int, default=20, help="timed windows per size (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed windows first (default 2)")
    parser.add_argument("--window", type=int, default=64, help="messages in flight per window (default 64)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    each_size(comm, args.sizes, lambda size: bandwidth_mb_s(comm, size, args.window, args.warmup, args.iterations),
              lambda size, rate: f"bandwidth bytes={size} MB/s={rate:.2f} iterations={args.iterations} "
                                 f"window={args.window}")


if __name__ == "__main__":
    main()
