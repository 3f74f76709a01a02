"""kelk: parallel-in-time evaluation of nonlinear recurrences s_t = f(s_{t-1}, u_t).

The Python face of the C++ library kelk (Kokkos): DEER/Newton, quasi-DEER, ELK, quasi-ELK,
jacobi, block_jacobi and the sequential reference, gradients by the adjoint, and the
predictability probe behind ``method="auto"``.

Arrays follow kelk's row-major order: ``s0`` is ``(B, D)``, ``inputs`` ``(B, T, Din)`` and
the states ``(B, T, D)``, all C-contiguous numpy arrays (or DLPack-capable arrays) of the map's
dtype (float32 or float64). kelk reads them in place and never copies silently: a
non-contiguous array raises ValueError, one of the wrong dtype TypeError.

Kokkos is started on first use (threads from ``OMP_NUM_THREADS``), or by
``kelk.initialize(threads=...)`` before it, and finalized at interpreter exit. Kokkos' OpenMP
backend runs only on the thread that started it: calls from another thread raise
RuntimeError.
"""

from __future__ import annotations

import atexit
import gc
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _kelk

__all__ = [
    "initialize",
    "finalize",
    "concurrency",
    "Map",
    "Elman",
    "GRU",
    "LSTM",
    "Lorenz96",
    "ArGRU",
    "load",
    "solve",
    "solve_adjoint",
    "probe",
    "SolveResult",
    "AdjointResult",
    "ProbeResult",
    "METHODS",
    "DistributedSolver",
    "__version__",
]

__version__: str = _kelk.version()

#: The method names kelk.solve accepts (as kelk-run's deck spells them), besides "auto".
METHODS: Tuple[str, ...] = (
    "sequential",
    "jacobi",
    "deer",
    "quasi_deer",
    "elk",
    "quasi_elk",
    "block_jacobi",
)

ArrayLike = Any  # numpy.ndarray or any DLPack-capable host array


def initialize(threads: Optional[int] = None) -> None:
    """Start Kokkos with ``threads`` host threads (None: ``OMP_NUM_THREADS`` or Kokkos'
    default). Optional: kelk starts Kokkos on first use. Calling it again does nothing."""
    _kelk.initialize(0 if threads is None else int(threads))


def finalize() -> None:
    """Finalize Kokkos (also done at exit). Every map still alive is released first and
    unusable afterwards; Kokkos cannot be started again in this process."""
    gc.collect()
    _kelk.finalize()


def concurrency() -> int:
    """Host threads kelk's solves run on."""
    return _kelk.concurrency()


atexit.register(finalize)


# --- maps ------------------------------------------------------------------------------------


def _dtype_of(dtype: Any, arrays: List[Any]) -> np.dtype:
    if dtype is not None:
        dt = np.dtype(dtype)
    else:
        kinds = {np.asarray(a).dtype for a in arrays if isinstance(a, np.ndarray)}
        dt = np.dtype(np.float32) if kinds == {np.dtype(np.float32)} else np.dtype(np.float64)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"kelk: dtype must be float32 or float64, got {dt}")
    return dt


def _param(name: str, a: Any) -> np.ndarray:
    try:
        return np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise TypeError(f"kelk: parameter {name} is not a numeric array: {e}") from None


