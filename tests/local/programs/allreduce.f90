! Each rank adds its rank + 1; rank 0 prints the sum, as Fortran prints it.
program allreduce
  use mpi
  implicit none
  integer :: rank, nranks, mine, total, ierr
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  mine = rank + 1
  call MPI_Allreduce(mine, total, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank == 0) print '(A,I0,A,I0)', 'fortran: ', nranks, ' ranks, sum ', total
  call MPI_Finalize(ierr)
end program allreduce
