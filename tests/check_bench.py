"""Checks kelk-bench output: check_bench.py RESULTS.csv RESULTS.json HISTORY.csv RANKS.

Every method's states (and the hand-written baseline's) must equal kelk's sequential ones to
round-off (fp64) or to fp32's accuracy, every case must converge, each row must carry the
context columns, and the numbers must be consistent: the reference is the faster of the
baseline and kelk's sequential, speedup = reference / median, the roofline columns follow from
the step's flops and the dgemm rate, min <= median <= max, iterations in history.
"""
import csv
import json
import sys

CONTEXT = ["kelk_version", "git_rev", "kokkos_version", "backend", "cpu", "compiler",
           "build_type", "blas", "ranks", "threads", "dgemm_gflops"]
CASE = ["map", "method", "precision", "B", "T", "D", "iterations", "converged", "t_median",
        "t_min", "t_max", "t_iter", "baseline_s", "sequential_s", "reference", "reference_s",
        "step_flops", "dgemm_step_s", "sequential_step_s", "sequential_vs_dgemm", "speedup", "max_err", "peak_rss_mb",
        "views_peak_mb", "solver_peak_mb", "t_linearize", "t_scan", "t_update", "kernel"]


def fail(msg):
    sys.exit("check_bench: " + msg)


def close(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def check_reference(r, name):
    """The reference is the faster sequential evaluation; the roofline columns are consistent."""
    seq = float(r["sequential_s"])
    loops = {"sequential": seq}
    if r["baseline_s"] != "":
        loops["baseline"] = float(r["baseline_s"])
    fastest = min(loops, key=loops.get)
    if r["reference"] != fastest or not close(float(r["reference_s"]), loops[fastest]):
        fail(f"{name}: reference {r['reference']} {r['reference_s']} is not the fastest of {loops}")
    if r["map"] in ("gru", "elman"):
        D, Din, gates = int(r["D"]), int(r["Din"]), 3 if r["map"] == "gru" else 1
        if not close(float(r["step_flops"]), 2.0 * gates * D * (D + Din)):
            fail(f"{name}: step_flops {r['step_flops']} != 2 P (D + Din)")
        if not close(float(r["dgemm_step_s"]) * float(r["dgemm_gflops"]) * 1e9, float(r["step_flops"])):
            fail(f"{name}: dgemm_step_s {r['dgemm_step_s']} is not step_flops / dgemm rate")
        steps = int(r["B"]) * int(r["T"])
        if not close(float(r["sequential_step_s"]) * steps, seq):
            fail(f"{name}: sequential_step_s {r['sequential_step_s']} != sequential_s / (B T)")
        if not close(float(r["sequential_vs_dgemm"]), float(r["sequential_step_s"]) / float(r["dgemm_step_s"])):
            fail(f"{name}: sequential_vs_dgemm {r['sequential_vs_dgemm']} inconsistent")
    elif r["baseline_s"] != "" or r["step_flops"] != "":
        fail(f"{name}: a hand-written baseline or step flops for {r['map']}")


def check_rows(rows, ranks):
    if not rows:
        fail("no rows")
    for r in rows:
        for c in CONTEXT + CASE:
            if c not in r:
                fail(f"column {c} missing")
        name = f"{r['map']}/{r['method']}/{r['precision']}"
        if int(r["ranks"]) != ranks:
            fail(f"{name}: ranks {r['ranks']} != {ranks}")
        if int(r["converged"]) != 1:
            fail(f"{name}: not converged")
        # Newton (deer, elk) converges quadratically: round-off; the others stop when the
        # update is below the default tolerance, so their error is of that order
        exact = r["method"] in ("baseline", "sequential", "deer", "elk")
        if r["precision"] == "fp64":
            tol = 1e-10 if exact else 1e-6
        else:
            tol = 1e-3
        if float(r["max_err"]) > tol:
            fail(f"{name}: max_err {r['max_err']} > {tol}")
        tmin, tmed, tmax = (float(r[k]) for k in ("t_min", "t_median", "t_max"))
        if not 0 < tmin <= tmed <= tmax:
            fail(f"{name}: times {tmin} {tmed} {tmax}")
        check_reference(r, name)
        speedup = float(r["reference_s"]) / tmed
        if abs(speedup - float(r["speedup"])) > 1e-6 * speedup:
            fail(f"{name}: speedup {r['speedup']} != reference / median {speedup}")
        if r["method"] not in ("baseline", "sequential") and float(r["solver_peak_mb"]) <= 0:
            fail(f"{name}: no solver memory recorded")
        if r["method"] == "block_jacobi":
            if r.get("blocks") != "3" or r.get("merge_length", "") == "":
                fail(f"{name}: blocks {r.get('blocks')!r}, merge length {r.get('merge_length')!r}")
            if int(r["steps_after_first_sweep"]) < 0:
                fail(f"{name}: negative work after the first sweep")


def main():
    results_csv, results_json, history_csv, ranks = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rows = list(csv.DictReader(open(results_csv)))
    check_rows(rows, ranks)
    methods = {r["method"] for r in rows}
    for m in ("baseline", "sequential", "jacobi", "deer", "quasi_deer", "elk", "quasi_elk",
              "block_jacobi"):
        if m not in methods:
            fail(f"method {m} missing")
    doc = json.load(open(results_json))
    if "context" not in doc or not doc["results"]:
        fail("JSON without context or results")
    check_rows([{k: str(int(v)) if isinstance(v, bool) else ("" if v is None else str(v))
                 for k, v in r.items()} for r in doc["results"]], ranks)
    iterations = {}
    for h in csv.DictReader(open(history_csv)):
        key = (h["map"], h["method"], h["precision"])
        iterations[key] = max(iterations.get(key, 0), int(h["iteration"]))
    for r in rows:
        if r["method"] in ("baseline", "sequential"):
            continue
        key = (r["map"], r["method"], r["precision"])
        if iterations.get(key) != int(r["iterations"]):
            fail(f"{key}: history has {iterations.get(key)} iterations, the row {r['iterations']}")
    print(f"check_bench: {len(rows)} rows OK at {ranks} rank(s)")


main()