class Map:
    """A kelk step map s_t = f(s_{t-1}, u_t) held in the precision it was built with."""

    _handle: Any

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    @property
    def state_dim(self) -> int:
        """D, the state dimension."""
        return self._handle.state_dim

    @property
    def input_dim(self) -> int:
        """Din, the inputs per step (0 for Lorenz-96)."""
        return self._handle.input_dim

    @property
    def dtype(self) -> np.dtype:
        """numpy.float32 or numpy.float64: the dtype every array passed with this map has."""
        return np.dtype(np.float64 if self._handle.is_double else np.float32)

    @property
    def kind(self) -> str:
        return self._handle.kind

    def parameter_layout(self) -> List[Tuple[str, Tuple[int, ...]]]:
        """The parameter blocks (name, shape), in the order of solve_adjoint's flat parameter
        gradient."""
        return [(n, tuple(s)) for n, s in self._handle.parameter_layout()]

    @property
    def parameter_count(self) -> int:
        return int(sum(int(np.prod(s)) for _, s in self.parameter_layout()))

    def save(self, path: str) -> None:
        """Write the map to a kelk model file (docs/FILES.md) that kelk.load, kelk-run and
        the C++ read back. float64 Elman, GRU, LSTM and Lorenz96 maps only (ValueError for
        the others)."""
        self._handle.save(str(path))

    def __repr__(self) -> str:
        return (f"kelk.{self.kind}(state_dim={self.state_dim}, input_dim={self.input_dim}, "
                f"dtype={self.dtype.name})")

    @classmethod
    def _wrap(cls, handle: Any) -> "Map":
        kinds = {"Elman": Elman, "GRU": GRU, "LSTM": LSTM, "Lorenz96": Lorenz96,
                 "ArGRU": ArGRU}
        obj = object.__new__(kinds.get(handle.kind, Map))
        Map.__init__(obj, handle)
        return obj


class Elman(Map):
    """Elman RNN: s_t = tanh(W s_{t-1} + U u_t + c), W (D, D), U (D, Din), c (D,)."""

    def __init__(self, *, W: ArrayLike, U: ArrayLike, c: ArrayLike, dtype: Any = None) -> None:
        dt = _dtype_of(dtype, [W, U, c])
        super().__init__(_kelk.make_elman(dt == np.float64, _param("W", W), _param("U", U),
                                          _param("c", c)))


class _TorchCell(Map):
    """A map with a torch.nn counterpart (GRU, LSTM). ``TORCH`` names, for each kelk
    parameter, the gate blocks of torch's weight_ih / weight_hh / bias_ih / bias_hh it is the
    sum of (a gate block: rows [g H, (g+1) H) of torch's stacked tensor). kelk.torch's
    backward uses the same table: each torch block gets the gradient of its kelk parameter."""

    NAMES: Tuple[str, ...] = ()
    GATES: int = 0
    TORCH: Dict[str, Tuple[Tuple[str, int], ...]] = {}
    _TORCH_CLASS = ""

    @classmethod
    def torch_to_kelk(cls, weight_ih: np.ndarray, weight_hh: np.ndarray,
                      bias_ih: Optional[np.ndarray], bias_hh: Optional[np.ndarray]
                      ) -> Dict[str, np.ndarray]:
        """kelk's parameters (float64) from torch's weight_ih_l0, weight_hh_l0, bias_ih_l0,
        bias_hh_l0 (biases may be None: no bias)."""
        H = weight_hh.shape[1]
        G = cls.GATES
        t = {"weight_ih": np.asarray(weight_ih, dtype=np.float64),
             "weight_hh": np.asarray(weight_hh, dtype=np.float64),
             "bias_ih": np.zeros(G * H) if bias_ih is None
             else np.asarray(bias_ih, dtype=np.float64),
             "bias_hh": np.zeros(G * H) if bias_hh is None
             else np.asarray(bias_hh, dtype=np.float64)}
        p = {}
        for name in cls.NAMES:
            parts = [t[src][g * H:(g + 1) * H] for src, g in cls.TORCH[name]]
            p[name] = parts[0] + parts[1] if len(parts) == 2 else parts[0].copy()
        return p

    @classmethod
    def from_torch(cls, module: Any, dtype: Any = None) -> "_TorchCell":
        """The map with the weights of a one-layer, unidirectional torch module (dtype: the
        module's, float32 or float64, unless given)."""
        who = f"kelk.{cls.__name__}.from_torch"
        if getattr(module, "num_layers", 1) != 1 or getattr(module, "bidirectional", False):
            raise ValueError(f"{who}: only one-layer, unidirectional "
                             f"torch.nn.{cls._TORCH_CLASS}")
        if getattr(module, "proj_size", 0):
            raise ValueError(f"{who}: proj_size is not supported")
        w_ih = module.weight_ih_l0.detach().cpu()
        if dtype is None:
            dtype = np.float64 if str(w_ih.dtype) == "torch.float64" else np.float32
        get = lambda t: None if t is None else t.detach().cpu().double().numpy()  # noqa: E731
        p = cls.torch_to_kelk(get(module.weight_ih_l0), get(module.weight_hh_l0),
                              get(getattr(module, "bias_ih_l0", None)),
                              get(getattr(module, "bias_hh_l0", None)))
        return cls(**p, dtype=dtype)


