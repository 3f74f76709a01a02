#!/usr/bin/python3
"""Performance model of block_jacobi (target F4), fitted to kelk-bench results.

Usage:
    scripts/block_jacobi_model.py RESULTS.csv|DIR ... [--markdown model.md]
                                  [--figure docs/figures/block_jacobi_model.png]
                                  [--deer-family docs/PERFORMANCE.md]

The model (docs/ALGORITHMS.md section 11), for P workers (ranks x threads, one block each):

    time = (T/P) c_step + (sweeps - 1) m c_step + sweeps * c_comm(P)

    c_step     seconds per step of one block's sequential sweep: block_jacobi's time on one
               rank and one thread (one block, one sweep) / (B T)
    m          the merge length: the most steps one block recomputed in sweep 2 (kelk-bench's
               merge_length), a property of the map and the tolerance; for maps whose
               perturbations do not decay within a block it is the block length, and the
               sweeps walk the blocks (sweeps = P), so time = T c_step
    c_comm(P)  per sweep, alpha + beta log2(P) for P ranks along time (the halo exchange, the
               reductions of the check), 0 for threads; fitted to kelk-bench's
               t_cross_measured (one sweep's communication alone)
    o          max(1, ranks x threads / cores): the measured machine's oversubscription
               multiplies the local terms (1 in predictions)

Blocks shorter than m (T/P < m) need about m/L + 1 sweeps of whole blocks of L = T/P steps.
Speedups are against the fastest sequential evaluation of the same run (kelk-bench's
reference_s: the faster of kelk's `sequential` and the hand-written loop). Predictions at P = 64 ... 4096 ranks for T = 1e6 ... 1e9 take the merge length
and the sweep count as measured (2 on contracting maps) and alpha, beta as fitted here.
With --deer-family, the DEER-family rows of PERFORMANCE.md's prediction table are drawn too.
"""
import argparse
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perf_model import cores_of, load_rows  # noqa: E402

PREDICT_P = [64, 128, 256, 512, 1024, 2048, 4096]
PREDICT_T = [10**6, 10**7, 10**8, 10**9]


def key(r):
    return (r["map"], r["precision"], r["B"], r["T"], r["D"])


def fit_comm(rows):
    """(alpha, beta) of c_comm(P) = alpha + beta log2 P from the rows with ranks > 1."""
    pts = [(math.log2(r["time_ranks"]), r["t_cross_measured"]) for r in rows
           if r["time_ranks"] > 1 and r.get("t_cross_measured") is not None]
    if not pts:
        return 0.0, 0.0
    xs = sorted(set(x for x, _ in pts))
    if len(xs) < 2:
        return sum(y for _, y in pts) / len(pts), 0.0
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    beta = sum((x - mx) * (y - my) for x, y in pts) / sxx
    alpha = my - beta * mx
    if beta < 0:
        return my, 0.0
    if alpha < 0:
        return 0.0, sum(x * y for x, y in pts) / sum(x * x for x, _ in pts)
    return alpha, beta


def predict(c_step, m, sweeps, T, B, P, ranks, alpha, beta, o=1.0):
    comm = alpha + beta * math.log2(ranks) if ranks > 1 else 0.0
    return o * (B * (T / P) * c_step + (sweeps - 1) * B * m * c_step) + sweeps * comm


