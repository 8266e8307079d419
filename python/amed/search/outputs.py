"""The files a finished search leaves beside its history: the best allocation, per-layer costs,
SCALE-Sim-style reports of the best allocation, and (through `amed.report`) plots and tables."""

from __future__ import annotations

import json
from pathlib import Path

from .loop import SEARCH_FILE, Search, SearchResult

__all__ = ["ALLOCATION_FILE", "REPORTS_DIR", "write_outputs"]

ALLOCATION_FILE = "allocation.json"
REPORTS_DIR = "reports"


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def write_outputs(search: Search, result: SearchResult) -> None:
    """allocation.json, per-layer costs in search.json, reports/, then plots, pareto.csv and summary."""
    from amed import report
    from amed.simcore import simulate_mixed

    out = result.out
    meta = json.loads((out / SEARCH_FILE).read_text())
    meta["reference_layers"] = search.costs.layers([8] * len(search.searched))
    meta["best"] = result.best
    if result.best is not None:
        _write_json(out / ALLOCATION_FILE, result.best["allocation"])
        meta["best_layers"] = search.costs.layers(result.best["bits"])
        pairs = search.costs.pairs(result.best["bits"])
        simulated = simulate_mixed(search.topology, search.hw, pairs, compat=search.config.compat)
        simulated.to_csv(out / REPORTS_DIR, compat=search.config.compat)
    _write_json(out / SEARCH_FILE, meta)
    report.render(out)
