/* Built by CMake with find_package(MPI): rank 0 says how many ranks there are. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv) {
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0) printf("cmake: %d ranks\n", size);
    MPI_Finalize();
    return 0;
}
