"""LSQ fake quantizer (Esser et al., 2020): per-tensor, learnable step size, straight-through rounding.

Ranges (b bits):
  * weights: signed, restricted symmetric  [-(2^(b-1) - 1), 2^(b-1) - 1];
  * activations: unsigned [0, 2^b - 1] when the layer's input is non-negative, otherwise signed
    two's-complement [-2^(b-1), 2^(b-1) - 1]. The sign is decided once, on the first batch the
    quantizer sees: an input whose minimum is negative is signed. A linear-bottleneck residual
    stream (MobileNetV2) is therefore kept signed instead of being clamped at zero.

Step-size initialisation:
  * weights: LSQ's s = 2 mean|W| / sqrt(Q_P). The alternative 2 max|W| / Q_P rounds almost every
    weight to zero at 2 bits, so it is not offered.
  * activations, on the first batch after creation or after a bit change (`amed.act_init`):
    ``mse`` (the default) takes the step that minimises the mean squared quantization error of
    that batch among `MSE_GRID` candidates k/MSE_GRID * max|X| / Q_P, k = 1..MSE_GRID; ``max`` is
    the paper's Eq. 9, s = 2 max|X| / Q_P. Eq. 9 spans twice the batch's peak, so at 2 or 3 bits
    the input of a ReLU, most of which lies far below its peak, rounds almost entirely to zero:
    from ResNet-20's converged Fashion-MNIST start, uniform 2 bit reached 25.9 % test top-1
    after the final stage under Eq. 9 and 89.4 % under ``mse`` (docs/search.md).

The gradient of the step size is scaled by g = 1 / sqrt(N Q_P), N = number of elements of the tensor.

The step used in the forward pass is |scale| floored at `MIN_STEP`, so it is always positive and
finite. SGD can push a learnable step through zero (a depthwise conv's few weights give its step a
large gradient relative to its size); a raw step that reached 0 divided by zero, and a negative one
turned an unsigned quantizer into a constant 0.

Kernels: on CPU with one torch thread (the search's setting), for a contiguous float32/float64
tensor, the quantizer runs two serial numba-compiled loops (`numba` is part of the ``torch`` extra):
the forward reads x once and writes x_hat; the backward recomputes v = x / s from x (the same
division, so the same bits) and writes dL/dx while summing dL/ds, in one pass. No clip mask is
stored. Everywhere else (CUDA; several torch threads, where torch's parallel eager ops win; other
dtypes or layouts; numba missing; `set_fused_cpu_kernel(False)`) the eager torch composition
below is used. Both give the same x_hat and dL/dx bit for bit; dL/ds is the same sum in another
order (a float64 accumulator in the fused kernel), equal up to float32 rounding.

Data parallel: inside `data_parallel_shard` an activation quantizer that sees one rank's shard of
a batch initialises its step from, and scales its step gradient by, the whole batch.
"""

from __future__ import annotations

import contextlib
import math
import operator
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from torch import nn

from amed.act_init import check_act_init

SUPPORTED_BITS = range(2, 9)
#: The smallest step the forward pass uses: x / MIN_STEP stays finite for any float32 activation.
MIN_STEP = 1e-8


@dataclass(frozen=True)
class QuantConfig:
    """How `quantize_model` quantizes a network.

    weight_bits, act_bits: initial bits of every searchable layer.
    edge_bits: bits of the first conv and the classifier, which stay fixed and are left out of the
        searchable allocation (paper §5); None makes them searchable like every other layer.
    """

    weight_bits: int = 8
    act_bits: int = 8
    edge_bits: int | None = 8
    act_init: str = "mse"

    def __post_init__(self) -> None:
        for field in ("weight_bits", "act_bits", "edge_bits"):
            value = getattr(self, field)
            if value is None and field == "edge_bits":
                continue
            check_bits(value, field)
        check_act_init(self.act_init)


#: Candidate steps of the ``mse`` initialisation, and how many elements of the batch score them.
MSE_GRID = 64
MSE_SAMPLE = 1 << 16


def check_bits(bits: object, field: str = "bits") -> int:
    """Return `bits` as an int (numpy and torch integers included), or raise ValueError naming the
    field when it is not an integer in 2..8."""
    try:
        value = operator.index(bits)
    except TypeError:
        value = None
    if isinstance(bits, bool) or value not in SUPPORTED_BITS:
        raise ValueError(f"{field} must be an integer in 2..8, got {bits!r}")
    return value


