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
  * activations: Eq. 9, s = 2 max|X| / Q_P on the first batch after creation or after a bit change.

The gradient of the step size is scaled by g = 1 / sqrt(N Q_P), N = number of elements of the tensor.

The step used in the forward pass is |scale| floored at `MIN_STEP`, so it is always positive and
finite. SGD can push a learnable step through zero (a depthwise conv's few weights give its step a
large gradient relative to its size); a raw step that reached 0 divided by zero, and a negative one
turned an unsigned quantizer into a constant 0.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
from torch import nn

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

    def __post_init__(self) -> None:
        for field in ("weight_bits", "act_bits", "edge_bits"):
            value = getattr(self, field)
            if value is None and field == "edge_bits":
                continue
            check_bits(value, field)


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


class LsqQuantizer(nn.Module):
    """Per-tensor LSQ fake quantizer for a weight (``kind="weight"``) or an input activation."""

    def __init__(self, bits: int, *, kind: str) -> None:
        super().__init__()
        if kind not in ("weight", "act"):
            raise ValueError(f"kind must be 'weight' or 'act', got {kind!r}")
        self.kind = kind
        self.bits = check_bits(bits)
        self.scale = nn.Parameter(torch.ones(()))
        # Buffers so a saved checkpoint restores a calibrated quantizer without re-initialising it.
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("signed", torch.tensor(kind == "weight"))
        self.register_buffer("sign_known", torch.tensor(kind == "weight"))

    @property
    def qrange(self) -> tuple[int, int]:
        return quant_range(self.bits, signed=bool(self.signed), restricted=self.kind == "weight")

    def set_bits(self, bits: int, weight: torch.Tensor | None = None) -> None:
        """Change the integer range in place, keeping the same `scale` Parameter object.

        When the bits change, a weight quantizer re-derives its step from `weight` and an activation
        quantizer is flagged to re-initialise its step (Eq. 9) on the next batch. Unchanged bits
        keep the learned step.
        """
        bits = check_bits(bits)
        if bits == self.bits:
            return
        self.bits = bits
        if self.kind == "act":
            self.initialized.fill_(False)
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
        self.initialized.fill_(True)

    @torch.no_grad()
    def _init_act_scale(self, x: torch.Tensor) -> None:
        if not bool(self.sign_known):
            self.signed.fill_(bool(x.min() < 0))
            self.sign_known.fill_(True)
        _, q_p = self.qrange
        step = 2 * x.detach().abs().max() / q_p
        self.scale.copy_(step.clamp_min(MIN_STEP))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            if self.kind == "weight":
                self.init_weight_scale(x)
            else:
                self._init_act_scale(x)
        q_n, q_p = self.qrange
        return _LsqFakeQuant.apply(x, self.step(), q_n, q_p, 1.0 / math.sqrt(x.numel() * q_p))

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
