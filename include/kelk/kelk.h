/* kelk's C API: parallel-in-time evaluation of s_t = f(s_{t-1}, u_t) from C (C99) and, through
 * the Fortran module `kelk` (iso_c_binding over these functions), from Fortran.
 *
 * Arrays are row-major and in host memory: s0 (B, D), inputs (B, T, Din), states (B, T, D),
 * index [(b * T + t) * D + i]. A Fortran array s(D, T, B) has exactly this layout. The caller's
 * arrays are used in place where kelk's execution space can read host memory; no function keeps
 * a pointer after it returns.
 *
 * Every function returns a kelk_status; on failure kelk_last_error() gives the message (per
 * thread), and the caller's memory is untouched except the outputs the function documents.
 * Nothing here aborts the host program or throws.
 *
 * Kokkos is started on first use (threads: OMP_NUM_THREADS / KOKKOS_NUM_THREADS, as for any
 * Kokkos program) unless kelk_initialize was called first or the host program's own Kokkos is
 * already running; kelk_finalize stops it if kelk started it.
 */
#ifndef KELK_H
#define KELK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ------------------------------------------------------------------ */

typedef enum kelk_status {
  KELK_SUCCESS = 0,
  KELK_ERROR_INVALID_ARGUMENT = 1, /* shapes, NaN/Inf, options, a method the map cannot serve */
  KELK_ERROR_CALLBACK = 2,         /* a callback of the user's map returned nonzero */
  KELK_ERROR_FILE = 3,             /* a model file could not be read */
  KELK_ERROR_FINALIZED = 4,        /* called after kelk_finalize (Kokkos cannot restart) */
  KELK_ERROR_UNSUPPORTED = 5,      /* this kelk was built without what the call needs (MPI, HDF5) */
  KELK_ERROR_INTERNAL = 6          /* anything else (out of memory, ...); the message says what */
} kelk_status;

/* The message of the last failed call on this thread ("" when none): valid until the next kelk
 * call on this thread. */
const char* kelk_last_error(void);
/* "major.minor.patch" */
const char* kelk_version(void);

/* ---- start and stop ----------------------------------------------------------------------- */

/* Starts Kokkos with `threads` host threads (0: from the environment, as Kokkos does). Optional:
 * every other call starts it on first use. KELK_SUCCESS without effect when it already runs
 * (started by kelk or by the host program). */
kelk_status kelk_initialize(int threads);
/* Stops Kokkos if kelk started it (after freeing every kelk object); later calls return
 * KELK_ERROR_FINALIZED. A host program that started Kokkos itself stops it itself. */
kelk_status kelk_finalize(void);

/* ---- options and results -------------------------------------------------------------------- */

typedef enum kelk_method {
  KELK_METHOD_SEQUENTIAL = 0,
  KELK_METHOD_JACOBI = 1,
  KELK_METHOD_DEER = 2,
  KELK_METHOD_QUASI_DEER = 3,
  KELK_METHOD_ELK = 4,
  KELK_METHOD_QUASI_ELK = 5,
  KELK_METHOD_BLOCK_JACOBI = 6,
  KELK_METHOD_AUTO = 7 /* probe the map's predictability first, then choose (README "auto") */
} kelk_method;

typedef enum kelk_initial_guess {
  KELK_GUESS_ZEROS = 0,
  KELK_GUESS_REPEAT_S0 = 1,
  KELK_GUESS_PROVIDED = 2 /* the contents of `states` on entry (a warm start) */
} kelk_initial_guess;

typedef enum kelk_non_finite {
  KELK_NON_FINITE_CLIP_AND_ZERO = 0,
  KELK_NON_FINITE_RESET_TO_GUESS = 1,
  KELK_NON_FINITE_NONE = 2
} kelk_non_finite;

typedef enum kelk_stop_reason {
  KELK_CONVERGED = 0,
  KELK_MAX_ITERATIONS = 1,
  KELK_NON_FINITE = 2,
  KELK_STALLED = 3
} kelk_stop_reason;

/* What the progress callback sees after each iteration (kelk::IterationProgress). */
typedef struct kelk_progress {
  int iteration;
  double max_update;
  double start_residual;
  double sigma2;
  int accepted;
  int converged;
} kelk_progress;
typedef void (*kelk_progress_fn)(const kelk_progress* progress, void* context);