def quant_range(bits: int, *, signed: bool, restricted: bool) -> tuple[int, int]:
    """(Q_N, Q_P) of a b-bit integer grid."""
    if not signed:
        return 0, 2**bits - 1
    q_p = 2 ** (bits - 1) - 1
    return (-q_p if restricted else -q_p - 1), q_p


class _LsqFakeQuant(torch.autograd.Function):
    """x_hat = round(clip(x / s, Q_N, Q_P)) * s with the straight-through estimator for the rounding.

    Gradients (LSQ, Eq. 3 of Esser et al.), with v = x / s and g the step-size gradient scale:
      d x_hat / d x = 1 if Q_N <= v <= Q_P else 0
      d x_hat / d s = round(v) - v inside the range, Q_N or Q_P where clipped; times g.
    The scale gradient is summed as (sum(dy * x_hat) - sum(dx * x)) / s, the same quantity,
    because x_hat / s = round(v) everywhere and the clipped entries have dx = 0. One autograd node
    takes half the memory passes of composing div, clamp, round and mul.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, s: torch.Tensor, q_n: int, q_p: int, g: float) -> torch.Tensor:
        v = x / s
        clipped = v.clamp(q_n, q_p)
        # A float 0/1 mask: multiplying by a bool mask in backward takes a much slower kernel.
        inside = torch.eq(clipped, v, out=torch.empty_like(x))
        x_hat = clipped.round_().mul_(s)
        ctx.save_for_backward(x, x_hat, inside, s)
        ctx.g = g
        return x_hat

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, x_hat, inside, s = ctx.saved_tensors
        grad_x = grad * inside
        flat = grad.reshape(-1)
        grad_s = (flat.dot(x_hat.reshape(-1)) - grad_x.reshape(-1).dot(x.reshape(-1))) * (ctx.g / s)
        return grad_x, grad_s, None, None, None


_fused_cpu_enabled = True


def set_fused_cpu_kernel(enabled: bool) -> bool:
    """Turn the numba CPU kernel on or off (on by default where numba is installed); returns the
    previous setting. Off, every tensor takes the eager torch path."""
    global _fused_cpu_enabled
    previous, _fused_cpu_enabled = _fused_cpu_enabled, bool(enabled)
    return previous


@cache
def _numba_kernels():
    """(forward, backward) numba kernels, compiled lazily on first use; None without numba."""
    try:
        import numba
    except ImportError:
        return None

    # reassoc only lets LLVM vectorise the float64 sum; the division and rounding stay exact
    # (no reciprocal or contraction flags), so x_hat matches the eager path bit for bit.
    jit = numba.njit(nogil=True, fastmath={"reassoc"})

    @jit
    def forward(x, out, s, q_n, q_p):
        for i in range(x.size):
            out[i] = np.rint(min(max(x[i] / s, q_n), q_p)) * s

    @jit
    def backward(grad, x, grad_x, s, q_n, q_p):
        # Branch-free so it vectorises: c == v inside the range; rint(c) is round(v) inside and the
        # bound outside, so g * rint(c) - grad_x * v sums dL/dx_hat * dx_hat/ds as LSQ's Eq. 3.
        total = 0.0
        for i in range(x.size):
            v = x[i] / s
            c = min(max(v, q_n), q_p)
            g = grad[i]
            g_inside = g if c == v else 0.0 * g
            grad_x[i] = g_inside
            total += g * np.rint(c) - g_inside * v
        return total

    return forward, backward


def _fused_applies(x: torch.Tensor, s: torch.Tensor) -> bool:
    return (
        _fused_cpu_enabled
        and x.device.type == "cpu"
        and torch.get_num_threads() == 1
        and x.dtype in (torch.float32, torch.float64)
        and s.dtype == x.dtype
        and x.is_contiguous()
        and not torch.jit.is_scripting()
        and _numba_kernels() is not None
    )


class _LsqFakeQuantFused(torch.autograd.Function):
    """`_LsqFakeQuant` with one numba loop each way (CPU); see the module docstring.

    It takes the raw `scale` and applies the step rule itself, s = max(|scale|, MIN_STEP), with the
    gradient autograd gives abs and clamp_min: dL/dscale = dL/ds * sign(scale) where |scale| >=
    MIN_STEP, else 0. One autograd node per quantizer instead of three.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor, q_n: int, q_p: int, g: float) -> torch.Tensor:
        forward, _ = _numba_kernels()
        flat = x.detach().reshape(-1).numpy()
        np_dtype = flat.dtype.type
        raw = np_dtype(scale.item())
        s = max(abs(raw), np_dtype(MIN_STEP))
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
        forward(flat, out.view(-1).numpy(), s, np_dtype(q_n), np_dtype(q_p))
        ctx.save_for_backward(x)
        sign = 0.0 if abs(raw) < np_dtype(MIN_STEP) else float(np.sign(raw))
        ctx.constants = (s, q_n, q_p, g * sign, scale.dtype)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        _, backward = _numba_kernels()
        (x,) = ctx.saved_tensors
        s, q_n, q_p, g, dtype = ctx.constants
        flat = x.detach().reshape(-1).numpy()
        np_dtype = flat.dtype.type
        grad = grad.contiguous()
        grad_x = torch.empty_like(x, memory_format=torch.contiguous_format)
        total = backward(grad.view(-1).numpy(), flat, grad_x.view(-1).numpy(), s, np_dtype(q_n), np_dtype(q_p))
        grad_scale = torch.full((), total * g, dtype=dtype) if ctx.needs_input_grad[1] else None
        return grad_x if ctx.needs_input_grad[0] else None, grad_scale, None, None, None


