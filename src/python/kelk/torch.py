"""kelk.torch: a torch.nn.GRU (one layer) whose forward pass is a kelk solve and whose backward
pass is kelk's adjoint, for CPU tensors of float32 or float64.

    import kelk.torch
    gru = kelk.torch.GRU(input_size=3, hidden_size=16, batch_first=True)
    gru.load_state_dict(torch.nn.GRU(3, 16, batch_first=True).state_dict())  # same names
    output, h_n = gru(x)            # x (B, T, 3)
    output.sum().backward()         # gradients by kelk.solve_adjoint
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np
import torch

import kelk

__all__ = ["GRU", "GRUFunction"]


def _numpy(t: torch.Tensor) -> np.ndarray:
    """The tensor's memory as numpy (no copy when already contiguous)."""
    return t.detach().contiguous().numpy()


class GRUFunction(torch.autograd.Function):
    """(inputs (B, T, Din), h0 (B, D), weight_ih, weight_hh, bias_ih, bias_hh) ->
    states (B, T, D): torch.nn.GRU's recurrence, solved by kelk; backward by kelk's adjoint.
    Biases may be None (a GRU without bias). ``owner`` (optional) gets the SolveResult as
    ``owner.last_result``."""

    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, h0: torch.Tensor, weight_ih: torch.Tensor,
                weight_hh: torch.Tensor, bias_ih: Optional[torch.Tensor],
                bias_hh: Optional[torch.Tensor], method: str, adjoint_method: str,
                options: dict, owner: Any = None) -> torch.Tensor:
        dtype = np.float64 if inputs.dtype == torch.float64 else np.float32
        p = kelk.GRU.torch_to_kelk(_numpy(weight_ih), _numpy(weight_hh),
                                   None if bias_ih is None else _numpy(bias_ih),
                                   None if bias_hh is None else _numpy(bias_hh))
        gru = kelk.GRU(**p, dtype=dtype)
        u = _numpy(inputs)
        s0 = _numpy(h0)
        states, result = kelk.solve(gru, s0, u, method, **options)
        ctx.kelk_map = gru
        ctx.adjoint_method = adjoint_method
        ctx.has_bias = (bias_ih is not None, bias_hh is not None)
        if owner is not None:
            owner.last_result = result
        out = torch.from_numpy(states)
        ctx.save_for_backward(inputs, h0, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad_states: torch.Tensor):  # type: ignore[override]
        inputs, h0, states = ctx.saved_tensors
        gru: kelk.GRU = ctx.kelk_map
        g = kelk.solve_adjoint(gru, _numpy(h0), _numpy(inputs), _numpy(states),
                               _numpy(grad_states.to(states.dtype)),
                               method=ctx.adjoint_method)
        D, Din = gru.state_dim, gru.input_dim
        theta = torch.from_numpy(g.parameters)
        blocks = {}
        at = 0
        for name, shape in gru.parameter_layout():
            n = int(np.prod(shape))
            blocks[name] = theta[at:at + n].reshape(shape)
            at += n
        d_wih = torch.cat([blocks["W_ir"], blocks["W_iz"], blocks["W_in"]]).reshape(3 * D, Din)
        d_whh = torch.cat([blocks["W_hr"], blocks["W_hz"], blocks["W_hn"]])
        # b_ir = b_ih_r + b_hh_r (and z): both get dL/db_ir; b_in = b_ih_n, b_hn = b_hh_n
        d_bih = torch.cat([blocks["b_ir"], blocks["b_iz"], blocks["b_in"]]) \
            if ctx.has_bias[0] else None
        d_bhh = torch.cat([blocks["b_ir"], blocks["b_iz"], blocks["b_hn"]]) \
            if ctx.has_bias[1] else None
        return (torch.from_numpy(g.inputs), torch.from_numpy(g.s0), d_wih, d_whh, d_bih, d_bhh,
                None, None, None, None)


class GRU(torch.nn.Module):
    """torch.nn.GRU (one layer, unidirectional) evaluated by kelk.

    Same constructor, parameters (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, torch's
    shapes and initialisation) and forward signature as torch.nn.GRU, so that state dicts move
    between the two. ``method`` picks kelk's solver ("auto": the predictability probe chooses);
    ``adjoint_method`` the backward pass's ("block_sweeps", "sequential", "scan"); further
    keywords (atol, max_iter, ...) go to kelk.solve. CPU tensors, float32 or float64.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None, *,
                 method: str = "auto", adjoint_method: str = "block_sweeps",
                 **solve_options: Any) -> None:
        super().__init__()
        if num_layers != 1 or bidirectional or dropout != 0.0:
            raise ValueError("kelk.torch.GRU: one layer, unidirectional, no dropout")
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError("kelk.torch.GRU: CPU tensors only")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = 1
        self.bias = bias
        self.batch_first = batch_first
        self.bidirectional = False
        self.method = method
        self.adjoint_method = adjoint_method
        self.solve_options = dict(solve_options)
        self.last_result: Optional[kelk.SolveResult] = None
        kw = {"dtype": dtype}
        self.weight_ih_l0 = torch.nn.Parameter(torch.empty(3 * hidden_size, input_size, **kw))
        self.weight_hh_l0 = torch.nn.Parameter(torch.empty(3 * hidden_size, hidden_size, **kw))
        if bias:
            self.bias_ih_l0 = torch.nn.Parameter(torch.empty(3 * hidden_size, **kw))
            self.bias_hh_l0 = torch.nn.Parameter(torch.empty(3 * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch.nn.GRU's: uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        k = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            torch.nn.init.uniform_(p, -k, k)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, bias={self.bias}, "
                f"batch_first={self.batch_first}, method={self.method!r}")

    def forward(self, input: torch.Tensor, hx: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """input (T, B, Din), or (B, T, Din) with batch_first, or (T, Din) unbatched; hx
        (1, B, D) or (1, D) (zeros when None). Returns (output, h_n) as torch.nn.GRU."""
        if input.device.type != "cpu":
            raise ValueError("kelk.torch.GRU: CPU tensors only")
        unbatched = input.dim() == 2
        if unbatched:
            x = input.unsqueeze(0)
        elif input.dim() == 3:
            x = input if self.batch_first else input.transpose(0, 1)
        else:
            raise ValueError(f"kelk.torch.GRU: input must be 2- or 3-dimensional, got "
                             f"{tuple(input.shape)}")
        B = x.shape[0]
        if hx is None:
            h0 = torch.zeros(B, self.hidden_size, dtype=x.dtype)
        else:
            h0 = hx.unsqueeze(1) if unbatched else hx
            if h0.shape != (1, B, self.hidden_size):
                raise ValueError(f"kelk.torch.GRU: hx must be (1, {B}, {self.hidden_size}), "
                                 f"got {tuple(hx.shape)}")
            h0 = h0[0]
        states = GRUFunction.apply(x.contiguous(), h0.contiguous(), self.weight_ih_l0,
                                   self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0,
                                   self.method, self.adjoint_method, self.solve_options, self)
        h_n = states[:, -1].unsqueeze(0)
        if unbatched:
            return states[0], h_n[:, 0]
        output = states if self.batch_first else states.transpose(0, 1)
        return output, h_n