/* One entry of the history (kelk::IterationRecord). */
typedef struct kelk_iteration_record {
  int iteration;
  double max_update;
  double max_residual;
  int64_t steps_recomputed;
  int64_t longest_recomputation;
  double sigma2;
  int accepted;
} kelk_iteration_record;

/* kelk::SolveOptions as plain data; kelk_options_default fills the library's defaults. */
typedef struct kelk_options {
  int method;           /* kelk_method; default KELK_METHOD_DEER */
  double atol;          /* < 0: the default (1e-7) */
  double rtol;          /* default 0 */
  int max_iter;         /* < 0: the default for the method and T */
  int fixed_iterations; /* nonzero: exactly max_iter iterations */
  int initial_guess;    /* kelk_initial_guess */
  int non_finite;       /* kelk_non_finite */
  double clip_value;    /* default 1e8 */
  int keep_best;        /* default 1 */
  int chunks;           /* 0: automatic */
  int blocks;           /* block_jacobi: 0: automatic */
  double sigma2;        /* elk, quasi_elk: 0: the default; other values <= 0 are refused */
  int sigma2_auto;      /* nonzero: adapt sigma2 every iteration */
  int kalman_smoother;  /* nonzero: Rauch-Tung-Striebel smoother (exact LM step) */
  /* history: when non-NULL, up to history_capacity records are written, one per iteration */
  kelk_iteration_record* history;
  int history_capacity;
  kelk_progress_fn on_iteration; /* called on the host after each iteration (may be NULL) */
  void* on_iteration_context;
} kelk_options;
void kelk_options_default(kelk_options* options);

typedef struct kelk_result {
  int method; /* the method that ran (with KELK_METHOD_AUTO: the one chosen) */
  int iterations;
  int converged;
  int reason; /* kelk_stop_reason */
  double final_update;
  double final_residual;
  int returned_iteration;
  int history_length; /* records written into options.history */
  double wall_seconds;
  char choice[320]; /* KELK_METHOD_AUTO: why the method was chosen, in plain words; else "" */
} kelk_result;

/* ---- step maps -------------------------------------------------------------------------------- */

typedef struct kelk_map kelk_map;

/* A map given as host functions, each returning 0 on success (nonzero stops the solve, which
 * then returns KELK_ERROR_CALLBACK with the value). Pointers address D (s, f, ds, lambda, diag),
 * Din (u, du) or D * D (jac, row-major: jac[i * D + j] = d f_i / d s_j) doubles; they never
 * alias. The callbacks are called concurrently from kelk's host threads (OpenMP): they must be
 * thread-safe and re-entrant (no shared scratch), and must not call kelk, MPI or exit. */
typedef int (*kelk_step_fn)(const double* s, const double* u, double* f, void* context);
typedef int (*kelk_jacobian_fn)(const double* s, const double* u, double* f, double* jac,
                                void* context);
typedef int (*kelk_diagonal_fn)(const double* s, const double* u, double* f, double* diag,
                                void* context);
/* adds lambda^T df/ds to ds and lambda^T df/du to du (du always holds Din doubles: kelk
 * discards them when it needs no input gradient) */
typedef int (*kelk_vjp_fn)(const double* s, const double* u, const double* lambda, double* ds,
                           double* du, void* context);

typedef struct kelk_callbacks {
  kelk_step_fn step;                  /* required */
  kelk_jacobian_fn jacobian;          /* optional: deer, elk, the adjoint scan */
  kelk_diagonal_fn jacobian_diagonal; /* optional: quasi_deer, quasi_elk */
  kelk_vjp_fn vjp;                    /* optional: kelk_solve_adjoint */
  void* context;                      /* passed to every callback */
} kelk_callbacks;

/* A map from callbacks, evaluated on the host: D >= 1 state and Din >= 0 input scalars. */
kelk_status kelk_map_create_callbacks(kelk_map** map, int state_dim, int input_dim,
                                      const kelk_callbacks* callbacks);

typedef enum kelk_builtin {
  KELK_MAP_ELMAN = 0,    /* s+ = tanh(W s + U u + c) */
  KELK_MAP_GRU = 1,      /* torch.nn.GRU's cell */
  KELK_MAP_LORENZ96 = 2, /* one RK4 step of Lorenz-96 (no input) */
  KELK_MAP_ARGRU = 3,    /* the ELK paper's autoregressive GRU */
  KELK_MAP_LSTM = 4      /* torch.nn.LSTM's cell on the state [h, c] (D = 2H) */
} kelk_builtin;

