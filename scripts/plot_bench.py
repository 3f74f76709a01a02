#!/usr/bin/python3
"""Figures from kelk-bench results.

Usage:
    scripts/plot_bench.py --results results.csv [more.csv | DIR ...]
                          [--history history.csv ...] [--outdir docs/figures]

Writes, into --outdir (PNG, 120 dpi), each figure the data allows (others are skipped
with a message):
  convergence.png      max_update (solid) and max_residual (dashed) per iteration for
                       every method, one panel per (map, D, T) of the history CSV
  time_vs_T.png        time to solution vs T at the D with the most T values, and
  time_vs_D.png        vs D at the T with the most D values (ranks == 1, the most common
                       threads and B); baseline, deer and quasi_deer bold, others lighter
  memory_vs_T.png,     peak_rss_mb (solid) and views_peak_mb (dashed) of the same rows,
  memory_vs_D.png      with the reference 8·B·T·D·sizeof MiB
  strong_scaling.png   time to solution vs ranks at fixed (B, T): measured, the model of
                       perf_model.py (dashed, extrapolated to 8x the ranks), ideal t1/P
                       (dotted, over the measured ranks) and the sequential baseline
  weak_scaling.png     time per iteration vs ranks at fixed work per rank (B*T/ranks):
                       measured, model, ideal (constant)
  threads.png          time per iteration vs threads at ranks == 1: measured, model,
                       ideal t1/n
Strong-scaling rows are those whose sweep names "strong" (when any does), else every
series with several rank counts at the same B and T; weak-scaling rows likewise with
"weak", else series with several rank counts at the same B*T/ranks.
"""

import argparse
import math
import os
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.lines import Line2D  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perf_model as pm  # noqa: E402

DPI = 120
METHOD_ORDER = ("baseline", "sequential", "jacobi", "deer", "quasi_deer", "elk", "quasi_elk")
MAIN_METHODS = ("baseline", "deer", "quasi_deer")
COLORS = {"baseline": "black", "sequential": "tab:gray", "jacobi": "tab:olive",
          "deer": "tab:blue", "quasi_deer": "tab:orange", "elk": "tab:green",
          "quasi_elk": "tab:red"}
EXTRAPOLATE = 8  # model lines of the scaling plots reach 8x the largest measured ranks


# --------------------------------------------------------------------------------------
# Helpers


def method_key(method):
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER),
            method)


def method_style(method):
    """Line keywords of a method: the main methods bold, the others lighter."""
    main = method in MAIN_METHODS
    return dict(color=COLORS.get(method, "tab:purple"), linewidth=2.0 if main else 1.2,
                alpha=1.0 if main else 0.5, marker="o", markersize=5 if main else 3.5)


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def group_by(rows, *fields):
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[f] for f in fields)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: kv[0]))


def series(rows, x, y):
    """Sorted (x, median y) pairs of `rows`, leaving out rows without y."""
    points = defaultdict(list)
    for r in rows:
        if r.get(y) is not None:
            points[r[x]].append(r[y])
    return [(k, median(v)) for k, v in sorted(points.items())]


def unique_text(values):
    return ", ".join(str(v) for v in sorted(set(values), key=str))


def machine_line(rows):
    cpus = unique_text(r.get("cpu") or "?" for r in rows)
    return "machine: %s · threads/rank: %s" % (cpus, unique_text(r["threads"] for r in rows))