class GRU(_TorchCell):
    """GRU cell (torch.nn.GRU's), kelk's convention (docs/ALGORITHMS.md section 10):

    r = sigma(W_ir u + b_ir + W_hr h), z = sigma(W_iz u + b_iz + W_hz h),
    n = tanh(W_in u + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h.

    W_i* are (D, Din), W_h* (D, D), biases (D,). From torch.nn.GRU (gate rows r, z, n):
    b_ir = b_ih_r + b_hh_r, b_iz = b_ih_z + b_hh_z, b_in = b_ih_n, b_hn = b_hh_n
    (``GRU.from_torch``).
    """

    NAMES = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in", "b_hn")
    GATES = 3
    TORCH = {"W_ir": (("weight_ih", 0),), "W_iz": (("weight_ih", 1),),
             "W_in": (("weight_ih", 2),), "W_hr": (("weight_hh", 0),),
             "W_hz": (("weight_hh", 1),), "W_hn": (("weight_hh", 2),),
             "b_ir": (("bias_ih", 0), ("bias_hh", 0)), "b_iz": (("bias_ih", 1), ("bias_hh", 1)),
             "b_in": (("bias_ih", 2),), "b_hn": (("bias_hh", 2),)}
    _TORCH_CLASS = "GRU"

    def __init__(self, *, W_ir: ArrayLike, W_iz: ArrayLike, W_in: ArrayLike, W_hr: ArrayLike,
                 W_hz: ArrayLike, W_hn: ArrayLike, b_ir: ArrayLike, b_iz: ArrayLike,
                 b_in: ArrayLike, b_hn: ArrayLike, dtype: Any = None) -> None:
        values = [W_ir, W_iz, W_in, W_hr, W_hz, W_hn, b_ir, b_iz, b_in, b_hn]
        dt = _dtype_of(dtype, values)
        super().__init__(_kelk.make_gru(dt == np.float64,
                                        [_param(n, v) for n, v in zip(self.NAMES, values)]))


class LSTM(_TorchCell):
    """LSTM cell (torch.nn.LSTM's, one layer) on the state s = [h, c], D = 2H
    (docs/ALGORITHMS.md section 10):

    i = sigma(W_ii u + W_hi h + b_i), f = sigma(W_if u + W_hf h + b_f),
    g = tanh(W_ig u + W_hg h + b_g),  o = sigma(W_io u + W_ho h + b_o),
    c' = f c + i g, h' = o tanh(c').

    W_i* are (H, Din), W_h* (H, H), biases (H,). States, s0 and cotangents are (.., 2H): h in
    the first H entries, c in the last H. From torch.nn.LSTM (gate rows i, f, g, o) each bias
    is the sum of torch's two, b_i = b_ih_i + b_hh_i, ... (``LSTM.from_torch``).
    """

    NAMES = ("W_ii", "W_if", "W_ig", "W_io", "W_hi", "W_hf", "W_hg", "W_ho", "b_i", "b_f",
             "b_g", "b_o")
    GATES = 4
    TORCH = {**{f"W_i{x}": (("weight_ih", g),) for g, x in enumerate("ifgo")},
             **{f"W_h{x}": (("weight_hh", g),) for g, x in enumerate("ifgo")},
             **{f"b_{x}": (("bias_ih", g), ("bias_hh", g)) for g, x in enumerate("ifgo")}}
    _TORCH_CLASS = "LSTM"

    def __init__(self, *, W_ii: ArrayLike, W_if: ArrayLike, W_ig: ArrayLike, W_io: ArrayLike,
                 W_hi: ArrayLike, W_hf: ArrayLike, W_hg: ArrayLike, W_ho: ArrayLike,
                 b_i: ArrayLike, b_f: ArrayLike, b_g: ArrayLike, b_o: ArrayLike,
                 dtype: Any = None) -> None:
        values = [W_ii, W_if, W_ig, W_io, W_hi, W_hf, W_hg, W_ho, b_i, b_f, b_g, b_o]
        dt = _dtype_of(dtype, values)
        super().__init__(_kelk.make_lstm(dt == np.float64,
                                         [_param(n, v) for n, v in zip(self.NAMES, values)]))

    @property
    def hidden_dim(self) -> int:
        """H, the hidden size (state_dim = 2H)."""
        return self.state_dim // 2


