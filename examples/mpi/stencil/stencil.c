/* The grid and the Jacobi update: the left boundary is held at 1, the right one at 0. */
#include <stdlib.h>

#include "stencil.h"

void domain_init(struct domain *d, int n_global, int rank, int size) {
    int base = n_global / size, extra = n_global % size;
    d->n_global = n_global;
    d->count = base + (rank < extra ? 1 : 0);
    d->first = rank * base + (rank < extra ? rank : extra);
    d->u = calloc((size_t)d->count + 2, sizeof(double));
    d->next = calloc((size_t)d->count + 2, sizeof(double));
    if (d->first == 0) d->u[1] = d->next[1] = 1.0;
}

void domain_free(struct domain *d) {
    free(d->u);
    free(d->next);
}

void jacobi_step(struct domain *d) {
    for (int i = 1; i <= d->count; i++) {
        int global = d->first + i - 1;
        if (global == 0 || global == d->n_global - 1) continue; /* fixed boundaries */
        d->next[i] = 0.5 * (d->u[i - 1] + d->u[i + 1]);
    }
    double *swap = d->u;
    d->u = d->next;
    d->next = swap;
}

double interior_sum(const struct domain *d) {
    double sum = 0.0;
    for (int i = 1; i <= d->count; i++) {
        int global = d->first + i - 1;
        if (global != 0 && global != d->n_global - 1) sum += d->u[i];
    }
    return sum;
}
