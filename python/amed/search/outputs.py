"""The files a finished search leaves beside its history: the best allocation, per-layer costs,
SCALE-Sim-style reports of the best allocation, and (through `amed.report`) plots and tables."""

from __future__ import annotations

from amed import store

from .loop import Search, SearchResult

__all__ = ["write_outputs"]


def write_outputs(search: Search, result: SearchResult) -> None:
    """allocation.json, per-layer costs in search.json, reports/ of the chosen allocation, then
    plots, pareto.csv and the summary."""
    from amed import report
    from amed.simcore import simulate_mixed

    out = result.out
    meta = store.read_json(out / store.SEARCH_FILE, "the search's summary")
    meta["reference_layers"] = search.costs.layers([8] * len(search.searched))
    if result.best is not None:
        store.save_json(result.best["allocation"], out / store.ALLOCATION_FILE)
        meta["best_layers"] = search.costs.layers(result.best["bits"])
        pairs = search.costs.pairs(result.best["bits"])
        simulated = simulate_mixed(search.topology, search.hw, pairs, compat=search.config.compat)
        simulated.to_csv(out / store.REPORTS_DIR, compat=search.config.compat)
    store.save_json(meta, out / store.SEARCH_FILE)
    report.render(out)
