#!/usr/bin/python3
"""kelk's `sequential` method against torch.nn.GRU on the CPU (target E4 of docs/PERFORMANCE.md).

The problem: a GRU initialised as torch.nn.GRU initialises it (every weight and bias
U(-1/sqrt(D), 1/sqrt(D))), recurrent matrices scaled by 2.3 (spectral norm ~2.5), D = 64,
Din = 8, T = 1e5, one sequence, fp64, one thread. The script writes the weights and inputs as
kelk model and input files, runs torch's forward pass and `kelk-run --method sequential` on
one thread, and prints both times (torch: best of --repeats; kelk: the solve time kelk-run
records, best of --repeats) and the largest difference of the two trajectories.

Needs Debian's python3-torch (large, so not installed by scripts/setup.sh and never run in
CI):  apt-get install python3-torch;  /usr/bin/python3 scripts/bench_torch.py
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, default=100000)
    ap.add_argument("--D", type=int, default=64)
    ap.add_argument("--Din", type=int, default=8)
    ap.add_argument("--scale", type=float, default=2.3, help="factor on the recurrent matrices")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kelk-run", default=os.path.join(os.path.dirname(__file__), "..", "build", "apps", "kelk-run"))
    args = ap.parse_args()
    T, D, Din = args.T, args.D, args.Din

    torch.manual_seed(0)
    torch.set_num_threads(1)
    gru = torch.nn.GRU(Din, D, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        gru.weight_hh_l0.mul_(args.scale)
    u = torch.randn(1, T, Din, dtype=torch.float64)
    h0 = 0.1 * torch.randn(1, 1, D, dtype=torch.float64)

    best_torch = float("inf")
    with torch.no_grad():
        for _ in range(args.repeats + 1):
            start = time.perf_counter()
            out, _ = gru(u, h0)
            best_torch = min(best_torch, time.perf_counter() - start)
    ref = out.numpy()[0]

    # torch's row blocks of weight_ih / weight_hh are (r, z, n); b_hr and b_hz act like input biases
    w_ih, w_hh = gru.weight_ih_l0.detach().numpy(), gru.weight_hh_l0.detach().numpy()
    b_ih, b_hh = gru.bias_ih_l0.detach().numpy(), gru.bias_hh_l0.detach().numpy()
    blk = lambda a, k: a[k * D:(k + 1) * D]
    with tempfile.TemporaryDirectory() as tmp:
        model, inputs, output = (os.path.join(tmp, n) for n in ("model.h5", "inputs.h5", "states.h5"))
        with h5py.File(model, "w") as f:
            f.attrs["kelk_model"] = "gru"
            for k, g in enumerate("rzn"):
                f["W_i" + g] = blk(w_ih, k)
                f["W_h" + g] = blk(w_hh, k)
            f["b_ir"] = blk(b_ih, 0) + blk(b_hh, 0)
            f["b_iz"] = blk(b_ih, 1) + blk(b_hh, 1)
            f["b_in"] = blk(b_ih, 2)
            f["b_hn"] = blk(b_hh, 2)
        with h5py.File(inputs, "w") as f:
            f["s0"] = h0.numpy()[0]
            f["inputs"] = u.numpy()
        deck = os.path.join(tmp, "deck.toml")
        with open(deck, "w") as f:
            f.write(f'model = "{model}"\ninput = "{inputs}"\noutput = "{output}"\n'
                    '[solver]\nmethod = "sequential"\nprecision = "fp64"\n')
        env = dict(os.environ, OMP_NUM_THREADS="1", OMP_PROC_BIND="false", OMP_PLACES="threads")
        best_kelk = float("inf")
        for _ in range(args.repeats):
            subprocess.run([args.kelk_run, deck, "--quiet", "--kokkos-num-threads=1"], check=True, env=env,
                           stdout=subprocess.DEVNULL)
            with h5py.File(output, "r") as f:
                best_kelk = min(best_kelk, float(f.attrs["wall_time_seconds"]))
                states = f["states"][0]
    err = float(np.max(np.abs(states - ref)))
    print(f"GRU D={D} Din={Din} T={T} fp64, 1 thread, recurrent x{args.scale}")
    print(f"torch.nn.GRU (torch {torch.__version__}): {best_torch:.4f} s")
    print(f"kelk sequential:                {best_kelk:.4f} s   ({best_kelk / best_torch:.2f}x torch's time)")
    print(f"max |kelk - torch| = {err:.2e}")
    return 0 if err < 1e-8 else 1


if __name__ == "__main__":
    sys.exit(main())