/* A built-in map from its parameters, laid out as its model file's datasets in the order of
 * kelk_map_parameter_names (the layout of the parameter gradient), each row-major:
 *   Elman (D, Din): W (D, D), U (D, Din), c (D);
 *   GRU (D, Din): W_ir, W_iz, W_in (D, Din), W_hr, W_hz, W_hn (D, D), b_ir, b_iz, b_in, b_hn (D);
 *   LSTM (D = 2H, Din): W_ii, W_if, W_ig, W_io (H, Din), W_hi, W_hf, W_hg, W_ho (H, H), b_i, b_f,
 *     b_g, b_o (H), each bias the sum of torch's two (b_ih + b_hh);
 *   Lorenz-96 (D, Din = 0): F (1); dt is `step` below (ignored by the others).
 * The ELK paper's autoregressive GRU comes from its file only (kelk_map_load). Runs on kelk's
 * default execution space (a GPU when kelk was built for one). */
kelk_status kelk_map_create_builtin(kelk_map** map, int kind, int state_dim, int input_dim,
                                    const double* parameters, size_t parameter_count,
                                    double step);
/* The built-in map stored in a kelk model file (docs/FILES.md), in double precision. */
kelk_status kelk_map_load(kelk_map** map, const char* path);
kelk_status kelk_map_dims(const kelk_map* map, int* state_dim, int* input_dim);
/* Scalars of the parameter gradient (0 for a callback map). */
kelk_status kelk_map_parameter_count(const kelk_map* map, size_t* count);
/* Frees the map; NULL is fine. */
void kelk_map_free(kelk_map* map);

/* ---- solving ------------------------------------------------------------------------------------ */

/* Evaluates B sequences of T steps: states (B, T, D) from s0 (B, D) and inputs (B, T, Din;
 * NULL when Din = 0). options NULL: the defaults. result may be NULL. */
kelk_status kelk_solve(const kelk_map* map, int batch, int length, const double* s0,
                       const double* inputs, double* states, const kelk_options* options,
                       kelk_result* result);

typedef enum kelk_adjoint_method {
  KELK_ADJOINT_SEQUENTIAL = 0,
  KELK_ADJOINT_SCAN = 1,        /* needs the jacobian */
  KELK_ADJOINT_BLOCK_SWEEPS = 2 /* the default */
} kelk_adjoint_method;

typedef struct kelk_adjoint_options {
  int method; /* kelk_adjoint_method */
  int chunks; /* scan: 0 automatic */
  int blocks; /* block_sweeps: 0 automatic */
} kelk_adjoint_options;
void kelk_adjoint_options_default(kelk_adjoint_options* options);

/* Where kelk_solve_adjoint writes; a NULL pointer skips that output (at least one given). */
typedef struct kelk_gradients {
  double* s0;         /* (B, D): dL/ds_0 */
  double* inputs;     /* (B, T, Din): dL/du_t */
  double* parameters; /* (kelk_map_parameter_count): dL/dtheta (built-in maps) */
  double* adjoint;    /* (B, T, D): lambda_t = dL/ds_t */
} kelk_gradients;

typedef struct kelk_adjoint_result {
  int method;
  int sweeps;
  int64_t steps_swept;
  int finite;
  double wall_seconds;
} kelk_adjoint_result;

/* Gradients of L(s_1..s_T) through the recurrence, given the states of a solve and the
 * cotangents dL/ds_t (B, T, D). Needs the map's vjp. */
kelk_status kelk_solve_adjoint(const kelk_map* map, int batch, int length, const double* s0,
                               const double* inputs, const double* states,
                               const double* cotangents, const kelk_adjoint_options* options,
                               const kelk_gradients* gradients, kelk_adjoint_result* result);

typedef struct kelk_probe_options {
  int steps;             /* 0: min(T, max(1000, T / 50)) */
  int discard;           /* -1: automatic */
  double relative_error; /* default 0.02 */
  double tolerance;      /* default 1e-7 */
} kelk_probe_options;
void kelk_probe_options_default(kelk_probe_options* options);

typedef struct kelk_probe_result {
  double exponent; /* largest Lyapunov exponent per step */
  double error;
  double exponent_min, exponent_max;
  int steps;
  double merge_length;
  int predictable;
  int finite;
  char verdict[320];
} kelk_probe_result;

