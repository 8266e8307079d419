"""Reads a study's run folders (never imports search or torch) and computes what compare.json holds.

Per run: its final point, fine-tuned Pareto points, hypervolume (`stats` module doc), the best test
top-1 among its final points no slower than that seed's uniform-4 baseline, the mean latency of
the last quarter of its chain, and whether its final point meets each target. Per seed: the
uniform baselines (from whichever run of the seed measured them). Per method x beta: bootstrap CIs
and how many runs meet each target. Over seeds: the paired tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from amed import store
from amed.errors import AmedIOError

from . import stats
from .runner import Run, run_state

__all__ = ["chain_tail_latency", "summarise", "write"]

#: The latency factor of the second target: match uniform-4's test top-1 at <= 0.9x its latency.
UNIFORM4_LATENCY_FACTOR = 0.9

#: The per-run targets: the final point is dominated by no uniform baseline; it reaches uniform-4's
#: test top-1 at <= 0.9x its latency.
TARGETS = ("final_not_dominated_by_uniform", "uniform4_top1_at_0.9x_latency")


def chain_tail_latency(records: list[dict]) -> Optional[float]:
    """Mean latency of the last quarter of a chain's steps (at least one step), in step order."""
    records = sorted(records, key=lambda r: r["step"])
    tail = records[len(records) * 3 // 4 :]
    return float(np.mean([r["latency_ms"] for r in tail])) if tail else None


def _history_tail_latency(folder: Path) -> Optional[float]:
    try:
        return chain_tail_latency(store.read_history(folder / store.HISTORY_FILE))
    except AmedIOError:
        return None


def _points(record: dict) -> list[dict]:
    return ([record["final"]] if record["final"] else []) + record["pareto"]


def _baseline(baselines: list[dict], bits: int) -> Optional[dict]:
    return next((b for b in baselines if b["bits"] == bits), None)


def _dominates(b: dict, p: dict) -> bool:
    no_worse = b["test_top1"] >= p["test_top1"] and b["latency_ms"] <= p["latency_ms"]
    return no_worse and (b["test_top1"] > p["test_top1"] or b["latency_ms"] < p["latency_ms"])


def _load(run: Run) -> dict:
    record: dict[str, Any] = {"name": run.name, "method": run.method, "beta": run.beta, "seed": run.seed}
    if run_state(run) != "complete":
        return {**record, "status": "missing"}
    saved = store.read_json(run.folder / store.SEARCH_FILE, "the run's summary")
    record.update(
        status="complete",
        config=saved["config"],
        num_classes=saved["num_classes"],
        reference=saved["reference"],
        final_budget=saved.get("final_budget"),
        final=saved["final"],
        pareto=list(saved.get("final_pareto") or []),
        baselines=list(saved.get("baselines") or []),
        chain_tail_latency_ms=_history_tail_latency(run.folder),
    )
    points = [(p["test_top1"], p["latency_ms"]) for p in _points(record)]
    record["hypervolume"] = stats.run_hypervolume(points, record["num_classes"], record["reference"]["latency_ms"])
    return record


def _with_seed_baselines(record: dict, baselines: list[dict]) -> None:
    """Adds the metrics that compare a run with its seed's uniform baselines (any method alike)."""
    uniform4 = _baseline(baselines, 4)
    fast = [p for p in _points(record) if uniform4 is not None and p["latency_ms"] <= uniform4["latency_ms"]]
    record["best_test_top1_within_uniform4_latency"] = max((p["test_top1"] for p in fast), default=None)
    final = record["final"]
    undominated = None if final is None or not baselines else not any(_dominates(b, final) for b in baselines)
    reaches = None
    if final is not None and uniform4 is not None:
        reaches = (
            final["test_top1"] >= uniform4["test_top1"]
            and final["latency_ms"] <= UNIFORM4_LATENCY_FACTOR * uniform4["latency_ms"]
        )
    record["targets"] = dict(zip(TARGETS, (undominated, reaches)))


def _target_counts(done: list[dict]) -> dict:
    """How many of the runs meet each target, among those where it could be decided."""
    counts = {}
    for name in TARGETS:
        known = [r["targets"][name] for r in done if r["targets"][name] is not None]
        counts[name] = {"met": sum(known), "of": len(known)}
    return counts


def _mean(values: list) -> Optional[float]:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _groups(runs: list[dict], methods: list[str], betas: list[float]) -> list[dict]:
    groups = []
    for method in methods:
        for beta in betas:
            done = [r for r in runs if r["method"] == method and r["beta"] == beta and r["status"] == "complete"]
            finals = [r["final"] for r in done if r["final"] is not None]
            groups.append(
                {
                    "method": method,
                    "beta": beta,
                    "runs": len(done),
                    "finals": len(finals),
                    "test_top1": stats.bootstrap_ci([f["test_top1"] for f in finals]),
                    "latency_ms": _mean([f["latency_ms"] for f in finals]),
                    "hypervolume": stats.bootstrap_ci([r["hypervolume"] for r in done]),
                    "best_test_top1_within_uniform4_latency": _mean(
                        [r["best_test_top1_within_uniform4_latency"] for r in done]
                    ),
                    "chain_tail_latency_ms": _mean([r["chain_tail_latency_ms"] for r in done]),
                    "targets": _target_counts(done),
                }
            )
    return groups


def _uniform(seeds: dict[str, dict]) -> list[dict]:
    """Each uniform width over the seeds that measured it, with its own single-point hypervolume."""
    rows: dict[int, list[tuple[dict, dict]]] = {}
    for entry in seeds.values():
        for baseline in entry["baselines"]:
            rows.setdefault(baseline["bits"], []).append((baseline, entry))
    table = []
    for bits in sorted(rows, reverse=True):
        measured = rows[bits]
        hvs = [
            stats.run_hypervolume([(b["test_top1"], b["latency_ms"])], e["num_classes"], e["latency_8bit_ms"])
            for b, e in measured
        ]
        table.append(
            {
                "bits": bits,
                "label": measured[0][0]["label"],
                "seeds": len(measured),
                "test_top1": stats.bootstrap_ci([b["test_top1"] for b, _ in measured]),
                "latency_ms": _mean([b["latency_ms"] for b, _ in measured]),
                "hypervolume": stats.bootstrap_ci(hvs),
            }
        )
    return table


def _paired_amed_vs_random(complete: list[dict], beta: float, value) -> dict:
    """Wilcoxon signed-rank of ``value(run)`` for AMED against random search over the seeds both finished."""
    by_method = {m: {r["seed"]: value(r) for r in complete
                     if r["method"] == m and r["beta"] == beta and value(r) is not None}
                 for m in ("amed", "random")}  # fmt: skip
    paired = sorted(set(by_method["amed"]) & set(by_method["random"]))
    test = stats.paired_wilcoxon([by_method["amed"][s] for s in paired], [by_method["random"][s] for s in paired])
    return {**test, "seeds": paired}


def _final_top1(run: dict) -> Optional[float]:
    return run["final"]["test_top1"] if run["final"] is not None else None


def _statistics(runs: list[dict], betas: list[float]) -> dict:
    complete = [r for r in runs if r["status"] == "complete"]
    both = {"amed", "random"} <= {r["method"] for r in runs}
    paired_betas = betas if both else []
    amed = [r for r in complete if r["method"] == "amed" and r["final"] is not None]
    return {
        "wilcoxon_hypervolume_amed_vs_random": {
            f"{beta:g}": _paired_amed_vs_random(complete, beta, lambda r: r["hypervolume"]) for beta in paired_betas
        },
        "wilcoxon_final_top1_amed_vs_random": {
            f"{beta:g}": _paired_amed_vs_random(complete, beta, _final_top1) for beta in paired_betas
        },
        "spearman_amed_final_latency_vs_beta": stats.spearman(
            [r["beta"] for r in amed], [r["final"]["latency_ms"] for r in amed]
        ),
    }


def summarise(runs: list[Run], failures: dict[str, str], command: str) -> dict:
    """The whole study as one JSON-ready dict (missing and failed runs included as such)."""
    records = [_load(run) for run in runs]
    complete = [r for r in records if r["status"] == "complete"]
    seeds: dict[str, dict] = {}
    for seed in dict.fromkeys(r["seed"] for r in records):
        source = next((r for r in complete if r["seed"] == seed and r["baselines"]), None)
        seeds[str(seed)] = {
            "baselines": source["baselines"] if source else [],
            "from": source["name"] if source else None,
            "num_classes": source["num_classes"] if source else None,
            "latency_8bit_ms": source["reference"]["latency_ms"] if source else None,
        }
    for record in complete:
        _with_seed_baselines(record, seeds[str(record["seed"])]["baselines"])
    for record in records:
        if record["status"] == "missing" and record["name"] in failures:
            record["status"] = "failed"
    first = complete[0] if complete else None
    config = first["config"] if first else {}
    methods = list(dict.fromkeys(r["method"] for r in records))
    betas = list(dict.fromkeys(r["beta"] for r in records))
    return {
        "command": command,
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "hw": config.get("hw"),
        "final_budget": first["final_budget"] if first else None,
        "num_classes": first["num_classes"] if first else None,
        "runs": records,
        "seeds": seeds,
        "groups": _groups(records, methods, betas),
        "uniform": _uniform(seeds),
        "statistics": _statistics(records, betas),
        "failed": failures,
    }


def write(summary: dict, out: Path) -> dict[str, Path]:
    """Writes compare.json, compare.md and compare.png into ``out``; returns their paths."""
    from .plot import render_plot
    from .table import render_markdown

    paths = {name: out / f"compare.{name}" for name in ("json", "md", "png")}
    store.save_json(summary, paths["json"])
    markdown = render_markdown(summary).encode()
    store.write_atomic(paths["md"], lambda f: f.write(markdown))
    render_plot(summary, paths["png"])
    return paths