def lsq_fake_quant(x: torch.Tensor, scale: torch.Tensor, q_n: int, q_p: int, g: float) -> torch.Tensor:
    """round(clip(x / s, q_n, q_p)) * s with s = max(|scale|, MIN_STEP) and LSQ's straight-through
    gradients, the step's gradient scaled by `g`."""
    if _fused_applies(x, scale):
        return _LsqFakeQuantFused.apply(x, scale, q_n, q_p, g)
    return _LsqFakeQuant.apply(x, scale.abs().clamp_min(MIN_STEP), q_n, q_p, g)


_shard: tuple[object, float] | None = None


@contextlib.contextmanager
def data_parallel_shard(group, batch_fraction: float):
    """Forward passes inside the block see this rank's shard of a global batch, `batch_fraction`
    = local batch / global batch, the other shards being on the ranks of the torch.distributed
    `group`. Activation quantizers in training mode then act as one process on the whole batch:
    an activation step initialised here takes max|x| and the sign over all ranks (and, under
    ``mse``, the squared errors summed over all ranks), and the
    step-size gradient scale uses the global N, g = 1 / sqrt(N_local / batch_fraction * Q_P).
    Every rank of `group` must run the same forward passes inside the block."""
    global _shard
    previous, _shard = _shard, (group, float(batch_fraction))
    try:
        yield
    finally:
        _shard = previous


