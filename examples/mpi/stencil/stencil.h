/* A 1-D heat stencil split across MPI ranks: each rank owns a contiguous run of the grid plus one halo
 * cell on each side, filled from its neighbours before every Jacobi step. */
#ifndef STENCIL_H
#define STENCIL_H

#include <mpi.h>

struct domain {
    int n_global;   /* grid points, both fixed boundaries included */
    int first;      /* global index of this rank's first owned point */
    int count;      /* points this rank owns */
    double *u;      /* count + 2 values: u[0] and u[count + 1] are the halos */
    double *next;
};

void domain_init(struct domain *d, int n_global, int rank, int size);
void domain_free(struct domain *d);
void exchange_halos(struct domain *d, MPI_Comm comm, int rank, int size);
void jacobi_step(struct domain *d);
double interior_sum(const struct domain *d);

#endif
