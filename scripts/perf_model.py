#!/usr/bin/python3
"""Performance model of kelk, fitted to kelk-bench results.

Usage:
    scripts/perf_model.py results.csv [more.csv | DIR ...] [--markdown model.md]
                          [--json model.json] [--predict-ranks 1,2,4,...,4096]

Also a module: scripts/plot_bench.py imports load_rows() and Model from here.

The model
---------
A case is one (map, method, precision); a problem is B sequences of length T with state
size D, solved on P ranks along time (Q ranks along the batch, Q = 1 unless kelk-bench's
batch_ranks says otherwise) with n threads per rank. One iteration costs

    t_iter(T, D, B, P, n) = (B*T / (P*Q)) * c_step(D) / e(n) * o  +  t_cross(P)

    c_step(D) = a * D^p                  seconds per time step of the local kernels
                + 2 D^3 / r_compose       for dense methods at P > 1: the block summary
                                          (r_compose: measured D x D composition rate)
    e(n)      = n / (1 + s*(n - 1))      thread efficiency times n (Amdahl, 0 <= s <= 1)
    o         = max(1, P*Q*n / cores)    oversubscription of the measured machine's cores
                                         (1 for predictions: one core per thread)
    t_cross(P) = (alpha + beta*m) * ceil(log2 P)  for P > 1,  0 for P = 1
    m         = (B/Q) * summary bytes of one sequence:
                  dense methods (deer, elk)              (D*D + D) * w
                  diagonal methods (quasi_deer, quasi_elk)   2*D * w
                  jacobi (no scan: the halo of last states)    D * w
                with w = 8 (fp64) or 4 (fp32); the MPI_Exscan carries one summary per
                local sequence.

and the time to solution is iterations * t_iter, the iterations being the measured ones
(kelk performs identical iterations for every rank count). The predicted speedup over the
sequential loop is

    speedup = reference(T, D, B) / (iterations * t_iter),   reference = a_seq * D^q * B*T

where the reference is the fastest sequential evaluation (kelk-bench's reference_s: the faster
of kelk's `sequential` and the hand-written loop).

Fitting, per case:
  * c_step from the rows with ranks == 1 and threads == 1:
        c_step = t_iter / (B*T)   (the whole iteration: kernels, convergence test, residual)
    fitted as a*D^p by least squares in log space when >= 2 values of D were measured;
    with one D, p = 2 (dense Jacobians and the GRU/MLP maps' matrix products are O(D^2)
    per step, for the diagonal methods too). When no row of the case ran on 1 thread, the
    fewest threads n_ref measured at ranks == 1 stand in: c_step is then the cost at n_ref
    threads and the local term becomes (B*T/(P*Q)) * c_step * e(n_ref)/e(n).
  * s from the rows with ranks == 1 and other thread counts, by least squares of the log
    of the local time over s in [0, 1] (s = 0 without such rows).
  * alpha, beta from the rows with P > 1, whose cross cost is kelk-bench's
    t_cross_measured (one iteration's communication alone: halo exchange, exclusive scan of
    the block summaries, the convergence test's reductions), else its t_comm (the time
    outside kernels: MPI and waiting for the slowest rank), else
    t_iter - (B*T/(P*Q)) * c_step/e(n): least squares in (alpha, beta) when
    >= 3 rows with >= 2 distinct m, clipped to alpha, beta >= 0 by refitting the other
    constant alone; else alpha alone (beta = 0). A case without rows at P > 1 takes the
    constants fitted on the P > 1 rows of all cases together ("pooled"), or none at all.
  * a_seq, q likewise from the reference_s column (reference_s / (B*T)), per (map,
    precision); for CSVs older than that column, from the baseline rows or baseline_s.
Method "sequential" (the plain loop, pipelined across time blocks) is not modelled.

Break-even: the smallest P among the powers of two up to min(2^20, B*T/MIN_STEPS_PER_RANK)
whose predicted speedup is >= 1. Blocks shorter than MIN_STEPS_PER_RANK = 1000 steps are
outside the measured range: the model has no fixed cost per iteration (kernel launches,
the reductions' latency besides t_cross), which such blocks would expose. As P grows the local term vanishes while t_cross grows like log2 P, so
the speedup has a maximum; when it stays below 1 the break-even is "never" and the
maximum predicted speedup and the P where it occurs are reported instead.
"""

