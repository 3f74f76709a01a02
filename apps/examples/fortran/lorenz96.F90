! Lorenz-96 with a weak, noisy forcing, one RK4 step per recurrence step, written in Fortran and
! handed to kelk as callbacks (use kelk). The program evaluates it with its own do-loop, then
! with kelk's deer, quasi_deer, elk and block_jacobi over the MPI ranks it runs on, checks each
! against the loop, checks that kelk wrote into the caller's array (no copy), and takes the
! gradient of a misfit with respect to the initial state, checked against central differences.
!
!   mpirun -np 2 lorenz96_fortran [T]      (exit status 0 when every check passes)
!
!   dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F + u_t      (indices cyclic)
! With F = 0.6 (below 8/9) the fixed point x = F attracts: the recurrence contracts.
module l96_map
  use, intrinsic :: iso_c_binding
  implicit none
  type, bind(C) :: l96
    integer(c_int) :: d
    real(c_double) :: forcing, dt
    ! the caller's states array, to check that kelk writes into it (no copy)
    integer(c_intptr_t) :: first, last
    integer(c_int) :: outside
  end type
contains
  ! the vector field and its tangent: field(x) and J(x) v + c (c: the tangent of the forcing)
  pure subroutine field(p, x, u, k)
    type(l96), intent(in) :: p
    real(c_double), intent(in) :: x(:), u
    real(c_double), intent(out) :: k(:)
    integer :: i
    do i = 1, p%d
      k(i) = (x(wrap(i + 1, p%d)) - x(wrap(i - 2, p%d))) * x(wrap(i - 1, p%d)) - x(i) + &
             p%forcing + u
    end do
  end subroutine
  pure subroutine tangent(p, x, v, c, k)
    type(l96), intent(in) :: p
    real(c_double), intent(in) :: x(:), v(:), c
    real(c_double), intent(out) :: k(:)
    integer :: i, a, b, m
    do i = 1, p%d
      a = wrap(i + 1, p%d)
      b = wrap(i - 2, p%d)
      m = wrap(i - 1, p%d)
      k(i) = (v(a) - v(b)) * x(m) + (x(a) - x(b)) * v(m) - v(i) + c
    end do
  end subroutine
  pure integer function wrap(i, d)
    integer, intent(in) :: i, d
    wrap = modulo(i - 1, d) + 1
  end function
  ! one RK4 step, and the tangent of it along (v, c)
  pure subroutine rk4(p, x, u, f, v, c, df)
    type(l96), intent(in) :: p
    real(c_double), intent(in) :: x(:), u, v(:), c
    real(c_double), intent(out) :: f(:), df(:)
    real(c_double), dimension(p%d) :: k1, k2, k3, k4, t1, t2, t3, t4
    call field(p, x, u, k1)
    call tangent(p, x, v, c, t1)
    call field(p, x + 0.5d0 * p%dt * k1, u, k2)
    call tangent(p, x + 0.5d0 * p%dt * k1, v + 0.5d0 * p%dt * t1, c, t2)
    call field(p, x + 0.5d0 * p%dt * k2, u, k3)
    call tangent(p, x + 0.5d0 * p%dt * k2, v + 0.5d0 * p%dt * t2, c, t3)
    call field(p, x + p%dt * k3, u, k4)
    call tangent(p, x + p%dt * k3, v + p%dt * t3, c, t4)
    f = x + p%dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    df = v + p%dt / 6 * (t1 + 2 * t2 + 2 * t3 + t4)
  end subroutine
  ! the Jacobian: column j is the tangent of e_j; jac(j, i) = d f_i / d x_j (kelk's row-major)
  pure subroutine jacobian_of(p, x, u, f, jac)
    type(l96), intent(in) :: p
    real(c_double), intent(in) :: x(:), u
    real(c_double), intent(out) :: f(:), jac(:, :)
    real(c_double) :: e(p%d), col(p%d)
    integer :: j
    do j = 1, p%d
      e = 0
      e(j) = 1
      call rk4(p, x, u, f, e, 0d0, col)
      jac(j, :) = col
    end do
  end subroutine

  ! ---- the callbacks (bind(C), the interfaces of module kelk) ---------------------------------
  integer(c_int) function step(s, u, f, context) bind(C)
    real(c_double), intent(in) :: s(*), u(*)
    real(c_double), intent(out) :: f(*)
    type(c_ptr), value :: context
    type(l96), pointer :: p
    integer(c_intptr_t) :: at
    call c_f_pointer(context, p)
    call step_only(p, s(1:p%d), u(1), f(1:p%d))
    at = address_of(f(1))
    if (at < p%first .or. at > p%last) p%outside = 1  ! a race, but only ever set to 1
    step = 0
  end function
  integer(c_intptr_t) function address_of(x)
    real(c_double), intent(in), target :: x
    address_of = transfer(c_loc(x), address_of)
  end function
  subroutine step_only(p, x, u, f)
    type(l96), intent(in) :: p
    real(c_double), intent(in) :: x(:), u
    real(c_double), intent(out) :: f(:)
    real(c_double) :: v(p%d), df(p%d)
    v = 0
    call rk4(p, x, u, f, v, 0d0, df)
  end subroutine
  integer(c_int) function jacobian(s, u, f, jac, context) bind(C)
    real(c_double), intent(in) :: s(*), u(*)
    real(c_double), intent(out) :: f(*), jac(*)
    type(c_ptr), value :: context
    type(l96), pointer :: p
    call c_f_pointer(context, p)
    call jacobian_of(p, s(1:p%d), u(1), f(1:p%d), jac_view(jac, p%d))
    jacobian = 0
  end function
  function jac_view(jac, d) result(m)
    integer, intent(in) :: d
    real(c_double), intent(in), target :: jac(d, d)
    real(c_double), pointer :: m(:, :)
    m => jac
  end function
  integer(c_int) function diagonal(s, u, f, diag, context) bind(C)
    real(c_double), intent(in) :: s(*), u(*)
    real(c_double), intent(out) :: f(*), diag(*)
    type(c_ptr), value :: context
    type(l96), pointer :: p
    real(c_double), allocatable :: jac(:, :)
    integer :: i
    call c_f_pointer(context, p)
    allocate (jac(p%d, p%d))
    call jacobian_of(p, s(1:p%d), u(1), f(1:p%d), jac)
    do i = 1, p%d
      diag(i) = jac(i, i)
    end do
    diagonal = 0
  end function
  ! ds += J^T lambda, du += (df/du)^T lambda
  integer(c_int) function vjp(s, u, lambda, ds, du, context) bind(C)
    real(c_double), intent(in) :: s(*), u(*), lambda(*)
    real(c_double), intent(inout) :: ds(*), du(*)
    type(c_ptr), value :: context
    type(l96), pointer :: p
    real(c_double), allocatable :: jac(:, :), f(:), v(:), dfdu(:)
    call c_f_pointer(context, p)
    allocate (jac(p%d, p%d), f(p%d), v(p%d), dfdu(p%d))
    call jacobian_of(p, s(1:p%d), u(1), f, jac)
    ! jac(j, i) = d f_i / d x_j, so (J^T lambda)_j = sum_i jac(j, i) lambda_i
    ds(1:p%d) = ds(1:p%d) + matmul(jac, lambda(1:p%d))
    v = 0
    call rk4(p, s(1:p%d), u(1), f, v, 1d0, dfdu)
    du(1) = du(1) + dot_product(dfdu, lambda(1:p%d))
    vjp = 0
  end function
end module

program lorenz96_fortran
  use, intrinsic :: iso_c_binding
  use mpi_f08
  use kelk
  use l96_map
  implicit none
  integer, parameter :: d = 16, din = 1, b = 2
  integer :: t, rank, nranks, i, j, k, m, failures, stat, lt, lb
  character(16) :: arg
  character(256) :: errmsg
  type(l96), target :: p
  real(c_double), allocatable :: s0(:, :), u(:, :, :), ref(:, :, :), g(:, :, :), s(:, :, :), &
    ul(:, :, :), refl(:, :, :), gl(:, :, :), ds0(:, :), s0h(:, :), sh(:, :, :)
  type(kelk_map) :: map
  type(kelk_solver) :: solver
  type(kelk_partition) :: part
  type(kelk_options) :: opts
  type(kelk_result) :: res
  real(c_double) :: err, worst, h, lp, lm, fd, loop_seconds
  integer(8) :: tick0, tick1, rate
  integer, parameter :: methods(5) = [KELK_METHOD_SEQUENTIAL, KELK_METHOD_DEER, &
                                      KELK_METHOD_QUASI_DEER, KELK_METHOD_ELK, &
                                      KELK_METHOD_BLOCK_JACOBI]
  character(12), parameter :: names(5) = [character(12) :: 'sequential', 'deer', 'quasi_deer', &
                                          'elk', 'block_jacobi']

  call MPI_Init()
  call MPI_Comm_rank(MPI_COMM_WORLD, rank)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks)
  t = 2000
  if (command_argument_count() > 0) then
    call get_command_argument(1, arg)
    read (arg, *) t
  end if
  p%d = d
  p%forcing = 0.6d0
  p%dt = 0.05d0
  failures = 0

  ! the problem (the same on every rank) and the caller's own do-loop
  allocate (s0(d, b), u(din, t, b), ref(d, t, b), g(d, t, b))
  call random_seed(put=[(37 * i + 11, i=1, 64)])
  call random_number(s0)
  call random_number(u)
  call random_number(g)
  s0 = 2 * s0 - 1
  u = 0.5d0 * (2 * u - 1)
  g = g - 0.5d0
  call do_loop(s0, u, ref)  ! twice: the time of the second, its pages already touched
  call system_clock(tick0, rate)
  call do_loop(s0, u, ref)
  call system_clock(tick1)
  loop_seconds = real(tick1 - tick0, c_double) / real(rate, c_double)

  call kelk_map_create_callbacks(map, d, din, step, jacobian=jacobian, &
                                 jacobian_diagonal=diagonal, vjp=vjp, context=c_loc(p))
  call kelk_solver_create(solver, MPI_COMM_WORLD, b, t)  ! an mpi_f08 communicator
  call kelk_solver_partition(solver, part)
  lb = part%batch_end - part%batch_begin
  lt = part%time_end - part%time_begin
  allocate (s(d, lt, lb), ds0(d, lb))
  ul = u(:, part%time_begin + 1:part%time_end, part%batch_begin + 1:part%batch_end)
  refl = ref(:, part%time_begin + 1:part%time_end, part%batch_begin + 1:part%batch_end)
  gl = g(:, part%time_begin + 1:part%time_end, part%batch_begin + 1:part%batch_end)
  if (rank == 0) write (*, '(a, i0, a, i0, a, i0, a, i0, a)') 'Lorenz-96 (Fortran callbacks): D = ', &
    d, ', B = ', b, ', T = ', t, ', on ', nranks, ' rank(s)'

  do m = 1, size(methods)
    call kelk_options_default(opts)
    opts%method = methods(m)
    opts%atol = 1d-11
    ! quasi_deer: the diagonal drops the advection couplings; it converges, slowly (within T
    ! iterations, as ALGORITHMS.md shows for every contracting map)
    if (methods(m) /= KELK_METHOD_QUASI_DEER) opts%max_iter = 500
    p%first = address_of(s(1, 1, 1))
    p%last = address_of(s(d, lt, lb))
    p%outside = 0
    call kelk_solver_solve(solver, map, s0(:, part%batch_begin + 1:part%batch_end), ul, s, &
                           opts, res, stat, errmsg)
    if (stat /= KELK_SUCCESS) then
      write (*, '(a, a, a, a)') 'FAILED: ', trim(names(m)), ': ', trim(errmsg)
      failures = failures + 1
      cycle
    end if
    err = maxval(abs(s - refl))
    call MPI_Allreduce(MPI_IN_PLACE, err, 1, MPI_DOUBLE_PRECISION, MPI_MAX, MPI_COMM_WORLD)
    call verdict(res%converged == 1 .and. err <= 1d-8, trim(names(m))//': max |s - do-loop|', &
                 err, res%iterations)
    if (methods(m) == KELK_METHOD_BLOCK_JACOBI .and. rank == 0) &
      write (*, '(4x, a, f8.4, a, f8.4, a, f6.2, a)') 'block_jacobi ', res%wall_seconds, &
        ' s, this program''s do-loop ', loop_seconds, ' s: ', res%wall_seconds / loop_seconds, &
        'x its time'
    if (methods(m) == KELK_METHOD_SEQUENTIAL) &
      call verdict(p%outside == 0, 'sequential wrote into the caller''s array (no copy)', &
                   real(p%outside, c_double), 0)
  end do

  ! dL/ds0 of L = sum g * s by the adjoint, against central differences of the do-loop
  call kelk_solver_solve(solver, map, s0(:, part%batch_begin + 1:part%batch_end), ul, s)
  call kelk_solver_solve_adjoint(solver, map, s0(:, part%batch_begin + 1:part%batch_end), ul, &
                                 s, gl, ds0=ds0)
  if (part%time_rank == 0) then
    allocate (s0h(d, b), sh(d, t, b))
    worst = 0
    h = 1d-6
    do k = part%batch_begin + 1, part%batch_end
      do j = 1, d
        s0h = s0
        s0h(j, k) = s0(j, k) + h
        call do_loop(s0h, u, sh)
        lp = sum(g * sh)
        s0h(j, k) = s0(j, k) - h
        call do_loop(s0h, u, sh)
        lm = sum(g * sh)
        fd = (lp - lm) / (2 * h)
        worst = max(worst, abs(fd - ds0(j, k - part%batch_begin)) / max(1d0, abs(fd)))
      end do
    end do
    call verdict(worst <= 1d-5, 'dL/ds0: max relative |adjoint - central diff.|', worst, 0)
  end if

  ! checkpoint and restart: deer stopped after 2 iterations (a checkpoint after each), then
  ! resumed from the file in a second call, ends where the uninterrupted solve does
  block
    type(kelk_checkpoint_options) :: ck
    type(kelk_result) :: whole
    real(c_double), allocatable :: sfull(:, :, :)
    character(40) :: file
    integer :: unit
    write (file, '(a, i0, a)') 'lorenz96_fortran_checkpoint_np', nranks, '.h5'
    call kelk_options_default(opts)
    opts%method = KELK_METHOD_DEER
    opts%atol = 1d-11
    opts%keep_best = 0  ! the last iterate, in both runs
    allocate (sfull, mold=s)
    call kelk_solver_solve(solver, map, s0(:, part%batch_begin + 1:part%batch_end), ul, sfull, &
                           opts, whole)
    ck%file = trim(file)
    ck%every = 1
    ck%problem = 'Lorenz-96 example, F = 0.6, dt = 0.05'
    opts%max_iter = 2
    call kelk_solver_solve_checkpointed(solver, map, s0(:, part%batch_begin + 1:part%batch_end), &
                                        ul, s, ck, opts, res)
    deallocate (ck%file)  ! the resumed run writes none
    ck%restart = trim(file)
    opts%max_iter = -1
    s = 0
    call kelk_solver_solve_checkpointed(solver, map, s0(:, part%batch_begin + 1:part%batch_end), &
                                        ul, s, ck, opts, res, stat, errmsg)
    if (stat /= KELK_SUCCESS .and. rank == 0) write (*, '(a, a)') '    errmsg: ', trim(errmsg)
    err = maxval(abs(s - sfull))
    call MPI_Allreduce(MPI_IN_PLACE, err, 1, MPI_DOUBLE_PRECISION, MPI_MAX, MPI_COMM_WORLD)
    call verdict(stat == KELK_SUCCESS .and. whole%iterations > 2 .and. &
                 res%iterations == whole%iterations .and. err <= 1d-12, &
                 'deer resumed: max |s - uninterrupted|', err, res%iterations)
    if (rank == 0) then
      open (newunit=unit, file=trim(file), status='old')
      close (unit, status='delete')
    end if
  end block

  ! an error comes back through stat/errmsg: deer on a map without the jacobian callback
  block
    type(kelk_map) :: plain
    call kelk_map_create_callbacks(plain, d, din, step, context=c_loc(p))
    call kelk_options_default(opts)
    opts%method = KELK_METHOD_DEER
    call kelk_solver_solve(solver, plain, s0(:, part%batch_begin + 1:part%batch_end), ul, s, &
                           opts, stat=stat, errmsg=errmsg)
    call verdict(stat == KELK_ERROR_INVALID_ARGUMENT .and. index(errmsg, 'jacobian') > 0, &
                 'deer without a jacobian: stat and errmsg', real(stat, c_double), 0)
    if (rank == 0) write (*, '(a, a)') '    errmsg: ', trim(errmsg)
    call kelk_map_free(plain)
  end block

  call kelk_solver_free(solver)
  call kelk_map_free(map)
  call kelk_finalize()
  call MPI_Allreduce(MPI_IN_PLACE, failures, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD)
  if (rank == 0) then
    if (failures == 0) then
      write (*, '(a)') 'all checks passed'
    else
      write (*, '(a)') 'SOME CHECKS FAILED'
    end if
  end if
  call MPI_Finalize()
  if (failures /= 0) error stop 1

contains

  subroutine do_loop(x0, inputs, states)
    real(c_double), intent(in) :: x0(:, :), inputs(:, :, :)
    real(c_double), intent(out) :: states(:, :, :)
    integer :: bb, tt
    do bb = 1, size(x0, 2)
      call step_only(p, x0(:, bb), inputs(1, 1, bb), states(:, 1, bb))
      do tt = 2, size(states, 2)
        call step_only(p, states(:, tt - 1, bb), inputs(1, tt, bb), states(:, tt, bb))
      end do
    end do
  end subroutine

  subroutine verdict(ok, what, value, iterations)
    logical, intent(in) :: ok
    character(*), intent(in) :: what
    real(c_double), intent(in) :: value
    integer, intent(in) :: iterations
    if (.not. ok) failures = failures + 1
    if (rank == 0 .or. .not. ok) write (*, '(2x, a, t52, es10.3, 2x, i5, " it.  ", a)') what, &
      value, iterations, merge('ok    ', 'FAILED', ok)
  end subroutine

end program
