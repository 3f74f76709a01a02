/* Checkpoint and restart through the C API (kelk_solver_solve_checkpointed), at any rank count:
 * a solve stopped after a few iterations and resumed from its checkpoint ends where the
 * uninterrupted one does (states, iteration count, history), both equal to the caller's own
 * loop; a checkpoint of another problem is refused naming what differs, a missing one as a
 * file error, on every rank. */
#include <kelk/kelk_mpi.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 3, DIN = 1, B = 2, T = 240 };

static int failures = 0;
static void check(int ok, const char* what, double value) {
  if (!ok) {
    ++failures;
    fprintf(stderr, "FAILED: %s (%g)\n", what, value);
  }
}

/* f_i = tanh(0.9 s_i + 0.5 s_{i+1} + u): a contracting chain with couplings */
static int step(const double* s, const double* u, double* f, void* context) {
  (void)context;
  for (int i = 0; i < D; ++i) f[i] = tanh(0.9 * s[i] + 0.5 * s[(i + 1) % D] + u[0]);
  return 0;
}
static int jacobian(const double* s, const double* u, double* f, double* jac, void* context) {
  step(s, u, f, context);
  for (int i = 0; i < D * D; ++i) jac[i] = 0;
  for (int i = 0; i < D; ++i) {
    const double g = 1 - f[i] * f[i];
    jac[i * D + i] += 0.9 * g;
    jac[i * D + (i + 1) % D] += 0.5 * g;
  }
  return 0;
}

static void first_seen(const kelk_progress* p, void* context) {
  int* first = (int*)context;
  if (*first < 0) *first = p->iteration;
}