import argparse
import csv
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field, replace

import numpy as np

DENSE_METHODS = ("deer", "elk")
DIAGONAL_METHODS = ("quasi_deer", "quasi_elk")
MODELLED_METHODS = DENSE_METHODS + DIAGONAL_METHODS + ("jacobi",)
BASELINE = "baseline"

# Columns kelk-bench writes as numbers; every other column stays a string.
INT_COLUMNS = ("B", "T", "D", "Din", "chunks", "ranks", "time_ranks", "batch_ranks",
               "threads", "iterations", "converged", "repeats", "blocks",
               "steps_after_first_sweep", "merge_length")
FLOAT_COLUMNS = ("t_median", "t_min", "t_max", "t_iter", "baseline_s", "baseline_gflops",
                 "sequential_s", "reference_s",
                 "speedup", "max_err", "peak_rss_mb", "views_peak_mb", "t_linearize",
                 "t_scan", "t_update", "t_comm", "kernel_gflops", "kernel_gbs",
                 "solver_peak_mb", "dgemm_gflops", "compose_gflops", "t_cross_measured")

DEFAULT_P = 2.0         # power of D when only one D was measured
MAX_LOG2_RANKS = 20     # break-even search over P = 1, 2, 4, ..., 2^20
MIN_STEPS_PER_RANK = 1000  # ... and blocks of at least this many steps (the measured range)
PREDICT_T = (10**6, 10**7)


# --------------------------------------------------------------------------------------
# Reading


def parse_number(text, kind):
    """kind(text), or None for an empty or unparsable cell."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return kind(float(text)) if kind is int else kind(text)
    except ValueError:
        return None


def csv_files(paths):
    """The files named in `paths` and the *.csv files found under folders named there."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".csv")]
        else:
            files.append(path)
    return files


def read_csv(path):
    """Rows of one CSV file as dicts of strings; '#' comment lines and repeated headers
    are skipped."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = [ln for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return []
    reader = csv.reader(lines)
    header = next(reader)
    return [dict(zip(header, cells)) for cells in reader if cells != header]


def load_rows(paths):
    """kelk-bench rows of every CSV in `paths` (files or folders), with the numeric columns
    parsed (None where empty) and ranks, time_ranks, batch_ranks, threads, precision,
    sweep always set; rows without B, T, D or a time are left out."""
    rows = []
    for path in csv_files(paths):
        for raw in read_csv(path):
            row = dict(raw)
            for col in INT_COLUMNS:
                row[col] = parse_number(raw.get(col), int)
            for col in FLOAT_COLUMNS:
                row[col] = parse_number(raw.get(col), float)
            if not (row.get("map") and row.get("method") and row["B"] and row["T"]
                    and row["D"] and (row["t_median"] or row["t_iter"])):
                continue  # not a kelk-bench result (e.g. a convergence history row)
            ranks = row["ranks"] or 1
            batch = row["batch_ranks"] or 1
            row["ranks"] = ranks
            row["batch_ranks"] = batch
            row["time_ranks"] = row["time_ranks"] or max(1, ranks // batch)
            row["threads"] = row["threads"] or 1
            row["precision"] = row.get("precision") or "fp64"
            row["sweep"] = row.get("sweep") or ""
            row["source_file"] = path
            rows.append(row)
    return rows


# --------------------------------------------------------------------------------------
# Model pieces


def word_size(precision):
    return 4 if precision == "fp32" else 8


def summary_bytes(method, D, precision):
    """Bytes of one sequence's block summary crossing ranks per stage."""
    w = word_size(precision)
    if method in DENSE_METHODS:
        return (D * D + D) * w
    if method in DIAGONAL_METHODS:
        return 2 * D * w
    return D * w  # jacobi: the halo of last states


