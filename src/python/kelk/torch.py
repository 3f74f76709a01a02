"""kelk.torch: torch.nn.GRU and torch.nn.LSTM (one layer) whose forward pass is a kelk solve and
whose backward pass is kelk's adjoint, for CPU tensors of float32 or float64.

    import kelk.torch
    gru = kelk.torch.GRU(input_size=3, hidden_size=16, batch_first=True)
    gru.load_state_dict(torch.nn.GRU(3, 16, batch_first=True).state_dict())  # same names
    output, h_n = gru(x)            # x (B, T, 3)
    output.sum().backward()         # gradients by kelk.solve_adjoint

    lstm = kelk.torch.LSTM(3, 16, batch_first=True)
    output, (h_n, c_n) = lstm(x)    # kelk's state is [h, c]: D = 2 * 16

Both modules share one autograd path: the cell's kelk map is built from torch's stacked gate
tensors by kelk.GRU / kelk.LSTM's ``TORCH`` table, and the adjoint's parameter gradient is
scattered back through the same table (a kelk bias that is the sum of torch's two gives its
gradient to both).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple, Type

import numpy as np
import torch

import kelk

__all__ = ["GRU", "LSTM", "GRUFunction", "LSTMFunction"]


def _numpy(t: torch.Tensor) -> np.ndarray:
    """The tensor's memory as numpy (no copy when already contiguous)."""
    return t.detach().contiguous().numpy()


def _solve(ctx: Any, cell: Type[kelk._TorchCell], inputs: torch.Tensor, s0: torch.Tensor,
           weights: Tuple[Optional[torch.Tensor], ...], method: str, adjoint_method: str,
           options: dict, owner: Any) -> torch.Tensor:
    """The forward half shared by GRUFunction and LSTMFunction: the kelk map of ``cell`` from
    torch's (weight_ih, weight_hh, bias_ih, bias_hh), states (B, T, D) from s0 (B, D)."""
    dtype = np.float64 if inputs.dtype == torch.float64 else np.float32
    p = cell.torch_to_kelk(*[None if w is None else _numpy(w) for w in weights])
    m = cell(**p, dtype=dtype)
    states, result = kelk.solve(m, _numpy(s0), _numpy(inputs), method, **options)
    ctx.kelk_map = m
    ctx.adjoint_method = adjoint_method
    ctx.has_bias = (weights[2] is not None, weights[3] is not None)
    if owner is not None:
        owner.last_result = result
    out = torch.from_numpy(states)
    ctx.kelk_s0 = s0.detach().contiguous()
    ctx.save_for_backward(inputs, out)
    return out


