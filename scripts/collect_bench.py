#!/usr/bin/env python3
"""Merge kelk-bench CSV files and tabulate strong/weak scaling.

Usage:
    scripts/collect_bench.py [-o merged.csv] [--markdown table.md] DIR_OR_CSV...

Every CSV named on the command line, and every *.csv found (recursively) under a
directory named there, is read. Blank lines and lines starting with '#' are skipped, a
repeated header line inside a file is skipped (a different header starts a new schema
from that line on), and a row that repeats an earlier row of a file of the same name (a
copy, or a merged file holding it) exactly is dropped. The merged CSV
has the union of all columns (first-seen order; a cell a file does not have is left
empty) plus a `source_file` column naming where each row came from; it goes to -o, or to
stdout. Files with columns kelk-bench does not write, or without some of its columns,
are reported on stderr.

With --markdown, a table per kind of sweep (strong scaling, weak scaling, other runs) is
written with the columns
    map, method, precision, B, T, D, ranks, threads, iterations, t_median, t_iter,
    speedup, efficiency, peak_rss_mb
where `speedup` is kelk-bench's own (the fastest sequential evaluation of the run, kelk's
`sequential` or the hand-written loop, whichever was faster: reference_s / t_median) and
`efficiency` is the parallel efficiency across rank counts within one series of runs of
the same map, method, precision, D, Din and threads per rank, relative to the series'
run with the fewest ranks (r_ref, time t_ref):
    strong scaling (same B and T for every rank count):  t_ref * r_ref / (r * t_r)
    weak scaling   (B * T / ranks the same):             t_ref / t_r
Runs from files named strong_* or weak_* (the SLURM scripts' names), or with a `sweep`
value containing "strong"/"weak", are of that kind; other runs are classified from the
data: a strong series if other rank counts ran the same B and T, else a weak series if
other rank counts ran the same work per rank (T/ranks at fixed B, or B/ranks at fixed
T, or else B*T/ranks). Baseline rows (the hand-written loop) get no efficiency. When
one case (same sizes, ranks, threads, kind) was measured more than once, the table
shows the run with the latest `date` (later inputs win ties); the merged CSV keeps all.

Python 3.6+, standard library only.
"""

import argparse
import csv
import io
import os
import sys
from fractions import Fraction

# The columns kelk-bench writes, in its order.
CONTEXT_COLUMNS = ["kelk_version", "git_rev", "kokkos_version", "backend", "cpu",
                   "compiler", "build_type", "blas", "hostname", "date", "hardware_threads",
                   "dgemm_gflops"]
CASE_COLUMNS = ["sweep", "map", "method", "precision", "B", "T", "D", "Din", "chunks", "ranks",
                "time_ranks", "batch_ranks", "threads"]
RESULT_COLUMNS = ["iterations", "converged", "repeats", "t_median", "t_min", "t_max",
                  "t_iter", "baseline_s", "baseline_gflops", "baseline_kernel", "sequential_s",
                  "reference", "reference_s", "step_flops", "dgemm_step_s",
                  "sequential_step_s", "sequential_vs_dgemm", "speedup",
                  "max_err", "peak_rss_mb", "views_peak_mb", "solver_peak_mb", "t_linearize",
                  "t_scan", "t_update", "t_comm", "t_cross_measured", "kernel", "kernel_gflops", "kernel_gbs",
                  "kernel_rate", "compose_gflops", "kernel_times", "blocks",
                  "steps_after_first_sweep", "merge_length"]
SCHEMA = CONTEXT_COLUMNS + CASE_COLUMNS + RESULT_COLUMNS
KNOWN = set(SCHEMA)
# Without these a row cannot be placed in a scaling table.
CORE = ["map", "method", "precision", "B", "T", "D", "ranks", "threads", "iterations",
        "t_median"]
SOURCE = "source_file"  # added by this script

TABLE_COLUMNS = ["map", "method", "precision", "B", "T", "D", "ranks", "threads",
                 "iterations", "t_median", "t_iter", "speedup", "efficiency",
                 "peak_rss_mb"]
METHOD_ORDER = ["baseline", "sequential", "jacobi", "deer", "quasi_deer", "elk",
                "quasi_elk"]
