/* The C API (kelk.h) from C99: every method against the caller's own loop on a callback map and
 * on a built-in GRU given by its parameters, gradients against central differences, the probe,
 * the history and progress callback, and every error path (status and message, the caller's
 * memory untouched). Exit status 0 when every check passes. Run with OMP_NUM_THREADS = 1, 2. */
#include <kelk/kelk.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static void check(int ok, const char* what, double value) {
  if (!ok) ++failures;
  printf("  %-58s %10.3g  %s\n", what, value, ok ? "ok" : "FAILED");
}
/* the call returned `status` with a message containing `needle` */
static void refused(kelk_status got, kelk_status want, const char* needle, const char* what) {
  const char* message = kelk_last_error();
  const int ok = got == want && strstr(message, needle) != NULL;
  if (!ok) ++failures;
  printf("  %-58s %10d  %s\n      %s\n", what, (int)got, ok ? "ok" : "FAILED", message);
}

/* ---- a callback map: s+ = tanh(A s + C u + c), D = 3, Din = 2, A small (contracting) ---- */
enum { D = 3, DIN = 2 };
typedef struct {
  double A[D][D], C[D][DIN], c[D];
  double fail_at; /* step returns 3 when u[0] equals this */
} cell;

static void pre(const cell* m, const double* s, const double* u, double* a) {
  for (int i = 0; i < D; ++i) {
    a[i] = m->c[i];
    for (int j = 0; j < D; ++j) a[i] += m->A[i][j] * s[j];
    for (int j = 0; j < DIN; ++j) a[i] += m->C[i][j] * u[j];
  }
}
static int step(const double* s, const double* u, double* f, void* context) {
  const cell* m = (const cell*)context;
  if (u[0] == m->fail_at) return 3;
  pre(m, s, u, f);
  for (int i = 0; i < D; ++i) f[i] = tanh(f[i]);
  return 0;
}
static int jacobian(const double* s, const double* u, double* f, double* jac, void* context) {
  const cell* m = (const cell*)context;
  const int status = step(s, u, f, context);
  for (int i = 0; i < D; ++i)
    for (int j = 0; j < D; ++j) jac[i * D + j] = (1 - f[i] * f[i]) * m->A[i][j];
  return status;
}
static int diagonal(const double* s, const double* u, double* f, double* diag, void* context) {
  const cell* m = (const cell*)context;
  const int status = step(s, u, f, context);
  for (int i = 0; i < D; ++i) diag[i] = (1 - f[i] * f[i]) * m->A[i][i];
  return status;
}
static int vjp(const double* s, const double* u, const double* lambda, double* ds, double* du,
               void* context) {
  const cell* m = (const cell*)context;
  double f[D];
  step(s, u, f, context);
  for (int i = 0; i < D; ++i) {
    const double a = lambda[i] * (1 - f[i] * f[i]);
    for (int j = 0; j < D; ++j) ds[j] += a * m->A[i][j];
    for (int j = 0; j < DIN; ++j) du[j] += a * m->C[i][j];
  }
  return 0;
}

static void loop_cell(const cell* m, int B, int T, const double* s0, const double* u, double* s) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      step(t == 0 ? s0 + b * D : s + ((size_t)b * T + t - 1) * D, u + ((size_t)b * T + t) * DIN,
           s + ((size_t)b * T + t) * D, (void*)m);
}

/* ---- torch.nn.GRU's cell, written out, on kelk's parameter layout ---- */
enum { H = 4, GIN = 3 };
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
/* theta: W_ir, W_iz, W_in (H, GIN), W_hr, W_hz, W_hn (H, H), b_ir, b_iz, b_in, b_hn (H) */
static void gru_step(const double* th, const double* h, const double* u, double* out) {
  const double *Wi = th, *Wh = th + 3 * H * GIN, *bias = Wh + 3 * H * H;
  for (int i = 0; i < H; ++i) {
    double g[3], hn = bias[3 * H + i];
    for (int k = 0; k < 3; ++k) {
      g[k] = bias[k * H + i];
      for (int j = 0; j < GIN; ++j) g[k] += Wi[(k * H + i) * GIN + j] * u[j];
    }
    double hr = 0, hz = 0;
    for (int j = 0; j < H; ++j) {
      hr += Wh[(0 * H + i) * H + j] * h[j];
      hz += Wh[(1 * H + i) * H + j] * h[j];
      hn += Wh[(2 * H + i) * H + j] * h[j];
    }
    const double r = sigmoid(g[0] + hr), z = sigmoid(g[1] + hz), n = tanh(g[2] + r * hn);
    out[i] = (1 - z) * n + z * h[i];
  }
}
static void loop_gru(const double* th, int B, int T, const double* s0, const double* u, double* s) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      gru_step(th, t == 0 ? s0 + b * H : s + ((size_t)b * T + t - 1) * H,
               u + ((size_t)b * T + t) * GIN, s + ((size_t)b * T + t) * H);
}