def _adjoint(ctx: Any, grad_states: torch.Tensor):
    """The backward half: kelk.solve_adjoint with the cotangents dL/ds_t, then the parameter
    gradient scattered into torch's stacked gate tensors (the map's TORCH table, transposed).
    Returns (d inputs, d s0, d weight_ih, d weight_hh, d bias_ih, d bias_hh)."""
    inputs, states = ctx.saved_tensors
    m: kelk._TorchCell = ctx.kelk_map
    g = kelk.solve_adjoint(m, _numpy(ctx.kelk_s0), _numpy(inputs), _numpy(states),
                           _numpy(grad_states.to(states.dtype)), method=ctx.adjoint_method)
    theta = torch.from_numpy(g.parameters)
    blocks: Dict[str, torch.Tensor] = {}
    at = 0
    for name, shape in m.parameter_layout():
        n = int(np.prod(shape))
        blocks[name] = theta[at:at + n].reshape(shape)
        at += n
    gate_of = {(src, gate): name for name, parts in type(m).TORCH.items()
               for src, gate in parts}
    grads = [torch.cat([blocks[gate_of[(src, gate)]] for gate in range(type(m).GATES)])
             for src in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    d_bih = grads[2] if ctx.has_bias[0] else None
    d_bhh = grads[3] if ctx.has_bias[1] else None
    return torch.from_numpy(g.inputs), torch.from_numpy(g.s0), grads[0], grads[1], d_bih, d_bhh


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
        return _solve(ctx, kelk.GRU, inputs, h0, (weight_ih, weight_hh, bias_ih, bias_hh),
                      method, adjoint_method, options, owner)

    @staticmethod
    def backward(ctx: Any, grad_states: torch.Tensor):  # type: ignore[override]
        return _adjoint(ctx, grad_states) + (None, None, None, None)


class LSTMFunction(torch.autograd.Function):
    """(inputs (B, T, Din), h0 (B, H), c0 (B, H), weight_ih, weight_hh, bias_ih, bias_hh) ->
    states (B, T, 2H) = [h_t, c_t]: torch.nn.LSTM's recurrence on kelk's state s = [h, c],
    solved by kelk (s0 = [h0, c0]); backward by kelk's adjoint, whose cotangents are the
    gradients of both halves (the output's h_t, and h_n, c_n at the last step). Biases may be
    None. ``owner`` (optional) gets the SolveResult as ``owner.last_result``."""

    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor,
                weight_ih: torch.Tensor, weight_hh: torch.Tensor,
                bias_ih: Optional[torch.Tensor], bias_hh: Optional[torch.Tensor], method: str,
                adjoint_method: str, options: dict, owner: Any = None) -> torch.Tensor:
        s0 = torch.cat([h0.detach(), c0.detach()], dim=-1)
        return _solve(ctx, kelk.LSTM, inputs, s0, (weight_ih, weight_hh, bias_ih, bias_hh),
                      method, adjoint_method, options, owner)

    @staticmethod
    def backward(ctx: Any, grad_states: torch.Tensor):  # type: ignore[override]
        d_u, d_s0, d_wih, d_whh, d_bih, d_bhh = _adjoint(ctx, grad_states)
        H = d_s0.shape[-1] // 2
        return (d_u, d_s0[:, :H], d_s0[:, H:], d_wih, d_whh, d_bih, d_bhh,
                None, None, None, None)


