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
