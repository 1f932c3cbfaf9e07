/* stencil [POINTS [STEPS]]: heat flowing along a rod split across the ranks; rank 0 prints the sum of the
 * interior temperatures after STEPS Jacobi steps (the same on any number of ranks). */
#include <stdio.h>
#include <stdlib.h>

#include "stencil.h"

int main(int argc, char **argv) {
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int points = argc > 1 ? atoi(argv[1]) : 64;
    int steps = argc > 2 ? atoi(argv[2]) : 100;
    if (points < size + 2 || steps < 0) {
        if (rank == 0) fprintf(stderr, "stencil: need at least %d points and steps >= 0\n", size + 2);
        MPI_Finalize();
        return 2;
    }
    struct domain d;
    domain_init(&d, points, rank, size);
    for (int step = 0; step < steps; step++) {
        exchange_halos(&d, MPI_COMM_WORLD, rank, size);
        jacobi_step(&d);
    }
    double local = interior_sum(&d), total = 0.0;
    MPI_Reduce(&local, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("stencil: %d points, %d steps, %d ranks: interior sum %.9f\n", points, steps, size, total);
    domain_free(&d);
    MPI_Finalize();
    return 0;
}