class Lorenz96(Map):
    """Lorenz-96 with D variables and forcing F, one classical RK4 step of size dt per
    recurrence step; no inputs (Din = 0: pass inputs of shape (B, T, 0))."""

    def __init__(self, D: int, F: float = 8.0, dt: float = 0.01, *, dtype: Any = np.float64
                 ) -> None:
        dt_ = _dtype_of(dtype, [])
        super().__init__(_kelk.make_lorenz96(dt_ == np.float64, int(D), float(F), float(dt)))


class ArGRU(Map):
    """The autoregressive GRU of the ELK paper (include/kelk/kelk_argru.hpp): state
    [x, h_0 .. h_{P-1}], one driver per step. w_r, w_z, w_n, b_r, b_z, b_n, b_hn, a_mu, a_ls
    are (P,), U_r, U_z, U_n (P, P), c_mu and c_ls scalars."""

    NAMES = ("w_r", "w_z", "w_n", "U_r", "U_z", "U_n", "b_r", "b_z", "b_n", "b_hn", "a_mu",
             "a_ls")

    def __init__(self, *, w_r: ArrayLike, w_z: ArrayLike, w_n: ArrayLike, U_r: ArrayLike,
                 U_z: ArrayLike, U_n: ArrayLike, b_r: ArrayLike, b_z: ArrayLike,
                 b_n: ArrayLike, b_hn: ArrayLike, a_mu: ArrayLike, a_ls: ArrayLike,
                 c_mu: float, c_ls: float, dtype: Any = None) -> None:
        values = [w_r, w_z, w_n, U_r, U_z, U_n, b_r, b_z, b_n, b_hn, a_mu, a_ls]
        dt = _dtype_of(dtype, values)
        super().__init__(_kelk.make_argru(dt == np.float64,
                                          [_param(n, v) for n, v in zip(self.NAMES, values)],
                                          float(c_mu), float(c_ls)))


def load(path: str, dtype: Any = np.float64) -> Map:
    """The map of a kelk model file (docs/FILES.md: Elman, GRU, LSTM, Lorenz-96, AR-GRU)."""
    dt = _dtype_of(dtype, [])
    return Map._wrap(_kelk.load(str(path), dt == np.float64))


# --- results ---------------------------------------------------------------------------------


@dataclass
class SolveResult:
    """What kelk.solve reports. ``method`` is the method run (the one "auto" chose, with
    ``method_reason``); ``history`` (record_history=True) holds numpy arrays per iteration."""

    method: str
    method_reason: str
    iterations: int
    converged: bool
    reason: str
    final_update: float
    final_residual: float
    returned_iteration: int
    seconds: float
    history: Dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class AdjointResult:
    """Gradients from kelk.solve_adjoint: ``s0`` (B, D), ``inputs`` (B, T, Din) and
    ``parameters`` (flat, in map.parameter_layout() order), and how they were computed."""

    s0: Optional[np.ndarray]
    inputs: Optional[np.ndarray]
    parameters: Optional[np.ndarray]
    method: str
    sweeps: int
    steps_swept: int
    finite: bool
    seconds: float


@dataclass
class ProbeResult:
    """The predictability probe: the largest Lyapunov exponent per step and what
    ``method="auto"`` would choose (``choice``)."""

    exponent: float
    error: float
    exponent_min: float
    exponent_max: float
    steps: int
    merge_length: float
    predictable: bool
    finite: bool
    non_finite_sequence: int
    non_finite_step: int
    verdict: str
    choice: str


