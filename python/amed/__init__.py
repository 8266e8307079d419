"""amed: hardware-aware mixed-precision bit allocation (AMED) with a fast systolic-array simulator.

``import amed`` loads only the simulator and the error classes; the QAT and search parts
(which need torch) are imported from their own modules.
"""

from amed._simcore import __version__
from amed.errors import (
    AllocationError,
    AmedError,
    AmedIOError,
    ConfigError,
    SamplerError,
    TopologyError,
)
from amed.simcore import HwConfig, Layer, Report, Topology, simulate

__all__ = [
    "AllocationError",
    "AmedError",
    "AmedIOError",
    "ConfigError",
    "HwConfig",
    "Layer",
    "Report",
    "SamplerError",
    "Topology",
    "TopologyError",
    "__version__",
    "simulate",
]
