"""A short training loop: kelk.torch.GRU (forward by kelk's solver, backward by its adjoint)
against torch.nn.GRU from the same initial weights on the same data. The losses agree to
round-off at every step.

    PYTHONPATH=build/python OMP_NUM_THREADS=2 python apps/examples/python/train_gru.py [T]

T (default 500) is the sequence length; at T = 10000 (the signal then spans 400 time units)
the 20 losses also agree to 1e-16 (Debian's torch 1.13, 2 threads: torch.nn.GRU 674 s,
kelk.torch.GRU 154 s with block_jacobi chosen, on a machine busy with other work).

Expected output: 20 lines "step  i: torch ... kelk ... (|diff| ~1e-16)", then the method
kelk's "auto" chose and the seconds each spent.
"""

import sys
import time

import torch

import kelk.torch


def train(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int):
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        out, _ = net(x)
        loss = (out[..., :1] - y).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, time.perf_counter() - t0


def main() -> None:
    torch.manual_seed(0)
    B, H = 8, 16
    T = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    t = torch.linspace(0, 20 * T / 500, T, dtype=torch.float64)
    x = torch.sin(t + torch.rand(B, 1, dtype=torch.float64) * 6).unsqueeze(-1)  # (B, T, 1)
    y = torch.roll(x, -5, dims=1)  # predict 5 steps ahead

    reference = torch.nn.GRU(1, H, batch_first=True, dtype=torch.float64)
    model = kelk.torch.GRU(1, H, batch_first=True, dtype=torch.float64)  # method="auto"
    model.load_state_dict(reference.state_dict())

    ref_losses, ref_seconds = train(reference, x, y, 20)
    losses, seconds = train(model, x, y, 20)
    for i, (a, b) in enumerate(zip(ref_losses, losses)):
        print(f"step {i:2d}: torch {a:.10f} kelk {b:.10f} (|diff| {abs(a - b):.1e})")
    print(f"kelk chose {model.last_result.method}: {model.last_result.method_reason}")
    print(f"torch.nn.GRU {ref_seconds:.2f} s, kelk.torch.GRU {seconds:.2f} s")


if __name__ == "__main__":
    main()
