"""Tests of the Python package kelk: every method against the sequential evaluation on each
built-in map in both precisions, the adjoint, the probe, zero-copy arrays and bad input.
Run on the build tree's package: PYTHONPATH=<build>/python pytest tests/python."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import kelk

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DTYPES = [np.float64, np.float32]


def make_map(kind, dtype, D=6, Din=3, seed=1):
    rng = np.random.default_rng(seed)
    if kind == "Elman":
        W = rng.uniform(-1, 1, (D, D))
        W *= 0.8 / np.linalg.norm(W, 2)
        return kelk.Elman(W=W, U=rng.uniform(-1, 1, (D, Din)), c=rng.uniform(-0.1, 0.1, D),
                          dtype=dtype)
    if kind == "GRU":
        p = {}
        for n in kelk.GRU.NAMES:
            shape = (D, Din) if n.startswith("W_i") else (D, D) if n[0] == "W" else (D,)
            p[n] = rng.uniform(-1, 1, shape) / np.sqrt(D)
        return kelk.GRU(**p, dtype=dtype)
    if kind == "LSTM":  # the state is [h, c]: D = 2H
        H = D // 2
        p = {}
        for n in kelk.LSTM.NAMES:
            shape = (H, Din) if n.startswith("W_i") else (H, H) if n[0] == "W" else (H,)
            p[n] = rng.uniform(-1, 1, shape) / np.sqrt(H)
        return kelk.LSTM(**p, dtype=dtype)
    if kind == "Lorenz96":
        return kelk.Lorenz96(D, F=8.0, dt=0.01, dtype=dtype)
    if kind == "ArGRU":
        P = D - 1
        p = {}
        for n in kelk.ArGRU.NAMES:
            p[n] = rng.uniform(-1, 1, (P, P) if n[0] == "U" else (P,)) / np.sqrt(P)
        return kelk.ArGRU(**p, c_mu=0.1, c_ls=-1.0, dtype=dtype)
    raise ValueError(kind)


def problem(m, B=3, T=64, seed=2):
    rng = np.random.default_rng(seed)
    s0 = rng.uniform(-1, 1, (B, m.state_dim)).astype(m.dtype)
    u = rng.standard_normal((B, T, m.input_dim)).astype(m.dtype)
    return s0, u


MAPS = ["Elman", "GRU", "LSTM", "Lorenz96", "ArGRU"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MAPS)
@pytest.mark.parametrize("method", ("auto",) + kelk.METHODS)
def test_method_matches_sequential(kind, dtype, method):
    m = make_map(kind, dtype)
    s0, u = problem(m)
    ref, r0 = kelk.solve(m, s0, u, "sequential")
    assert r0.method == "sequential" and r0.converged
    opts = {}
    if dtype == np.float64:
        opts["atol"] = 1e-10
    states, r = kelk.solve(m, s0, u, method, **opts)
    assert states.shape == ref.shape and states.dtype == np.dtype(dtype)
    assert r.converged, r
    if method == "auto":
        assert r.method in kelk.METHODS and r.method_reason
    else:
        assert r.method == method
    scale = max(1.0, float(np.abs(ref).max()))
    tol = 1e-7 if dtype == np.float64 else 2e-3
    assert np.abs(states - ref).max() <= tol * scale


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["GRU", "LSTM", "Lorenz96"])
@pytest.mark.parametrize("method", ["quasi_deer", "quasi_elk"])
def test_jacobian_blocks_match_sequential(kind, dtype, method):
    m = make_map(kind, dtype)
    s0, u = problem(m)
    ref, _ = kelk.solve(m, s0, u, "sequential")
    for k in (2, 3):
        states, r = kelk.solve(m, s0, u, method, jacobian_structure="block", block_size=k)
        assert r.converged, (k, r)
        tol = 1e-6 if dtype == np.float64 else 2e-3
        assert np.abs(states - ref).max() <= tol * max(1.0, float(np.abs(ref).max()))
    with pytest.raises(ValueError, match="block_size k that divides D = 6, got 4"):
        kelk.solve(m, s0, u, method, jacobian_structure="block", block_size=4)
    with pytest.raises(ValueError, match="unknown jacobian structure 'blocks'"):
        kelk.solve(m, s0, u, method, jacobian_structure="blocks")


@pytest.mark.parametrize("dtype", DTYPES)
def test_result_and_history(dtype):
    m = make_map("GRU", dtype)
    s0, u = problem(m)
    _, r = kelk.solve(m, s0, u, "deer", record_history=True)
    assert r.reason == "converged" and r.iterations >= 1 and r.seconds >= 0
    assert len(r.history["max_update"]) == r.iterations
    assert r.history["max_residual"].dtype == np.float64
    _, r = kelk.solve(m, s0, u, "elk", sigma2="auto", kalman_smoother=True, max_iter=200)
    assert r.converged


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MAPS)
def test_adjoint_matches_finite_differences(kind, dtype):
    m = make_map(kind, np.float64)
    s0, u = problem(m, B=2, T=20)
    states, _ = kelk.solve(m, s0, u, "sequential")
    rng = np.random.default_rng(5)
    g = rng.standard_normal(states.shape)
    ref = kelk.solve_adjoint(m, s0, u, states, g, method="sequential")
    assert ref.parameters.shape == (m.parameter_count,)
    for method in ("block_sweeps", "scan"):
        a = kelk.solve_adjoint(m, s0, u, states, g, method=method)
        assert a.finite
        np.testing.assert_allclose(a.s0, ref.s0, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.parameters, ref.parameters, rtol=1e-9, atol=1e-12)
    # dL/ds0 by central differences, L = sum(g * states)
    h = 1e-6
    i = (1, 0)
    sp, sm = s0.copy(), s0.copy()
    sp[i] += h
    sm[i] -= h
    fd = (np.sum(g * kelk.solve(m, sp, u, "sequential")[0])
          - np.sum(g * kelk.solve(m, sm, u, "sequential")[0])) / (2 * h)
    assert abs(fd - ref.s0[i]) <= 1e-6 * max(1.0, abs(fd))
    if dtype == np.float32:  # the float32 map gives the float64 gradients to its precision
        m32 = make_map(kind, np.float32)
        st32, _ = kelk.solve(m32, s0.astype(np.float32), u.astype(np.float32), "sequential")
        a32 = kelk.solve_adjoint(m32, s0.astype(np.float32), u.astype(np.float32), st32,
                                 g.astype(np.float32))
        assert a32.s0.dtype == np.float32
        np.testing.assert_allclose(a32.s0, ref.s0, rtol=1e-3, atol=1e-3)


def test_probe():
    m = make_map("Elman", np.float64)
    s0, u = problem(m, T=2000)
    p = kelk.probe(m, s0, u)
    assert p.finite and p.exponent < 0 and p.verdict and p.choice
    chaotic = kelk.Lorenz96(40, F=8.0, dt=0.05)
    s0 = np.random.default_rng(0).uniform(-1, 1, (1, 40)) + 8.0
    p = kelk.probe(chaotic, s0, np.zeros((1, 2000, 0)))
    assert p.exponent > 0 and not p.predictable


def test_map_attributes():
    m = make_map("GRU", np.float32, D=5, Din=2)
    assert (m.state_dim, m.input_dim, m.dtype) == (5, 2, np.dtype(np.float32))
    layout = m.parameter_layout()
    assert [n for n, _ in layout] == list(kelk.GRU.NAMES)
    assert layout[0][1] == (5, 2) and layout[-1][1] == (5,)
    assert m.parameter_count == 3 * 10 + 3 * 25 + 4 * 5
    assert kelk.Lorenz96(7).parameter_layout() == [("F", ())]
    lstm = make_map("LSTM", np.float64, D=8, Din=3)
    assert isinstance(lstm, kelk.LSTM) and (lstm.state_dim, lstm.hidden_dim) == (8, 4)
    assert [n for n, _ in lstm.parameter_layout()] == list(kelk.LSTM.NAMES)
    assert lstm.parameter_count == 4 * 12 + 4 * 16 + 4 * 4
    with pytest.raises(ValueError, match="W_hf"):  # a wrong shape names the parameter
        p = {n: np.zeros((4, 3) if n.startswith("W_i") else (4, 4) if n[0] == "W" else 4)
             for n in kelk.LSTM.NAMES}
        p["W_hf"] = np.zeros((4, 5))
        kelk.LSTM(**p)


def test_load_model_file():
    path = os.path.join(ROOT, "input", "examples", "gru", "model.h5")
    if not os.path.exists(path):
        pytest.skip("no example model file")
    try:
        m = kelk.load(path)
    except RuntimeError as e:
        if "without HDF5" in str(e):
            pytest.skip(str(e))
        raise
    assert isinstance(m, kelk.Map) and m.state_dim > 0
    s0, u = problem(m, T=50)
    ref, _ = kelk.solve(m, s0, u, "sequential")
    s, r = kelk.solve(m, s0, u, "deer", atol=1e-10)
    assert np.abs(s - ref).max() < 1e-7
    m32 = kelk.load(path, dtype=np.float32)
    assert m32.dtype == np.float32
    with pytest.raises(RuntimeError):
        kelk.load(os.path.join(ROOT, "no-such-file.h5"))


def _check_loaded_lstm(path, ref_map):
    m = kelk.load(path)
    assert isinstance(m, kelk.LSTM) and m.kind == "LSTM"
    s0, u = problem(m, T=50)
    s, _ = kelk.solve(m, s0, u, "quasi_deer", atol=1e-11)
    ref, _ = kelk.solve(m if ref_map is None else ref_map, s0, u, "sequential")
    assert np.abs(s - ref).max() < 1e-8
    m32 = kelk.load(path, dtype=np.float32)
    assert isinstance(m32, kelk.LSTM) and m32.dtype == np.float32
    return m


def test_lstm_model_file_round_trip(tmp_path):
    m = make_map("LSTM", np.float64, D=8, Din=3)
    path = str(tmp_path / "lstm.h5")
    try:
        m.save(path)
    except RuntimeError as e:
        if "without HDF5" in str(e):
            pytest.skip(str(e))
        raise
    back = _check_loaded_lstm(path, m)  # the same weights: equal to round-off
    assert back.parameter_layout() == m.parameter_layout()
    with pytest.raises(ValueError):  # float32 maps and ArGRU have no writer
        make_map("LSTM", np.float32).save(str(tmp_path / "x.h5"))


def test_lstm_model_file_from_kelk_generate(tmp_path):
    exe = os.path.join(ROOT, "build", "apps", "kelk-generate")
    if not os.access(exe, os.X_OK):
        pytest.skip("kelk-generate is not built")
    model, inputs = str(tmp_path / "model.h5"), str(tmp_path / "inputs.h5")
    subprocess.run([exe, "--kind", "lstm", "--dim", "8", "--input-dim", "3", "--model", model,
                    "--inputs", inputs], check=True, capture_output=True)
    m = _check_loaded_lstm(model, None)
    assert (m.state_dim, m.hidden_dim, m.input_dim) == (8, 4, 3)


def test_lstm_example_model_file():
    path = os.path.join(ROOT, "input", "examples", "lstm", "model.h5")
    if not os.path.exists(path):
        pytest.skip("no example model file")
    try:
        _check_loaded_lstm(path, None)
    except RuntimeError as e:
        if "without HDF5" in str(e):
            pytest.skip(str(e))
        raise


# --- zero copy -------------------------------------------------------------------------------


def test_out_is_written_in_place():
    m = make_map("GRU", np.float64)
    s0, u = problem(m)
    out = np.full((s0.shape[0], u.shape[1], m.state_dim), np.nan)
    states, _ = kelk.solve(m, s0, u, "deer", out=out)
    assert states is out
    ref, _ = kelk.solve(m, s0, u, "sequential")
    assert np.abs(out - ref).max() < 1e-7


def test_inputs_read_in_place_and_warm_start():
    m = make_map("Elman", np.float64)
    s0, u = problem(m)
    ref, _ = kelk.solve(m, s0, u, "sequential")
    # a view with offset into a larger buffer (still C-contiguous) is read where it lies
    big = np.zeros((2,) + u.shape)
    big[1] = u
    s, _ = kelk.solve(m, s0, big[1], "sequential")
    np.testing.assert_array_equal(s, ref)
    # warm start from the exact solution: converged on the first check
    guess = ref.copy()
    s, r = kelk.solve(m, s0, u, "deer", out=guess, initial_guess="provided")
    assert s is guess and r.iterations <= 2


def test_read_only_inputs_are_accepted():
    m = make_map("GRU", np.float64)
    s0, u = problem(m)
    ref, _ = kelk.solve(m, s0, u, "sequential")
    s0.flags.writeable = False
    u.flags.writeable = False
    s, _ = kelk.solve(m, s0, u, "deer")
    assert np.abs(s - ref).max() < 1e-7
    ref.flags.writeable = False
    a = kelk.solve_adjoint(m, s0, u, ref, ref)
    assert a.finite
    assert kelk.probe(m, s0, u).finite
    with pytest.raises(ValueError, match="read-only"):
        kelk.solve(m, s0, u, out=ref)


def test_torch_tensors_through_dlpack():
    torch = pytest.importorskip("torch")
    m = make_map("GRU", np.float32)
    s0, u = problem(m)
    ref, _ = kelk.solve(m, s0, u, "sequential")
    out = torch.zeros(ref.shape, dtype=torch.float32)
    kelk.solve(m, torch.from_numpy(s0), torch.from_numpy(u), "quasi_deer", out=out)
    assert np.abs(out.numpy() - ref).max() < 1e-3


# --- bad input -------------------------------------------------------------------------------


def test_bad_inputs_raise():
    m = make_map("GRU", np.float64)
    s0, u = problem(m)
    with pytest.raises(ValueError, match="inputs"):
        kelk.solve(m, s0, u[:, :, :2].copy())
    with pytest.raises(ValueError):
        kelk.solve(m, s0[:2], u)
    with pytest.raises(TypeError, match="float32.*float64"):
        kelk.solve(m, s0.astype(np.float32), u)
    with pytest.raises(ValueError, match="contiguous"):
        kelk.solve(m, s0, np.asfortranarray(u))
    with pytest.raises(ValueError, match="contiguous"):
        kelk.solve(m, np.ascontiguousarray(s0.T).T, u)
    bad = u.copy()
    bad[1, 7, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kelk.solve(m, s0, bad, "deer")
    with pytest.raises(ValueError, match="NaN"):
        kelk.probe(m, s0, bad)
    with pytest.raises(ValueError, match="method"):
        kelk.solve(m, s0, u, "newton")
    with pytest.raises(ValueError):
        kelk.solve(m, s0, u, "elk", sigma2=-1.0)
    with pytest.raises(ValueError):
        kelk.solve(m, s0, u, "deer", initial_guess="ones")
    with pytest.raises(ValueError):
        kelk.solve_adjoint(m, s0, u, np.zeros((3, 5, 6)), np.zeros((3, 5, 6)))
    with pytest.raises(ValueError, match="adjoint method"):
        st, _ = kelk.solve(m, s0, u, "sequential")
        kelk.solve_adjoint(m, s0, u, st, st, method="magic")
    with pytest.raises(TypeError):
        kelk.solve("not a map", s0, u)
    with pytest.raises(ValueError, match="NaN"):
        kelk.Elman(W=np.full((2, 2), np.nan), U=np.zeros((2, 1)), c=np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        kelk.Elman(W=np.zeros((2, 2)), U=np.zeros((3, 1)), c=np.zeros(2))
    with pytest.raises(ValueError):
        kelk.Lorenz96(8, dt=-1.0)
    # still alive and well
    s, r = kelk.solve(m, s0, u, "deer")
    assert r.converged


def test_other_thread_raises():
    m = make_map("Elman", np.float64)
    s0, u = problem(m)
    kelk.solve(m, s0, u, "sequential")
    caught = []

    def run():
        try:
            kelk.solve(m, s0, u, "deer")
        except RuntimeError as e:
            caught.append(str(e))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert caught and "thread" in caught[0]


def test_clean_exit_with_live_maps():
    code = (
        "import numpy as np, kelk\n"
        "m = kelk.Lorenz96(8)\n"
        "s, r = kelk.solve(m, np.ones((1, 8)), np.zeros((1, 10, 0)), 'deer')\n"
        "keep = [m, kelk.Elman(W=np.eye(2) * 0.5, U=np.zeros((2, 1)), c=np.zeros(2))]\n"
        "print('ok')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"
    assert "deallocat" not in p.stderr and "Error" not in p.stderr


def test_finalize_releases_maps():
    code = (
        "import numpy as np, kelk\n"
        "m = kelk.Lorenz96(8)\n"
        "kelk.finalize()\n"
        "try:\n"
        "    kelk.solve(m, np.ones((1, 8)), np.zeros((1, 10, 0)))\n"
        "except RuntimeError as e:\n"
        "    print('refused')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "refused"