def new_figure(n_panels, width=6.4, height=4.6):
    """A figure with n_panels axes (up to 2 per row), and the list of those axes."""
    ncols = min(2, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def save(fig, title, rows, outdir, name, written):
    """Titles the figure (with the machine of `rows` when there are any) and writes it."""
    fig.suptitle("%s\n%s" % (title, machine_line(rows)) if rows else title, fontsize=12)
    fig.tight_layout()
    path = os.path.join(outdir, name)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    written.append(path)


def skip(name, reason):
    print("plot_bench: skipped %s: %s" % (name, reason))


def log2_axis(ax, values):
    """Base-2 log x axis with ticks at the given values."""
    ax.set_xscale("log", base=2)
    ticks = sorted(set(values))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()


# --------------------------------------------------------------------------------------
# Convergence


def plot_convergence(history_paths, context_rows, outdir, written):
    """convergence.png; the machine in the title is that of `context_rows` (the results)."""
    rows = []
    for path in pm.csv_files(history_paths):
        for raw in pm.read_csv(path):
            try:
                rows.append(dict(raw, D=int(raw["D"]), T=int(raw["T"]),
                                 iteration=int(raw["iteration"]),
                                 max_update=pm.parse_number(raw.get("max_update"), float),
                                 max_residual=pm.parse_number(raw.get("max_residual"),
                                                              float)))
            except (KeyError, ValueError):
                continue
    if not rows:
        skip("convergence.png", "no history rows (--history)")
        return
    panels = group_by(rows, "map", "D", "T")
    fig, axes = new_figure(len(panels))
    for ax, ((map_, D, T), prows) in zip(axes, panels.items()):
        lines = group_by(prows, "method", "precision", "B")
        vary_precision = len({p for _, p, _ in lines}) > 1
        vary_B = len({B for _, _, B in lines}) > 1
        for (method, precision, B), lrows in sorted(lines.items(),
                                                    key=lambda kv: method_key(kv[0][0])):
            label = (method + (" " + precision if vary_precision else "") +
                     (" B=%s" % B if vary_B else ""))
            style = method_style(method)
            style.update(marker=".", markersize=4)
            for column, linestyle, lab in (("max_update", "-", label),
                                           ("max_residual", "--", None)):
                pts = [(k, v) for k, v in series(lrows, "iteration", column) if v > 0]
                if pts:
                    ax.semilogy(*zip(*pts), linestyle=linestyle, label=lab, **style)
        ax.set_title("%s, D = %d, T = %d" % (map_, D, T))
        ax.set_xlabel("iteration")
        ax.set_ylabel("max |update|, max |residual|")
        ax.grid(True, which="major", alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color="k", linestyle="-", label="max_update"),
                    Line2D([], [], color="k", linestyle="--", label="max_residual")]
        ax.legend(handles=handles, fontsize=8)
    save(fig, "Convergence of the iterations", context_rows, outdir, "convergence.png",
         written)


# --------------------------------------------------------------------------------------
# Time and memory vs T and D


def choose_fixed(rows, x, fixed):
    """The value of `fixed` with the most distinct values of `x` (>= 2), or None."""
    spread = {}
    for value, vrows in group_by(rows, fixed).items():
        spread[value[0]] = (len({r[x] for r in vrows}), len(vrows))
    if not spread:
        return None
    best = max(spread, key=lambda v: spread[v])
    return best if spread[best][0] >= 2 else None


def baseline_series(rows, x):
    """The reference's (x, seconds): the fastest sequential evaluation of each run (the
    reference_s column); for CSVs older than it, the baseline rows or baseline_s."""
    if any(r.get("reference_s") for r in rows):
        return series([r for r in rows if r.get("reference_s")], x, "reference_s")
    own = [r for r in rows if r["method"] == pm.BASELINE]
    if own:
        return series(own, x, "t_median")
    return series(rows, x, "baseline_s")


def plot_sweeps(rows, outdir, written):
    """time_vs_T/D.png and memory_vs_T/D.png."""
    single = [r for r in rows if r["ranks"] == 1]
    if not single:
        for name in ("time_vs_T.png", "time_vs_D.png", "memory_vs_T.png",
                     "memory_vs_D.png"):
            skip(name, "no rows with ranks == 1")
        return
    threads = pm.most_common([r["threads"] for r in single])
    B = pm.most_common([r["B"] for r in single])
    single = [r for r in single if r["threads"] == threads and r["B"] == B]
    for x, fixed in (("T", "D"), ("D", "T")):
        panels = {}
        for key, prows in group_by(single, "map", "precision").items():
            value = choose_fixed(prows, x, fixed)
            if value is not None:
                panels[key] = (value, [r for r in prows if r[fixed] == value])
        if not panels:
            for kind in ("time", "memory"):
                skip("%s_vs_%s.png" % (kind, x), "no method measured at two values of %s"
                     % x)
            continue
        plot_time_sweep(panels, x, fixed, B, outdir, written)
        plot_memory_sweep(panels, x, fixed, B, outdir, written)