/* ---- torch.nn.LSTM's cell, written out: state [h, c] of 2H, parameters W_ii, W_if, W_ig, W_io
 * (H, GIN), W_hi, W_hf, W_hg, W_ho (H, H), b_i, b_f, b_g, b_o (H) ---- */
static void lstm_step(const double* th, const double* s, const double* u, double* out) {
  const double *Wi = th, *Wh = th + 4 * H * GIN, *bias = Wh + 4 * H * H;
  for (int i = 0; i < H; ++i) {
    double a[4];
    for (int k = 0; k < 4; ++k) {
      a[k] = bias[k * H + i];
      for (int j = 0; j < GIN; ++j) a[k] += Wi[(k * H + i) * GIN + j] * u[j];
      for (int j = 0; j < H; ++j) a[k] += Wh[(k * H + i) * H + j] * s[j];
    }
    const double c = sigmoid(a[1]) * s[H + i] + sigmoid(a[0]) * tanh(a[2]);
    out[H + i] = c;
    out[i] = sigmoid(a[3]) * tanh(c);
  }
}

static void loop_lstm(const double* th, int B, int T, const double* s0, const double* u, double* s) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      lstm_step(th, t == 0 ? s0 + b * 2 * H : s + ((size_t)b * T + t - 1) * 2 * H,
                u + ((size_t)b * T + t) * GIN, s + ((size_t)b * T + t) * 2 * H);
}