_HISTORY_DTYPES = {"iteration": np.int64, "accepted": bool, "steps_recomputed": np.int64,
                   "longest_recomputation": np.int64}


def _check_map(map: Any) -> Map:
    if not isinstance(map, Map):
        raise TypeError(f"kelk: expected a kelk map (kelk.GRU, ...), got {type(map).__name__}")
    return map


# --- entry points ----------------------------------------------------------------------------


def _solve_options(atol: Optional[float] = None, rtol: float = 0.0,
                   max_iter: Optional[int] = None, fixed_iterations: bool = False,
                   initial_guess: str = "zeros", non_finite: str = "clip_and_zero",
                   clip_value: float = 1e8, keep_best: bool = True, record_history: bool = False,
                   chunks: int = 0, blocks: int = 0, sigma2: Union[None, float, str] = None,
                   kalman_smoother: bool = False, jacobian_structure: str = "diagonal",
                   block_size: int = 0) -> Dict[str, Any]:
    """kelk::SolveOptions as keywords (the defaults are kelk's)."""
    sigma2_auto = isinstance(sigma2, str)
    if sigma2_auto and sigma2 != "auto":
        raise ValueError(f"kelk.solve: sigma2 must be a number or 'auto', got {sigma2!r}")
    return dict(atol=None if atol is None else float(atol), rtol=float(rtol),
                max_iter=None if max_iter is None else int(max_iter),
                fixed_iterations=bool(fixed_iterations), initial_guess=str(initial_guess),
                non_finite=str(non_finite), clip_value=float(clip_value),
                keep_best=bool(keep_best), record_history=bool(record_history),
                chunks=int(chunks), blocks=int(blocks),
                sigma2=None if sigma2 is None or sigma2_auto else float(sigma2),
                sigma2_auto=sigma2_auto, kalman_smoother=bool(kalman_smoother),
                jacobian_structure=str(jacobian_structure), block_size=int(block_size))


def _states_out(who: str, m: Map, s0: Any, inputs: Any, out: Any) -> Any:
    s0_shape = getattr(s0, "shape", None)
    in_shape = getattr(inputs, "shape", None)
    if s0_shape is None or len(s0_shape) != 2 or in_shape is None or len(in_shape) != 3:
        raise ValueError(f"{who}: s0 must be (B, D) and inputs (B, T, Din); got shapes "
                         f"{s0_shape} and {in_shape}")
    if out is None:
        return np.zeros((s0_shape[0], in_shape[1], m.state_dim), dtype=m.dtype)
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        raise ValueError(f"{who}: out is read-only")
    return out


def _solve_result(r: Dict[str, Any]) -> SolveResult:
    r["history"] = {k: np.asarray(v, dtype=_HISTORY_DTYPES.get(k, np.float64))
                    for k, v in r["history"].items()}
    return SolveResult(**r)


