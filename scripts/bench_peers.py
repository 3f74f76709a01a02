#!/usr/bin/env python3
"""kelk against the peers a user would pick instead: torch.nn.GRU/LSTM and a JAX lax.scan GRU.

    python3 scripts/bench_peers.py --quick    # D = 16, 64, T = 1e4, B = 1, 1 thread: ~1.5 min
    python3 scripts/bench_peers.py            # the default grid (see --help): ~2-3 h on 2 cores
    python3 scripts/bench_peers.py --D 64 --T 1e5 --B 1 --threads 1 --precision fp64 \
        --recurrent-gain 2.3 --markdown e4.md  # target E4 of docs/PERFORMANCE.md

Started outside its virtual environment (default `.venv-peers/` at the repository root, or
$KELK_PEERS_VENV), the script creates it with the first `python3` on PATH, pip-installs torch,
jax, numpy and h5py into it from pip's default index (once; about 6 GB, torch's wheel pulls
CUDA libraries), and re-runs itself there. It is never run in CI.

The problem: a GRU (D hidden, Din inputs) initialised as torch.nn.GRU initialises one, every
weight and bias U(-1/sqrt(D), 1/sqrt(D)) (--recurrent-gain G multiplies the recurrent matrices
by G; --recurrent-norm X scales each recurrent block to Frobenius norm X, 0.5 being the
contractive GRU of kelk's demo), inputs N(0, 1), s0 0.1 N(0, 1), all from --seed. The weights
are written as a kelk `gru` model file and the inputs as a kelk input file (docs/FILES.md; torch's
b_hr and b_hz folded into kelk's b_ir and b_iz); the same values feed every implementation.

Measured, per case (D, T, B) and thread count, in fp64 and fp32 (the forward pass only):
  - kelk: build/apps/kelk-run --method M for sequential, block_jacobi, quasi_deer, deer,
    quasi_elk, elk; the time is the run's `wall_time_seconds` attribute (the solve: reading
    and writing the files and start-up are excluded). Each run has a --timeout; dense deer and
    elk are skipped when their Jacobians (T*B*D*D numbers) exceed --mem-cap-gib, and any
    DEER-family method whose estimated time (kelk sequential's time times a rough factor of
    the method, ESTIMATE below) exceeds twice the timeout is skipped.
  - torch.nn.GRU and torch.nn.LSTM (one layer, batch_first, under torch.inference_mode,
    torch.set_num_threads(n)); LSTM is another cell: a timing only, no state difference.
  - a jax.jit-ted lax.scan GRU with torch's equations (input projections of all steps as one
    matmul, then the scan over the recurrent part); compilation is excluded (ahead-of-time
    lower().compile()), every call ends with block_until_ready.
Every time is the best of --repeats runs. Excluded everywhere: process start-up, imports,
reading and writing files, JAX's compilation, and a warm-up call of torch on 100 steps.
torch and JAX run in a subprocess and kelk-run as one, each pinned with `taskset -c 0-(n-1)`
and OMP_NUM_THREADS=n (kelk: OMP_PROC_BIND=spread, OMP_PLACES=threads, --kokkos-num-threads=n;
JAX with one thread: XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1).
`ratio` is the time over the fastest sequential loop of its group (same D, T, B, threads,
precision: kelk sequential, torch GRU, JAX GRU), `max_abs_diff` the largest |s - s_ref| over
all states, s_ref being kelk sequential in fp64 (also for the fp32 rows).

Output: a CSV (--csv) with the context (CPU, versions) on every row, and Markdown tables, one
per case (printed, and written to --markdown).
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("KELK_PEERS_VENV", REPO / ".venv-peers"))
PACKAGES = ["torch", "jax", "numpy", "h5py"]
LOOPS = {("kelk", "sequential"), ("torch", "GRU"), ("jax", "scan GRU")}  # the sequential loops
KELK_METHODS = ["sequential", "block_jacobi", "quasi_deer", "deer", "quasi_elk", "elk"]
DENSE = {"deer", "elk"}
# Rough time of a method over kelk sequential's (iterations times the work of one iteration,
# growing with D for the dense ones, whose scans multiply D x D matrices; measured at D = 16, 64
# on one thread, 2-core EPYC, torch init). Used only to skip runs that could not end in time.
ESTIMATE = {"quasi_deer": lambda D: 20, "quasi_elk": lambda D: 25,
            "deer": lambda D: 20 + D / 4, "elk": lambda D: 20 + 4 * D}


def ensure_venv():
    """Re-exec this script inside VENV, creating it and installing PACKAGES when needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV}", file=sys.stderr)
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(VENV)], check=True)
    check = "import importlib.util as u, sys; sys.exit(any(not u.find_spec(p) for p in sys.argv[1:]))"
    if subprocess.run([str(python), "-c", check, *PACKAGES]).returncode != 0:
        print(f"installing {' '.join(PACKAGES)} into {VENV}", file=sys.stderr)
        subprocess.run([str(python), "-m", "pip", "install", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", *PACKAGES], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


if __name__ == "__main__" and not {"--no-venv", "-h", "--help"} & set(sys.argv):
    ensure_venv()
try:
    import h5py
    import numpy as np
except ImportError:  # --help needs neither
    if not {"-h", "--help"} & set(sys.argv):
        raise


# ---------------------------------------------------------------- problem files

def write_case(folder, D, T, B, Din, seed, recurrent_gain, recurrent_norm):
    """Weights (torch layout, weights.npz), kelk model.h5 and input.h5 for one case."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(D)
    uni = lambda *shape: rng.uniform(-k, k, shape)
    w = {"gru_weight_ih": uni(3 * D, Din), "gru_weight_hh": uni(3 * D, D),
         "gru_bias_ih": uni(3 * D), "gru_bias_hh": uni(3 * D),
         "lstm_weight_ih": uni(4 * D, Din), "lstm_weight_hh": uni(4 * D, D),
         "lstm_bias_ih": uni(4 * D), "lstm_bias_hh": uni(4 * D)}
    w["gru_weight_hh"] *= recurrent_gain
    if recurrent_norm is not None:
        for blk in np.split(w["gru_weight_hh"], 3):
            blk *= recurrent_norm / np.linalg.norm(blk)
    np.savez(folder / "weights.npz", **w)
    # torch's row blocks are (r, z, n); b_hr and b_hz act as input biases, b_hn stays inside r*(.)
    wi, wh = np.split(w["gru_weight_ih"], 3), np.split(w["gru_weight_hh"], 3)
    bi, bh = np.split(w["gru_bias_ih"], 3), np.split(w["gru_bias_hh"], 3)
    with h5py.File(folder / "model.h5", "w") as f:
        f.attrs["kelk_model"] = "gru"
        for g, (a, b) in zip("rzn", zip(wi, wh)):
            f["W_i" + g], f["W_h" + g] = a, b
        f["b_ir"], f["b_iz"], f["b_in"], f["b_hn"] = bi[0] + bh[0], bi[1] + bh[1], bi[2], bh[2]
    with h5py.File(folder / "input.h5", "w") as f:
        f["s0"] = 0.1 * rng.standard_normal((B, D))
        f["inputs"] = rng.standard_normal((B, T, Din))


def read_input(folder):
    with h5py.File(folder / "input.h5", "r") as f:
        return f["s0"][...], f["inputs"][...]


def max_abs_diff(reference, states):
    """max |states - reference states| (both (B, T, D); one sequence at a time, to spare memory)."""
    with h5py.File(reference, "r") as f:
        ref = f["states"]
        return max(float(np.max(np.abs(np.asarray(states[b], np.float64) - ref[b])))
                   for b in range(ref.shape[0]))


def measure(call, repeats, reference=None):
    """A peer's row: the best wall time of `repeats` calls and, given a reference file, the
    largest difference of the states (B, T, D) the call returns (one result alive at a time)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        out = None
        start = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - start)
    return dict(status="ok", time_s=best,
                max_abs_diff=None if reference is None else max_abs_diff(reference, out))


# ---------------------------------------------------------------- peers (run in a pinned worker)

def torch_rows(folder, precisions, repeats, threads):
    import torch
    torch.set_num_threads(threads)
    w, (s0, u) = np.load(folder / "weights.npz"), read_input(folder)
    D, Din = s0.shape[1], u.shape[2]
    rows = []
    for precision in precisions:
        dtype = {"fp64": torch.float64, "fp32": torch.float32}[precision]
        x, h0 = torch.from_numpy(u).to(dtype), torch.from_numpy(s0)[None].to(dtype)
        for cell in ("GRU", "LSTM"):
            net = getattr(torch.nn, cell)(Din, D, batch_first=True, dtype=dtype)
            prefix = cell.lower() + "_"
            with torch.no_grad():
                for name, p in net.named_parameters():
                    p.copy_(torch.from_numpy(w[prefix + name.removesuffix("_l0")]))
            state = h0 if cell == "GRU" else (h0, torch.zeros_like(h0))
            reference = folder / "reference.h5" if cell == "GRU" else None  # LSTM: a timing only
            with torch.inference_mode():
                net(x[:, :100], state)  # warm-up: thread pool, allocator
                row = measure(lambda: net(x, state)[0].numpy(), repeats, reference)
            rows.append(dict(row, implementation="torch", method=cell, precision=precision))
    return rows


def jax_rows(folder, precisions, repeats, threads):
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def gru(w_ih, w_hh, b_ih, b_hh, h0, u):  # torch.nn.GRU's equations, batch_first
        gi = jnp.swapaxes(u @ w_ih.T + b_ih, 0, 1)  # (T, B, 3D): every input projection at once

        def step(h, g):
            gh = h @ w_hh.T + b_hh
            (ir, iz, inn), (hr, hz, hn) = jnp.split(g, 3, axis=-1), jnp.split(gh, 3, axis=-1)
            r, z = jax.nn.sigmoid(ir + hr), jax.nn.sigmoid(iz + hz)
            h = (1 - z) * jnp.tanh(inn + r * hn) + z * h
            return h, h

        return jnp.swapaxes(jax.lax.scan(step, h0, gi)[1], 0, 1)

    w, (s0, u) = np.load(folder / "weights.npz"), read_input(folder)
    rows = []
    for precision in precisions:
        dtype = {"fp64": jnp.float64, "fp32": jnp.float32}[precision]
        args = [jnp.asarray(a, dtype) for a in (w["gru_weight_ih"], w["gru_weight_hh"],
                                                 w["gru_bias_ih"], w["gru_bias_hh"], s0, u)]
        compiled = jax.jit(gru).lower(*args).compile()
        row = measure(lambda: compiled(*args).block_until_ready(), repeats, folder / "reference.h5")
        rows.append(dict(row, implementation="jax", method="scan GRU", precision=precision))
    return rows


def error(done):
    """A failed subprocess's status: its last line on stderr."""
    return "error: " + (done.stderr.strip().splitlines() or ["?"])[-1][:200]


def pinned(threads, extra_env=()):
    """(command prefix, environment) for a process on cores 0..threads-1."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               **dict(extra_env))
    return ["taskset", "-c", f"0-{threads - 1}"], env


def run_worker(peer, folder, args, threads):
    """The rows of one peer for one case and thread count, from a pinned subprocess."""
    xla = "--xla_cpu_multi_thread_eigen=" + ("false" if threads == 1 else "true")
    prefix, env = pinned(threads, {"JAX_PLATFORMS": "cpu",
                                   "XLA_FLAGS": f"{xla} intra_op_parallelism_threads={threads}"})
    cmd = prefix + [sys.executable, __file__, "--worker", peer, "--case", str(folder), "--threads",
                    str(threads), "--precision", *args.precision, "--repeats", str(args.repeats)]
    budget = args.timeout * (args.repeats + 1) * 2 * len(args.precision)
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return [dict(implementation=peer, method="(all)", status="timeout")]
    if done.returncode != 0:
        return [dict(implementation=peer, method="(all)", status=error(done))]
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- kelk

def run_kelk(kelk_run, folder, method, precision, threads, output, repeats, timeout):
    """One kelk-run row, the best of `repeats` runs (timeout in s, None: none); the states of
    the last are left in `output`."""
    prefix, env = pinned(threads, {"OMP_PROC_BIND": "spread", "OMP_PLACES": "threads"})
    cmd = prefix + [kelk_run, str(folder / "deck.toml"), "--quiet", "--method", method, "--precision",
                    precision, "--output", str(output), f"--kokkos-num-threads={threads}"]
    row = dict(implementation="kelk", method=method, precision=precision, status="ok")
    best = float("inf")
    for _ in range(repeats):
        output.unlink(missing_ok=True)
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return dict(row, status="timeout")
        if not output.exists():
            return dict(row, status=error(done))
        with h5py.File(output, "r") as f:
            best = min(best, float(f.attrs["wall_time_seconds"]))
            row.update(iterations=int(f.attrs["iterations"]), kelk=str(f.attrs["kelk_version"]))
            if not int(f.attrs["converged"]):
                row["status"] = "not converged"
                break
    row["time_s"] = best
    return row


def kelk_rows(folder, D, T, B, threads, precision, args):
    out = folder / "states.h5"
    rows, seq_time = [], None
    gib = T * B * D * D * (8 if precision == "fp64" else 4) / 2**30  # dense Jacobians
    for method in args.methods:
        estimate = seq_time * ESTIMATE[method](D) if seq_time and method in ESTIMATE else 0
        if method in DENSE and gib > args.mem_cap_gib:
            row = dict(status=f"skipped: Jacobians {gib:.1f} GiB > {args.mem_cap_gib:g} GiB")
        elif estimate > 2 * args.timeout:
            row = dict(status=f"skipped: estimated {estimate:.0f} s > 2 x timeout")
        else:
            row = run_kelk(args.kelk_run, folder, method, precision, threads, out, args.repeats,
                           args.timeout)
            if method == "sequential" and row["status"] == "ok":
                seq_time = row["time_s"]
            if out.exists():
                with h5py.File(out, "r") as f:
                    row["max_abs_diff"] = max_abs_diff(folder / "reference.h5", f["states"])
        rows.append(dict(dict(implementation="kelk", method=method, precision=precision), **row))
    out.unlink(missing_ok=True)
    return rows


# ---------------------------------------------------------------- the grid and the report

def run_case(D, T, B, args, context):
    with tempfile.TemporaryDirectory(prefix="kelk-peers-", dir=args.tmp) as tmp:
        folder = Path(tmp)
        write_case(folder, D, T, B, args.Din, args.seed, args.recurrent_gain, args.recurrent_norm)
        deck = "".join(f'{key} = "{folder / name}"\n' for key, name in
                       (("model", "model.h5"), ("input", "input.h5"), ("output", "reference.h5")))
        (folder / "deck.toml").write_text(deck)
        reference = run_kelk(args.kelk_run, folder, "sequential", "fp64", 1,
                             folder / "reference.h5", repeats=1, timeout=None)
        if reference["status"] != "ok":
            sys.exit(f"kelk-run sequential failed on D={D} T={T} B={B}: {reference['status']}")
        rows = []
        for threads in args.threads:
            print(f"== D={D} T={T} B={B}, {threads} thread(s)", file=sys.stderr, flush=True)
            group = [r for p in args.precision for r in kelk_rows(folder, D, T, B, threads, p, args)]
            group += [r for peer in ("torch", "jax") for r in run_worker(peer, folder, args, threads)]
            rows += [dict(r, threads=threads) for r in group]
    for row in rows:
        row.update(context, D=D, T=T, B=B, kelk=reference.get("kelk", ""))
    add_ratios(rows)
    return rows


def add_ratios(rows):
    """ratio = time / the fastest sequential loop of the same threads and precision."""
    fastest = {}
    for r in rows:
        if (r["implementation"], r["method"]) in LOOPS and r["status"] == "ok":
            key = (r["threads"], r["precision"])
            fastest[key] = min(fastest.get(key, float("inf")), r["time_s"])
    for r in rows:
        if "time_s" in r and (r["threads"], r.get("precision")) in fastest:
            r["ratio"] = r["time_s"] / fastest[r["threads"], r["precision"]]


COLUMNS = ["D", "T", "B", "Din", "threads", "precision", "implementation", "method", "status",
           "iterations", "time_s", "ratio", "max_abs_diff", "repeats", "init", "seed", "cpu",
           "kelk", "torch", "jax", "numpy"]


def markdown(rows, context):
    fmt = lambda v, f: "" if v is None else format(v, f)
    c = context
    lines = [f"GRU, Din = {c['Din']}, init: {c['init']}, seed {c['seed']}; {c['cpu']}; "
             f"torch {c['torch']}, jax {c['jax']}, numpy {c['numpy']}. Time: best of {c['repeats']} "
             "(kelk: the solve's `wall_time_seconds`); x loop: over the fastest sequential loop "
             "(kelk sequential, torch GRU, JAX GRU) of the same threads and precision; max diff: "
             "against kelk sequential in fp64 (fp32 rows too); LSTM: another cell, a timing only.", ""]
    cases = sorted({(r["D"], r["T"], r["B"], r["threads"]) for r in rows})
    order = lambda r: (r.get("precision") != "fp64", ("kelk", "torch", "jax").index(r["implementation"]))
    for D, T, B, threads in cases:
        lines += [f"**D = {D}, T = {T:g}, B = {B}, {threads} thread{'s' * (threads > 1)}**", "",
                  "| precision | implementation | method | time [s] | x loop | iterations | max diff "
                  "| status |",
                  "|---|---|---|---:|---:|---:|---:|---|"]
        for r in sorted(rows, key=order):  # stable: kelk's methods keep their order
            if (r["D"], r["T"], r["B"], r["threads"]) == (D, T, B, threads):
                lines.append(f"| {r.get('precision', '')} | {r['implementation']} | {r['method']} "
                             f"| {fmt(r.get('time_s'), '.4f')} | {fmt(r.get('ratio'), '.2f')} "
                             f"| {r.get('iterations', '')} | {fmt(r.get('max_abs_diff'), '.1e')} "
                             f"| {r['status']} |")
        lines.append("")
    return "\n".join(lines)


def context_of(args):
    from importlib.metadata import version
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    init = "torch" + (f", recurrent x {args.recurrent_gain:g}" if args.recurrent_gain != 1 else "")
    if args.recurrent_norm is not None:
        init = f"torch, recurrent blocks of Frobenius norm {args.recurrent_norm:g}"
    return dict(cpu=f"{cpu} ({os.cpu_count()} cores)", torch=version("torch"), jax=version("jax"),
                numpy=np.__version__, init=init, seed=args.seed, Din=args.Din, repeats=args.repeats)


def parse_args():
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    ap.add_argument("--D", type=int, nargs="+", default=[16, 64, 256], help="hidden sizes")
    ap.add_argument("--T", type=lambda t: int(float(t)), nargs="+", default=[10**4, 10**5],
                    help="sequence lengths")
    ap.add_argument("--B", type=int, nargs="+", default=[1, 16], help="batch sizes")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts")
    ap.add_argument("--precision", nargs="+", choices=["fp64", "fp32"], default=["fp64", "fp32"],
                    help="precisions")
    ap.add_argument("--methods", nargs="+", choices=KELK_METHODS, default=KELK_METHODS,
                    help="kelk's methods")
    ap.add_argument("--Din", type=int, default=8, help="input size")
    ap.add_argument("--quick", action="store_true",
                    help="a quick check: D = 16 64, T = 1e4, B = 1, 1 thread")
    ap.add_argument("--recurrent-gain", type=float, default=1.0,
                    help="multiply the GRU's recurrent matrices by this (2.3: PERFORMANCE.md's E4)")
    ap.add_argument("--recurrent-norm", type=float,
                    help="scale each recurrent block to this Frobenius norm (0.5: contractive)")
    ap.add_argument("--seed", type=int, default=0, help="of the weights and inputs")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per kelk-run")
    ap.add_argument("--mem-cap-gib", type=float, default=4.0, help="largest Jacobians for deer, elk")
    ap.add_argument("--kelk-run", default=str(REPO / "build" / "apps" / "kelk-run"), help="binary")
    ap.add_argument("--csv", default=str(REPO / "bench-results" / "peers.csv"), help="CSV output")
    ap.add_argument("--markdown", help="also write the Markdown tables here")
    ap.add_argument("--tmp", help="folder for the case files (default: the system's)")
    ap.add_argument("--no-venv", action="store_true", help="run in this Python as it is")
    ap.add_argument("--worker", choices=["torch", "jax"], help=argparse.SUPPRESS)
    ap.add_argument("--case", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.D, args.T, args.B, args.threads = [16, 64], [10**4], [1], [1]
    args.precision = sorted(set(args.precision), reverse=True)  # fp64 first
    if max(args.threads) > os.cpu_count():
        ap.error(f"--threads: this machine has {os.cpu_count()} cores")
    return args


def main():
    args = parse_args()
    if args.worker:
        rows = {"torch": torch_rows, "jax": jax_rows}[args.worker](args.case, args.precision,
                                                                    args.repeats, args.threads[0])
        print(json.dumps(rows))
        return 0
    if not os.access(args.kelk_run, os.X_OK):
        sys.exit(f"{args.kelk_run} not found: build kelk first (scripts/setup.sh)")
    context = context_of(args)
    rows = []
    for D in args.D:
        for T in args.T:
            for B in args.B:
                rows += run_case(D, T, B, args, context)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    table = markdown(rows, context)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")
    print(f"wrote {args.csv}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
