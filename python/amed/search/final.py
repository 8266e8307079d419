"""The final stage: every reported model gets the same long budget and one look at the test split.

The chosen allocation, up to ``final_points - 1`` further points of the search's Pareto front
(top-1 on search-validation vs latency, spread evenly along it) and the uniform baselines (every
bit choice and 8) are each fine-tuned ``final_batches`` batches from the common checkpoint, in the
same batch order, and evaluated once on test. Results are stored by allocation, so a point that is
both chosen and uniform is trained once, and a search killed here resumes without redoing any.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from amed import store

__all__ = ["FinalStage", "final_allocations"]


def _spread(front: list[dict], count: int) -> list[dict]:
    """`count` members of a latency-sorted front, evenly spaced along it (both ends included)."""
    if count <= 0 or not front:
        return []
    picks = sorted(set(np.linspace(0, len(front) - 1, min(count, len(front))).round().astype(int).tolist()))
    return [front[i] for i in picks]


def final_allocations(best: dict | None, records: list[dict], final_points: int) -> list[tuple[list[int], str]]:
    """(bits, label) of the searched models the final stage trains: the chosen sample, then up to
    `final_points` - 1 others of the Pareto front, spread along it."""
    if best is None:
        return []
    others = [r for r in store.pareto_front(records) if r["bits"] != best["bits"]]
    return [(list(best["bits"]), "chosen")] + [(list(r["bits"]), "pareto") for r in _spread(others, final_points - 1)]


class FinalStage:
    def __init__(self, search, records: list[dict]) -> None:
        self.search, self.records = search, records

    def _measure(self, bits: list[int], label: str) -> dict:
        from .loop import allocation_key

        s = self.search
        key = allocation_key(bits)
        # A choice made again on resume may already have its figures (as a Pareto point): it is
        # trained again all the same, to the same figures, since best.pt must hold its model.
        if key not in s.finals or (label == "chosen" and s.best_pt != key):
            s.finals[key] = s.evaluator.final(bits)
            if label == "chosen":
                store.save_model_state(s.best_model(), s.out / store.BEST_MODEL_FILE)
                s.best_pt = key
            s.checkpoint_finals()
        cost = s.costs.cost(bits)
        return {
            "label": label,
            "allocation": {n: [b, b] for n, b in zip(s.searched, bits)},
            "bits": list(bits),
            "latency_ms": cost.latency_ms,
            "size_bytes": cost.size_bytes,
            "energy_uj": cost.energy_uj,
            **s.finals[key],
        }

    def run(self) -> tuple[dict | None, list[dict], list[dict]]:
        """(chosen, Pareto points, uniform baselines), each measured at the final budget."""
        s, c = self.search, self.search.config
        jobs = final_allocations(s.best, self.records, c.final_points)
        if c.baselines:
            jobs += [([b] * len(s.searched), f"uniform-{b}") for b in c.baseline_widths()]
        done = [self._measure(bits, label)
                for bits, label in tqdm(jobs, desc=f"final stage ({c.final_budget()})", disable=not s.progress)]  # fmt: skip
        chosen = next((d for d in done if d["label"] == "chosen"), None)
        pareto = [d for d in done if d["label"] == "pareto"]
        baselines = [{**d, "bits": int(d["label"].split("-")[1])} for d in done if d["label"].startswith("uniform")]
        return chosen, pareto, baselines
