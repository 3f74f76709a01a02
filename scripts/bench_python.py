#!/usr/bin/env python3
"""kelk.torch.GRU / LSTM against torch.nn.GRU / LSTM on the CPU, and the Python call overhead.

    python3 scripts/bench_python.py --quick            # D = 64, T = 1e4, B = 1: a few minutes
    python3 scripts/bench_python.py --markdown t.md    # the grid of docs/PERFORMANCE.md

Needs the build tree's package (scripts/test.sh builds it in build/python) and a torch: by
default the virtual environment .venv-bench/ (created here on first use, with the index's
current torch and numpy: a ~3 GB download with torch's CUDA libraries; never in CI), else
--python. Every case runs in its own process pinned to its threads (`taskset -c 0-(n-1)`,
OMP_NUM_THREADS=n, torch.set_num_threads(n), kelk.initialize(threads=n)).

Per case (cell, D hidden, T, B, threads, precision): the forward pass (torch under
torch.no_grad(), kelk.torch's forward) and forward + backward of loss = output.sum() (the
gradients of the input, h0 and every weight), best of --repeats after one untimed warm-up on
the same sizes. `ratio` is kelk's time over torch's; `max_abs_diff` the largest difference of
the outputs. kelk runs method="auto" (its probe and choice included in the time) unless
--method is given; the method it ran is printed.

The overhead case: kelk.solve on an Elman map with D = 4, T = 100, B = 1, method
"sequential": the Python call's time against the solve's own wall time (SolveResult.seconds,
measured inside the C++ call), median of 2000 calls.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-bench"


def one_case(a):
    import numpy as np
    import torch
    sys.path.insert(0, str(REPO / "build" / "python"))
    import kelk
    import kelk.torch as ktorch

    kelk.initialize(threads=a.threads)
    torch.set_num_threads(a.threads)
    dtype = torch.float64 if a.precision == "fp64" else torch.float32
    torch.manual_seed(a.seed)
    Ref = torch.nn.GRU if a.cell == "GRU" else torch.nn.LSTM
    Kelk = ktorch.GRU if a.cell == "GRU" else ktorch.LSTM
    ref = Ref(a.input, a.D, batch_first=True, dtype=dtype)
    kwargs = {} if a.method == "auto" else {"method": a.method}
    mine = Kelk(a.input, a.D, batch_first=True, dtype=dtype, **kwargs)
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(a.B, a.T, a.input, dtype=dtype)

    def best(f):
        f()  # warm-up
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return min(times)

    def forward(m):
        with torch.no_grad():
            return m(x)[0]

    def backward(m):
        xi = x.clone().requires_grad_(True)
        m.zero_grad()
        out = m(xi)[0]
        out.sum().backward()

    diff = float((forward(ref) - forward(mine)).abs().max())
    row = {"torch_fwd": best(lambda: forward(ref)), "kelk_fwd": best(lambda: forward(mine))}
    if not a.forward_only:
        row["torch_fwd_bwd"] = best(lambda: backward(ref))
        row["kelk_fwd_bwd"] = best(lambda: backward(mine))
    r = getattr(mine, "last_result", None)
    row["method"] = getattr(r, "method", a.method) if r is not None else a.method
    row["max_abs_diff"] = diff
    row["torch"] = torch.__version__
    print(json.dumps(row))


def overhead(a):
    import numpy as np
    sys.path.insert(0, str(REPO / "build" / "python"))
    import kelk

    kelk.initialize(threads=1)
    rng = np.random.default_rng(1)
    D, Din, T = 4, 2, 100
    m = kelk.Elman(W=0.3 * rng.standard_normal((D, D)), U=rng.standard_normal((D, Din)),
                   c=0.1 * rng.standard_normal(D))
    s0 = rng.standard_normal((1, D))
    u = rng.standard_normal((1, T, Din))
    out = np.empty((1, T, D))
    calls, inner = [], []
    for i in range(2200):
        t0 = time.perf_counter()
        _, r = kelk.solve(m, s0, u, "sequential", out=out)
        t = time.perf_counter() - t0
        if i >= 200:
            calls.append(t)
            inner.append(r.seconds)
    calls.sort()
    inner.sort()
    print(json.dumps({"python_call": calls[len(calls) // 2], "cxx_solve": inner[len(inner) // 2]}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--python", default=None, help="interpreter with torch (default: .venv-bench)")
    p.add_argument("--cells", default="GRU,LSTM")
    p.add_argument("--D", default="64,256")
    p.add_argument("--T", default="1e4,1e5")
    p.add_argument("--B", default="1,16")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--precision", default="fp32,fp64")
    p.add_argument("--method", default="auto")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--input", type=int, default=8, help="input size")
    p.add_argument("--mem-cap-gib", type=float, default=8.0,
                   help="skip forward+backward where B*T*D*8 bytes * 12 exceeds this")
    p.add_argument("--markdown", default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--case", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case:
        for k, v in json.loads(a.case).items():
            setattr(a, k, v)
        return overhead(a) if a.cell == "overhead" else one_case(a)

    python = a.python
    if python is None:
        if not (VENV / "bin" / "python").exists():
            subprocess.run(["/usr/bin/python3", "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "torch", "numpy"],
                           check=True)
        python = str(VENV / "bin" / "python")
    if a.quick:
        a.D, a.T, a.B = "64", "1e4", "1"
    grid = [(c, int(D), int(float(T)), int(B), int(n), prec)
            for c in a.cells.split(",") for D in a.D.split(",") for T in a.T.split(",")
            for B in a.B.split(",") for n in a.threads.split(",")
            for prec in a.precision.split(",")]

    def run(case, threads):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_PROC_BIND="spread",
                   OMP_PLACES="threads")
        cmd = ["taskset", "-c", f"0-{threads - 1}", python, __file__, "--case", json.dumps(case)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1:]}
        return json.loads(out.stdout.strip().splitlines()[-1])

    lines = ["| cell | D | T | B | threads | precision | torch fwd [s] | kelk fwd [s] | ratio | "
             "torch fwd+bwd [s] | kelk fwd+bwd [s] | ratio | kelk method | max abs diff |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    version = None
    for (cell, D, T, B, n, prec) in grid:
        state = D if cell == "GRU" else 2 * D
        forward_only = B * T * state * 8 * 12 / 2**30 > a.mem_cap_gib
        r = run({"cell": cell, "D": D, "T": T, "B": B, "threads": n, "precision": prec,
                 "method": a.method, "repeats": a.repeats, "input": a.input, "seed": a.seed,
                 "forward_only": forward_only}, n)
        if "error" in r:
            line = f"| {cell} | {D} | {T} | {B} | {n} | {prec} | failed: {r['error']} |"
        else:
            version = r["torch"]
            fb = ("| {:.4g} | {:.4g} | {:.2f} ".format(r["torch_fwd_bwd"], r["kelk_fwd_bwd"],
                                                      r["kelk_fwd_bwd"] / r["torch_fwd_bwd"])
                  if "torch_fwd_bwd" in r else "| - | - | - ")
            line = ("| {} | {} | {} | {} | {} | {} | {:.4g} | {:.4g} | {:.2f} ".format(
                cell, D, T, B, n, prec, r["torch_fwd"], r["kelk_fwd"],
                r["kelk_fwd"] / r["torch_fwd"]) + fb +
                "| {} | {:.1e} |".format(r["method"], r["max_abs_diff"]))
        print(line, flush=True)
        lines.append(line)
    o = run({"cell": "overhead"}, 1)
    extra = (f"\nPython call overhead (D = 4, T = 100, B = 1, sequential, median of 2000): "
             f"call {o.get('python_call', float('nan')) * 1e6:.1f} us, the C++ solve inside it "
             f"{o.get('cxx_solve', float('nan')) * 1e6:.1f} us")
    print(extra)
    text = f"torch {version}\n\n" + "\n".join(lines) + "\n" + extra + "\n"
    if a.markdown:
        Path(a.markdown).write_text(text)


if __name__ == "__main__":
    main()
