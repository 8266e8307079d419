"""Extract a simulator topology from a torch model by running one forward pass with hooks.

Every nn.Conv2d (including fake-quantized ones and subclasses that pad in ``forward``) and every
nn.Linear becomes one layer, named after its module, in execution order.

Mapping to SCALE-Sim, which does not model padding and computes E = ceil((H - R + s) / s):
  * The simulated ifmap height is H = (E_torch - 1) * s + R, with E_torch torch's output height
    (the same for the width). Then SCALE-Sim's E equals torch's output exactly, every window lies
    fully inside the ifmap, and the MACs are exact. H equals the padded input size whenever torch's
    own windows tile it exactly (e.g. a 3x3 stride-1 conv with padding 1).
  * Dilation: the filter stays R x S (the MACs are exact); the wider receptive field of a dilated
    filter is not modelled, so ifmap reads are those of an undilated filter.
  * groups == 1: `Layer.conv`; groups == in_channels: `Layer.depthwise` (channel multiplier
    out_channels / in_channels); other groups: `Layer.grouped`.
  * nn.Linear: `Layer.gemm(m, n=out_features, k=in_features)` with m = the number of rows it
    multiplies (batch x tokens; 1 for a classifier on one image).
  * A module called more than once gets one layer per call, named `name`, `name#2`, ...

The topology describes one image: `input_shape` is (C, H, W) or (1, C, H, W). Other convolution
types (Conv1d, Conv3d, transposed convolutions) raise TopologyError naming the modules, rather
than being silently left out of the latency.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from amed.errors import TopologyError


@dataclass(frozen=True)
class TracedLayer:
    """What one conv or linear call did in torch (spatial sizes are (height, width))."""

    name: str
    kind: str  # "conv", "depthwise", "grouped" or "gemm"
    input_hw: tuple[int, int]
    output_hw: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    channels: int
    num_filters: int
    groups: int
    rows: int  # GEMM rows (linear layers only; 1 otherwise)

    @property
    def sim_ifmap_hw(self) -> tuple[int, int]:
        """The unpadded ifmap SCALE-Sim needs to produce exactly `output_hw` (see the module doc)."""
        return tuple((e - 1) * s + k for e, s, k in zip(self.output_hw, self.stride, self.kernel))

    @property
    def macs(self) -> int:
        out_h, out_w = self.output_hw
        if self.kind == "gemm":
            return self.rows * self.num_filters * self.channels
        per_output = self.channels // self.groups * self.kernel[0] * self.kernel[1]
        return out_h * out_w * self.num_filters * per_output


def _unsupported(model: nn.Module) -> list[str]:
    return [
        f"{name or '<root>'} ({type(m).__name__})"
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.conv._ConvNd) and not isinstance(m, nn.Conv2d)
    ]


def _image_shape(input_shape: Sequence[int]) -> tuple[int, int, int, int]:
    shape = tuple(int(d) for d in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or shape[0] != 1 or min(shape) < 1:
        raise TopologyError(
            f"input_shape must be (C, H, W) or (1, C, H, W) for one image, got {tuple(input_shape)}",
            field="input_shape",
        )
    return shape


def trace(model: nn.Module, input_shape: Sequence[int]) -> list[TracedLayer]:
    """Run `model` once (eval mode, no grad, on a copy so no state changes) and record its layers."""
    shape = _image_shape(input_shape)
    unsupported = _unsupported(model)
    if unsupported:
        raise TopologyError(
            f"unsupported layer types (only Conv2d and Linear are simulated): {', '.join(unsupported)}",
            field="model",
        )
    probe = copy.deepcopy(model).eval()
    traced: list[TracedLayer] = []
    calls: dict[str, int] = {}

    def record(name: str, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        name = name or type(module).__name__  # a bare Conv2d/Linear is its own root module, named ""
        calls[name] = calls.get(name, 0) + 1
        label = name if calls[name] == 1 else f"{name}#{calls[name]}"
        x = inputs[0]
        if isinstance(module, nn.Linear):
            rows = x.numel() // module.in_features
            traced.append(
                TracedLayer(label, "gemm", (1, 1), (1, 1), (1, 1), (1, 1),
                            module.in_features, module.out_features, 1, rows)  # fmt: skip
            )
            return
        groups, channels = module.groups, module.in_channels
        kind = "conv" if groups == 1 else "depthwise" if groups == channels else "grouped"
        traced.append(
            TracedLayer(
                label, kind, tuple(x.shape[-2:]), tuple(output.shape[-2:]), module.kernel_size,
                module.stride, channels, module.out_channels, groups, 1,
            )  # fmt: skip
        )

    handles = [
        m.register_forward_hook(lambda mod, inp, out, name=name: record(name, mod, inp, out))
        for name, m in probe.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        parameter = next(probe.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
        with torch.no_grad():
            probe(torch.zeros(shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
    if not traced:
        raise TopologyError("the model ran no Conv2d or Linear layer", field="model")
    return traced


def extract(model: nn.Module, input_shape: Sequence[int], *, name: str | None = None):
    """The `amed.simcore.Topology` of `model` on one image of `input_shape` (see the module doc)."""
    from amed.simcore import Layer, Topology

    layers = []
    for t in trace(model, input_shape):
        if t.kind == "gemm":
            layers.append(Layer.gemm(t.name, m=t.rows, n=t.num_filters, k=t.channels))
            continue
        (ifmap_h, ifmap_w), (fh, fw), (sh, sw) = t.sim_ifmap_hw, t.kernel, t.stride
        args = (t.name, ifmap_h, ifmap_w, fh, fw, t.channels, t.num_filters)
        if t.kind == "conv":
            layers.append(Layer.conv(*args, stride_h=sh, stride_w=sw))
        elif t.kind == "depthwise":
            layers.append(Layer.depthwise(*args, stride_h=sh, stride_w=sw))
        else:
            layers.append(Layer.grouped(*args, stride_h=sh, stride_w=sw, groups=t.groups))
    return Topology(name or type(model).__name__, layers)
