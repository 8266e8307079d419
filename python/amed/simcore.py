"""The simulator's Python face: hardware configs, layers, topologies and ``simulate``.

Importing this module needs nothing beyond the standard library and amed's extension::

    from amed.simcore import Topology, simulate
    report = simulate("resnet18", "scalesim")
    print(report.total_cycles)
"""

from __future__ import annotations

import os
import time
from typing import Iterable, Optional, Union

from amed import hw as _hw
from amed._simcore import HwConfig, Layer, LayerRecord, Report, Topology
from amed._simcore import Cost, MixedReport, Sampler
from amed._simcore import CostModel as _CostModel
from amed._simcore import simulate as _simulate
from amed._simcore import simulate_mixed as _simulate_mixed
from amed import errors
from amed.errors import TopologyError
from amed.shipped import resolve_topology

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
    "load_json_object",
    "simulate",
    "simulate_mixed",
]

#: Which released SCALE-Sim's stall arithmetic to reproduce (see README.md).
COMPAT_MODES = ("scalesim-v3", "scalesim-v2", "fixed")
DEFAULT_COMPAT = "scalesim-v3"

TopologyLike = Union[Topology, str, "os.PathLike[str]", Iterable[Layer]]


def as_topology(topology: TopologyLike) -> Topology:
    """A Topology from a Topology (as is), a SCALE-Sim conv CSV path, a shipped topology name
    ("resnet18", see ``amed.shipped``) or a list of Layers."""
    if isinstance(topology, Topology):
        return topology
    if isinstance(topology, (str, os.PathLike)):
        return Topology.from_csv(resolve_topology(topology))
    if isinstance(topology, (list, tuple)):
        return Topology("layers", topology)
    raise TopologyError(
        "expected a Topology, a topology CSV path or name, or a list of Layer, "
        f"found {type(topology).__name__}",
        field="topology",
    )


#: Seconds a simulation runs before ``progress=True`` shows its bar.
PROGRESS_DELAY_S = 2.0


class _ProgressBar:
    """Called by a running simulation every 100 ms with (layers done, layers); shows a tqdm
    bar on stderr once the simulation has run for ``delay_s`` seconds."""

    def __init__(self, desc: str, delay_s: float) -> None:
        self.desc = desc
        self.deadline = time.monotonic() + delay_s
        self.bar = None

    def __call__(self, done: float, total: int) -> None:
        if self.bar is None:
            if total == 0 or time.monotonic() < self.deadline:
                return
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                desc=self.desc,
                unit="layer",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total} layers "
                "[{elapsed}<{remaining}]",
            )
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self, finished: bool) -> None:
        if self.bar is not None:
            if finished:
                self.bar.n = self.bar.total
                self.bar.refresh()
            self.bar.close()


def _with_progress(run, progress: bool, desc: str):
    """``run(callback)`` with a progress bar as callback when ``progress``, else ``None``."""
    if not progress:
        return run(None)
    bar = _ProgressBar(desc, PROGRESS_DELAY_S)
    finished = False
    try:
        result = run(bar)
        finished = True
        return result
    finally:
        bar.close(finished)


def simulate(
    topology: TopologyLike,
    hw: _hw.HwLike,
    *,
    compat: str = DEFAULT_COMPAT,
    progress: bool = False,
) -> Report:
    """Simulate every layer of ``topology`` on ``hw`` at native precision.

    ``topology`` is a Topology, a SCALE-Sim conv CSV path, a shipped topology name
    ("resnet18") or a list of Layers; ``hw`` is a HwConfig, a shipped config name ("scalesim")
    or a .toml/.cfg path; ``compat`` is one of ``COMPAT_MODES``. With ``progress``, a tqdm bar
    (stderr) appears once the simulation has run for about 2 s. Releases the GIL while
    simulating, so threads may call it concurrently.
    """
    topo, config = as_topology(topology), _hw.load(hw)
    return _with_progress(
        lambda callback: _simulate(topo, config, compat, callback), progress, "simulate"
    )


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
    progress: bool = False,
) -> MixedReport:
    """Simulate ``topology`` at per-layer bits and price it (latency, size, energy).

    ``allocation`` is an int (every layer), a list of ``(w_bits, a_bits)`` per layer or a dict
    ``{layer name: (w_bits, a_bits)}``; each layer's output takes the next layer's activation
    bits, the last layer's ``output_bits`` (default: the config's ``word_bits``). ``progress``
    as in ``simulate``. Releases the GIL while simulating.
    """
    topo, config = as_topology(topology), _hw.load(hw)
    return _with_progress(
        lambda callback: _simulate_mixed(topo, config, allocation, compat, output_bits, callback),
        progress,
        "simulate",
    )


#: Largest JSON file ``load_json_object`` reads (a bit allocation is a few kB).
MAX_JSON_BYTES = 16 << 20


def load_json_object(path: Union[str, "os.PathLike[str]"]) -> dict:
    """A JSON object from ``path`` (a ``--bits`` allocation file), read strictly.

    A repeated key is refused instead of silently keeping its last value, and so are a file
    over ``MAX_JSON_BYTES``, text that is not UTF-8 or not JSON, and a top level that is not an
    object; each as an ``AllocationError`` naming the file (and line or key).
    """
    import json

    file = os.fspath(path)
    text = _read_capped(file)

    def unique(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise errors.AllocationError(
                    f"{file}: duplicate key {key!r}: each layer may be given only once",
                    file=file,
                    field=key,
                )
            seen[key] = value
        return seen

    try:
        value = json.loads(text, object_pairs_hook=unique)
    except json.JSONDecodeError as error:
        raise errors.AllocationError(
            f"{file}: not valid JSON: {error.msg}", file=file, line=error.lineno
        ) from None
    if not isinstance(value, dict):
        raise errors.AllocationError(
            f"{file}: expected a JSON object {{layer name: [w_bits, a_bits]}}", file=file
        )
    return value


def _read_capped(file: str) -> str:
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
    except OSError as error:
        raise errors.AmedIOError(
            f"cannot read {file}: {error.strerror}", file=file, errno=error.errno
        ) from None
    if len(data) > MAX_JSON_BYTES:
        raise errors.AllocationError(
            f"{file}: larger than the {MAX_JSON_BYTES >> 20} MiB limit for a JSON file", file=file
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise errors.AllocationError(
            f"{file}: not UTF-8 text (invalid byte at offset {error.start})", file=file
        ) from None
