"""Lorenz-96 from Python with numpy: the probe's verdict (chaotic), DEER against the sequential
evaluation over a short horizon (it converges, but in many iterations: chaos makes the
parallel methods pay nothing), and method="auto" over a long horizon (it evaluates
sequentially).

    PYTHONPATH=build/python OMP_NUM_THREADS=2 python apps/examples/python/lorenz96.py

Expected output (numbers vary a little with the machine):
    probe (T = 4000): exponent 0.0134 +- 0.002 per step: chaotic: ... -> sequential
    deer, T = 200: 146 iterations, converged True, max |deer - sequential| = 6.24e-14
    auto, T = 4000: sequential (largest Lyapunov exponent 0.0134 +- 0.0015 per step, ...)
"""

import numpy as np

import kelk


def main() -> None:
    D, B = 40, 2
    rng = np.random.default_rng(0)
    s0 = 8.0 + rng.uniform(-1, 1, (B, D))
    model = kelk.Lorenz96(D, F=8.0, dt=0.01)

    long_inputs = np.zeros((B, 4000, 0))  # Lorenz-96 has no inputs: Din = 0
    p = kelk.probe(model, s0, long_inputs)
    print(f"probe (T = 4000): exponent {p.exponent:.4f} +- {p.error:.1g} per step: {p.verdict}"
          f" -> {p.choice.split(':')[0]}")

    short = np.zeros((B, 200, 0))
    reference, _ = kelk.solve(model, s0, short, "sequential")
    states, r = kelk.solve(model, s0, short, "deer", atol=1e-10)
    print(f"deer, T = 200: {r.iterations} iterations, converged {r.converged}, "
          f"max |deer - sequential| = {np.abs(states - reference).max():.2e}")

    states, r = kelk.solve(model, s0, long_inputs)  # method="auto"
    print(f"auto, T = 4000: {r.method} ({r.method_reason})")


if __name__ == "__main__":
    main()