def stages(P):
    """Communication stages of the cross-rank scan over P time blocks."""
    return math.ceil(math.log2(P)) if P > 1 else 0


def efficiency(n, s):
    """e(n) = n / (1 + s*(n-1)): the speedup of n threads over one."""
    return n / (1.0 + s * (n - 1))


def cores_of(row):
    """The hardware threads of the machine a row was measured on (kelk-bench's context column
    hardware_threads), or None: measured rows whose ranks x threads exceed it were
    oversubscribed, which the local term accounts for."""
    value = row.get("hardware_threads")
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def measured_t_iter(row):
    """Seconds per iteration of a row (t_iter, else t_median / iterations)."""
    if row.get("t_iter"):
        return row["t_iter"]
    if row.get("t_median") and row.get("iterations"):
        return row["t_median"] / row["iterations"]
    return None


def local_seconds(row):
    """Seconds per iteration of the local work at ranks == 1: the whole iteration (t_iter),
    so that the convergence test, the residual and other small kernels are included; the
    phase columns only say how it splits (reported as phases/t_iter)."""
    return measured_t_iter(row)


def fit_power_law(Ds, values, default_power=DEFAULT_P):
    """(a, p, fitted) with values ~ a * D^p: least squares in log space over >= 2
    distinct D, else p = default_power and a the geometric mean of values / D^p."""
    logD = np.log(np.asarray(Ds, dtype=float))
    logv = np.log(np.asarray(values, dtype=float))
    if len(set(Ds)) >= 2:
        p, loga = np.polyfit(logD, logv, 1)
        return float(math.exp(loga)), float(p), True
    return float(np.exp(np.mean(logv - default_power * logD))), default_power, False


def fit_cross(points):
    """(alpha, beta, how) from (stages, m, observed seconds) points: see the module doc."""
    if not points:
        return 0.0, 0.0, "none"
    L = np.array([p[0] for p in points], dtype=float)
    m = np.array([p[1] for p in points], dtype=float)
    y = np.array([p[2] for p in points], dtype=float)

    def alpha_only():
        return max(0.0, float(L @ y / (L @ L))), 0.0

    if len(points) >= 3 and len(set(m)) >= 2:
        (alpha, beta), *_ = np.linalg.lstsq(np.column_stack([L, L * m]), y, rcond=None)
        if alpha >= 0 and beta >= 0:
            return float(alpha), float(beta), "alpha+beta"
        if alpha < 0 <= beta:  # clip alpha: beta alone
            x = L * m
            return 0.0, max(0.0, float(x @ y / (x @ x))), "beta"
    alpha, beta = alpha_only()
    return alpha, beta, "alpha"


@dataclass
class CaseFit:
    """Fitted constants of one (map, method, precision)."""
    map: str
    method: str
    precision: str
    a: float               # seconds per step at D = 1 (c_step = a * D^p)
    p: float
    p_fitted: bool         # False: p is the default (one D measured)
    n_ref: int             # threads of the rows c_step was taken from (1 when measured)
    s: float               # serial fraction of the thread efficiency
    alpha: float = 0.0     # seconds per cross-rank stage
    beta: float = 0.0      # seconds per byte per stage
    cross_fit: str = "none"  # alpha+beta | alpha | beta | pooled | none
    cross_points: int = 0
    compose_flops_per_s: float = 0.0  # dense: rate of the D x D compositions (block summary)
    Ds: list = field(default_factory=list)
    phase_coverage: float = None  # median (phase sum / t_iter) at ranks == 1

    @property
    def key(self):
        return (self.map, self.method, self.precision)

    def c_step(self, D):
        return self.a * D ** self.p

    def t_local(self, T, D, B, P, n, Q=1, cores=None):
        steps = B * T / (P * Q)
        # ranks x threads beyond the machine's cores share them (oversubscription)
        shared = max(1.0, P * Q * n / cores) if cores else 1.0
        per_step = self.c_step(D) * efficiency(self.n_ref, self.s) / efficiency(n, self.s)
        if P > 1 and self.method in DENSE_METHODS and self.compose_flops_per_s:
            # a time block of a dense method also composes its D x D elements into the
            # block summary for the cross-rank scan: 2 D^3 flops per step at the measured
            # composition rate (one thread's rate; the block summary is a loop per sequence)
            per_step += 2.0 * D ** 3 / self.compose_flops_per_s
        return steps * per_step * shared

    def t_cross(self, P, D, B, Q=1):
        if P <= 1:
            return 0.0
        m = (B / Q) * summary_bytes(self.method, D, self.precision)
        return (self.alpha + self.beta * m) * stages(P)

    def t_iter(self, T, D, B, P, n, Q=1, cores=None):
        return self.t_local(T, D, B, P, n, Q, cores) + self.t_cross(P, D, B, Q)