def solve(map: Map, s0: ArrayLike, inputs: ArrayLike, method: str = "auto", *,
          out: Optional[ArrayLike] = None, atol: Optional[float] = None, rtol: float = 0.0,
          max_iter: Optional[int] = None, fixed_iterations: bool = False,
          initial_guess: str = "zeros", non_finite: str = "clip_and_zero",
          clip_value: float = 1e8, keep_best: bool = True, record_history: bool = False,
          chunks: int = 0, blocks: int = 0, sigma2: Union[None, float, str] = None,
          kalman_smoother: bool = False, jacobian_structure: str = "diagonal",
          block_size: int = 0) -> Tuple[np.ndarray, SolveResult]:
    """Evaluate the recurrence s_t = map(s_{t-1}, u_t), t = 1..T, for B sequences.

    Args:
      map: a kelk map (kelk.GRU, kelk.LSTM, kelk.Elman, kelk.Lorenz96, kelk.ArGRU,
        kelk.load(...)).
      s0: (B, D) initial states; inputs: (B, T, Din), read in place (C-contiguous, the map's
        dtype).
      method: "auto" (the probe chooses; see result.method_reason) or one of kelk.METHODS.
      out: (B, T, D) array the states are written into (allocated when None); with
        initial_guess="provided" its contents are the starting iterate.
      atol, rtol, max_iter, fixed_iterations, initial_guess ("zeros", "repeat_s0",
        "provided"), non_finite ("clip_and_zero", "reset_to_guess", "none"), clip_value,
        keep_best, record_history, chunks, blocks, sigma2 (a float, or "auto" for the adaptive
        trust region of elk/quasi_elk), kalman_smoother, jacobian_structure ("diagonal",
        "block", "dense": what quasi_deer and quasi_elk keep of the Jacobian), block_size (k of
        "block", dividing D): kelk::SolveOptions (README "Options").

    Returns:
      (states, result): the (B, T, D) states (``out`` when given) and a SolveResult.

    Raises:
      TypeError for a dtype other than the map's; ValueError for wrong shapes, non-contiguous
      arrays, NaN/Inf in s0 or inputs, invalid options; RuntimeError for other failures.
    """
    m = _check_map(map)
    options = _solve_options(atol, rtol, max_iter, fixed_iterations, initial_guess, non_finite,
                             clip_value, keep_best, record_history, chunks, blocks, sigma2,
                             kalman_smoother, jacobian_structure, block_size)
    out = _states_out("kelk.solve", m, s0, inputs, out)
    r = _kelk.solve(m._handle, s0, inputs, out, method, options)
    return out, _solve_result(r)


def _gradient_outputs(who: str, m: Map, s0: Any, states: Any, wrt: Tuple[str, ...]):
    shape = getattr(s0, "shape", ())
    B = shape[0] if len(shape) == 2 else 0
    T = states.shape[1] if len(getattr(states, "shape", ())) == 3 else 0
    unknown = set(wrt) - {"s0", "inputs", "parameters"}
    if unknown or not wrt:
        raise ValueError(f"{who}: wrt names s0, inputs, parameters; got {wrt}")
    ds0 = np.zeros((B, m.state_dim), dtype=m.dtype) if "s0" in wrt else None
    du = np.zeros((B, T, m.input_dim), dtype=m.dtype) if "inputs" in wrt else None
    dp = np.zeros(m.parameter_count, dtype=m.dtype) if "parameters" in wrt else None
    return ds0, du, dp


def solve_adjoint(map: Map, s0: ArrayLike, inputs: ArrayLike, states: ArrayLike,
                  cotangents: ArrayLike, *, method: str = "block_sweeps", chunks: int = 0,
                  blocks: int = 0, wrt: Tuple[str, ...] = ("s0", "inputs", "parameters")
                  ) -> AdjointResult:
    """Gradients of L through the trajectory: given the states of a solve and the cotangents
    g_t = dL/ds_t (partial, (B, T, D)), returns dL/ds0 (B, D), dL/du (B, T, Din) and dL/dtheta
    (flat, in map.parameter_layout() order), those named in ``wrt``.

    method: the adjoint's method, "block_sweeps" (default), "sequential" or "scan"."""
    m = _check_map(map)
    ds0, du, dp = _gradient_outputs("kelk.solve_adjoint", m, s0, states, wrt)
    r = _kelk.solve_adjoint(m._handle, s0, inputs, states, cotangents, ds0, du, dp, method,
                            int(chunks), int(blocks))
    return AdjointResult(s0=ds0, inputs=du, parameters=dp, **r)


def probe(map: Map, s0: ArrayLike, inputs: ArrayLike, *, steps: int = 0, discard: int = -1,
          relative_error: float = 0.02, tolerance: float = 1e-7) -> ProbeResult:
    """The predictability probe (ALGORITHMS.md section 13): an estimate of the largest
    Lyapunov exponent along the trajectory, from a prefix of every sequence, and the method
    ``method="auto"`` would choose. Options as kelk::ProbeOptions."""
    m = _check_map(map)
    r = _kelk.probe(m._handle, s0, inputs, int(steps), int(discard), float(relative_error),
                    float(tolerance))
    return ProbeResult(**r)