static double max_diff(const double* a, const double* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  /* the whole problem on every rank, and the caller's own loop */
  static double s0[B * D], u[B * T * DIN], loop[B * T * D];
  srand(7);
  for (int i = 0; i < B * D; ++i) s0[i] = 2.0 * rand() / RAND_MAX - 1;
  for (int i = 0; i < B * T * DIN; ++i) u[i] = 0.5 * (2.0 * rand() / RAND_MAX - 1);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      step(t == 0 ? s0 + b * D : loop + (b * T + t - 1) * D, u + (b * T + t) * DIN,
           loop + (b * T + t) * D, NULL);

  kelk_map* map = NULL;
  kelk_callbacks cb = {step, jacobian, NULL, NULL, NULL};
  kelk_solver* solver = NULL;
  if (kelk_map_create_callbacks(&map, D, DIN, &cb) != KELK_SUCCESS ||
      kelk_solver_create(&solver, MPI_COMM_WORLD, B, T, 1) != KELK_SUCCESS) {
    fprintf(stderr, "%s\n", kelk_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  kelk_partition p;
  kelk_solver_partition(solver, &p);
  const int lb = p.batch_end - p.batch_begin, lt = p.time_end - p.time_begin;
  const size_t n = (size_t)lb * lt * D;
  double* ls0 = malloc(sizeof(double) * lb * D);
  double* lu = malloc(sizeof(double) * lb * lt * DIN);
  double* mine = malloc(sizeof(double) * n);
  double* full = malloc(sizeof(double) * n);
  double* resumed = malloc(sizeof(double) * n);
  for (int b = 0; b < lb; ++b) {
    memcpy(ls0 + b * D, s0 + (p.batch_begin + b) * D, sizeof(double) * D);
    for (int t = 0; t < lt; ++t) {
      const int g = (p.batch_begin + b) * T + p.time_begin + t;
      memcpy(lu + (b * lt + t) * DIN, u + g * DIN, sizeof(double) * DIN);
      memcpy(mine + (b * lt + t) * D, loop + g * D, sizeof(double) * D);
    }
  }

  char file[64];
  snprintf(file, sizeof file, "c_checkpoint_np%d.h5", size);
  kelk_iteration_record history[64], whole_history[64];
  kelk_options o;
  kelk_options_default(&o);
  o.method = KELK_METHOD_DEER;
  o.keep_best = 0; /* the last iterate in both runs */
  o.history = history;
  o.history_capacity = 64;

  /* uninterrupted */
  kelk_result r;
  kelk_status st = kelk_solver_solve(solver, map, ls0, lu, full, &o, &r);
  check(st == KELK_SUCCESS && r.converged, "the uninterrupted solve converges", st);
  check(r.iterations > 3, "it takes more than the interrupted run's 3 iterations", r.iterations);
  check(max_diff(full, mine, n) < 1e-10, "uninterrupted = the caller's loop",
        max_diff(full, mine, n));
  const kelk_result uninterrupted = r;

  /* stopped after 3 iterations, a checkpoint after each */
  kelk_checkpoint_options c;
  kelk_checkpoint_options_default(&c);
  c.file = file;
  c.every = 1;
  c.problem = "the test's coupled tanh chain";
  kelk_options stopped = o;
  stopped.max_iter = 3;
  st = kelk_solver_solve_checkpointed(solver, map, ls0, lu, resumed, &stopped, &c, &r);
  check(st == KELK_SUCCESS && !r.converged && r.iterations == 3, "the interrupted solve", st);

  /* resumed: no new checkpoints, the count and the history carried on */
  kelk_checkpoint_options again;
  kelk_checkpoint_options_default(&again);
  again.restart = file;
  again.problem = c.problem;
  int seen_first = -1;
  o.history = whole_history;
  o.on_iteration = first_seen;
  o.on_iteration_context = &seen_first;
  for (int i = 0; i < (int)n; ++i) resumed[i] = NAN; /* the checkpoint fills them */
  st = kelk_solver_solve_checkpointed(solver, map, ls0, lu, resumed, &o, &again, &r);
  if (st != KELK_SUCCESS) fprintf(stderr, "%s\n", kelk_last_error());
  check(st == KELK_SUCCESS && r.converged, "the resumed solve converges", st);
  check(r.iterations == uninterrupted.iterations, "resumed: the uninterrupted count",
        r.iterations);
  check(r.history_length == uninterrupted.history_length, "resumed: the whole history",
        r.history_length);
  for (int i = 0; i < r.history_length && i < 64; ++i) {
    check(whole_history[i].iteration == i + 1, "history numbered on", whole_history[i].iteration);
    check(whole_history[i].max_update == history[i].max_update, "history equals the first run's",
          whole_history[i].max_update - history[i].max_update);
  }
  check(seen_first == 4, "the progress callback's first resumed iteration is the 4th",
        seen_first);
  check(max_diff(resumed, full, n) <= 1e-12, "resumed = uninterrupted",
        max_diff(resumed, full, n));

  /* a checkpoint of another problem, or none at all: refused on every rank */
  o.on_iteration = NULL;
  again.problem = "another problem";
  st = kelk_solver_solve_checkpointed(solver, map, ls0, lu, resumed, &o, &again, &r);
  check(st == KELK_ERROR_INVALID_ARGUMENT && strstr(kelk_last_error(), "problem") != NULL,
        "another problem is refused naming it", st);
  if (rank == 0) fprintf(stderr, "(expected) %s\n", kelk_last_error());
  again.problem = c.problem;
  lu[0] += 1e-3; /* other inputs */
  st = kelk_solver_solve_checkpointed(solver, map, ls0, lu, resumed, &o, &again, &r);
  check(st == KELK_ERROR_INVALID_ARGUMENT && strstr(kelk_last_error(), "input") != NULL,
        "other inputs are refused naming them", st);
  lu[0] -= 1e-3;
  again.restart = "no_such_checkpoint.h5";
  st = kelk_solver_solve_checkpointed(solver, map, ls0, lu, resumed, &o, &again, &r);
  check(st == KELK_ERROR_FILE || st == KELK_ERROR_INVALID_ARGUMENT,
        "a missing checkpoint is an error", st);
  check(strstr(kelk_last_error(), "no_such_checkpoint.h5") != NULL ||
            strstr(kelk_last_error(), "another rank") != NULL,
        "naming the file", st);
  st = kelk_solver_solve_checkpointed(solver, map, ls0, lu, resumed, &o, NULL, &r);
  check(st == KELK_ERROR_INVALID_ARGUMENT, "NULL checkpoint options are refused", st);

  kelk_solver_free(solver);
  kelk_map_free(map);
  free(ls0);
  free(lu);
  free(mine);
  free(full);
  free(resumed);
  if (rank == 0) remove(file);
  kelk_finalize();
  MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("%s: %d failures at %d ranks\n", argv[0], failures, size);
  MPI_Finalize();
  return failures == 0 ? 0 : 1;
}
