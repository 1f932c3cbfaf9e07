/* A program that fails on purpose: every rank reports, then rank 0 exits with code 3 (argv[1] if
 * given). Used to check that a job's exit code becomes the task's exit code. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int rank, code = argc > 1 ? atoi(argv[1]) : 3;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "rank %d: failing on purpose with exit code %d\n", rank, code);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return rank == 0 ? code : 0;
}