def sweep_axes(ax, x, fixed, value, key, B):
    ax.set_xscale("log", base=10 if x == "T" else 2)
    ax.set_yscale("log")
    ax.set_xlabel("T (sequence length)" if x == "T" else "D (state size)")
    ax.set_title("%s %s, %s = %d, B = %d" % (key[0], key[1], fixed, value, B))
    ax.grid(True, which="major", alpha=0.3)


def plot_time_sweep(panels, x, fixed, B, outdir, written):
    fig, axes = new_figure(len(panels))
    used = []
    for ax, (key, (value, prows)) in zip(axes, panels.items()):
        used += prows
        base = baseline_series(prows, x)
        if base:
            ax.plot(*zip(*base), label="fastest sequential", **method_style("baseline"))
        by_method = group_by([r for r in prows if r["method"] != pm.BASELINE], "method")
        for (method,), mrows in sorted(by_method.items(), key=lambda kv: method_key(kv[0][0])):
            pts = series(mrows, x, "t_median")
            if pts:
                ax.plot(*zip(*pts), label=method, **method_style(method))
        sweep_axes(ax, x, fixed, value, key, B)
        ax.set_ylabel("time to solution [s]")
        ax.legend(fontsize=8)
    save(fig, "Time to solution vs %s" % x, used, outdir, "time_vs_%s.png" % x, written)


def plot_memory_sweep(panels, x, fixed, B, outdir, written):
    fig, axes = new_figure(len(panels))
    used = []
    for ax, (key, (value, prows)) in zip(axes, panels.items()):
        used += prows
        handles = []
        for (method,), mrows in sorted(group_by(prows, "method").items(),
                                       key=lambda kv: method_key(kv[0][0])):
            style = method_style(method)
            for column, linestyle in (("peak_rss_mb", "-"), ("views_peak_mb", "--")):
                pts = series(mrows, x, column)
                if pts:
                    ax.plot(*zip(*pts), linestyle=linestyle, **style)
            handles.append(Line2D([], [], label=method, **style))
        xs = sorted({r[x] for r in prows})
        w = pm.word_size(key[1])
        ref = [8 * B * (v if x == "T" else value) * (v if x == "D" else value) * w / 2**20
               for v in xs]
        ax.plot(xs, ref, color="k", linestyle=":", linewidth=1.5)
        handles += [Line2D([], [], color="k", linestyle="-", label="peak RSS (peak_rss_mb)"),
                    Line2D([], [], color="k", linestyle="--",
                           label="Kokkos Views peak (views_peak_mb)"),
                    Line2D([], [], color="k", linestyle=":", label="8·B·T·D·sizeof")]
        sweep_axes(ax, x, fixed, value, key, B)
        ax.set_ylabel("memory [MiB]")
        ax.legend(handles=handles, fontsize=8)
    save(fig, "Peak memory vs %s" % x, used, outdir, "memory_vs_%s.png" % x, written)


# --------------------------------------------------------------------------------------
# Scaling


def sweep_rows(rows, word):
    """Rows whose sweep names `word` when there are any, else all rows."""
    named = [r for r in rows if word in r["sweep"].lower()]
    return named or rows


def scaling_series(rows, fields):
    """{problem: {method: rows}} for groups of `fields` with >= 2 rank counts (rows with a
    forced chunk count measure a kernel's rate, not a scaling series: left out)."""
    problems = defaultdict(dict)
    rows = [r for r in rows if not r.get("chunks")]
    for key, grows in group_by(rows, *fields).items():
        if len({r["ranks"] for r in grows}) >= 2:
            problem, method = key[:-1], key[-1]
            problems[problem][method] = sorted(grows, key=lambda r: r["ranks"])
    return dict(problems)


def model_ranks(measured):
    """Measured rank counts and powers of two up to EXTRAPOLATE x the largest."""
    lo, hi = min(measured), max(measured) * EXTRAPOLATE
    powers = [2**k for k in range(int(math.log2(hi)) + 1) if lo <= 2**k <= hi]
    return sorted(set(measured) | set(powers))


