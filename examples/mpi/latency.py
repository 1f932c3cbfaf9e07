"""MPI latency between two ranks, in the OSU micro-benchmarks' pattern (osu_latency), with mpi4py.

For each message size: a barrier, warm-up round trips, then timed round trips (rank 0 sends, rank 1 sends it
back); the latency is half a round trip. Rank 0 prints which hosts hold the two ranks, then one line per size:

    pair rank0=compute-0 rank1=compute-1
    latency bytes=0 us=8.41 iterations=10000

Run it with one rank per node to measure the network: `mpirun -np 2 --map-by node python3 latency.py`.
"""

from __future__ import annotations

import argparse
import sys

from mpi4py import MPI


def sizes(text: str) -> list[int]:
    """``0,1024`` -> [0, 1024]: message sizes in bytes."""
    return [int(part) for part in text.split(",")]


def pair(comm: MPI.Comm) -> None:
    """Exactly two ranks, or a one-line error from rank 0 and exit code 2; rank 0 says where they run."""
    if comm.Get_size() != 2:
        if comm.Get_rank() == 0:
            print(f"{sys.argv[0]}: needs exactly 2 ranks (one per node), got {comm.Get_size()}", file=sys.stderr)
        comm.Abort(2)
    hosts = comm.gather(MPI.Get_processor_name(), root=0)
    if comm.Get_rank() == 0:
        print(f"pair rank0={hosts[0]} rank1={hosts[1]}", flush=True)


def latency_us(comm: MPI.Comm, size: int, warmup: int, iterations: int) -> float:
    """Half the mean round trip of ``iterations`` timed ping-pongs of ``size`` bytes, in microseconds."""
    buffer = bytearray(size)
    peer = 1 - comm.Get_rank()
    comm.Barrier()
    start = 0.0
    for index in range(warmup + iterations):
        if index == warmup:
            start = MPI.Wtime()
        if comm.Get_rank() == 0:
            comm.Send([buffer, MPI.BYTE], dest=peer, tag=1)
            comm.Recv([buffer, MPI.BYTE], source=peer, tag=1)
        else:
            comm.Recv([buffer, MPI.BYTE], source=peer, tag=1)
            comm.Send([buffer, MPI.BYTE], dest=peer, tag=1)
    return (MPI.Wtime() - start) * 1e6 / (2 * iterations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes, default=[0, 1024], help="message sizes in bytes (default 0,1024)")
    parser.add_argument("--iterations", type=int, default=10000, help="timed round trips per size (default 10000)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed round trips first (default 100)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    pair(comm)
    for size in args.sizes:
        microseconds = latency_us(comm, size, args.warmup, args.iterations)
        if comm.Get_rank() == 0:
            print(f"latency bytes={size} us={microseconds:.2f} iterations={args.iterations}", flush=True)


if __name__ == "__main__":
    main()
