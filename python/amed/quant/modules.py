"""Fake-quantized layers: the input activation and the weight pass through LSQ quantizers.

Each layer keeps the original module's weight and bias Parameter objects, so an optimizer built
before quantization still updates them, and its state_dict keys gain only the quantizer entries.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from .lsq import LsqQuantizer


class _Quantized:
    """Shared by QConv2d and QLinear: bit access for `set_bits` and `get_allocation`."""

    act_quantizer: LsqQuantizer
    weight_quantizer: LsqQuantizer
    weight: nn.Parameter
    searchable: bool

    @property
    def bits(self) -> tuple[int, int]:
        """(weight bits, activation bits)."""
        return self.weight_quantizer.bits, self.act_quantizer.bits

    def set_bits(self, weight_bits: int, act_bits: int) -> None:
        self.weight_quantizer.set_bits(weight_bits, self.weight)
        self.act_quantizer.set_bits(act_bits)

    def get_extra_state(self) -> dict:
        # Saved so a checkpoint restores which layers are held at fixed bits.
        return {"searchable": self.searchable}

    def set_extra_state(self, state: dict) -> None:
        self.searchable = bool(state["searchable"])


class QConv2d(_Quantized, nn.Conv2d):
    """A Conv2d (any groups) with LSQ fake quantization of its input and weight.

    A Conv2d subclass with its own ``forward`` (for example one that pads "same" in forward) is
    kept as the delegate and run with the quantized weight, so its padding rule is preserved.
    """

    def __init__(
        self, conv: nn.Conv2d, *, weight_bits: int, act_bits: int, searchable: bool = True
    ) -> None:
        super().__init__(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device="meta",
        )
        self.weight = conv.weight
        self.bias = conv.bias
        # Stored outside the module tree: its parameters are ours, and it must not appear as a
        # second conv in named_modules() or the state_dict.
        self.__dict__["_delegate"] = conv if type(conv).forward is not nn.Conv2d.forward else None
        # False for layers held at fixed bits (first conv, classifier): not part of the search.
        self.searchable = searchable
        self.act_quantizer = LsqQuantizer(act_bits, kind="act").to(self.weight.device)
        self.weight_quantizer = LsqQuantizer(weight_bits, kind="weight").to(self.weight.device)
        self.weight_quantizer.init_weight_scale(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act_quantizer(x)
        weight = self.weight_quantizer(self.weight)
        if self._delegate is None:
            return self._conv_forward(x, weight, self.bias)
        return functional_call(self._delegate, {"weight": weight, "bias": self.bias}, (x,))


class QLinear(_Quantized, nn.Linear):
    """A Linear layer with LSQ fake quantization of its input and weight."""

    def __init__(
        self, linear: nn.Linear, *, weight_bits: int, act_bits: int, searchable: bool = True
    ) -> None:
        super().__init__(
            linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta"
        )
        self.weight = linear.weight
        self.bias = linear.bias
        # False for layers held at fixed bits (first conv, classifier): not part of the search.
        self.searchable = searchable
        self.act_quantizer = LsqQuantizer(act_bits, kind="act").to(self.weight.device)
        self.weight_quantizer = LsqQuantizer(weight_bits, kind="weight").to(self.weight.device)
        self.weight_quantizer.init_weight_scale(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(
            self.act_quantizer(x), self.weight_quantizer(self.weight), self.bias
        )
