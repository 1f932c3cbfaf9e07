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
from collections.abc import Callable

from mpi4py import MPI


def sizes(text: str) -> list[int]:
    """``0,1024`` -> [0, 1024]: message sizes in bytes."""
    return [int(part) for part in text.split(",")]


def pair(comm: MPI.Comm) -> None:
    """Exactly two ranks, or a one-line error from rank 0 and exit code 2; rank 0 says where they run."""
    if comm.Get_size() != 2:
        if comm.Get_rank() == 0:
            print(f"{sys.argv[0]}: needs exactly 2 ranks (one per node), got {comm.Get_size()}", file=sys.stderr,
                  flush=True)
            comm.Abort(2)
        comm.Barrier()  # never passed: rank 0 aborts once its line is out, so no other rank's abort comes first
    hosts = comm.gather(MPI.Get_processor_name(), root=0)
    if comm.Get_rank() == 0:
        print(f"pair rank0={hosts[0]} rank1={hosts[1]}", flush=True)


def each_size(comm: MPI.Comm, sizes: list[int], measure: Callable[[int], float],
              line: Callable[[int, float], str]) -> None:
    """Rank 0 says where the two ranks run; then both measure each size and rank 0 prints its line."""
    pair(comm)
    for size in sizes:
        figure = measure(size)
        if comm.Get_rank() == 0:
            print(line(size, figure), flush=True)


def timed(comm: MPI.Comm, warmup: int, iterations: int, first: Callable[[], object],
          second: Callable[[], object]) -> float:
    """Seconds that ``iterations`` rounds take after ``warmup`` untimed ones, both ranks starting together: rank 0
    runs ``first`` each round, rank 1 ``second`` (the OSU benchmarks' loop)."""
    step = first if comm.Get_rank() == 0 else second
    comm.Barrier()
    for _ in range(warmup):
        step()
    start = MPI.Wtime()
    for _ in range(iterations):
        step()
    return MPI.Wtime() - start


def latency_us(comm: MPI.Comm, size: int, warmup: int, iterations: int) -> float:
    """Half the mean round trip of ``iterations`` timed ping-pongs of ``size`` bytes, in microseconds."""
    message = [bytearray(size), MPI.BYTE]
    peer = 1 - comm.Get_rank()

    def ping() -> None:
        comm.Send(message, dest=peer, tag=1)
        comm.Recv(message, source=peer, tag=1)

    def pong() -> None:
        comm.Recv(message, source=peer, tag=1)
        comm.Send(message, dest=peer, tag=1)

    return timed(comm, warmup, iterations, ping, pong) * 1e6 / (2 * iterations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=sizes, default=[0, 1024], help="message sizes in bytes (default 0,1024)")
    parser.add_argument("--iterations", type=int, default=10000, help="timed round trips per size (default 10000)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed round trips first (default 100)")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    each_size(comm, args.sizes, lambda size: latency_us(comm, size, args.warmup, args.iterations),
              lambda size, us: f"latency bytes={size} us={us:.2f} iterations={args.iterations}")


if __name__ == "__main__":
    main()