KIND_TITLES = [("strong", "Strong scaling"), ("weak", "Weak scaling"),
               ("other", "Other runs")]


def warn(msg):
    print("collect_bench: warning: " + msg, file=sys.stderr)


# --------------------------------------------------------------------------------------
# Reading


def find_csv_files(paths, exclude):
    """The CSV files named in `paths` or found under the folders there, each once."""
    files, seen = [], set()

    def add(path):
        real = os.path.realpath(path)
        if real in seen or real in exclude:
            return
        seen.add(real)
        files.append(path)

    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, names in os.walk(path):
                dirs.sort()
                found.extend(os.path.join(root, n) for n in sorted(names)
                             if n.lower().endswith(".csv"))
            if not found:
                warn("no *.csv files under %s" % path)
            for f in found:
                add(f)
        elif os.path.isfile(path):
            add(path)
        else:
            warn("no such file or folder: %s" % path)
    return files


def looks_like_header(cells):
    return "map" in cells and "method" in cells and "t_median" in cells


def read_csv_file(path):
    """Rows of one file as dicts, and the headers met in it."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
            text = f.read()
    except OSError as e:
        warn("cannot read %s: %s" % (path, e))
        return [], []
    # Drop comment and blank lines before parsing (kelk-bench writes no multi-line cells).
    lines = [ln for ln in text.splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        warn("%s: empty (no header, no rows); skipped" % path)
        return [], []
    rows, headers, header = [], [], None
    for lineno, cells in enumerate(csv.reader(io.StringIO("\n".join(lines))), 1):
        cells = [c.strip() for c in cells]
        if header is None or (cells != header and looks_like_header(cells)):
            if header is not None:
                warn("%s: a new header in data line %d; reading on with it"
                     % (path, lineno))
            header = cells
            headers.append(header)
            continue
        if cells == header:  # a repeated header, e.g. from files concatenated
            continue
        if len(cells) != len(header):
            warn("%s: data line %d has %d cells, the header %d; %s"
                 % (path, lineno, len(cells), len(header),
                    "extra cells dropped" if len(cells) > len(header)
                    else "missing cells left empty"))
        row = {name: (cells[i] if i < len(cells) else "")
               for i, name in enumerate(header) if name}
        if not row.get(SOURCE):  # a merged file keeps the names of its sources
            row[SOURCE] = path
        rows.append(row)
    if not rows:
        warn("%s: header only, no rows" % path)
    return rows, headers


def schema_issues(header):
    """(what, columns) pairs describing how a header differs from kelk-bench's."""
    names = [n for n in header if n]
    issues = []
    unknown = [n for n in names if n not in KNOWN and n != SOURCE]
    if unknown:
        issues.append(("columns kelk-bench does not write", unknown))
    missing_core = [n for n in CORE if n not in names]
    if missing_core:
        issues.append(("missing core columns (such rows cannot be tabulated fully)",
                       missing_core))
    missing = [n for n in SCHEMA if n not in names and n not in CORE]
    if missing:
        issues.append(("missing columns (left empty)", missing))
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        issues.append(("repeated column names (the last one wins)", dup))
    return issues


def collect(files):
    """All rows of all files, exact repeats dropped, and the union of their columns."""
    columns, rows, seen = [], [], set()
    repeats = 0
    issues = {}  # (what, columns) -> files, to report each difference once
    for path in files:
        file_rows, headers = read_csv_file(path)
        for header in headers:
            for what, names in schema_issues(header):
                issues.setdefault((what, tuple(names)), []).append(path)
            for name in header:
                if name and name != SOURCE and name not in columns:
                    columns.append(name)
        for row in file_rows:
            # Same values from a file of the same name (a copy, or a merged file that
            # holds it) is the same measurement.
            key = tuple(sorted((k, v) for k, v in row.items() if k != SOURCE and v != ""))
            key += (os.path.basename(row[SOURCE]),)
            if key in seen:
                repeats += 1
                continue
            seen.add(key)
            rows.append(row)
    for (what, names), paths in issues.items():
        where = paths[0]
        if len(paths) > 1:
            where = "%d files (%s, ...)" % (len(paths), paths[0])
        warn("%s: %s: %s" % (where, what, ", ".join(names)))
    if repeats:
        warn("%d row(s) repeating an earlier row exactly were dropped" % repeats)
    return columns + [SOURCE], rows


