"""The files a finished search leaves beside its history: the best allocation, per-layer costs,
SCALE-Sim-style reports of the best allocation, and (through `amed.report`) plots and tables."""

from __future__ import annotations

import json

from .checkpoint import save_json
from .loop import SEARCH_FILE, Search, SearchResult

__all__ = ["ALLOCATION_FILE", "REPORTS_DIR", "write_outputs"]

ALLOCATION_FILE = "allocation.json"
REPORTS_DIR = "reports"


def write_outputs(search: Search, result: SearchResult) -> None:
    """allocation.json, per-layer costs in search.json, reports/ of the chosen allocation, then
    plots, pareto.csv and the summary."""
    from amed import report
    from amed.simcore import simulate_mixed

    out = result.out
    meta = json.loads((out / SEARCH_FILE).read_text())
    meta["reference_layers"] = search.costs.layers([8] * len(search.searched))
    if result.best is not None:
        save_json(result.best["allocation"], out / ALLOCATION_FILE)
        meta["best_layers"] = search.costs.layers(result.best["bits"])
        pairs = search.costs.pairs(result.best["bits"])
        simulated = simulate_mixed(search.topology, search.hw, pairs, compat=search.config.compat)
        simulated.to_csv(out / REPORTS_DIR, compat=search.config.compat)
    save_json(meta, out / SEARCH_FILE)
    report.render(out)