def model_line(model, mrows, P, scale):
    """Predicted t_iter of the series `mrows` (batch ranks as measured) at P ranks; `scale`
    "strong" keeps B and T, "weak" grows T (or B, when B varies) with P."""
    ref = mrows[0]
    Q = pm.most_common([r["batch_ranks"] for r in mrows])
    B, T = ref["B"], ref["T"]
    if scale == "weak":
        if len({r["B"] for r in mrows}) == 1:
            T = T * P / ref["ranks"]
        else:
            B = B * P / ref["ranks"]
    # a prediction for ranks with a core each: points measured beyond this machine's cores
    # (oversubscribed) lie above it
    return model.predict_t_iter(pm.case_key(ref), T, ref["D"], B, max(1, P // Q),
                                ref["threads"], Q)


def legend_with_styles(ax, extra):
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + extra, fontsize=8)


def plot_method(ax, method, pts, ideal, predicted):
    """One method's measured points (pts: [(x, t)]), its ideal line (t at each measured x) and
    the model's prediction ([(x, t or None)]; None where the case is not modelled)."""
    style = method_style(method)
    xs = [x for x, _ in pts]
    ax.plot(*zip(*pts), label=method, **style)
    ax.plot(xs, ideal, color=style["color"], linestyle=":", linewidth=1.0, alpha=style["alpha"])
    predicted = [(x, t) for x, t in predicted if t is not None]
    if predicted:
        ax.plot(*zip(*predicted), color=style["color"], linestyle="--", linewidth=1.2,
                alpha=style["alpha"])


def plot_strong(rows, model, outdir, written):
    candidates = [r for r in sweep_rows(rows, "strong") if r["method"] != pm.BASELINE]
    problems = scaling_series(candidates, ("map", "precision", "B", "T", "D", "threads",
                                           "method"))
    if not problems:
        skip("strong_scaling.png", "no series with several rank counts at the same B and T")
        return
    fig, axes = new_figure(len(problems))
    used = []
    for ax, ((map_, prec, B, T, D, threads), methods) in zip(axes, problems.items()):
        all_ranks = []
        for method in sorted(methods, key=method_key):
            mrows = methods[method]
            used += mrows
            pts = series(mrows, "ranks", "t_median")
            P0, t0 = pts[0]
            Ps = model_ranks([P for P, _ in pts])
            all_ranks += Ps
            iters = mrows[0].get("iterations") or 0
            predicted = [(P, model_line(model, mrows, P, "strong")) for P in Ps]
            plot_method(ax, method, pts, [t0 * P0 / P for P, _ in pts],
                        [(P, t * iters if t is not None and iters else None)
                         for P, t in predicted])
        base = [r.get("reference_s") or r.get("baseline_s") for m in methods.values() for r in m
                if r.get("reference_s") or r.get("baseline_s")]
        if base:
            ax.axhline(median(base), color="k", linestyle="-.", linewidth=1.0,
                       label="fastest sequential")
        log2_axis(ax, all_ranks)
        ax.set_yscale("log")
        ax.set_xlabel("MPI ranks")
        ax.set_ylabel("time to solution [s]")
        ax.set_title("%s %s, B = %d, T = %d, D = %d, %d thread(s)/rank"
                     % (map_, prec, B, T, D, threads))
        ax.grid(True, which="major", alpha=0.3)
        legend_with_styles(ax, [
            Line2D([], [], color="k", marker="o", label="measured"),
            Line2D([], [], color="k", linestyle="--", label="model, a core per rank"),
            Line2D([], [], color="k", linestyle=":", label="ideal t₁/P")])
    save(fig, "Strong scaling", used, outdir, "strong_scaling.png", written)