def write_csv(out, columns, rows):
    w = csv.DictWriter(out, fieldnames=columns, restval="", extrasaction="ignore",
                       lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow(row)


# --------------------------------------------------------------------------------------
# Scaling tables


def num(s):
    """float(s), or None when empty or not a finite number."""
    try:
        x = float(s)
    except (TypeError, ValueError):
        return None
    return x if x == x and abs(x) != float("inf") else None


def integer(s):
    x = num(s)
    return int(x) if x is not None and x == int(x) else None


def kind_hint(row):
    """'strong'/'weak' from the file name or the sweep column, else None."""
    base = os.path.basename(row.get(SOURCE, "")).lower()
    for kind in ("strong", "weak"):
        if base.startswith(kind + "_") or base.startswith(kind + "-"):
            return kind
    sweep = row.get("sweep", "").lower()
    for kind in ("strong", "weak"):
        if kind in sweep:
            return kind
    return None


class Run(object):
    """One row of the table, with the numbers it needs parsed."""

    def __init__(self, row, order):
        self.row, self.order = row, order
        self.B, self.T = integer(row.get("B")), integer(row.get("T"))
        self.ranks, self.threads = integer(row.get("ranks")), integer(row.get("threads"))
        self.t = num(row.get("t_median"))
        self.hint = kind_hint(row)
        self.method = row.get("method", "")
        self.group = (row.get("map", ""), self.method, row.get("precision", ""),
                      row.get("D", ""), row.get("Din", ""), self.threads, self.hint)
        self.usable = (None not in (self.B, self.T, self.ranks, self.t)
                       and self.ranks > 0 and self.t > 0)
        self.kind, self.efficiency, self.series = None, None, None

    def case_key(self):
        r = self.row
        return self.group + (self.B, self.T, self.ranks, r.get("time_ranks", ""),
                             r.get("batch_ranks", ""))


def latest_per_case(runs):
    """One run per case: the one with the latest date (later inputs win ties)."""
    best, repeats = {}, 0
    for run in runs:
        key = run.case_key()
        if key in best:
            repeats += 1
            if run.row.get("date", "") < best[key].row.get("date", ""):
                continue
        best[key] = run
    if repeats:
        warn("%d case(s) measured more than once; the table shows the latest run of each"
             % repeats)
    return sorted(best.values(), key=lambda r: r.order)


def series_candidates(run, peers):
    """The (kind, series key, members) a run could belong to, in order of preference."""
    def members(pred):
        return [p for p in peers if p.usable and pred(p)]

    strong = ("strong", ("B", run.B, "T", run.T),
              members(lambda p: p.B == run.B and p.T == run.T))
    weak_t = ("weak", ("B", run.B, "T/r", Fraction(run.T, run.ranks)),
              members(lambda p: p.B == run.B and Fraction(p.T, p.ranks)
                      == Fraction(run.T, run.ranks)))
    weak_b = ("weak", ("T", run.T, "B/r", Fraction(run.B, run.ranks)),
              members(lambda p: p.T == run.T and Fraction(p.B, p.ranks)
                      == Fraction(run.B, run.ranks)))
    work = Fraction(run.B * run.T, run.ranks)
    weak_w = ("weak", ("BT/r", work),
              members(lambda p: Fraction(p.B * p.T, p.ranks) == work))
    return strong, [weak_t, weak_b, weak_w]


def rank_counts(members):
    return len({m.ranks for m in members})


def classify(runs):
    """Set kind, series and efficiency of every run."""
    groups = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    for peers in groups.values():
        for run in peers:
            run.kind = run.hint or "other"
            if not run.usable:
                continue
            strong, weak = series_candidates(run, peers)
            if run.hint == "strong":
                chosen = strong
            elif run.hint == "weak":
                # The first weak series that spans several rank counts, else the first.
                chosen = next((s for s in weak if rank_counts(s[2]) > 1), weak[0])
            elif rank_counts(strong[2]) > 1:
                chosen = strong
            else:
                chosen = next((s for s in weak if rank_counts(s[2]) > 1), None)
            if chosen is None:
                continue
            kind, key, members = chosen
            run.kind, run.series = kind, key
            if run.method == "baseline":
                continue
            ref = min(members, key=lambda m: (m.ranks, m.t))
            if kind == "strong":
                run.efficiency = ref.t * ref.ranks / (run.ranks * run.t)
            else:
                run.efficiency = ref.t / run.t


def fmt(value, spec):
    x = num(value)
    return "" if x is None else format(x, spec)


def table_cells(run):
    r = run.row
    iterations = r.get("iterations", "")
    if r.get("converged", "") == "0" and r.get("method") != "baseline":
        iterations += " (nc)"
    return [r.get("map", ""), r.get("method", ""), r.get("precision", ""),
            r.get("B", ""), r.get("T", ""), r.get("D", ""), r.get("ranks", ""),
            r.get("threads", ""), iterations, fmt(r.get("t_median"), ".4g"),
            fmt(r.get("t_iter"), ".4g"), fmt(r.get("speedup"), ".2f"),
            "" if run.efficiency is None else format(run.efficiency, ".2f"),
            fmt(r.get("peak_rss_mb"), ".1f")]


def sort_key(run):
    r = run.row
    method = run.method
    m_order = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)

    def n(x):
        return (0, x) if x is not None else (1, 0)

    series = tuple(str(s) for s in run.series) if run.series else ()
    return (r.get("map", ""), r.get("precision", ""), n(integer(r.get("D"))),
            n(run.threads), m_order, method, series, n(run.ranks), n(run.B), n(run.T),
            run.order)


