"""The simulator's Python face: hardware configs, layers, topologies and ``simulate``.

Importing this module needs nothing beyond the standard library and amed's extension::

    from amed.simcore import Topology, simulate
    report = simulate("topologies/Resnet18.csv", "scalesim")
    print(report.total_cycles)
"""

from __future__ import annotations

import os
from typing import Iterable, Optional, Union

from amed import hw as _hw
from amed._simcore import HwConfig, Layer, LayerRecord, Report, Topology
from amed._simcore import Cost, MixedReport, Sampler
from amed._simcore import CostModel as _CostModel
from amed._simcore import simulate as _simulate
from amed._simcore import simulate_mixed as _simulate_mixed
from amed.errors import TopologyError

__all__ = [
    "COMPAT_MODES",
    "DEFAULT_COMPAT",
    "Cost",
    "CostModel",
    "HwConfig",
    "Layer",
    "LayerRecord",
    "MixedReport",
    "Report",
    "Sampler",
    "Topology",
    "as_topology",
    "simulate",
    "simulate_mixed",
]

#: Which released SCALE-Sim's stall arithmetic to reproduce (see README.md).
COMPAT_MODES = ("scalesim-v3", "scalesim-v2", "fixed")
DEFAULT_COMPAT = "scalesim-v3"

TopologyLike = Union[Topology, str, "os.PathLike[str]", Iterable[Layer]]


def as_topology(topology: TopologyLike) -> Topology:
    """A Topology from a Topology (as is), a SCALE-Sim conv CSV path, or a list of Layers."""
    if isinstance(topology, Topology):
        return topology
    if isinstance(topology, (str, os.PathLike)):
        return Topology.from_csv(topology)
    if isinstance(topology, (list, tuple)):
        return Topology("layers", topology)
    raise TopologyError(
        "expected a Topology, a topology CSV path or a list of Layer, "
        f"found {type(topology).__name__}",
        field="topology",
    )


def simulate(
    topology: TopologyLike, hw: _hw.HwLike, *, compat: str = DEFAULT_COMPAT
) -> Report:
    """Simulate every layer of ``topology`` on ``hw`` at native precision.

    ``topology`` is a Topology, a SCALE-Sim conv CSV path or a list of Layers; ``hw`` is a
    HwConfig, a shipped config name ("scalesim") or a .toml/.cfg path; ``compat`` is one of
    ``COMPAT_MODES``. Releases the GIL while simulating, so threads may call it concurrently.
    """
    return _simulate(as_topology(topology), _hw.load(hw), compat)


class CostModel(_CostModel):
    """Memoised latency, size and energy of any bit allocation (docs/precision.md).

    Built once per (topology, hw, bit choices, compat): every distinct (layer, w, a, next
    layer's a) is simulated once, in parallel; ``cost``/``cost_batch`` are then table lookups.
    ``topology`` and ``hw`` take the same forms as in ``simulate``.
    """

    def __new__(
        cls,
        topology: TopologyLike,
        hw: _hw.HwLike,
        bits: Iterable[int] = (2, 3, 4, 8),
        compat: str = DEFAULT_COMPAT,
    ) -> "CostModel":
        return super().__new__(cls, as_topology(topology), _hw.load(hw), list(bits), compat)


def simulate_mixed(
    topology: TopologyLike,
    hw: _hw.HwLike,
    allocation,
    *,
    compat: str = DEFAULT_COMPAT,
    output_bits: Optional[int] = None,
) -> MixedReport:
    """Simulate ``topology`` at per-layer bits and price it (latency, size, energy).

    ``allocation`` is an int (every layer), a list of ``(w_bits, a_bits)`` per layer or a dict
    ``{layer name: (w_bits, a_bits)}``; each layer's output takes the next layer's activation
    bits, the last layer's ``output_bits`` (default: the config's ``word_bits``). Releases the
    GIL while simulating.
    """
    return _simulate_mixed(as_topology(topology), _hw.load(hw), allocation, compat, output_bits)