/* The predictability probe (kelk::probe) on the sequences' prefix. */
kelk_status kelk_probe(const kelk_map* map, int batch, int length, const double* s0,
                       const double* inputs, const kelk_probe_options* options,
                       kelk_probe_result* result);

/* ---- over MPI ranks ----------------------------------------------------------------------------- */

/* A kelk::DistributedSolver: created collectively over a communicator (kelk_mpi.h:
 * kelk_solver_create takes an MPI_Comm; kelk_solver_create_fortran a Fortran handle, as
 * mpi_f08's comm%MPI_VAL or an mpif.h/mpi-module integer). */
typedef struct kelk_solver kelk_solver;

/* This rank's block: sequences [batch_begin, batch_end) and steps [time_begin, time_end)
 * (0-based) of the global (B, T) problem. */
typedef struct kelk_partition {
  int batch, length;
  int batch_ranks, time_ranks;
  int batch_rank, time_rank;
  int batch_begin, batch_end;
  int time_begin, time_end;
} kelk_partition;

kelk_status kelk_solver_create_fortran(kelk_solver** solver, int fortran_comm, int batch,
                                       int length, int batch_ranks);
kelk_status kelk_solver_partition(const kelk_solver* solver, kelk_partition* partition);
/* Collective. Every rank passes its block: s0 (local B, D), inputs (local B, local T, Din),
 * states (local B, local T, D). A failure on any rank (bad input, a callback) is returned on
 * every rank. */
kelk_status kelk_solver_solve(const kelk_solver* solver, const kelk_map* map, const double* s0,
                              const double* inputs, double* states, const kelk_options* options,
                              kelk_result* result);
/* Collective: this rank's blocks of the gradients; dL/ds0 on the first time rank; dL/dtheta
 * summed over all ranks, on every rank. */
kelk_status kelk_solver_solve_adjoint(const kelk_solver* solver, const kelk_map* map,
                                      const double* s0, const double* inputs,
                                      const double* states, const double* cotangents,
                                      const kelk_adjoint_options* options,
                                      const kelk_gradients* gradients,
                                      kelk_adjoint_result* result);
/* Collective; NULL is fine. */
void kelk_solver_free(kelk_solver* solver);

/* ---- checkpoint and restart of a distributed solve (kelk built with MPI and HDF5) ---------- */

/* A long solve in a batch job writes its current iterate to `file` (atomically: the file holds
 * the previous checkpoint or the new one, never half of one) and a later job resumes it from
 * there; the resumed solve ends where the uninterrupted one would. The file is a kelk output
 * file (docs/FILES.md, "Checkpoint files"), the same as kelk-run's. */
typedef struct kelk_checkpoint_options {
  const char* file; /* where checkpoints are written (NULL: none) */
  int every;        /* after every `every`-th iteration (0: never) */
  double seconds;   /* when `seconds` have passed since the last checkpoint (0: never) */
  int signal;       /* after the iteration during which this signal arrived (0: none), e.g.
                       SIGUSR1 from SLURM's --signal=USR1@300; the handler is installed for the
                       duration of the call and the previous one restored */
  int report;       /* nonzero: rank 0 prints "checkpoint: iteration N written to FILE" */
  const char* restart; /* a checkpoint to resume from (NULL: start afresh) */
  /* What identifies the problem beyond what kelk sees (a callback map's model and parameters,
   * say): stored with each checkpoint and compared on restart. kelk itself compares the method,
   * precision, shape, rank split, the options that change the iterates, the map (a built-in's
   * parameters; a callback map's dimensions only) and the s0 and inputs arrays. NULL: none. */
  const char* problem;
} kelk_checkpoint_options;
void kelk_checkpoint_options_default(kelk_checkpoint_options* checkpoint);

/* kelk_solver_solve with checkpoints and restart. With `restart`, the checkpoint must be of
 * this problem (else KELK_ERROR_INVALID_ARGUMENT naming what differs; a missing or damaged file:
 * KELK_ERROR_FILE); its iterate is the initial guess and what is left of max_iter runs.
 * Iterations are numbered on from the checkpoint's, in the progress callback, the history and
 * the result, as if the solve had never been interrupted. Collective. */
kelk_status kelk_solver_solve_checkpointed(const kelk_solver* solver, const kelk_map* map,
                                           const double* s0, const double* inputs,
                                           double* states, const kelk_options* options,
                                           const kelk_checkpoint_options* checkpoint,
                                           kelk_result* result);

#ifdef __cplusplus
}
#endif

#endif /* KELK_H */