def distinct(rows, column):
    return sorted({r.get(column, "") for r in rows if r.get(column, "")})


def write_markdown(out, rows):
    runs = latest_per_case([Run(row, i) for i, row in enumerate(rows)])
    classify(runs)
    out.write("# kelk-bench results\n\n")
    for column, label in (("hostname", "hosts"), ("backend", "backends"),
                          ("kelk_version", "kelk"), ("git_rev", "git"),
                          ("kokkos_version", "Kokkos"), ("cpu", "CPU")):
        values = distinct(rows, column)
        if values:
            out.write("- %s: %s\n" % (label, ", ".join(values)))
    out.write("- efficiency: strong = t_ref * r_ref / (r * t_r), weak = t_ref / t_r, "
              "against the fewest ranks of each series; times in seconds, "
              "peak RSS in MiB; (nc) = not converged\n")
    for kind, title in KIND_TITLES:
        chosen = sorted((r for r in runs if r.kind == kind), key=sort_key)
        if not chosen:
            continue
        out.write("\n## %s\n\n" % title)
        out.write("| " + " | ".join(TABLE_COLUMNS) + " |\n")
        out.write("|" + "|".join("---" if c in ("map", "method", "precision") else "---:"
                                 for c in TABLE_COLUMNS) + "|\n")
        for run in chosen:
            cells = [c.replace("|", "\\|") for c in table_cells(run)]
            out.write("| " + " | ".join(cells) + " |\n")


# --------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Merge kelk-bench CSV files; optionally tabulate scaling in Markdown.",
        epilog="Warnings go to stderr. Exit status 1 when no rows were found.")
    ap.add_argument("inputs", nargs="+", metavar="DIR_OR_CSV",
                    help="CSV files, or folders searched recursively for *.csv")
    ap.add_argument("-o", "--output", metavar="MERGED.csv",
                    help="merged CSV (default: stdout)")
    ap.add_argument("--markdown", metavar="TABLE.md",
                    help="also write Markdown scaling tables here ('-' = stdout)")
    args = ap.parse_args(argv)
    if args.markdown == "-" and not args.output:
        ap.error("--markdown - needs -o, as the merged CSV goes to stdout otherwise")

    exclude = {os.path.realpath(p) for p in (args.output, args.markdown) if p and p != "-"}
    files = find_csv_files(args.inputs, exclude)
    columns, rows = collect(files)
    if not rows:
        print("collect_bench: no rows found in %d file(s)" % len(files), file=sys.stderr)
        return 1

    if args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as f:
            write_csv(f, columns, rows)
    else:
        write_csv(sys.stdout, columns, rows)
    if args.markdown == "-":
        write_markdown(sys.stdout, rows)
    elif args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            write_markdown(f, rows)
    print("collect_bench: %d row(s) from %d file(s)" % (len(rows), len(files)),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
