! kelk's Fortran 2008 module: `use kelk`. iso_c_binding over the C API (kelk.h), whose
! documentation applies; this module adds Fortran arrays, optional arguments and the
! stat/errmsg convention of Fortran 2008's intrinsics (stat absent: an error stops the program
! with kelk's message; present: the status, and errmsg gets the message).
!
! Arrays: a Fortran array s(D, T, B) is kelk's row-major (B, T, D) in memory, so states,
! inputs(Din, T, B), s0(D, B) and cotangents(D, T, B) are passed without a copy (contiguous
! arrays; a non-contiguous section is copied in and out by the compiler).
module kelk
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
#ifdef KELK_HAVE_MPI
  use mpi_f08, only: MPI_Comm
#endif
  implicit none
  private

  ! ---- status codes (kelk_status) and enumerations --------------------------------------
  integer(c_int), parameter, public :: KELK_SUCCESS = 0, KELK_ERROR_INVALID_ARGUMENT = 1, &
    KELK_ERROR_CALLBACK = 2, KELK_ERROR_FILE = 3, KELK_ERROR_FINALIZED = 4, &
    KELK_ERROR_UNSUPPORTED = 5, KELK_ERROR_INTERNAL = 6
  integer(c_int), parameter, public :: KELK_METHOD_SEQUENTIAL = 0, KELK_METHOD_JACOBI = 1, &
    KELK_METHOD_DEER = 2, KELK_METHOD_QUASI_DEER = 3, KELK_METHOD_ELK = 4, &
    KELK_METHOD_QUASI_ELK = 5, KELK_METHOD_BLOCK_JACOBI = 6, KELK_METHOD_AUTO = 7
  integer(c_int), parameter, public :: KELK_GUESS_ZEROS = 0, KELK_GUESS_REPEAT_S0 = 1, &
    KELK_GUESS_PROVIDED = 2
  integer(c_int), parameter, public :: KELK_NON_FINITE_CLIP_AND_ZERO = 0, &
    KELK_NON_FINITE_RESET_TO_GUESS = 1, KELK_NON_FINITE_NONE = 2
  integer(c_int), parameter, public :: KELK_CONVERGED = 0, KELK_MAX_ITERATIONS = 1, &
    KELK_NON_FINITE = 2, KELK_STALLED = 3
  integer(c_int), parameter, public :: KELK_MAP_ELMAN = 0, KELK_MAP_GRU = 1, &
    KELK_MAP_LORENZ96 = 2, KELK_MAP_ARGRU = 3, KELK_MAP_LSTM = 4
  integer(c_int), parameter, public :: KELK_ADJOINT_SEQUENTIAL = 0, KELK_ADJOINT_SCAN = 1, &
    KELK_ADJOINT_BLOCK_SWEEPS = 2

  ! ---- the C structs ------------------------------------------------------------------------
  type, bind(C), public :: kelk_progress
    integer(c_int) :: iteration
    real(c_double) :: max_update, start_residual, sigma2
    integer(c_int) :: accepted, converged
  end type

  type, bind(C), public :: kelk_iteration_record
    integer(c_int) :: iteration
    real(c_double) :: max_update, max_residual
    integer(c_int64_t) :: steps_recomputed, longest_recomputation
    real(c_double) :: sigma2
    integer(c_int) :: accepted
  end type

  !> kelk_options: fill with kelk_options_default, then change fields. history: c_loc of an
  !> array of kelk_iteration_record (target) and its size; on_iteration: c_funloc of a bind(C)
  !> subroutine with the interface kelk_progress_fn.
  type, bind(C), public :: kelk_options
    integer(c_int) :: method
    real(c_double) :: atol, rtol
    integer(c_int) :: max_iter, fixed_iterations, initial_guess, non_finite
    real(c_double) :: clip_value
    integer(c_int) :: keep_best, chunks, blocks
    real(c_double) :: sigma2
    integer(c_int) :: sigma2_auto, kalman_smoother
    type(c_ptr) :: history = c_null_ptr
    integer(c_int) :: history_capacity = 0
    type(c_funptr) :: on_iteration = c_null_funptr
    type(c_ptr) :: on_iteration_context = c_null_ptr
  end type

  type, bind(C), public :: kelk_result
    integer(c_int) :: method, iterations, converged, reason
    real(c_double) :: final_update, final_residual
    integer(c_int) :: returned_iteration, history_length
    real(c_double) :: wall_seconds
    character(kind=c_char) :: choice(320)
  end type

  type, bind(C), public :: kelk_adjoint_options
    integer(c_int) :: method, chunks, blocks
  end type

  type, bind(C), public :: kelk_adjoint_result
    integer(c_int) :: method, sweeps
    integer(c_int64_t) :: steps_swept
    integer(c_int) :: finite
    real(c_double) :: wall_seconds
  end type

  type, bind(C), public :: kelk_probe_options
    integer(c_int) :: steps, discard
    real(c_double) :: relative_error, tolerance
  end type

  type, bind(C), public :: kelk_probe_result
    real(c_double) :: exponent, error, exponent_min, exponent_max
    integer(c_int) :: steps
    real(c_double) :: merge_length
    integer(c_int) :: predictable, finite
    character(kind=c_char) :: verdict(320)
  end type

  type, bind(C), public :: kelk_partition
    integer(c_int) :: batch, length, batch_ranks, time_ranks, batch_rank, time_rank
    integer(c_int) :: batch_begin, batch_end, time_begin, time_end
  end type

  !> A step map (built-in or from callbacks); free it with kelk_map_free.
  type, public :: kelk_map
    type(c_ptr) :: ptr = c_null_ptr
  end type

  !> A solver over the ranks of an MPI communicator; free it with kelk_solver_free.
  type, public :: kelk_solver
    type(c_ptr) :: ptr = c_null_ptr
  end type

  !> Checkpoint and restart of kelk_solver_solve_checkpointed (kelk.h's kelk_checkpoint_options):
  !> file (unallocated: no checkpoints), after every `every`-th iteration, every `seconds`
  !> seconds, and after the iteration during which `signal` arrived (0: none, e.g. 10 for
  !> SIGUSR1 on Linux); restart: a checkpoint to resume from; problem: what else identifies the
  !> problem (stored and compared on restart).
  type, public :: kelk_checkpoint_options
    character(:), allocatable :: file, restart, problem
    integer :: every = 0
    real(c_double) :: seconds = 0
    integer :: signal = 0
    logical :: report = .false.
  end type

  type, bind(C) :: c_checkpoint_options
    type(c_ptr) :: file
    integer(c_int) :: every
    real(c_double) :: seconds
    integer(c_int) :: signal, report
    type(c_ptr) :: restart, problem
  end type

  type, bind(C) :: kelk_callbacks
    type(c_funptr) :: step, jacobian, jacobian_diagonal, vjp
    type(c_ptr) :: context
  end type

  type, bind(C) :: kelk_gradients
    type(c_ptr) :: s0, inputs, parameters, adjoint
  end type

  ! ---- the interfaces a callback must have -----------------------------------------------
  !> The callbacks of a user's map: D = state dimension, Din = input dimension as given to
  !> kelk_map_create_callbacks. Return 0 on success. They are called concurrently from
  !> kelk's threads: thread-safe, no shared scratch, no kelk or MPI calls inside.
  abstract interface
    integer(c_int) function kelk_step_fn(s, u, f, context) bind(C)
      import :: c_int, c_double, c_ptr
      real(c_double), intent(in) :: s(*), u(*)
      real(c_double), intent(out) :: f(*)
      type(c_ptr), value :: context
    end function
    !> jac holds D * D entries, kelk's row-major jac[i * D + j] = d f_i / d s_j: as a Fortran
    !> array jac(D, D), jac(j, i) = d f_i / d s_j (the transpose of the Jacobian).
    integer(c_int) function kelk_jacobian_fn(s, u, f, jac, context) bind(C)
      import :: c_int, c_double, c_ptr
      real(c_double), intent(in) :: s(*), u(*)
      real(c_double), intent(out) :: f(*), jac(*)
      type(c_ptr), value :: context
    end function
    integer(c_int) function kelk_diagonal_fn(s, u, f, diag, context) bind(C)
      import :: c_int, c_double, c_ptr
      real(c_double), intent(in) :: s(*), u(*)
      real(c_double), intent(out) :: f(*), diag(*)
      type(c_ptr), value :: context
    end function
    !> adds lambda^T df/ds to ds and lambda^T df/du to du (du always holds Din entries; kelk
    !> discards them when it does not need the input gradient)
    integer(c_int) function kelk_vjp_fn(s, u, lambda, ds, du, context) bind(C)
      import :: c_int, c_double, c_ptr
      real(c_double), intent(in) :: s(*), u(*), lambda(*)
      real(c_double), intent(inout) :: ds(*), du(*)
      type(c_ptr), value :: context
    end function
    subroutine kelk_progress_fn(progress, context) bind(C)
      import :: kelk_progress, c_ptr
      type(kelk_progress), intent(in) :: progress
      type(c_ptr), value :: context
    end subroutine
  end interface
  public :: kelk_step_fn, kelk_jacobian_fn, kelk_diagonal_fn, kelk_vjp_fn, kelk_progress_fn

  ! ---- the C functions ------------------------------------------------------------------------
  interface
    type(c_ptr) function c_last_error() bind(C, name="kelk_last_error")
      import :: c_ptr
    end function
    type(c_ptr) function c_version() bind(C, name="kelk_version")
      import :: c_ptr
    end function
    integer(c_size_t) function c_strlen(s) bind(C, name="strlen")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_initialize(threads) bind(C, name="kelk_initialize")
      import :: c_int
      integer(c_int), value :: threads
    end function
    integer(c_int) function c_finalize() bind(C, name="kelk_finalize")
      import :: c_int
    end function
    subroutine kelk_options_default(options) bind(C, name="kelk_options_default")
      import :: kelk_options
      type(kelk_options), intent(out) :: options
    end subroutine
    subroutine kelk_adjoint_options_default(options) bind(C, name="kelk_adjoint_options_default")
      import :: kelk_adjoint_options
      type(kelk_adjoint_options), intent(out) :: options
    end subroutine
    subroutine kelk_probe_options_default(options) bind(C, name="kelk_probe_options_default")
      import :: kelk_probe_options
      type(kelk_probe_options), intent(out) :: options
    end subroutine
    integer(c_int) function c_map_create_callbacks(map, d, din, callbacks) &
        bind(C, name="kelk_map_create_callbacks")
      import :: c_int, c_ptr, kelk_callbacks
      type(c_ptr), intent(out) :: map
      integer(c_int), value :: d, din
      type(kelk_callbacks), intent(in) :: callbacks
    end function
    integer(c_int) function c_map_create_builtin(map, kind, d, din, parameters, count, step) &
        bind(C, name="kelk_map_create_builtin")
      import :: c_int, c_ptr, c_double, c_size_t
      type(c_ptr), intent(out) :: map
      integer(c_int), value :: kind, d, din
      real(c_double), intent(in) :: parameters(*)
      integer(c_size_t), value :: count
      real(c_double), value :: step
    end function
    integer(c_int) function c_map_load(map, path) bind(C, name="kelk_map_load")
      import :: c_int, c_ptr, c_char
      type(c_ptr), intent(out) :: map
      character(kind=c_char), intent(in) :: path(*)
    end function
    integer(c_int) function c_map_dims(map, d, din) bind(C, name="kelk_map_dims")
      import :: c_int, c_ptr
      type(c_ptr), value :: map
      integer(c_int), intent(out) :: d, din
    end function
    integer(c_int) function c_map_parameter_count(map, count) &
        bind(C, name="kelk_map_parameter_count")
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: map
      integer(c_size_t), intent(out) :: count
    end function
    subroutine c_map_free(map) bind(C, name="kelk_map_free")
      import :: c_ptr
      type(c_ptr), value :: map
    end subroutine
    integer(c_int) function c_solve(map, b, t, s0, inputs, states, options, result) &
        bind(C, name="kelk_solve")
      import :: c_int, c_ptr, kelk_options, kelk_result
      type(c_ptr), value :: map, s0, inputs, states
      integer(c_int), value :: b, t
      type(kelk_options), intent(in) :: options
      type(kelk_result), intent(out) :: result
    end function
    integer(c_int) function c_solve_adjoint(map, b, t, s0, inputs, states, cotangents, options, &
        gradients, result) bind(C, name="kelk_solve_adjoint")
      import :: c_int, c_ptr, kelk_adjoint_options, kelk_gradients, kelk_adjoint_result
      type(c_ptr), value :: map, s0, inputs, states, cotangents
      integer(c_int), value :: b, t
      type(kelk_adjoint_options), intent(in) :: options
      type(kelk_gradients), intent(in) :: gradients
      type(kelk_adjoint_result), intent(out) :: result
    end function
    integer(c_int) function c_probe(map, b, t, s0, inputs, options, result) &
        bind(C, name="kelk_probe")
      import :: c_int, c_ptr, kelk_probe_options, kelk_probe_result
      type(c_ptr), value :: map, s0, inputs
      integer(c_int), value :: b, t
      type(kelk_probe_options), intent(in) :: options
      type(kelk_probe_result), intent(out) :: result
    end function
    integer(c_int) function c_solver_create(solver, comm, batch, length, batch_ranks) &
        bind(C, name="kelk_solver_create_fortran")
      import :: c_int, c_ptr
      type(c_ptr), intent(out) :: solver
      integer(c_int), value :: comm, batch, length, batch_ranks
    end function
    integer(c_int) function c_solver_partition(solver, partition) &
        bind(C, name="kelk_solver_partition")
      import :: c_int, c_ptr, kelk_partition
      type(c_ptr), value :: solver
      type(kelk_partition), intent(out) :: partition
    end function
    integer(c_int) function c_solver_solve(solver, map, s0, inputs, states, options, result) &
        bind(C, name="kelk_solver_solve")
      import :: c_int, c_ptr, kelk_options, kelk_result
      type(c_ptr), value :: solver, map, s0, inputs, states
      type(kelk_options), intent(in) :: options
      type(kelk_result), intent(out) :: result
    end function
    integer(c_int) function c_solver_solve_adjoint(solver, map, s0, inputs, states, cotangents, &
        options, gradients, result) bind(C, name="kelk_solver_solve_adjoint")
      import :: c_int, c_ptr, kelk_adjoint_options, kelk_gradients, kelk_adjoint_result
      type(c_ptr), value :: solver, map, s0, inputs, states, cotangents
      type(kelk_adjoint_options), intent(in) :: options
      type(kelk_gradients), intent(in) :: gradients
      type(kelk_adjoint_result), intent(out) :: result
    end function
    integer(c_int) function c_solver_solve_checkpointed(solver, map, s0, inputs, states, &
        options, checkpoint, result) bind(C, name="kelk_solver_solve_checkpointed")
      import :: c_int, c_ptr, kelk_options, kelk_result, c_checkpoint_options
      type(c_ptr), value :: solver, map, s0, inputs, states
      type(kelk_options), intent(in) :: options
      type(c_checkpoint_options), intent(in) :: checkpoint
      type(kelk_result), intent(out) :: result
    end function
    subroutine c_solver_free(solver) bind(C, name="kelk_solver_free")
      import :: c_ptr
      type(c_ptr), value :: solver
    end subroutine
  end interface

  interface kelk_solver_create
    module procedure solver_create_integer
#ifdef KELK_HAVE_MPI
    module procedure solver_create_f08
#endif
  end interface

  public :: kelk_initialize, kelk_finalize, kelk_version, kelk_last_error, kelk_string
  public :: kelk_options_default, kelk_adjoint_options_default, kelk_probe_options_default
  public :: kelk_map_create_callbacks, kelk_map_create_builtin, kelk_map_load, kelk_map_dims
  public :: kelk_map_parameter_count, kelk_map_free
  public :: kelk_solve, kelk_solve_adjoint, kelk_probe
  public :: kelk_solver_create, kelk_solver_partition, kelk_solver_solve
  public :: kelk_solver_solve_adjoint, kelk_solver_free, kelk_solver_solve_checkpointed

contains

  !> A C string as a Fortran string.
  function from_c(p) result(text)
    type(c_ptr), intent(in) :: p
    character(:), allocatable :: text
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    if (.not. c_associated(p)) then
      text = ''
      return
    end if
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate (character(n) :: text)
    do i = 1, n
      text(i:i) = chars(i)
    end do
  end function

  !> A Fortran string as a NUL-terminated C string.
  function to_c(text) result(chars)
    character(*), intent(in) :: text
    character(kind=c_char), allocatable :: chars(:)
    integer :: i
    allocate (chars(len(text) + 1))
    do i = 1, len(text)
      chars(i) = text(i:i)
    end do
    chars(len(text) + 1) = c_null_char
  end function

  !> A NUL-terminated character array of a result (choice, verdict) as a Fortran string.
  function kelk_string(chars) result(text)
    character(kind=c_char), intent(in) :: chars(:)
    character(:), allocatable :: text
    integer :: i, n
    n = 0
    do while (n < size(chars))
      if (chars(n + 1) == c_null_char) exit
      n = n + 1
    end do
    allocate (character(n) :: text)
    do i = 1, n
      text(i:i) = chars(i)
    end do
  end function

  !> The message of the last failed call on this thread.
  function kelk_last_error() result(text)
    character(:), allocatable :: text
    text = from_c(c_last_error())
  end function

  function kelk_version() result(text)
    character(:), allocatable :: text
    text = from_c(c_version())
  end function

  !> The stat/errmsg convention: status into stat when present (errmsg: the message), else an
  !> error stops the program with the message.
  subroutine report(status, stat, errmsg)
    integer(c_int), intent(in) :: status
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    if (present(stat)) then
      stat = int(status)
      if (status /= KELK_SUCCESS .and. present(errmsg)) errmsg = kelk_last_error()
    else if (status /= KELK_SUCCESS) then
      write (error_unit, '(a)') kelk_last_error()
      error stop 1
    end if
  end subroutine

  !> A failure found by this module (array shapes): as report, with its own message.
  subroutine refuse(message, stat, errmsg)
    character(*), intent(in) :: message
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    if (present(stat)) then
      stat = int(KELK_ERROR_INVALID_ARGUMENT)
      if (present(errmsg)) errmsg = message
    else
      write (error_unit, '(a)') message
      error stop 1
    end if
  end subroutine

  subroutine kelk_initialize(threads, stat, errmsg)
    integer, intent(in), optional :: threads
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    integer(c_int) :: n
    n = 0
    if (present(threads)) n = int(threads, c_int)
    call report(c_initialize(n), stat, errmsg)
  end subroutine

  subroutine kelk_finalize(stat, errmsg)
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call report(c_finalize(), stat, errmsg)
  end subroutine

  !> A map from Fortran (or C) functions with the abstract interfaces above; context is passed
  !> to each (c_loc of the caller's data, or c_null_ptr).
  subroutine kelk_map_create_callbacks(map, state_dim, input_dim, step, jacobian, &
                                       jacobian_diagonal, vjp, context, stat, errmsg)
    type(kelk_map), intent(inout) :: map
    integer, intent(in) :: state_dim, input_dim
    procedure(kelk_step_fn) :: step
    procedure(kelk_jacobian_fn), optional :: jacobian
    procedure(kelk_diagonal_fn), optional :: jacobian_diagonal
    procedure(kelk_vjp_fn), optional :: vjp
    type(c_ptr), intent(in), optional :: context
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    type(kelk_callbacks) :: cb
    cb%step = c_funloc(step)
    cb%jacobian = c_null_funptr
    cb%jacobian_diagonal = c_null_funptr
    cb%vjp = c_null_funptr
    cb%context = c_null_ptr
    if (present(jacobian)) cb%jacobian = c_funloc(jacobian)
    if (present(jacobian_diagonal)) cb%jacobian_diagonal = c_funloc(jacobian_diagonal)
    if (present(vjp)) cb%vjp = c_funloc(vjp)
    if (present(context)) cb%context = context
    call report(c_map_create_callbacks(map%ptr, int(state_dim, c_int), int(input_dim, c_int), &
                                       cb), stat, errmsg)
  end subroutine

  !> A built-in map (KELK_MAP_ELMAN, KELK_MAP_GRU, KELK_MAP_LSTM, KELK_MAP_LORENZ96) from its
  !> parameters, in the order and row-major layout kelk.h lists (a Fortran matrix W(D, D) holds W^T then:
  !> pass transpose(W) flattened, or fill it as W(j, i)); step: Lorenz-96's time step.
  subroutine kelk_map_create_builtin(map, kind, state_dim, input_dim, parameters, step, stat, &
                                     errmsg)
    type(kelk_map), intent(inout) :: map
    integer, intent(in) :: kind, state_dim, input_dim
    real(c_double), intent(in) :: parameters(:)
    real(c_double), intent(in), optional :: step
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    real(c_double) :: dt
    dt = 0
    if (present(step)) dt = step
    call report(c_map_create_builtin(map%ptr, int(kind, c_int), int(state_dim, c_int), &
                                     int(input_dim, c_int), parameters, &
                                     int(size(parameters), c_size_t), dt), stat, errmsg)
  end subroutine

  !> The map of a kelk model file (docs/FILES.md).
  subroutine kelk_map_load(map, path, stat, errmsg)
    type(kelk_map), intent(inout) :: map
    character(*), intent(in) :: path
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call report(c_map_load(map%ptr, trim(path)//c_null_char), stat, errmsg)
  end subroutine

  subroutine kelk_map_dims(map, state_dim, input_dim, stat, errmsg)
    type(kelk_map), intent(in) :: map
    integer, intent(out) :: state_dim, input_dim
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    integer(c_int) :: d, din
    d = 0
    din = 0
    call report(c_map_dims(map%ptr, d, din), stat, errmsg)
    state_dim = int(d)
    input_dim = int(din)
  end subroutine

  subroutine kelk_map_parameter_count(map, count, stat, errmsg)
    type(kelk_map), intent(in) :: map
    integer(c_size_t), intent(out) :: count
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    count = 0
    call report(c_map_parameter_count(map%ptr, count), stat, errmsg)
  end subroutine

  subroutine kelk_map_free(map)
    type(kelk_map), intent(inout) :: map
    call c_map_free(map%ptr)
    map%ptr = c_null_ptr
  end subroutine

  !> The address of a (possibly empty) array for C: c_null_ptr when it has no element.
  function address(x) result(p)
    real(c_double), intent(in), target, contiguous :: x(:, :, :)
    type(c_ptr) :: p
    p = c_null_ptr
    if (size(x) > 0) p = c_loc(x)
  end function

  !> Checks a (n, T, B) array's shape; returns .false. after refusing it.
  logical function shaped(x, n, t, b, what, stat, errmsg)
    real(c_double), intent(in) :: x(:, :, :)
    integer, intent(in) :: n, t, b
    character(*), intent(in) :: what
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    character(200) :: text
    shaped = size(x, 1) == n .and. size(x, 2) == t .and. size(x, 3) == b
    if (.not. shaped) then
      write (text, '(a, " has shape (", i0, ", ", i0, ", ", i0, "); need (", i0, ", ", i0, &
                     &", ", i0, ")")') what, size(x, 1), size(x, 2), size(x, 3), n, t, b
      call refuse('kelk (Fortran): '//trim(text), stat, errmsg)
    end if
  end function

  !> D and Din of map, or .false. after refusing it.
  logical function dims_of(map, d, din, stat, errmsg)
    type(kelk_map), intent(in) :: map
    integer, intent(out) :: d, din
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    integer(c_int) :: cd, cdin, status
    cd = 0
    cdin = 0
    status = c_map_dims(map%ptr, cd, cdin)
    d = int(cd)
    din = int(cdin)
    dims_of = status == KELK_SUCCESS
    if (.not. dims_of) call report(status, stat, errmsg)
  end function

  !> Evaluates the recurrence: s0(D, B), inputs(Din, T, B) (any T, B when Din = 0: size 0),
  !> states(D, T, B) out (and in, with KELK_GUESS_PROVIDED).
  subroutine kelk_solve(map, s0, inputs, states, options, result, stat, errmsg)
    type(kelk_map), intent(in) :: map
    real(c_double), intent(in), target, contiguous :: s0(:, :), inputs(:, :, :)
    real(c_double), intent(inout), target, contiguous :: states(:, :, :)
    type(kelk_options), intent(in), optional :: options
    type(kelk_result), intent(out), optional :: result
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    type(kelk_options) :: o
    type(kelk_result) :: r
    integer :: d, din, t, b
    if (.not. dims_of(map, d, din, stat, errmsg)) return
    t = size(states, 2)
    b = size(states, 3)
    if (.not. shaped(states, d, t, b, 'states', stat, errmsg)) return
    if (.not. shaped(reshape(s0, [size(s0, 1), 1, size(s0, 2)]), d, 1, b, 's0 (as (D, 1, B))', &
                     stat, errmsg)) return
    if (din > 0) then
      if (.not. shaped(inputs, din, t, b, 'inputs', stat, errmsg)) return
    end if
    call kelk_options_default(o)
    if (present(options)) o = options
    call report(c_solve(map%ptr, int(b, c_int), int(t, c_int), c_loc(s0), address(inputs), &
                        c_loc(states), o, r), stat, errmsg)
    if (present(result)) result = r
  end subroutine

  !> The C struct of the gradients wanted: each present array's address, NULL for the others
  !> (and for empty arrays).
  function gradients_of(ds0, dinputs, dparameters, adjoint) result(g)
    real(c_double), intent(inout), target, contiguous, optional :: ds0(:, :), &
      dinputs(:, :, :), dparameters(:), adjoint(:, :, :)
    type(kelk_gradients) :: g
    g = kelk_gradients(c_null_ptr, c_null_ptr, c_null_ptr, c_null_ptr)
    if (present(ds0)) then
      if (size(ds0) > 0) g%s0 = c_loc(ds0)
    end if
    if (present(dinputs)) g%inputs = address(dinputs)
    if (present(dparameters)) then
      if (size(dparameters) > 0) g%parameters = c_loc(dparameters)
    end if
    if (present(adjoint)) g%adjoint = address(adjoint)
  end function

  !> Gradients through the recurrence: cotangents(D, T, B) = dL/ds_t; the outputs wanted
  !> (ds0(D, B), dinputs(Din, T, B), dparameters(kelk_map_parameter_count), adjoint(D, T, B)).
  subroutine kelk_solve_adjoint(map, s0, inputs, states, cotangents, options, ds0, dinputs, &
                                dparameters, adjoint, result, stat, errmsg)
    type(kelk_map), intent(in) :: map
    real(c_double), intent(in), target, contiguous :: s0(:, :), inputs(:, :, :), &
      states(:, :, :), cotangents(:, :, :)
    type(kelk_adjoint_options), intent(in), optional :: options
    real(c_double), intent(inout), target, contiguous, optional :: ds0(:, :), &
      dinputs(:, :, :), dparameters(:), adjoint(:, :, :)
    type(kelk_adjoint_result), intent(out), optional :: result
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    type(kelk_adjoint_options) :: o
    type(kelk_adjoint_result) :: r
    type(kelk_gradients) :: g
    integer :: d, din, t, b
    integer(c_size_t) :: np
    if (.not. dims_of(map, d, din, stat, errmsg)) return
    t = size(states, 2)
    b = size(states, 3)
    if (.not. shaped(states, d, t, b, 'states', stat, errmsg)) return
    if (.not. shaped(cotangents, d, t, b, 'cotangents', stat, errmsg)) return
    if (size(s0, 1) /= d .or. size(s0, 2) /= b) then
      call refuse('kelk (Fortran): s0 must have shape (D, B)', stat, errmsg)
      return
    end if
    if (din > 0) then
      if (.not. shaped(inputs, din, t, b, 'inputs', stat, errmsg)) return
    end if
    if (present(ds0)) then
      if (size(ds0, 1) /= d .or. size(ds0, 2) /= b) then
        call refuse('kelk (Fortran): ds0 must have the shape of s0, (D, B)', stat, errmsg)
        return
      end if
    end if
    if (present(dinputs)) then
      if (.not. shaped(dinputs, din, t, b, 'dinputs', stat, errmsg)) return
    end if
    if (present(dparameters)) then
      np = 0
      call report(c_map_parameter_count(map%ptr, np), stat, errmsg)
      if (size(dparameters, kind=c_size_t) /= np) then
        call refuse('kelk (Fortran): dparameters must have kelk_map_parameter_count entries', &
                    stat, errmsg)
        return
      end if
    end if
    if (present(adjoint)) then
      if (.not. shaped(adjoint, d, t, b, 'adjoint', stat, errmsg)) return
    end if
    g = gradients_of(ds0, dinputs, dparameters, adjoint)
    call kelk_adjoint_options_default(o)
    if (present(options)) o = options
    call report(c_solve_adjoint(map%ptr, int(b, c_int), int(t, c_int), c_loc(s0), &
                                address(inputs), c_loc(states), c_loc(cotangents), o, g, r), &
                stat, errmsg)
    if (present(result)) result = r
  end subroutine

  !> The predictability probe on the sequences' prefix (T = size(inputs, 2), or `length` when
  !> the map has no input).
  subroutine kelk_probe(map, s0, inputs, length, result, options, stat, errmsg)
    type(kelk_map), intent(in) :: map
    real(c_double), intent(in), target, contiguous :: s0(:, :), inputs(:, :, :)
    integer, intent(in) :: length
    type(kelk_probe_result), intent(out) :: result
    type(kelk_probe_options), intent(in), optional :: options
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    type(kelk_probe_options) :: o
    integer :: d, din
    if (.not. dims_of(map, d, din, stat, errmsg)) return
    if (size(s0, 1) /= d) then
      call refuse('kelk (Fortran): s0 must have shape (D, B)', stat, errmsg)
      return
    end if
    if (din > 0) then
      if (.not. shaped(inputs, din, length, size(s0, 2), 'inputs', stat, errmsg)) return
    end if
    call kelk_probe_options_default(o)
    if (present(options)) o = options
    call report(c_probe(map%ptr, int(size(s0, 2), c_int), int(length, c_int), c_loc(s0), &
                        address(inputs), o, result), stat, errmsg)
  end subroutine

  ! ---- over MPI ranks ----------------------------------------------------------------------------

  !> Collective: a solver over communicator `comm` (an integer handle of mpif.h / use mpi).
  subroutine solver_create_integer(solver, comm, batch, length, batch_ranks, stat, errmsg)
    type(kelk_solver), intent(inout) :: solver
    integer, intent(in) :: comm, batch, length
    integer, intent(in), optional :: batch_ranks
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    integer(c_int) :: groups
    groups = 1
    if (present(batch_ranks)) groups = int(batch_ranks, c_int)
    call report(c_solver_create(solver%ptr, int(comm, c_int), int(batch, c_int), &
                                int(length, c_int), groups), stat, errmsg)
  end subroutine

#ifdef KELK_HAVE_MPI
  !> Collective: a solver over an mpi_f08 communicator.
  subroutine solver_create_f08(solver, comm, batch, length, batch_ranks, stat, errmsg)
    type(kelk_solver), intent(inout) :: solver
    type(MPI_Comm), intent(in) :: comm
    integer, intent(in) :: batch, length
    integer, intent(in), optional :: batch_ranks
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call solver_create_integer(solver, comm%MPI_VAL, batch, length, batch_ranks, stat, errmsg)
  end subroutine
#endif

  !> This rank's block: sequences batch_begin+1 .. batch_end, steps time_begin+1 .. time_end.
  subroutine kelk_solver_partition(solver, partition, stat, errmsg)
    type(kelk_solver), intent(in) :: solver
    type(kelk_partition), intent(out) :: partition
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call report(c_solver_partition(solver%ptr, partition), stat, errmsg)
  end subroutine

  !> Collective: this rank's block s0(D, local B), inputs(Din, local T, local B),
  !> states(D, local T, local B). The shapes are checked by kelk (on every rank together).
  subroutine kelk_solver_solve(solver, map, s0, inputs, states, options, result, stat, errmsg)
    type(kelk_solver), intent(in) :: solver
    type(kelk_map), intent(in) :: map
    real(c_double), intent(in), target, contiguous :: s0(:, :), inputs(:, :, :)
    real(c_double), intent(inout), target, contiguous :: states(:, :, :)
    type(kelk_options), intent(in), optional :: options
    type(kelk_result), intent(out), optional :: result
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call solver_solve(solver, map, s0, inputs, states, options=options, result=result, &
                      stat=stat, errmsg=errmsg)
  end subroutine

  !> kelk_solver_solve with checkpoints and restart (see kelk_checkpoint_options). Collective.
  subroutine kelk_solver_solve_checkpointed(solver, map, s0, inputs, states, checkpoint, &
                                            options, result, stat, errmsg)
    type(kelk_solver), intent(in) :: solver
    type(kelk_map), intent(in) :: map
    real(c_double), intent(in), target, contiguous :: s0(:, :), inputs(:, :, :)
    real(c_double), intent(inout), target, contiguous :: states(:, :, :)
    type(kelk_checkpoint_options), intent(in) :: checkpoint
    type(kelk_options), intent(in), optional :: options
    type(kelk_result), intent(out), optional :: result
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    call solver_solve(solver, map, s0, inputs, states, checkpoint, options, result, stat, errmsg)
  end subroutine

  !> Both of the above: kelk_solver_solve_checkpointed when checkpoint is present.
  subroutine solver_solve(solver, map, s0, inputs, states, checkpoint, options, result, stat, &
                          errmsg)
    type(kelk_solver), intent(in) :: solver
    type(kelk_map), intent(in) :: map
    real(c_double), intent(in), target, contiguous :: s0(:, :), inputs(:, :, :)
    real(c_double), intent(inout), target, contiguous :: states(:, :, :)
    type(kelk_checkpoint_options), intent(in), optional :: checkpoint
    type(kelk_options), intent(in), optional :: options
    type(kelk_result), intent(out), optional :: result
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    type(kelk_options) :: o
    type(kelk_result) :: r
    type(c_checkpoint_options) :: c
    character(kind=c_char), allocatable, target :: file(:), restart(:), problem(:)
    type(c_ptr) :: s0p, sp
    integer(c_int) :: status
    call kelk_options_default(o)
    if (present(options)) o = options
    s0p = c_null_ptr
    sp = c_null_ptr
    if (size(s0) > 0) s0p = c_loc(s0)
    if (size(states) > 0) sp = c_loc(states)
    if (.not. present(checkpoint)) then
      status = c_solver_solve(solver%ptr, map%ptr, s0p, address(inputs), sp, o, r)
    else
      c = c_checkpoint_options(c_null_ptr, int(checkpoint%every, c_int), checkpoint%seconds, &
                               int(checkpoint%signal, c_int), 0_c_int, c_null_ptr, c_null_ptr)
      if (checkpoint%report) c%report = 1
      if (allocated(checkpoint%file)) then
        file = to_c(checkpoint%file)
        c%file = c_loc(file)
      end if
      if (allocated(checkpoint%restart)) then
        restart = to_c(checkpoint%restart)
        c%restart = c_loc(restart)
      end if
      if (allocated(checkpoint%problem)) then
        problem = to_c(checkpoint%problem)
        c%problem = c_loc(problem)
      end if
      status = c_solver_solve_checkpointed(solver%ptr, map%ptr, s0p, address(inputs), sp, o, c, r)
    end if
    call report(status, stat, errmsg)
    if (present(result)) result = r
  end subroutine

  !> Collective: this rank's blocks of the gradients (see kelk_solve_adjoint); dparameters is
  !> summed over the ranks.
  subroutine kelk_solver_solve_adjoint(solver, map, s0, inputs, states, cotangents, options, &
                                       ds0, dinputs, dparameters, adjoint, result, stat, errmsg)
    type(kelk_solver), intent(in) :: solver
    type(kelk_map), intent(in) :: map
    real(c_double), intent(in), target, contiguous :: s0(:, :), inputs(:, :, :), &
      states(:, :, :), cotangents(:, :, :)
    type(kelk_adjoint_options), intent(in), optional :: options
    real(c_double), intent(inout), target, contiguous, optional :: ds0(:, :), &
      dinputs(:, :, :), dparameters(:), adjoint(:, :, :)
    type(kelk_adjoint_result), intent(out), optional :: result
    integer, intent(out), optional :: stat
    character(*), intent(inout), optional :: errmsg
    type(kelk_adjoint_options) :: o
    type(kelk_adjoint_result) :: r
    type(kelk_gradients) :: g
    g = gradients_of(ds0, dinputs, dparameters, adjoint)
    call kelk_adjoint_options_default(o)
    if (present(options)) o = options
    call report(c_solver_solve_adjoint(solver%ptr, map%ptr, c_loc(s0), address(inputs), &
                                       c_loc(states), c_loc(cotangents), o, g, r), stat, errmsg)
    if (present(result)) result = r
  end subroutine

  !> Collective.
  subroutine kelk_solver_free(solver)
    type(kelk_solver), intent(inout) :: solver
    call c_solver_free(solver%ptr)
    solver%ptr = c_null_ptr
  end subroutine

end module kelk