static double max_diff(const double* a, const double* b, size_t n) {
  double e = 0;
  for (size_t i = 0; i < n; ++i) e = fmax(e, fabs(a[i] - b[i]));
  return e;
}
static double dot(const double* a, const double* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
static double uniform(void) { return 2.0 * rand() / RAND_MAX - 1.0; }

static int progress_calls = 0;
static void progress(const kelk_progress* p, void* context) {
  (void)p;
  ++*(int*)context;
}

static const int methods[] = {KELK_METHOD_SEQUENTIAL, KELK_METHOD_JACOBI,    KELK_METHOD_DEER,
                              KELK_METHOD_QUASI_DEER, KELK_METHOD_ELK,       KELK_METHOD_QUASI_ELK,
                              KELK_METHOD_BLOCK_JACOBI, KELK_METHOD_AUTO};
static const char* names[] = {"sequential", "jacobi", "deer", "quasi_deer", "elk",
                              "quasi_elk", "block_jacobi", "auto"};

/* Every method (and auto) on `map` against the caller's loop `ref` (n scalars) to 1e-9. */
static void every_method_matches_loop(kelk_map* map, int B, int T, const double* s0,
                                      const double* u, double* s, const double* ref, size_t n) {
  for (int k = 0; k < 8; ++k) {
    kelk_options o;
    kelk_options_default(&o);
    o.method = methods[k];
    o.atol = 1e-12;
    kelk_result r;
    const kelk_status st = kelk_solve(map, B, T, s0, u, s, &o, &r);
    char what[96];
    snprintf(what, sizeof what, "%s (%d iterations): max |s - loop|", names[k], r.iterations);
    check(st == KELK_SUCCESS && r.converged && max_diff(s, ref, n) <= 1e-9, what,
          max_diff(s, ref, n));
    if (methods[k] == KELK_METHOD_AUTO) printf("      auto: method %d, %s\n", r.method, r.choice);
  }
}

int main(void) {
  const int B = 2, T = 500;
  const size_t nS = (size_t)B * T * D, nU = (size_t)B * T * DIN;
  double s0[2 * D], *u = malloc(sizeof(double) * nU), *ref = malloc(sizeof(double) * nS),
                    *s = malloc(sizeof(double) * nS), *g = malloc(sizeof(double) * nS);
  cell m;
  srand(3);
  for (int i = 0; i < D; ++i) {
    for (int j = 0; j < D; ++j) m.A[i][j] = 0.3 * uniform();
    for (int j = 0; j < DIN; ++j) m.C[i][j] = uniform();
    m.c[i] = 0.1 * uniform();
  }
  m.fail_at = 1e300;
  for (int i = 0; i < B * D; ++i) s0[i] = uniform();
  for (size_t i = 0; i < nU; ++i) u[i] = uniform();
  for (size_t i = 0; i < nS; ++i) g[i] = uniform();
  loop_cell(&m, B, T, s0, u, ref);

  printf("kelk %s, C API\ncallback map (D = %d, Din = %d, B = %d, T = %d):\n", kelk_version(), D,
         DIN, B, T);
  kelk_map* map = NULL;
  const kelk_callbacks all = {step, jacobian, diagonal, vjp, &m};
  if (kelk_map_create_callbacks(&map, D, DIN, &all) != KELK_SUCCESS) {
    printf("kelk_map_create_callbacks: %s\n", kelk_last_error());
    return 1;
  }
  every_method_matches_loop(map, B, T, s0, u, s, ref, nS);

  /* history and progress */
  {
    kelk_iteration_record history[64];
    kelk_options o;
    kelk_options_default(&o);
    o.method = KELK_METHOD_DEER;
    o.history = history;
    o.history_capacity = 64;
    o.on_iteration = progress;
    o.on_iteration_context = &progress_calls;
    kelk_result r;
    kelk_solve(map, B, T, s0, u, s, &o, &r);
    check(r.history_length == r.iterations && progress_calls == r.iterations &&
              history[r.history_length - 1].max_update <= 1e-7,
          "deer: history and progress callback, one per iteration", (double)progress_calls);
  }

  /* gradients of L = sum g s through the adjoint, against central differences of the loop */
  {
    double ds0[2 * D], *du = calloc(nU, sizeof(double)), *sh = malloc(sizeof(double) * nS);
    kelk_gradients out = {ds0, du, NULL, NULL};
    kelk_adjoint_result ar;
    const kelk_status st = kelk_solve_adjoint(map, B, T, s0, u, ref, g, NULL, &out, &ar);
    double worst = 0, h = 1e-6;
    for (int i = 0; i < B * D; ++i) {
      double x[2 * D], L[2];
      for (int side = 0; side < 2; ++side) {
        memcpy(x, s0, sizeof x);
        x[i] += side ? -h : h;
        loop_cell(&m, B, T, x, u, sh);
        L[side] = dot(g, sh, nS);
      }
      worst = fmax(worst, fabs((L[0] - L[1]) / (2 * h) - ds0[i]));
    }
    for (size_t i = 0; i < nU; i += nU / 7) {
      double L[2];
      const double keep = u[i];
      for (int side = 0; side < 2; ++side) {
        u[i] = keep + (side ? -h : h);
        loop_cell(&m, B, T, s0, u, sh);
        L[side] = dot(g, sh, nS);
      }
      u[i] = keep;
      worst = fmax(worst, fabs((L[0] - L[1]) / (2 * h) - du[i]));
    }
    check(st == KELK_SUCCESS && worst <= 1e-6, "adjoint dL/ds0, dL/du vs central differences",
          worst);
    free(du);
    free(sh);
  }

  /* the probe: a contracting map */
  {
    kelk_probe_result p;
    const kelk_status st = kelk_probe(map, B, T, s0, u, NULL, &p);
    check(st == KELK_SUCCESS && p.exponent < 0 && p.finite, "probe: negative exponent", p.exponent);
  }

  /* a built-in GRU from its parameters, against the GRU written out above */
  printf("built-in GRU from parameters (H = %d, Din = %d):\n", H, GIN);
  {
    const size_t np = 3 * H * GIN + 3 * H * H + 4 * H, nG = (size_t)B * T * H,
                 nGU = (size_t)B * T * GIN;
    double* th = malloc(sizeof(double) * np);
    double *gu = malloc(sizeof(double) * nGU), *gref = malloc(sizeof(double) * nG),
           *gs = malloc(sizeof(double) * nG), gs0[2 * H];
    for (size_t i = 0; i < np; ++i) th[i] = 0.5 * uniform();
    for (size_t i = 0; i < nGU; ++i) gu[i] = uniform();
    for (int i = 0; i < B * H; ++i) gs0[i] = uniform();
    loop_gru(th, B, T, gs0, gu, gref);
    kelk_map* gru = NULL;
    kelk_status st = kelk_map_create_builtin(&gru, KELK_MAP_GRU, H, GIN, th, np, 0.0);
    size_t count = 0;
    kelk_map_parameter_count(gru, &count);
    check(st == KELK_SUCCESS && count == np, "kelk_map_create_builtin, parameter count", (double)count);
    every_method_matches_loop(gru, B, T, gs0, gu, gs, gref, nG);
    /* dL/dtheta against central differences, for a spread of parameters */
    double* dth = calloc(np, sizeof(double));
    double* gg = malloc(sizeof(double) * nG);
    for (size_t i = 0; i < nG; ++i) gg[i] = uniform();
    kelk_gradients out = {NULL, NULL, dth, NULL};
    st = kelk_solve_adjoint(gru, B, T, gs0, gu, gref, gg, NULL, &out, NULL);
    double worst = 0;
    for (size_t i = 0; i < np; i += 5) {
      double L[2];
      const double keep = th[i], h = 1e-6;
      for (int side = 0; side < 2; ++side) {
        th[i] = keep + (side ? -h : h);
        loop_gru(th, B, T, gs0, gu, gs);
        L[side] = dot(gg, gs, nG);
      }
      th[i] = keep;
      worst = fmax(worst, fabs((L[0] - L[1]) / (2 * h) - dth[i]) / fmax(1, fabs(dth[i])));
    }
    check(st == KELK_SUCCESS && worst <= 1e-6, "adjoint dL/dtheta vs central differences", worst);
    kelk_map* short_of_one = NULL;
    refused(kelk_map_create_builtin(&short_of_one, KELK_MAP_GRU, H, GIN, th, np - 1, 0.0),
            KELK_ERROR_INVALID_ARGUMENT, "too few", "builtin: one parameter short");
    check(short_of_one == NULL, "no map made", 0);
    kelk_map_free(gru);
    free(dth);
    free(gg);
    free(th);
    free(gu);
    free(gref);
    free(gs);
  }

  /* a built-in LSTM from its parameters, against the cell written out above */
  printf("built-in LSTM from parameters (H = %d, D = %d, Din = %d):\n", H, 2 * H, GIN);
  {
    const size_t np = 4 * H * GIN + 4 * H * H + 4 * H, nL = (size_t)B * T * 2 * H,
                 nLU = (size_t)B * T * GIN;
    double *th = malloc(sizeof(double) * np), *lu = malloc(sizeof(double) * nLU),
           *lref = malloc(sizeof(double) * nL), *ls = malloc(sizeof(double) * nL), ls0[4 * H];
    for (size_t i = 0; i < np; ++i) th[i] = 0.4 * uniform();
    for (size_t i = 0; i < nLU; ++i) lu[i] = uniform();
    for (int i = 0; i < B * 2 * H; ++i) ls0[i] = uniform();
    loop_lstm(th, B, T, ls0, lu, lref);
    kelk_map* lstm = NULL;
    kelk_status st = kelk_map_create_builtin(&lstm, KELK_MAP_LSTM, 2 * H, GIN, th, np, 0.0);
    size_t count = 0;
    kelk_map_parameter_count(lstm, &count);
    check(st == KELK_SUCCESS && count == np, "kelk_map_create_builtin, parameter count", (double)count);
    every_method_matches_loop(lstm, B, T, ls0, lu, ls, lref, nL);
    kelk_map* odd = NULL;
    refused(kelk_map_create_builtin(&odd, KELK_MAP_LSTM, 2 * H + 1, GIN, th, np, 0.0),
            KELK_ERROR_INVALID_ARGUMENT, "even D = 2H", "LSTM: odd state dimension");
    check(odd == NULL, "no map made", 0);
    kelk_map_free(lstm);
    free(th);
    free(lu);
    free(lref);
    free(ls);
  }

  printf("errors (status, message, caller's memory untouched):\n");
  {
    kelk_options o;
    kelk_options_default(&o);
    for (size_t i = 0; i < nS; ++i) s[i] = 42.0;
    refused(kelk_solve(map, 0, T, s0, u, s, NULL, NULL), KELK_ERROR_INVALID_ARGUMENT, "batch",
            "no sequence (B = 0)");
    refused(kelk_solve(map, B, T, s0, NULL, s, NULL, NULL), KELK_ERROR_INVALID_ARGUMENT,
            "inputs is NULL", "inputs NULL with Din = 2");
    refused(kelk_solve(NULL, B, T, s0, u, s, NULL, NULL), KELK_ERROR_INVALID_ARGUMENT, "map is NULL",
            "no map");
    double bad[2 * D];
    memcpy(bad, s0, sizeof bad);
    bad[4] = NAN;
    refused(kelk_solve(map, B, T, bad, u, s, NULL, NULL), KELK_ERROR_INVALID_ARGUMENT, "NaN",
            "NaN in s0");
    o.method = 42;
    refused(kelk_solve(map, B, T, s0, u, s, &o, NULL), KELK_ERROR_INVALID_ARGUMENT,
            "unknown method", "unknown method");
    o.method = KELK_METHOD_ELK;
    o.sigma2 = -1;
    refused(kelk_solve(map, B, T, s0, u, s, &o, NULL), KELK_ERROR_INVALID_ARGUMENT, "sigma2",
            "sigma2 < 0");
    check(max_diff(s, s, 0) == 0 && s[0] == 42.0 && s[nS - 1] == 42.0,
          "states untouched by the refused calls", s[0]);

    kelk_map* plain = NULL;
    const kelk_callbacks only_step = {step, NULL, NULL, NULL, &m};
    kelk_map_create_callbacks(&plain, D, DIN, &only_step);
    kelk_options_default(&o);
    o.method = KELK_METHOD_DEER;
    refused(kelk_solve(plain, B, T, s0, u, s, &o, NULL), KELK_ERROR_INVALID_ARGUMENT,
            "needs a step map with jacobian()", "deer on a map without jacobian");
    o.method = KELK_METHOD_QUASI_ELK;
    refused(kelk_solve(plain, B, T, s0, u, s, &o, NULL), KELK_ERROR_INVALID_ARGUMENT,
            "jacobian_diagonal", "quasi_elk on a map without jacobian_diagonal");
    double ds0[2 * D];
    kelk_gradients out = {ds0, NULL, NULL, NULL};
    refused(kelk_solve_adjoint(plain, B, T, s0, u, ref, g, NULL, &out, NULL),
            KELK_ERROR_INVALID_ARGUMENT, "vjp", "adjoint on a map without vjp");
    o.method = KELK_METHOD_BLOCK_JACOBI;
    kelk_status st = kelk_solve(plain, B, T, s0, u, s, &o, NULL);
    check(st == KELK_SUCCESS && max_diff(s, ref, nS) <= 1e-9, "block_jacobi needs only step",
          max_diff(s, ref, nS));
    kelk_map_free(plain);
    const kelk_callbacks none = {NULL, NULL, NULL, NULL, NULL};
    refused(kelk_map_create_callbacks(&plain, D, DIN, &none), KELK_ERROR_INVALID_ARGUMENT,
            "step", "a map without step");
    check(plain == NULL, "no map made", 0);

    /* a callback fails at one step, every method: KELK_ERROR_CALLBACK with its value */
    const double keep = u[(size_t)(T + 123) * DIN];
    m.fail_at = keep;
    for (int k = 0; k < 7; ++k) {
      kelk_options_default(&o);
      o.method = methods[k];
      char what[96];
      snprintf(what, sizeof what, "%s: a callback returns 3", names[k]);
      refused(kelk_solve(map, B, T, s0, u, s, &o, NULL), KELK_ERROR_CALLBACK, "returned 3", what);
    }
    m.fail_at = 1e300;
    kelk_options_default(&o);
    st = kelk_solve(map, B, T, s0, u, s, &o, NULL);
    check(st == KELK_SUCCESS && max_diff(s, ref, nS) <= 1e-6,
          "the same map works again afterwards", max_diff(s, ref, nS));

    kelk_map* file = NULL;
    refused(kelk_map_load(&file, "/nonexistent/model.h5"), KELK_ERROR_FILE, "/nonexistent/model.h5",
            "a missing model file");
    refused(kelk_map_create_builtin(&file, 17, 2, 2, s0, 2, 0.0), KELK_ERROR_INVALID_ARGUMENT,
            "unknown kind", "an unknown built-in");
  }

  kelk_map_free(map);
  check(kelk_finalize() == KELK_SUCCESS, "kelk_finalize", 0);
  refused(kelk_map_create_callbacks(&map, D, DIN, &all), KELK_ERROR_FINALIZED, "kelk_finalize",
          "a call after kelk_finalize");
  check(map == NULL, "no map made after kelk_finalize", 0);
  free(u);
  free(ref);
  free(s);
  free(g);
  printf("%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
