! A built-in GRU read from a kelk model file, evaluated from Fortran on kelk's default execution
! space (a GPU when kelk was built for one): deer and block_jacobi against kelk's sequential
! evaluation, and the gradient of a misfit with respect to the weights, over the MPI ranks the
! program runs on (an mpif.h-style integer communicator here).
!
!   mpirun -np 2 gru_model_fortran input/examples/gru/model.h5 [T]
program gru_model_fortran
  use, intrinsic :: iso_c_binding
  use mpi_f08
  use kelk
  implicit none
  integer, parameter :: b = 3
  integer :: d, din, t, rank, m, failures, i, lb, lt
  integer(c_size_t) :: np
  character(512) :: path, arg
  type(kelk_map) :: map
  type(kelk_solver) :: solver
  type(kelk_partition) :: part
  type(kelk_options) :: opts
  type(kelk_result) :: res
  real(c_double), allocatable :: s0(:, :), u(:, :, :), ref(:, :, :), s(:, :, :), g(:, :, :), &
    dtheta(:), dtheta_seq(:)
  real(c_double) :: err
  type(kelk_adjoint_options) :: aopts
  integer, parameter :: methods(3) = [KELK_METHOD_DEER, KELK_METHOD_BLOCK_JACOBI, KELK_METHOD_AUTO]
  character(12), parameter :: names(3) = [character(12) :: 'deer', 'block_jacobi', 'auto']

  call MPI_Init()
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  failures = 0
  call get_command_argument(1, path)
  t = 3000
  if (command_argument_count() > 1) then
    call get_command_argument(2, arg)
    read (arg, *) t
  end if
  call kelk_map_load(map, trim(path))
  call kelk_map_dims(map, d, din)
  call kelk_map_parameter_count(map, np)
  if (rank == 0) write (*, '(a, a, a, i0, a, i0, a, i0, a)') 'GRU from ', trim(path), &
    ': D = ', d, ', Din = ', din, ', ', np, ' parameters'

  ! an integer handle, as from mpif.h or `use mpi`
  call kelk_solver_create(solver, MPI_COMM_WORLD%MPI_VAL, b, t)
  call kelk_solver_partition(solver, part)
  lb = part%batch_end - part%batch_begin
  lt = part%time_end - part%time_begin
  allocate (s0(d, lb), u(din, lt, lb), ref(d, lt, lb), s(d, lt, lb), g(d, lt, lb), &
            dtheta(np), dtheta_seq(np))
  ! this rank's block of a global problem: entries from their global indices
  do i = 1, lb
    s0(:, i) = 0.1d0 * (part%batch_begin + i)
  end do
  call fill(u, 1)
  call fill(g, 2)

  call kelk_options_default(opts)
  opts%method = KELK_METHOD_SEQUENTIAL
  call kelk_solver_solve(solver, map, s0, u, ref, opts)
  do m = 1, 3
    call kelk_options_default(opts)
    opts%method = methods(m)
    opts%atol = 1d-12
    call kelk_solver_solve(solver, map, s0, u, s, opts, res)
    err = maxval(abs(s - ref))
    call MPI_Allreduce(MPI_IN_PLACE, err, 1, MPI_DOUBLE_PRECISION, MPI_MAX, MPI_COMM_WORLD)
    call verdict(res%converged == 1 .and. err <= 1d-10, err, res%iterations, &
                 names(m))
    if (m == 3 .and. rank == 0) write (*, '(4x, a, a)') 'auto: ', kelk_string(res%choice)
  end do

  ! dL/dtheta (summed over ranks): block_sweeps against the sequential adjoint
  call kelk_adjoint_options_default(aopts)
  aopts%method = KELK_ADJOINT_SEQUENTIAL
  call kelk_solver_solve_adjoint(solver, map, s0, u, ref, g, aopts, dparameters=dtheta_seq)
  call kelk_adjoint_options_default(aopts)
  call kelk_solver_solve_adjoint(solver, map, s0, u, ref, g, aopts, dparameters=dtheta)
  err = maxval(abs(dtheta - dtheta_seq)) / maxval(abs(dtheta_seq))
  call verdict(err <= 1d-10 .and. maxval(abs(dtheta_seq)) > 0, err, 0, 'dL/dtheta')

  call kelk_solver_free(solver)
  call kelk_map_free(map)
  call kelk_finalize()
  call MPI_Allreduce(MPI_IN_PLACE, failures, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD)
  if (rank == 0) write (*, '(a)') merge('all checks passed ', 'SOME CHECKS FAILED', failures == 0)
  call MPI_Finalize()
  if (failures /= 0) error stop 1

contains

  ! a smooth function of the global indices, so every rank count sees the same problem
  subroutine fill(x, seed)
    real(c_double), intent(out) :: x(:, :, :)
    integer, intent(in) :: seed
    integer :: i1, i2, i3
    do i3 = 1, size(x, 3)
      do i2 = 1, size(x, 2)
        do i1 = 1, size(x, 1)
          x(i1, i2, i3) = sin(0.37d0 * i1 + 0.011d0 * seed * (part%time_begin + i2) + &
                              1.3d0 * (part%batch_begin + i3))
        end do
      end do
    end do
  end subroutine

  subroutine verdict(ok, value, iterations, what)
    logical, intent(in) :: ok
    real(c_double), intent(in) :: value
    integer, intent(in) :: iterations
    character(*), intent(in) :: what
    if (.not. ok) failures = failures + 1
    if (rank == 0 .or. .not. ok) write (*, '(2x, a, t20, es10.3, 2x, i5, " it.  ", a)') &
      trim(what), value, iterations, merge('ok    ', 'FAILED', ok)
  end subroutine

end program
