"""The simulator's Python face: hardware configs, layers, topologies and ``simulate``.

Importing this module needs nothing beyond the standard library and amed's extension::

    from amed.simcore import Topology, simulate
    report = simulate("topologies/Resnet18.csv", "scalesim")
    print(report.total_cycles)
"""

from __future__ import annotations

import os
from typing import Iterable, Union

from amed import hw as _hw
from amed._simcore import HwConfig, Layer, Topology
from amed.errors import TopologyError

__all__ = [
    "HwConfig",
    "Layer",
    "Topology",
    "as_topology",
]

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
