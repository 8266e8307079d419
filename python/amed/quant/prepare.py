"""Swap a network's convs and linears for fake-quantized ones, and read or change their bits in place.

Allocation format: an ordered mapping ``{module name: (weight_bits, act_bits)}`` over the
searchable layers, in module registration order (for every model of `amed.models` this is also the
execution order, hence the order of `amed.topology.extract`). `set_bits` also accepts a partial
mapping, a sequence of pairs aligned with `get_allocation(model)`, and a bare int b for (b, b).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from torch import nn

from amed.errors import AllocationError

from amed.act_init import check_act_init

from .lsq import QuantConfig, check_bits
from .modules import QConv2d, QLinear

Bits = tuple[int, int]


def _edge_layers(candidates: list[tuple[str, nn.Module]]) -> set[str]:
    """The first conv and the classifier (the last Linear) by registration order."""
    convs = [name for name, m in candidates if isinstance(m, nn.Conv2d)]
    linears = [name for name, m in candidates if isinstance(m, nn.Linear)]
    return set(convs[:1] + linears[-1:])


def quantize_model(
    model: nn.Module, *, config: QuantConfig | None = None, skip: Iterable[str] = ()
) -> nn.Module:
    """Replace every nn.Conv2d and nn.Linear of `model` in place with QConv2d / QLinear.

    The first conv and the classifier are held at ``config.edge_bits`` (8 by default) and left out
    of the searchable allocation; layers named in `skip` stay in full precision. Returns `model`.
    """
    config = config or QuantConfig()
    skip = set(skip)
    modules = dict(model.named_modules())
    if any(isinstance(m, (QConv2d, QLinear)) for m in modules.values()):
        raise AllocationError("the model is already quantized; change its bits with set_bits")
    unknown = sorted(skip - modules.keys())
    if unknown:
        raise AllocationError(f"skip names no module of the model: {', '.join(unknown)}")
    candidates = [(n, m) for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
    edges = _edge_layers(candidates) if config.edge_bits is not None else set()
    for name, module in candidates:
        if name in skip:
            continue
        if name in edges:
            bits, searchable = (config.edge_bits, config.edge_bits), False
        else:
            bits, searchable = (config.weight_bits, config.act_bits), True
        wrapper = QConv2d if isinstance(module, nn.Conv2d) else QLinear
        quantized = wrapper(module, weight_bits=bits[0], act_bits=bits[1], searchable=searchable)
        _replace(model, name, quantized)
    return set_act_init(model, config.act_init)


def set_act_init(model: nn.Module, mode: str) -> nn.Module:
    """How every activation quantizer of `model` initialises its step from now on (``mse`` or
    ``max``, `amed.act_init.ACT_INITS`); a step already initialised is kept. Returns `model`."""
    mode = check_act_init(mode)
    for layer in quantized_layers(model, include_fixed=True).values():
        layer.act_quantizer.act_init = mode
    return model


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def quantized_layers(model: nn.Module, *, include_fixed: bool = False) -> "OrderedDict[str, QConv2d | QLinear]":
    """The fake-quantized layers of `model` by name, in registration order."""
    return OrderedDict(
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, (QConv2d, QLinear)) and (include_fixed or m.searchable)
    )


def get_allocation(model: nn.Module, *, include_fixed: bool = False) -> "OrderedDict[str, Bits]":
    """{name: (weight_bits, act_bits)} of the searchable layers (all quantized ones with include_fixed)."""
    layers = quantized_layers(model, include_fixed=include_fixed)
    if not layers:
        raise AllocationError("the model has no quantized layers; call quantize_model first")
    return OrderedDict((name, m.bits) for name, m in layers.items())


def _as_pair(entry: object, name: str) -> Bits:
    if hasattr(entry, "__index__") and not isinstance(entry, bool):
        entry = (entry, entry)
    if not isinstance(entry, Sequence) or isinstance(entry, str) or len(entry) != 2:
        raise AllocationError(
            f"allocation entry for {name} must be (weight_bits, act_bits) or an int, got {entry!r}",
            field=name,
        )
    try:
        return check_bits(entry[0], "weight bits"), check_bits(entry[1], "activation bits")
    except ValueError as err:
        raise AllocationError(f"{name}: {err}", field=name) from None


def set_bits(model: nn.Module, allocation: Mapping[str, object] | Sequence[object] | int) -> None:
    """Change the bits of the searchable layers in place (same Parameters, so optimizers keep them).

    `allocation` is {name: (w_bits, a_bits) or bits}, one entry per searchable layer in order, or
    one int for every searchable layer.

    Activation step sizes of layers whose activation bits change are re-initialised on the next
    forward pass (as `set_act_init` says); weight step sizes are re-derived from the weights at once.
    """
    layers = quantized_layers(model)
    if not layers:
        raise AllocationError("the model has no searchable quantized layers; call quantize_model first")
    if hasattr(allocation, "__index__") and not isinstance(allocation, bool):
        allocation = [allocation] * len(layers)
    if not isinstance(allocation, (Mapping, Sequence)) or isinstance(allocation, str):
        raise AllocationError(f"an allocation is a mapping, a sequence or one int, got {allocation!r}")
    if isinstance(allocation, Mapping):
        fixed = quantized_layers(model, include_fixed=True).keys() - layers.keys()
        for name in allocation:
            if name in fixed:
                raise AllocationError(f"{name} is held at fixed bits and is not searchable", field=name)
            if name not in layers:
                raise AllocationError(
                    f"allocation names {name!r}, which is not a searchable layer; expected one of "
                    f"{', '.join(layers)}",
                    field=name,
                )
        items = [(name, _as_pair(entry, name)) for name, entry in allocation.items()]
    else:
        entries = list(allocation)
        if len(entries) != len(layers):
            raise AllocationError(
                f"allocation has {len(entries)} entries but the model has {len(layers)} searchable layers"
            )
        items = [(name, _as_pair(entry, name)) for name, entry in zip(layers, entries)]
    for name, (w_bits, a_bits) in items:
        layers[name].set_bits(w_bits, a_bits)