def deer_family(path):
    """{case: {T: {P: speedup}}} from the prediction table of PERFORMANCE.md."""
    out = {}
    head = None
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 6 and cells[0] == "case" and "P=64" in cells:
            head = cells
            continue
        if head and len(cells) == len(head) and re.match(r"gru/(quasi_)?deer/", cells[0]):
            T = int(cells[2])
            for h, c in zip(head, cells):
                if h.startswith("P="):
                    out.setdefault(cells[0], {}).setdefault(T, {})[int(h[2:])] = float(c)
        elif head and not line.strip():
            head = None if out else head
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--markdown")
    ap.add_argument("--figure")
    ap.add_argument("--deer-family", help="PERFORMANCE.md with the DEER-family prediction table")
    args = ap.parse_args()
    rows = load_rows(args.results)
    bj = [r for r in rows if r["method"] == "block_jacobi"]
    base = {key(r): r["reference_s"] for r in rows if r.get("reference_s")}
    seq = {(key(r), r["time_ranks"], r["threads"]): r["t_median"] for r in rows if r["method"] == "sequential"}
    alpha, beta = fit_comm(bj)
    out = ["Fitted per-sweep communication: alpha = %.3g s, beta = %.3g s per log2(ranks)." % (alpha, beta), ""]
    errors = []

    cases = {}
    for r in bj:
        cases.setdefault(key(r), []).append(r)
    lines = ["| map | T | ranks x threads | sweeps | merge length m | c_step [µs] | time [s] | model [s] | error | vs fastest loop | vs kelk sequential |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    fitted = {}
    for k, rs in sorted(cases.items()):
        one = [r for r in rs if r["time_ranks"] == 1 and r["threads"] == 1]
        if not one:
            continue
        c_step = one[0]["t_median"] / (k[2] * k[3])
        merged = [r for r in rs if r["iterations"] and r["iterations"] > 1 and r.get("merge_length") is not None]
        m = max((r["merge_length"] for r in merged), default=0)
        walks = any(r["iterations"] > 2 for r in merged)
        fitted[k] = (c_step, m, walks)
        for r in sorted(rs, key=lambda r: (r["time_ranks"], r["threads"])):
            P = r["time_ranks"] * r["threads"]
            cores = cores_of(r)
            o = max(1.0, P / cores) if cores else 1.0
            t = predict(c_step, r.get("merge_length") or 0, r["iterations"], k[3], k[2], P,
                        r["time_ranks"], alpha, beta, o)
            if P > 1:
                errors.append(abs(t - r["t_median"]) / r["t_median"])
            b = r.get("reference_s") or base.get(k)  # the row's own run's reference
            s = seq.get((k, r["time_ranks"], r["threads"]))
            lines.append("| %s | %d | %d x %d | %d | %s | %.3f | %.4f | %.4f | %+.0f%% | %s | %s |" % (
                k[0], k[3], r["time_ranks"], r["threads"], r["iterations"], r.get("merge_length"),
                c_step * 1e6, r["t_median"], t, 100 * (t - r["t_median"]) / r["t_median"],
                "%.2fx" % (r["t_median"] / b) if b else "", "%.2fx" % (r["t_median"] / s) if s else ""))
    out += lines + [""]
    if errors:
        out += ["Model error over the %d measured points with P > 1: median %.0f%%, max %.0f%%." % (
            len(errors), 100 * sorted(errors)[len(errors) // 2], 100 * max(errors)), ""]

    pred = ["Predicted speedup over the fastest sequential evaluation, one core per rank (merge length and "
            "sweeps as measured; the maps whose sweeps walk the blocks need P sweeps):", "",
            "| map (measured at T) | D | T | m | " + " | ".join("P=%d" % p for p in PREDICT_P) + " |",
            "|---|---|---|---|" + "---|" * len(PREDICT_P)]
    curves = {}
    for k, (c_step, m, walks) in sorted(fitted.items()):
        b_step = base[k] / (k[2] * k[3]) if k in base else c_step
        for T in PREDICT_T:
            sp = []
            for P in PREDICT_P:
                L = T / P
                if walks:  # every sweep recomputes the blocks after the front
                    sweeps, mm = P, L
                elif m <= L:
                    sweeps, mm = 2, m
                else:  # blocks shorter than the merge length: about m / L + 1 sweeps
                    sweeps, mm = math.ceil(m / L) + 1, L
                sp.append(b_step * k[2] * T / predict(c_step, mm, sweeps, T, k[2], P, P, alpha, beta))
            if k[3] >= 10**6 or walks:
                curves[(k[0], T)] = sp
            pred.append("| %s (%.0e) | %d | %.0e | %s | %s |" % (k[0], k[3], k[4], T, "block" if walks else m,
                                                     " | ".join("%.3g" % s for s in sp)))
    out += pred
    text = "\n".join(out) + "\n"
    print(text)
    if args.markdown:
        open(args.markdown, "w").write(text)
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7.5, 5))
        styles = {10**6: "-", 10**7: "--", 10**8: "-.", 10**9: ":"}
        for (mp, T), sp in sorted(curves.items()):
            if mp in ("gru", "gru_torch"):
                ax.plot(PREDICT_P, sp, styles[T], marker="o", ms=3,
                        label="block_jacobi %s T=%.0e" % (mp, T))
        if args.deer_family:
            for case, byT in sorted(deer_family(args.deer_family).items()):
                for T, byP in sorted(byT.items()):
                    ps = [p for p in PREDICT_P if p in byP]
                    ax.plot(ps, [byP[p] for p in ps], styles.get(T, "-"), color="grey", alpha=0.7,
                            label="%s T=%.0e (earlier round)" % (case.split("/")[1], T))
        ax.plot(PREDICT_P, [1] * len(PREDICT_P), color="black", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("ranks P (one core each)")
        ax.set_ylabel("predicted speedup over the sequential loop")
        ax.set_title("GRU fp64 D=64: block_jacobi vs the DEER family (model)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)


if __name__ == "__main__":
    main()