@dataclass
class BaselineFit:
    """Per-step cost a_seq * D^q of the sequential baseline of one (map, precision)."""
    map: str
    precision: str
    a: float
    q: float
    q_fitted: bool
    source: str  # "baseline rows" | "baseline_s column"

    def seconds(self, T, D, B):
        return self.a * D ** self.q * B * T


def case_key(row):
    return (row["map"], row["method"], row["precision"])


class Model:
    """The fitted model: CaseFit per (map, method, precision), BaselineFit per
    (map, precision)."""

    def __init__(self, rows):
        # rows with a forced chunk count measure a kernel's rate (kelk-bench's targets sweep),
        # not kelk's default path: they only give the dense composition rate
        self.compose_rates = {}
        for prec in {r["precision"] for r in rows}:
            rates = [r["compose_gflops"] * 1e9 for r in rows
                     if r["precision"] == prec and r.get("compose_gflops") and r["ranks"] == 1
                     and r["threads"] == 1]
            if not rates:
                rates = [0.5 * r["dgemm_gflops"] * 1e9 for r in rows
                         if r["precision"] == prec and r.get("dgemm_gflops")]
            if rates:
                self.compose_rates[prec] = float(np.median(rates))
        rows = [r for r in rows if not r.get("chunks")]
        self.rows = rows
        self.cases = {}
        self.baselines = {}
        self.notes = []
        self._fit_cases()
        for fit in self.cases.values():
            fit.compose_flops_per_s = self.compose_rates.get(fit.precision, 0.0)
        self._fit_cross()
        self._fit_baselines()

    # -- fitting ------------------------------------------------------------------------

    def _fit_cases(self):
        """c_step (a, p) and s per case from its ranks == 1 rows."""
        by_case = {}
        for row in self.rows:
            if row["method"] in MODELLED_METHODS and measured_t_iter(row):
                by_case.setdefault(case_key(row), []).append(row)
        for key, rows in sorted(by_case.items()):
            single = [r for r in rows if r["ranks"] == 1]
            if not single:
                self.notes.append("%s/%s/%s: no row with ranks == 1, not fitted" % key)
                continue
            n_ref = min(r["threads"] for r in single)
            ref = [r for r in single if r["threads"] == n_ref]
            a, p, p_fitted = fit_power_law(
                [r["D"] for r in ref], [local_seconds(r) / (r["B"] * r["T"]) for r in ref])
            coverage = [local_seconds(r) / measured_t_iter(r) for r in single]
            fit = CaseFit(*key, a=a, p=p, p_fitted=p_fitted, n_ref=n_ref, s=0.0,
                          Ds=sorted({r["D"] for r in rows}),
                          phase_coverage=float(np.median(coverage)))
            threaded = [r for r in single if r["threads"] != n_ref]
            if threaded:
                fit.s = self._fit_serial_fraction(fit, threaded)
            self.cases[key] = fit

    @staticmethod
    def _fit_serial_fraction(fit, rows):
        """s in [0, 1] minimising the squared log error of the local time of `rows`."""
        grid = np.linspace(0.0, 1.0, 1001)
        observed = np.log([local_seconds(r) for r in rows])

        def error(s):
            trial = replace(fit, s=s)
            predicted = np.log([trial.t_local(r["T"], r["D"], r["B"], 1, r["threads"])
                                for r in rows])
            return float(np.sum((observed - predicted) ** 2))

        return float(grid[int(np.argmin([error(s) for s in grid]))])

    def observed_cross(self, row):
        """Observed cross-rank seconds per iteration of a P > 1 row: what the local term does
        not explain, or kelk-bench's t_comm when the row has it: the time outside kernels,
        i.e. MPI (and waiting for the slowest rank)."""
        if row.get("t_cross_measured") is not None and row["t_cross_measured"] > 0:
            return row["t_cross_measured"]
        if row.get("t_comm") is not None and row["t_comm"] > 0:
            return row["t_comm"]
        fit = self.cases[case_key(row)]
        return measured_t_iter(row) - fit.t_local(row["T"], row["D"], row["B"],
                                                  row["time_ranks"], row["threads"],
                                                  row["batch_ranks"], cores_of(row))

    def _cross_points(self, rows):
        return [(stages(r["time_ranks"]),
                 (r["B"] / r["batch_ranks"]) * summary_bytes(r["method"], r["D"],
                                                             r["precision"]),
                 self.observed_cross(r)) for r in rows]

    def _fit_cross(self):
        """alpha, beta per case from its P > 1 rows; pooled for cases without any."""
        multi = [r for r in self.rows if r["time_ranks"] > 1 and case_key(r) in self.cases
                 and measured_t_iter(r)]
        for fit in self.cases.values():
            own = [r for r in multi if case_key(r) == fit.key]
            if own:
                fit.alpha, fit.beta, fit.cross_fit = fit_cross(self._cross_points(own))
                fit.cross_points = len(own)
        pooled_cases = [f for f in self.cases.values() if not f.cross_points]
        if not pooled_cases:
            return
        if multi:
            alpha, beta, _ = fit_cross(self._cross_points(multi))
            for fit in pooled_cases:
                fit.alpha, fit.beta, fit.cross_fit = alpha, beta, "pooled"
                fit.cross_points = len(multi)
        else:
            self.notes.append("no row with more than one time rank: t_cross = 0, the "
                              "predicted speedups grow without bound")

    def _fit_baselines(self):
        """a_seq, q per (map, precision) from reference_s, else baseline rows or baseline_s."""
        from_reference, from_rows, from_column = {}, {}, {}
        for row in self.rows:
            key = (row["map"], row["precision"])
            problem = (row["B"], row["T"], row["D"])
            if row.get("reference_s"):
                from_reference.setdefault(key, []).append(problem + (row["reference_s"],))
            elif row["method"] == BASELINE and row.get("t_median"):
                from_rows.setdefault(key, []).append(problem + (row["t_median"],))
            elif row["method"] != BASELINE and row.get("baseline_s"):
                from_column.setdefault(key, []).append(problem + (row["baseline_s"],))
        for key in sorted(set(from_reference) | set(from_rows) | set(from_column)):
            if key in from_reference:
                samples, source = from_reference[key], "reference_s column"
            elif key in from_rows:
                samples, source = from_rows[key], "baseline rows"
            else:
                samples, source = from_column[key], "baseline_s column"
            a, q, q_fitted = fit_power_law([D for _, _, D, _ in samples],
                                           [t / (B * T) for B, T, _, t in samples])
            self.baselines[key] = BaselineFit(*key, a=a, q=q, q_fitted=q_fitted,
                                              source=source)

    # -- predictions --------------------------------------------------------------------

    def predict_t_iter(self, key, T, D, B, P, n, Q=1, cores=None):
        """Predicted seconds per iteration of case `key`, or None when not fitted; `cores`
        (the machine's, when ranks x threads may exceed them) adds oversubscription."""
        fit = self.cases.get(key)
        return fit.t_iter(T, D, B, P, n, Q, cores) if fit else None

    def predict_baseline(self, map_, precision, T, D, B):
        fit = self.baselines.get((map_, precision))
        return fit.seconds(T, D, B) if fit else None

    def predict_row(self, row):
        """Predicted t_iter of a measured row (the baseline's time for baseline rows), or
        None when the row's case is not modelled."""
        if row["method"] == BASELINE:
            return self.predict_baseline(row["map"], row["precision"], row["T"], row["D"],
                                         row["B"])
        return self.predict_t_iter(case_key(row), row["T"], row["D"], row["B"],
                                   row["time_ranks"], row["threads"], row["batch_ranks"],
                                   cores_of(row))

    def predict_speedup(self, key, T, D, B, P, n, iterations, Q=1):
        t = self.predict_t_iter(key, T, D, B, P, n, Q)
        base = self.predict_baseline(key[0], key[2], T, D, B)
        if t is None or base is None or not iterations:
            return None
        return base / (iterations * t)

    def rank_scan(self, key, T, D, B, n, iterations):
        """(break_even_P or None, best_P, max_speedup) over P = 2^k <= min(2^20,
        B*T / MIN_STEPS_PER_RANK)."""
        best_P, best, break_even = 1, -1.0, None
        P = 1
        while P <= max(1, min(2 ** MAX_LOG2_RANKS, B * T // MIN_STEPS_PER_RANK)):
            s = self.predict_speedup(key, T, D, B, P, n, iterations)
            if s is None:
                return None, None, None
            if break_even is None and s >= 1.0:
                break_even = P
            if s > best:
                best_P, best = P, s
            P *= 2
        return break_even, best_P, best

    def iterations_for(self, key, D):
        """Measured iterations of case `key` at D (the nearest measured D), from its row
        with the largest T: used for predictions at other T."""
        rows = [r for r in self.rows if case_key(r) == key and r.get("iterations")]
        if not rows:
            return None
        nearest = min({r["D"] for r in rows}, key=lambda d: abs(math.log(d / D)))
        return max((r for r in rows if r["D"] == nearest), key=lambda r: r["T"])["iterations"]

    def to_json(self):
        return {
            "model": "t_iter = (B*T/(P*Q)) * a*D^p * e(n_ref)/e(n) + (alpha + beta*m) * "
                     "ceil(log2 P); e(n) = n/(1+s*(n-1)); baseline = a_seq*D^q*B*T",
            "units": {"a": "s/step", "s": "1", "alpha": "s/stage", "beta": "s/byte/stage",
                      "baseline a": "s/step"},
            "cases": [asdict(f) for f in self.cases.values()],
            "baselines": [asdict(b) for b in self.baselines.values()],
            "notes": self.notes,
        }


# --------------------------------------------------------------------------------------
# Report


def fmt_seconds(x):
    """Seconds with a readable unit: 12.3 µs, 4.56 ms, 1.23 s."""
    if x is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(x) >= scale or unit == "ns":
            return "%.3g %s" % (x / scale, unit)


def fmt_num(x, spec="%.3g"):
    return "-" if x is None else spec % x


def table(header, rows):
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def most_common(values):
    return max(sorted(set(values)), key=values.count)


def constants_section(model):
    out = ["## Fitted constants", "",
           "c_step = a·D^p (local kernels per time step at n_ref threads), "
           "e(n) = n/(1+s·(n−1)), t_cross = (α + β·m)·⌈log2 P⌉.", ""]
    rows = []
    for f in model.cases.values():
        c_at = ", ".join("%d: %s" % (D, fmt_seconds(f.c_step(D))) for D in f.Ds)
        rows.append([f.map, f.method, f.precision, "%.3e" % f.a,
                     "%.2f" % f.p + ("" if f.p_fitted else " (default)"), f.n_ref,
                     c_at, "%.3f" % f.s, "%.2f" % (f.alpha * 1e6),
                     "%.4f" % (f.beta * 1e9),
                     fmt_num(1e-9 / f.beta if f.beta else None, "%.2f"),
                     "%s (%d rows)" % (f.cross_fit, f.cross_points)
                     if f.cross_points else f.cross_fit,
                     fmt_num(f.phase_coverage, "%.2f")])
    out.append(table(["map", "method", "precision", "a [s/step]", "p", "n_ref",
                      "c_step at D", "s", "α [µs/stage]", "β [ns/B/stage]", "1/β [GB/s]",
                      "cross fit", "phases/t_iter"], rows))
    out += ["", "Sequential reference (the fastest sequential evaluation), a_seq·D^q seconds per step:", ""]
    out.append(table(["map", "precision", "a_seq [s/step]", "q", "from"],
                     [[b.map, b.precision, "%.3e" % b.a,
                       "%.2f" % b.q + ("" if b.q_fitted else " (default)"), b.source]
                      for b in model.baselines.values()]))
    if any(f.phase_coverage is not None and f.phase_coverage < 0.9
           for f in model.cases.values()):
        out += ["", "phases/t_iter < 1: linearise + scan + update are not the whole iteration "
                "(the convergence test and the final residual make up the rest); c_step is "
                "fitted to the whole t_iter."]
    return out


def rows_section(model):
    out = ["## Measured vs predicted", "",
           "t_iter per iteration (baseline rows: the reference's time, reference_s). "
           "err = (predicted − measured) / measured.", ""]
    lines, errors = [], {"baseline": [], "ranks == 1": [], "ranks > 1": []}
    for r in sorted(model.rows, key=lambda r: (r["map"], r["precision"], r["method"],
                                               r["B"], r["T"], r["D"], r["ranks"],
                                               r["threads"])):
        measured = (r.get("reference_s") or r["t_median"]) if r["method"] == BASELINE else measured_t_iter(r)
        predicted = model.predict_row(r)
        err = None
        if measured and predicted is not None:
            err = (predicted - measured) / measured
            group = ("baseline" if r["method"] == BASELINE else
                     "ranks == 1" if r["ranks"] == 1 else "ranks > 1")
            errors[group].append(abs(err))
        speedup = None
        if r["method"] != BASELINE and r.get("iterations"):
            speedup = model.predict_speedup(case_key(r), r["T"], r["D"], r["B"],
                                            r["time_ranks"], r["threads"], r["iterations"],
                                            r["batch_ranks"])
        lines.append([r["sweep"] or "-", r["map"], r["method"], r["precision"], r["B"],
                      r["T"], r["D"], "%dx%d" % (r["time_ranks"], r["batch_ranks"]),
                      r["threads"], fmt_num(r.get("iterations"), "%d"),
                      fmt_seconds(measured), fmt_seconds(predicted),
                      fmt_num(None if err is None else 100 * err, "%+.1f"),
                      fmt_num(r.get("speedup"), "%.3g"), fmt_num(speedup, "%.3g")])
    out.append(table(["sweep", "map", "method", "prec", "B", "T", "D", "ranks (time×batch)",
                      "threads", "iters", "t_iter meas", "t_iter model", "err %",
                      "speedup meas", "speedup model"], lines))
    out += ["", "Absolute relative error of t_iter:", ""]
    summary = []
    every = [e for group in errors.values() for e in group]
    for name, errs in list(errors.items()) + [("all", every)]:
        if errs:
            summary.append([name, len(errs), "%.1f" % (100 * np.mean(errs)),
                            "%.1f" % (100 * np.max(errs))])
    out.append(table(["rows", "n", "mean %", "max %"], summary))
    return out


def break_even_text(model, key, T, D, B, n, iterations):
    be, best_P, best = model.rank_scan(key, T, D, B, n, iterations)
    if best is None:
        return "-", "-", "-"
    return (str(be) if be else "never", str(best_P), "%.3g" % best)


def speedup_section(model, predict_ranks):
    out = ["## Predicted speedup over the fastest sequential evaluation", "",
           "At each measured problem and thread count: speedup at P = 1, the break-even P "
           "(smallest power of two with speedup ≥ 1, P ≤ min(2^%d, B·T/%d): blocks of at "
           "least %d steps, the measured range), and the P with the largest predicted speedup "
           "in that range." % (MAX_LOG2_RANKS, MIN_STEPS_PER_RANK, MIN_STEPS_PER_RANK), ""]
    lines = []
    problems = sorted({(case_key(r), r["B"], r["T"], r["D"], r["threads"], r["iterations"])
                       for r in model.rows
                       if case_key(r) in model.cases and r.get("iterations")})
    for key, B, T, D, n, iters in problems:
        s1 = model.predict_speedup(key, T, D, B, 1, n, iters)
        lines.append(["/".join(key), B, T, D, n, iters, fmt_num(s1, "%.3g"),
                      *break_even_text(model, key, T, D, B, n, iters)])
    out.append(table(["case", "B", "T", "D", "threads", "iters", "speedup P=1",
                      "break-even P", "best P", "max speedup"], lines))
    if predict_ranks:
        out += ["", "### Predicted speedup at larger T", "",
                "Iterations as measured at the largest T of the case (nearest D); "
                "B and threads of the case's most common measured values.", ""]
        lines = []
        for key, fit in model.cases.items():
            rows = [r for r in model.rows if case_key(r) == key]
            B = most_common([r["B"] for r in rows])
            n = most_common([r["threads"] for r in rows])
            for D in fit.Ds:
                iters = model.iterations_for(key, D)
                for T in PREDICT_T:
                    cells = [fmt_num(model.predict_speedup(key, T, D, B, P, n, iters)
                                     if P <= T else None, "%.3g") for P in predict_ranks]
                    lines.append(["/".join(key), B, T, D, n, iters, *cells,
                                  *break_even_text(model, key, T, D, B, n, iters)])
        out.append(table(["case", "B", "T", "D", "threads", "iters"] +
                         ["P=%d" % P for P in predict_ranks] +
                         ["break-even P", "best P", "max speedup"], lines))
    return out


def report(model, predict_ranks=None):
    out = ["# kelk performance model", ""]
    out += constants_section(model) + [""]
    out += rows_section(model) + [""]
    out += speedup_section(model, predict_ranks)
    if model.notes:
        out += ["", "Notes:", ""] + ["- " + n for n in model.notes]
    return "\n".join(out) + "\n"


def parse_ranks(text):
    """Rank counts from "1,2,4,16" or "1,2,4,...,4096" ("..." continues the ratio of the
    two numbers before it up to the number after it)."""
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    try:
        ranks = []
        for i, token in enumerate(tokens):
            if token != "...":
                ranks.append(int(token))
                continue
            if len(ranks) < 2 or i + 1 >= len(tokens) or ranks[-1] % ranks[-2]:
                raise ValueError
            ratio, last = ranks[-1] // ranks[-2], int(tokens[i + 1])
            if ratio < 2:
                raise ValueError
            while ranks[-1] * ratio < last:
                ranks.append(ranks[-1] * ratio)
    except ValueError:
        raise argparse.ArgumentTypeError("expected e.g. 1,2,4,16 or 1,2,4,...,4096")
    if not ranks or min(ranks) < 1:
        raise argparse.ArgumentTypeError("rank counts must be positive")
    return sorted(set(ranks))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Fit kelk's performance model to kelk-bench CSVs and report it.")
    parser.add_argument("results", nargs="+", help="kelk-bench CSV files or folders")
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument("--json", help="write the fitted constants to this file")
    parser.add_argument("--predict-ranks", type=parse_ranks, metavar="P1,P2,...",
                        help="tabulate predicted speedups at T = 1e6, 1e7 for these ranks")
    args = parser.parse_args(argv)

    rows = load_rows(args.results)
    if not rows:
        sys.exit("perf_model: no kelk-bench rows in %s" % " ".join(args.results))
    model = Model(rows)
    if not model.cases:
        sys.exit("perf_model: nothing to fit (need rows of a modelled method with ranks "
                 "== 1; modelled: %s)" % ", ".join(MODELLED_METHODS))
    text = report(model, args.predict_ranks)
    print(text, end="")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(model.to_json(), f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