# --- distributed solves (MPI) ----------------------------------------------------------------


class DistributedSolver:
    """Sequences distributed over the ranks of an MPI communicator (kelk::DistributedSolver):
    the ranks split into ``batch_ranks`` groups of sequences, each group's ranks splitting the
    time axis. Every rank passes its own block (``partition``'s ranges; ``local_block`` cuts
    it out of global arrays) and gets its block of the states; results equal one process's to
    round-off. ``comm`` is an mpi4py communicator (duplicated: the caller keeps its own).
    Construction, solve and solve_adjoint are collective; a rank whose arguments are invalid
    raises, and so does every other rank (none is left waiting).

        from mpi4py import MPI
        solver = kelk.DistributedSolver(MPI.COMM_WORLD, batch=B, length=T)
        states, result = solver.solve(gru, solver.local_block(s0), solver.local_block(u))
    """

    def __init__(self, comm: Any, batch: int, length: int, batch_ranks: int = 1) -> None:
        if not getattr(_kelk, "have_mpi", False):
            raise RuntimeError("kelk.DistributedSolver: this kelk was built without MPI")
        try:
            fortran_comm = comm.py2f()
        except AttributeError:
            raise TypeError("kelk.DistributedSolver: comm must be an mpi4py communicator") \
                from None
        self._solver = _kelk.DistributedSolver(int(fortran_comm), int(batch), int(length),
                                               int(batch_ranks))
        p = self._solver.partition
        self.partition: Dict[str, int] = dict(p)
        self.batch_range: Tuple[int, int] = (p["batch_begin"], p["batch_end"])
        self.time_range: Tuple[int, int] = (p["time_begin"], p["time_end"])

    @property
    def local_batch(self) -> int:
        return self.batch_range[1] - self.batch_range[0]

    @property
    def local_length(self) -> int:
        return self.time_range[1] - self.time_range[0]

    def local_block(self, a: np.ndarray) -> np.ndarray:
        """This rank's block of a global (B, D) or (B, T, n) array: C-contiguous, so a copy
        when the time axis is split (an explicit copy: solve never copies silently)."""
        b0, b1 = self.batch_range
        if a.ndim == 2:
            return np.ascontiguousarray(a[b0:b1])
        t0, t1 = self.time_range
        return np.ascontiguousarray(a[b0:b1, t0:t1])

    def solve(self, map: Map, s0: ArrayLike, inputs: ArrayLike, method: str = "auto", *,
              out: Optional[ArrayLike] = None, **options: Any) -> Tuple[np.ndarray, SolveResult]:
        """kelk.solve on this rank's block (same keywords). Collective. method="auto": the
        probe runs on rank 0's sequences and every rank takes its choice."""
        m = _check_map(map)
        opts = _solve_options(**options)
        out = _states_out("kelk.DistributedSolver.solve", m, s0, inputs, out)
        r = _kelk.solve_distributed(self._solver, m._handle, s0, inputs, out, method, opts)
        return out, _solve_result(r)

    def solve_adjoint(self, map: Map, s0: ArrayLike, inputs: ArrayLike, states: ArrayLike,
                      cotangents: ArrayLike, *, method: str = "block_sweeps", chunks: int = 0,
                      blocks: int = 0,
                      wrt: Tuple[str, ...] = ("s0", "inputs", "parameters")) -> AdjointResult:
        """kelk.solve_adjoint on this rank's block. Collective. dL/ds0 is meaningful on the
        first time rank; the parameter gradient is summed over all ranks, on every rank."""
        m = _check_map(map)
        ds0, du, dp = _gradient_outputs("kelk.DistributedSolver.solve_adjoint", m, s0, states,
                                        wrt)
        r = _kelk.solve_adjoint_distributed(self._solver, m._handle, s0, inputs, states,
                                            cotangents, ds0, du, dp, method, int(chunks),
                                            int(blocks))
        return AdjointResult(s0=ds0, inputs=du, parameters=dp, **r)