class _KelkRNN(torch.nn.Module):
    """What kelk.torch.GRU and kelk.torch.LSTM share: torch's one-layer constructor,
    parameters (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 with GATES gate blocks,
    torch's shapes and initialisation) and input layout."""

    GATES = 0
    NAME = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None, *,
                 method: str = "auto", adjoint_method: str = "block_sweeps",
                 **solve_options: Any) -> None:
        super().__init__()
        if num_layers != 1 or bidirectional or dropout != 0.0:
            raise ValueError(f"kelk.torch.{self.NAME}: one layer, unidirectional, no dropout")
        if device is not None and torch.device(device).type != "cpu":
            raise ValueError(f"kelk.torch.{self.NAME}: CPU tensors only")
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
        G = self.GATES
        self.weight_ih_l0 = torch.nn.Parameter(torch.empty(G * hidden_size, input_size, **kw))
        self.weight_hh_l0 = torch.nn.Parameter(torch.empty(G * hidden_size, hidden_size, **kw))
        if bias:
            self.bias_ih_l0 = torch.nn.Parameter(torch.empty(G * hidden_size, **kw))
            self.bias_hh_l0 = torch.nn.Parameter(torch.empty(G * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's: uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        k = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            torch.nn.init.uniform_(p, -k, k)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, bias={self.bias}, "
                f"batch_first={self.batch_first}, method={self.method!r}")

    def _weights(self) -> Tuple[Any, ...]:
        return (self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0,
                self.method, self.adjoint_method, self.solve_options, self)

    def _batch(self, input: torch.Tensor) -> Tuple[torch.Tensor, bool]:
        """input as (B, T, Din) and whether it was unbatched (T, Din)."""
        if input.device.type != "cpu":
            raise ValueError(f"kelk.torch.{self.NAME}: CPU tensors only")
        if input.dim() == 2:
            return input.unsqueeze(0), True
        if input.dim() == 3:
            return (input if self.batch_first else input.transpose(0, 1)), False
        raise ValueError(f"kelk.torch.{self.NAME}: input must be 2- or 3-dimensional, got "
                         f"{tuple(input.shape)}")

    def _hidden(self, hx: Optional[torch.Tensor], x: torch.Tensor, unbatched: bool,
                name: str) -> torch.Tensor:
        """An initial state hx (1, B, H), or (1, H) unbatched, as (B, H); zeros when None."""
        B = x.shape[0]
        if hx is None:
            return torch.zeros(B, self.hidden_size, dtype=x.dtype)
        h = hx.unsqueeze(1) if unbatched else hx
        if h.shape != (1, B, self.hidden_size):
            shape = f"(1, {self.hidden_size})" if unbatched else f"(1, {B}, {self.hidden_size})"
            raise ValueError(f"kelk.torch.{self.NAME}: {name} must be {shape}, got "
                             f"{tuple(hx.shape)}")
        return h[0].contiguous()

    def _output(self, h: torch.Tensor, unbatched: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        """(output, h_n) from the hidden states (B, T, H), in torch's layout."""
        h_n = h[:, -1].unsqueeze(0)
        if unbatched:
            return h[0], h_n[:, 0]
        return (h if self.batch_first else h.transpose(0, 1)), h_n


class GRU(_KelkRNN):
    """torch.nn.GRU (one layer, unidirectional) evaluated by kelk.

    Same constructor, parameters (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, torch's
    shapes and initialisation) and forward signature as torch.nn.GRU, so that state dicts move
    between the two. ``method`` picks kelk's solver ("auto": the predictability probe chooses);
    ``adjoint_method`` the backward pass's ("block_sweeps", "sequential", "scan"); further
    keywords (atol, max_iter, ...) go to kelk.solve. CPU tensors, float32 or float64.
    """

    GATES = 3
    NAME = "GRU"

    def forward(self, input: torch.Tensor, hx: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """input (T, B, Din), or (B, T, Din) with batch_first, or (T, Din) unbatched; hx
        (1, B, D) or (1, D) (zeros when None). Returns (output, h_n) as torch.nn.GRU."""
        x, unbatched = self._batch(input)
        h0 = self._hidden(hx, x, unbatched, "hx")
        states = GRUFunction.apply(x.contiguous(), h0, *self._weights())
        return self._output(states, unbatched)


class LSTM(_KelkRNN):
    """torch.nn.LSTM (one layer, unidirectional, no proj_size) evaluated by kelk on the state
    s = [h, c] (kelk.LSTM, D = 2 * hidden_size).

    Same constructor, parameters (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0: gate
    rows i, f, g, o) and forward signature as torch.nn.LSTM, so that state dicts move between
    the two. ``method``, ``adjoint_method`` and further keywords as kelk.torch.GRU.
    """

    GATES = 4
    NAME = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None, **kwargs: Any) -> None:
        if proj_size != 0:
            raise ValueError("kelk.torch.LSTM: proj_size is not supported")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype, **kwargs)
        self.proj_size = 0

    def forward(self, input: torch.Tensor,
                hx: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
                ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """input (T, B, Din), or (B, T, Din) with batch_first, or (T, Din) unbatched; hx =
        (h0, c0), each (1, B, H) or (1, H) (zeros when None). Returns (output, (h_n, c_n)) as
        torch.nn.LSTM."""
        x, unbatched = self._batch(input)
        if hx is None:
            h0 = c0 = self._hidden(None, x, unbatched, "h0")
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("kelk.torch.LSTM: hx must be a tuple (h0, c0)")
            h0 = self._hidden(hx[0], x, unbatched, "h0")
            c0 = self._hidden(hx[1], x, unbatched, "c0")
        states = LSTMFunction.apply(x.contiguous(), h0, c0, *self._weights())
        H = self.hidden_size
        output, h_n = self._output(states[..., :H], unbatched)
        c_n = states[:, -1, H:].unsqueeze(0)
        return output, (h_n, c_n[:, 0] if unbatched else c_n)
