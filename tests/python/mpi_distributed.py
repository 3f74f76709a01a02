"""Run under mpiexec by test_distributed.py: kelk.DistributedSolver at this rank count against
one process's solve and adjoint, and a rank with bad arguments raising on every rank."""

import sys

import numpy as np
from mpi4py import MPI

import kelk


def main() -> int:
    comm = MPI.COMM_WORLD
    B, T, D, Din = 4, 300, 6, 3
    rng = np.random.default_rng(7)
    p = {n: rng.uniform(-1, 1, (D, Din) if n.startswith("W_i") else (D, D) if n[0] == "W"
                        else (D,)) / np.sqrt(D) for n in kelk.GRU.NAMES}
    gru = kelk.GRU(**p)
    s0 = rng.uniform(-1, 1, (B, D))
    u = rng.standard_normal((B, T, Din))
    cot = rng.standard_normal((B, T, D))
    ref, _ = kelk.solve(gru, s0, u, "sequential")
    ref_adj = kelk.solve_adjoint(gru, s0, u, ref, cot, method="sequential")

    for batch_ranks in sorted({1, comm.size if B % comm.size == 0 else 1}):
        solver = kelk.DistributedSolver(comm, B, T, batch_ranks=batch_ranks)
        lb = solver.local_block
        for method in ("sequential", "deer", "quasi_deer", "block_jacobi", "auto"):
            states, r = solver.solve(gru, lb(s0), lb(u), method, atol=1e-12)
            err = comm.allreduce(float(np.abs(states - lb(ref)).max()), op=MPI.MAX)
            assert r.converged and err < 1e-9, (method, err, r)
            if method == "auto":
                assert r.method_reason, r
        a = solver.solve_adjoint(gru, lb(s0), lb(u), lb(ref), lb(cot))
        np.testing.assert_allclose(a.parameters, ref_adj.parameters, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.inputs, lb(ref_adj.inputs), rtol=1e-9, atol=1e-12)
        if solver.partition["time_rank"] == 0:
            np.testing.assert_allclose(a.s0, lb(ref_adj.s0), rtol=1e-9, atol=1e-12)

    # one rank's bad arguments: it raises its own error, every other rank a ValueError
    solver = kelk.DistributedSolver(comm, B, T)
    lb = solver.local_block
    bad = lb(u).astype(np.float32) if comm.rank == comm.size - 1 else lb(u)
    try:
        solver.solve(gru, lb(s0), bad, "deer")
        raise AssertionError("no error")
    except TypeError:
        assert comm.rank == comm.size - 1
    except ValueError as e:
        assert comm.rank != comm.size - 1 and "another rank" in str(e), e
    # and the solver still works afterwards
    states, r = solver.solve(gru, lb(s0), lb(u), "deer", atol=1e-12)
    assert r.converged
    comm.Barrier()
    if comm.rank == 0:
        print(f"ok at {comm.size} ranks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
