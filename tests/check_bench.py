"""Checks kelk-bench output: check_bench.py RESULTS.csv RESULTS.json HISTORY.csv RANKS.

Every method's states must equal the sequential baseline's to round-off (fp64) or to fp32's
accuracy, every case must converge, each row must carry the context columns, and the numbers
must be consistent (speedup = baseline / median, min <= median <= max, iterations in history).
"""
import csv
import json
import sys

CONTEXT = ["kelk_version", "git_rev", "kokkos_version", "backend", "cpu", "compiler",
           "build_type", "blas", "ranks", "threads", "dgemm_gflops"]
CASE = ["map", "method", "precision", "B", "T", "D", "iterations", "converged", "t_median",
        "t_min", "t_max", "t_iter", "baseline_s", "speedup", "max_err", "peak_rss_mb",
        "views_peak_mb", "solver_peak_mb", "t_linearize", "t_scan", "t_update", "kernel"]


def fail(msg):
    sys.exit("check_bench: " + msg)


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
        speedup = float(r["baseline_s"]) / tmed
        if abs(speedup - float(r["speedup"])) > 1e-6 * speedup:
            fail(f"{name}: speedup {r['speedup']} != baseline / median {speedup}")
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