def plot_weak(rows, model, outdir, written):
    candidates = [dict(r, work=r["B"] * r["T"] / r["ranks"])
                  for r in sweep_rows(rows, "weak") if r["method"] != pm.BASELINE]
    problems = scaling_series(candidates, ("map", "precision", "D", "threads", "work",
                                           "method"))
    if not problems:
        skip("weak_scaling.png", "no series with several rank counts at the same B*T/ranks")
        return
    fig, axes = new_figure(len(problems))
    used = []
    for ax, ((map_, prec, D, threads, work), methods) in zip(axes, problems.items()):
        all_ranks = []
        for method in sorted(methods, key=method_key):
            mrows = methods[method]
            used += mrows
            pts = series([dict(r, t_iter_measured=pm.measured_t_iter(r)) for r in mrows],
                         "ranks", "t_iter_measured")
            Ps = model_ranks([P for P, _ in pts])
            all_ranks += Ps
            plot_method(ax, method, pts, [pts[0][1]] * len(pts),
                        [(P, model_line(model, mrows, P, "weak")) for P in Ps])
        log2_axis(ax, all_ranks)
        ax.set_yscale("log")
        ax.set_xlabel("MPI ranks")
        ax.set_ylabel("time per iteration [s]")
        ax.set_title("%s %s, D = %d, B·T/ranks = %g, %d thread(s)/rank"
                     % (map_, prec, D, work, threads))
        ax.grid(True, which="major", alpha=0.3)
        legend_with_styles(ax, [
            Line2D([], [], color="k", marker="o", label="measured"),
            Line2D([], [], color="k", linestyle="--", label="model, a core per rank"),
            Line2D([], [], color="k", linestyle=":", label="ideal (constant)")])
    save(fig, "Weak scaling", used, outdir, "weak_scaling.png", written)


def plot_threads(rows, model, outdir, written):
    single = [dict(r, t_iter_measured=pm.measured_t_iter(r)) for r in rows
              if r["ranks"] == 1 and r["method"] != pm.BASELINE]
    problems = defaultdict(dict)
    for key, grows in group_by(single, "map", "precision", "B", "T", "D", "method").items():
        if len({r["threads"] for r in grows}) >= 2:
            problems[key[:-1]][key[-1]] = grows
    if not problems:
        skip("threads.png", "no series with several thread counts at ranks == 1")
        return
    fig, axes = new_figure(len(problems))
    used = []
    for ax, ((map_, prec, B, T, D), methods) in zip(axes, problems.items()):
        all_threads = []
        for method in sorted(methods, key=method_key):
            mrows = methods[method]
            used += mrows
            pts = series(mrows, "threads", "t_iter_measured")
            ns = [n for n, _ in pts]
            all_threads += ns
            n0, t0 = pts[0]
            plot_method(ax, method, pts, [t0 * n0 / n for n in ns],
                        [(n, model.predict_t_iter((map_, method, prec), T, D, B, 1, n))
                         for n in ns])
        log2_axis(ax, all_threads)
        ax.set_yscale("log")
        ax.set_xlabel("threads per rank")
        ax.set_ylabel("time per iteration [s]")
        ax.set_title("%s %s, B = %d, T = %d, D = %d, 1 rank" % (map_, prec, B, T, D))
        ax.grid(True, which="major", alpha=0.3)
        legend_with_styles(ax, [
            Line2D([], [], color="k", marker="o", label="measured"),
            Line2D([], [], color="k", linestyle="--", label="model, a core per rank"),
            Line2D([], [], color="k", linestyle=":", label="ideal t₁/n")])
    save(fig, "Thread scaling", used, outdir, "threads.png", written)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Plot kelk-bench results.")
    parser.add_argument("--results", nargs="+", default=[],
                        help="kelk-bench CSV files or folders")
    parser.add_argument("--history", nargs="+", default=[],
                        help="convergence history CSVs (map, method, precision, B, T, D, "
                             "iteration, max_update, max_residual)")
    parser.add_argument("--outdir", default="docs/figures", help="folder for the PNGs")
    args = parser.parse_args(argv)
    if not args.results and not args.history:
        parser.error("give --results and/or --history")

    os.makedirs(args.outdir, exist_ok=True)
    written = []
    rows = pm.load_rows(args.results)
    plot_convergence(args.history, rows, args.outdir, written)
    if rows:
        model = pm.Model(rows)
        plot_sweeps(rows, args.outdir, written)
        plot_strong(rows, model, args.outdir, written)
        plot_weak(rows, model, args.outdir, written)
        plot_threads(rows, model, args.outdir, written)
    else:
        skip("time, memory and scaling plots", "no kelk-bench rows (--results)")
    print("plot_bench: wrote %d file(s)%s" % (len(written), ":" if written else ""))
    for path in written:
        print("  " + path)


if __name__ == "__main__":
    main()
