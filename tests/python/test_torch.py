"""Tests of kelk.GRU.from_torch and kelk.torch.GRU against torch.nn.GRU: outputs to round-off,
torch.autograd.gradcheck in float64, and gradients equal to torch's backward at T = 1000."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import kelk  # noqa: E402
import kelk.torch  # noqa: E402


def _rel(a, b):
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-300))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_matches_torch(dtype, bias):
    torch.manual_seed(0)
    ref = torch.nn.GRU(4, 7, bias=bias, batch_first=True, dtype=dtype)
    m = kelk.GRU.from_torch(ref)
    assert m.dtype == (np.float64 if dtype == torch.float64 else np.float32)
    x = torch.randn(3, 50, 4, dtype=dtype)
    h = torch.randn(1, 3, 7, dtype=dtype)
    with torch.no_grad():
        out, _ = ref(x, h)
    states, _ = kelk.solve(m, h[0].numpy(), x.numpy(), "sequential")
    eps = 1e-14 if dtype == torch.float64 else 2e-6
    assert np.abs(states - out.numpy()).max() <= eps * 10


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch_first", [True, False])
def test_module_matches_torch_forward_and_backward(dtype, batch_first):
    torch.manual_seed(1)
    ref = torch.nn.GRU(3, 5, batch_first=batch_first, dtype=dtype)
    mod = kelk.torch.GRU(3, 5, batch_first=batch_first, dtype=dtype, method="deer")
    mod.load_state_dict(ref.state_dict())
    shape = (2, 40, 3) if batch_first else (40, 2, 3)
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    h = torch.randn(1, 2, 5, dtype=dtype, requires_grad=True)
    grads = []
    outs = []
    for net in (ref, mod):
        x.grad = h.grad = None
        net.zero_grad()
        o, hn = net(x, h)
        outs.append((o.detach(), hn.detach()))
        (o.square().sum() + 2 * hn.sum()).backward()
        grads.append([x.grad.clone(), h.grad.clone()] + [p.grad.clone() for p in net.parameters()])
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    assert _rel(outs[1][0], outs[0][0]) < tol and _rel(outs[1][1], outs[0][1]) < tol
    for a, b in zip(grads[1], grads[0]):
        assert _rel(a, b) < tol


def test_module_without_hx_and_unbatched():
    torch.manual_seed(2)
    ref = torch.nn.GRU(2, 4, dtype=torch.float64)
    mod = kelk.torch.GRU(2, 4, dtype=torch.float64)
    mod.load_state_dict(ref.state_dict())
    x = torch.randn(30, 2, dtype=torch.float64)
    with torch.no_grad():
        o1, h1 = ref(x)
        o2, h2 = mod(x)
    assert o2.shape == o1.shape and h2.shape == h1.shape
    assert _rel(o2, o1) < 1e-12 and _rel(h2, h1) < 1e-12


def test_gradcheck_float64():
    torch.manual_seed(3)
    D, Din, B, T = 3, 2, 2, 6
    args = (torch.randn(B, T, Din, dtype=torch.float64, requires_grad=True),
            torch.randn(B, D, dtype=torch.float64, requires_grad=True),
            (0.5 * torch.randn(3 * D, Din, dtype=torch.float64)).requires_grad_(),
            (0.5 * torch.randn(3 * D, D, dtype=torch.float64)).requires_grad_(),
            (0.1 * torch.randn(3 * D, dtype=torch.float64)).requires_grad_(),
            (0.1 * torch.randn(3 * D, dtype=torch.float64)).requires_grad_())

    def f(x, h, wi, wh, bi, bh):
        return kelk.torch.GRUFunction.apply(x, h, wi, wh, bi, bh, "deer", "block_sweeps",
                                            {"atol": 1e-13})

    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7)


def test_gradients_equal_torch_at_T_1000():
    torch.manual_seed(4)
    dtype = torch.float64
    ref = torch.nn.GRU(3, 8, batch_first=True, dtype=dtype)
    mod = kelk.torch.GRU(3, 8, batch_first=True, dtype=dtype)  # method "auto"
    mod.load_state_dict(ref.state_dict())
    x = torch.randn(2, 1000, 3, dtype=dtype, requires_grad=True)
    h = torch.randn(1, 2, 8, dtype=dtype, requires_grad=True)
    target = torch.randn(2, 1000, 8, dtype=dtype)
    grads = []
    for net in (ref, mod):
        x.grad = h.grad = None
        net.zero_grad()
        o, hn = net(x, h)
        ((o - target).square().mean() + hn.square().sum()).backward()
        grads.append([x.grad.clone(), h.grad.clone()] + [p.grad.clone() for p in net.parameters()])
    assert mod.last_result is None or mod.last_result.converged
    for a, b in zip(grads[1], grads[0]):
        assert _rel(a, b) < 1e-10


def test_parameter_names_and_shapes_match_torch():
    ref = torch.nn.GRU(3, 5)
    mod = kelk.torch.GRU(3, 5)
    assert {k: v.shape for k, v in ref.state_dict().items()} == \
        {k: v.shape for k, v in mod.state_dict().items()}
    with pytest.raises(ValueError):
        kelk.torch.GRU(3, 5, num_layers=2)


def test_training_step_reduces_loss():
    torch.manual_seed(5)
    mod = kelk.torch.GRU(2, 6, batch_first=True, dtype=torch.float64, method="quasi_deer")
    opt = torch.optim.SGD(mod.parameters(), lr=0.05)
    x = torch.randn(4, 50, 2, dtype=torch.float64)
    y = torch.randn(4, 50, 6, dtype=torch.float64) * 0.1
    losses = []
    for _ in range(5):
        opt.zero_grad()
        o, _ = mod(x)
        loss = (o - y).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# --- LSTM ------------------------------------------------------------------------------------


def _lstm_grads(net, x, h, c, target):
    """Forward and backward of a loss on output, h_n and c_n; (outputs, gradients)."""
    x.grad = h.grad = c.grad = None
    net.zero_grad()
    o, (hn, cn) = net(x, (h, c))
    loss = (o - target).square().mean() + hn.square().sum() + (cn * target[:1, :1]).sum()
    loss.backward()
    return ([o.detach(), hn.detach(), cn.detach()],
            [x.grad.clone(), h.grad.clone(), c.grad.clone()]
            + [p.grad.clone() for p in net.parameters()])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_from_torch_matches_torch(dtype, bias):
    torch.manual_seed(10)
    ref = torch.nn.LSTM(4, 6, bias=bias, batch_first=True, dtype=dtype)
    m = kelk.LSTM.from_torch(ref)
    assert isinstance(m, kelk.LSTM) and (m.hidden_dim, m.state_dim, m.input_dim) == (6, 12, 4)
    assert m.dtype == (np.float64 if dtype == torch.float64 else np.float32)
    x = torch.randn(3, 50, 4, dtype=dtype)
    h = torch.randn(1, 3, 6, dtype=dtype)
    c = torch.randn(1, 3, 6, dtype=dtype)
    with torch.no_grad():
        out, (hn, cn) = ref(x, (h, c))
    s0 = np.ascontiguousarray(torch.cat([h[0], c[0]], -1).numpy())
    states, _ = kelk.solve(m, s0, x.numpy(), "sequential")
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    assert np.abs(states[..., :6] - out.numpy()).max() <= tol
    assert np.abs(states[:, -1, 6:] - cn[0].numpy()).max() <= tol * max(1.0, float(cn.abs().max()))


def test_lstm_from_torch_refuses_what_kelk_lacks():
    for kw in ({"num_layers": 2}, {"bidirectional": True}, {"proj_size": 2}):
        with pytest.raises(ValueError):
            kelk.LSTM.from_torch(torch.nn.LSTM(3, 4, **kw))
    with pytest.raises(ValueError):
        kelk.torch.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError):
        kelk.torch.LSTM(3, 4, num_layers=2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch_first", [True, False])
def test_lstm_module_matches_torch_forward_and_backward(dtype, batch_first):
    torch.manual_seed(11)
    ref = torch.nn.LSTM(3, 5, batch_first=batch_first, dtype=dtype)
    mod = kelk.torch.LSTM(3, 5, batch_first=batch_first, dtype=dtype, method="deer")
    mod.load_state_dict(ref.state_dict())
    shape = (2, 40, 3) if batch_first else (40, 2, 3)
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    h = torch.randn(1, 2, 5, dtype=dtype, requires_grad=True)
    c = torch.randn(1, 2, 5, dtype=dtype, requires_grad=True)
    target = torch.randn(*shape[:2], 5, dtype=dtype)
    outs_ref, grads_ref = _lstm_grads(ref, x, h, c, target)
    outs, grads = _lstm_grads(mod, x, h, c, target)
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    for a, b in zip(outs + grads, outs_ref + grads_ref):
        assert a.shape == b.shape and _rel(a, b) < tol


def test_lstm_module_without_hx_and_unbatched():
    torch.manual_seed(12)
    ref = torch.nn.LSTM(2, 4, dtype=torch.float64)
    mod = kelk.torch.LSTM(2, 4, dtype=torch.float64)
    mod.load_state_dict(ref.state_dict())
    x = torch.randn(30, 2, dtype=torch.float64)
    h, c = torch.randn(1, 4, dtype=torch.float64), torch.randn(1, 4, dtype=torch.float64)
    with torch.no_grad():
        for args in ((x,), (x, (h, c)), (x.unsqueeze(1),)):
            o1, (h1, c1) = ref(*args)
            o2, (h2, c2) = mod(*args)
            for a, b in ((o2, o1), (h2, h1), (c2, c1)):
                assert a.shape == b.shape and _rel(a, b) < 1e-12
    with pytest.raises(ValueError):
        mod(x, h)  # hx must be the pair (h0, c0)


def test_lstm_gradcheck_float64():
    torch.manual_seed(13)
    H, Din, B, T = 2, 2, 2, 5
    args = (torch.randn(B, T, Din, dtype=torch.float64, requires_grad=True),
            torch.randn(B, H, dtype=torch.float64, requires_grad=True),
            torch.randn(B, H, dtype=torch.float64, requires_grad=True),
            (0.5 * torch.randn(4 * H, Din, dtype=torch.float64)).requires_grad_(),
            (0.5 * torch.randn(4 * H, H, dtype=torch.float64)).requires_grad_(),
            (0.1 * torch.randn(4 * H, dtype=torch.float64)).requires_grad_(),
            (0.1 * torch.randn(4 * H, dtype=torch.float64)).requires_grad_())

    def f(x, h, c, wi, wh, bi, bh):
        return kelk.torch.LSTMFunction.apply(x, h, c, wi, wh, bi, bh, "deer", "block_sweeps",
                                             {"atol": 1e-13})

    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7)


def test_lstm_gradients_equal_torch_at_T_1000():
    torch.manual_seed(14)
    dtype = torch.float64
    ref = torch.nn.LSTM(3, 8, batch_first=True, dtype=dtype)
    mod = kelk.torch.LSTM(3, 8, batch_first=True, dtype=dtype)  # method "auto"
    mod.load_state_dict(ref.state_dict())
    x = torch.randn(2, 1000, 3, dtype=dtype, requires_grad=True)
    h = torch.randn(1, 2, 8, dtype=dtype, requires_grad=True)
    c = torch.randn(1, 2, 8, dtype=dtype, requires_grad=True)
    target = torch.randn(2, 1000, 8, dtype=dtype)
    outs_ref, grads_ref = _lstm_grads(ref, x, h, c, target)
    outs, grads = _lstm_grads(mod, x, h, c, target)
    assert mod.last_result is None or mod.last_result.converged
    for a, b in zip(outs + grads, outs_ref + grads_ref):
        assert _rel(a, b) < 1e-10


def test_lstm_state_dict_both_ways():
    ref = torch.nn.LSTM(3, 5, dtype=torch.float64)
    mod = kelk.torch.LSTM(3, 5, dtype=torch.float64)
    assert {k: v.shape for k, v in ref.state_dict().items()} == \
        {k: v.shape for k, v in mod.state_dict().items()}
    mod.load_state_dict(ref.state_dict())
    back = torch.nn.LSTM(3, 5, dtype=torch.float64)
    back.load_state_dict(mod.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)
    x = torch.randn(20, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        assert _rel(mod(x)[0], back(x)[0]) < 1e-12
