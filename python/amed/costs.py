"""Mixed-precision runs for the command line: read a ``--bits`` option, simulate, and render the
latency (ms), model size and energy per layer and in total (formulas: docs/precision.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

from amed.errors import AllocationError
from amed.simcore import MixedReport, Topology, load_json_object

Allocation = Union[int, Dict[str, Tuple[int, int]]]


def read_bits(value: Any, topology: Topology) -> Allocation:
    """``--bits``: an int (every layer, weights and activations) or a JSON file mapping each
    layer name to ``[w_bits, a_bits]``."""
    if isinstance(value, bool):
        raise AllocationError(f"--bits expects a bit width or a JSON file, found {value!r}", field="bits")
    if isinstance(value, int):
        return value
    text = str(value)
    if text.isdigit():
        return int(text)
    path = Path(text)
    if not path.is_file():
        raise AllocationError(
            f"--bits {text!r} is neither a bit width nor an existing JSON file", file=text, field="bits"
        )
    table = load_json_object(path)
    allocation = {}
    for name, pair in table.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(type(b) is int for b in pair)):
            raise AllocationError(
                f"{path}: layer {name!r}: expected [w_bits, a_bits] integers, found {pair!r}",
                file=str(path),
                field=name,
            )
        allocation[name] = (pair[0], pair[1])
    missing = [n for n in topology.names if n not in allocation]
    if missing:
        raise AllocationError(
            f"{path}: no bits for {len(missing)} layer(s) of {topology.name}: {', '.join(missing[:5])}",
            file=str(path),
            field=missing[0],
        )
    return allocation


def summary(report: MixedReport) -> Dict[str, Any]:
    """``{"latency_ms", "size_bytes", "energy" (pJ), "total_cycles", "stall_cycles", "layers"}``."""
    return {
        "topology": report.topology,
        "hw": report.hw,
        "latency_ms": report.latency_ms,
        "size_bytes": report.size_bytes,
        "energy": report.energy_pj,
        "energy_unit": "pJ",
        "total_cycles": report.total_cycles,
        "stall_cycles": report.stall_cycles,
        "layers": report.layers,
    }


def table_rows(report: MixedReport) -> Tuple[List[str], List[List[Any]]]:
    """Header and rows of the per-layer table."""
    header = ["layer", "w/a/out bits", "cycles", "stalls", "stall %", "latency ms", "size B", "energy uJ"]
    rows = [
        [
            layer["name"],
            f"{layer['w_bits']}/{layer['a_bits']}/{layer['out_bits']}",
            layer["total_cycles"],
            layer["stall_cycles"],
            f"{100 * layer['stall_cycles'] / max(layer['total_cycles'], 1):.1f}",
            f"{layer['latency_ms']:.4f}",
            f"{layer['size_bytes']:.0f}",
            f"{layer['energy_pj'] / 1e6:.3f}",
        ]
        for layer in report.layers
    ]
    return header, rows


def totals_line(report: MixedReport) -> str:
    return (
        f"total: latency {report.latency_ms:.4f} ms, size {report.size_bytes:.0f} B "
        f"({report.size_bytes / 2**20:.3f} MiB), energy {report.energy_pj / 1e6:.3f} uJ, "
        f"{report.total_cycles} cycles ({report.stall_cycles} stall) over {len(report)} layers"
    )