def _mse_step(x: torch.Tensor, peak: torch.Tensor, q_n: int, q_p: int, group=None) -> torch.Tensor:
    """The candidate step k/MSE_GRID * peak / q_p (k = 1..MSE_GRID) with the least squared error
    of round(clip(x / s, q_n, q_p)) * s over an evenly strided sample of at most MSE_SAMPLE
    elements of `x` (on each rank; the errors are summed over `group`, so every rank picks alike)."""
    flat = x.reshape(-1)
    sample = flat[:: -(-flat.numel() // MSE_SAMPLE)].to(torch.float64)
    fractions = torch.arange(1, MSE_GRID + 1, dtype=torch.float64, device=x.device) / MSE_GRID
    steps = (fractions * peak.to(torch.float64) / q_p).clamp_min(MIN_STEP)[:, None]
    errors = ((torch.round(torch.clamp(sample / steps, q_n, q_p)) * steps - sample) ** 2).sum(dim=1)
    if group is not None:
        import torch.distributed as dist

        dist.all_reduce(errors, op=dist.ReduceOp.SUM, group=group)
    return steps[int(torch.argmin(errors))].reshape(()).to(x.dtype)


class LsqQuantizer(nn.Module):
    """Per-tensor LSQ fake quantizer for a weight (``kind="weight"``) or an input activation."""

    def __init__(self, bits: int, *, kind: str, act_init: str = "mse") -> None:
        super().__init__()
        if kind not in ("weight", "act"):
            raise ValueError(f"kind must be 'weight' or 'act', got {kind!r}")
        self.kind = kind
        self.bits = check_bits(bits)
        #: How the next activation step initialisation is done (`amed.act_init`); not saved in a
        #: checkpoint: it acts only when a step is initialised, and whoever sets bits chooses it.
        self.act_init = check_act_init(act_init)
        self.scale = nn.Parameter(torch.ones(()))
        # Buffers so a saved checkpoint restores a calibrated quantizer without re-initialising it.
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("signed", torch.tensor(kind == "weight"))
        self.register_buffer("sign_known", torch.tensor(kind == "weight"))

    @property
    def qrange(self) -> tuple[int, int]:
        return quant_range(self.bits, signed=self._flag("signed"), restricted=self.kind == "weight")

    def set_bits(self, bits: int, weight: torch.Tensor | None = None) -> None:
        """Change the integer range in place, keeping the same `scale` Parameter object.

        When the bits change, a weight quantizer re-derives its step from `weight` and an activation
        quantizer is flagged to re-initialise its step (`act_init`) on the next batch. Unchanged bits
        keep the learned step.
        """
        bits = check_bits(bits)
        if bits == self.bits:
            return
        self.bits = bits
        if self.kind == "act":
            self._set_flag("initialized", False)
        elif weight is None:
            raise ValueError("a weight quantizer needs the weight to re-derive its step size")
        else:
            self.init_weight_scale(weight)

    def step(self) -> torch.Tensor:
        """The step size in use: |scale| floored at MIN_STEP (differentiable in `scale`)."""
        return self.scale.abs().clamp_min(MIN_STEP)

    @torch.no_grad()
    def init_weight_scale(self, weight: torch.Tensor) -> None:
        _, q_p = self.qrange
        step = 2 * weight.detach().abs().mean() / math.sqrt(q_p)
        self.scale.copy_(step.clamp_min(MIN_STEP))
        self._set_flag("initialized", True)

    @torch.no_grad()
    def _init_act_scale(self, x: torch.Tensor) -> None:
        x = x.detach()
        peak, negative = x.abs().max(), (x.min() < 0).to(x.dtype)
        sharded = _shard is not None and self.training
        if sharded:
            import torch.distributed as dist

            both = torch.stack([peak, negative])
            dist.all_reduce(both, op=dist.ReduceOp.MAX, group=_shard[0])
            peak, negative = both[0], both[1]
        if not self._flag("sign_known"):
            self._set_flag("signed", bool(negative > 0))
            self._set_flag("sign_known", True)
        q_n, q_p = self.qrange
        if self.act_init == "max":
            step = 2 * peak / q_p
        else:
            step = _mse_step(x, peak, q_n, q_p, _shard[0] if sharded else None)
        self.scale.copy_(step.clamp_min(MIN_STEP))
        self._set_flag("initialized", True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._flag("initialized"):
            if self.kind == "weight":
                self.init_weight_scale(x)
            else:
                self._init_act_scale(x)
        q_n, q_p = self.qrange
        numel = x.numel()
        if _shard is not None and self.kind == "act" and self.training:
            numel = round(numel / _shard[1])
        return lsq_fake_quant(x, self.scale, q_n, q_p, 1.0 / math.sqrt(numel * q_p))

    def _flag(self, name: str) -> bool:
        """A flag buffer's value, read from its device once and then kept on the host: `bool()` of a
        CUDA tensor waits for the GPU's queue to drain, and every forward asks."""
        flags = self.__dict__.setdefault("_host_flags", {})
        if name not in flags:
            flags[name] = bool(getattr(self, name))
        return flags[name]

    def _set_flag(self, name: str, value: bool) -> None:
        getattr(self, name).fill_(value)
        self.__dict__.setdefault("_host_flags", {})[name] = bool(value)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.__dict__["_host_flags"] = {}  # the loaded buffers decide again

    def get_extra_state(self) -> dict:
        # Saved in the state_dict so a checkpoint restores each quantizer's bits.
        return {"bits": self.bits}

    def set_extra_state(self, state: dict) -> None:
        self.bits = check_bits(state["bits"])

    def extra_repr(self) -> str:
        sign = "signed" if bool(self.signed) else "unsigned"
        if not bool(self.sign_known):
            sign = "sign from first batch"
        return f"kind={self.kind}, bits={self.bits}, {sign}"
