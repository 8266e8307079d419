"""The search under torchrun: rank 0 searches, the other ranks fine-tune alongside it.

Rank 0 runs the whole search (the sampler, the cost model, the history, checkpoints and every
file) through a `LeadingEvaluator`. Each time it needs an allocation measured (a candidate the
memo does not hold, the reference, a final-stage model) it broadcasts the call, and every rank
fine-tunes and evaluates that allocation on its shard of each global batch (`amed.distributed`).
The other ranks run `follow`: they take calls until rank 0 says stop. Before building anything
rank 0 says whether it got past its checks (the folder lock, the resume contract), so a refused
search never leaves the other ranks waiting.
"""

from __future__ import annotations

from typing import Any, Sequence

from amed import distributed

__all__ = ["LeadingEvaluator", "follow", "release", "start", "wait_for_start"]

_STOP = ("stop",)


def start(ok: bool) -> None:
    """Rank 0: tell the other ranks whether the search goes ahead (they build their model if so)."""
    distributed.broadcast_object(ok)


def release() -> None:
    """Rank 0: the search is over (finished or failed); the other ranks return from `follow`."""
    distributed.broadcast_object(_STOP)


def wait_for_start() -> bool:
    """Another rank: whether rank 0 goes ahead with the search."""
    return bool(distributed.broadcast_object(None))


class LeadingEvaluator:
    """Rank 0's `Evaluator`: every measurement that trains is first announced to the other ranks."""

    def __init__(self, evaluator) -> None:
        self.inner = evaluator

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def candidate(self, bits: Sequence[int], step: int) -> dict:
        if tuple(bits) not in self.inner.memo:  # a repeat is served from memory, with no training
            distributed.broadcast_object(("candidate", list(bits), step))
        return self.inner.candidate(bits, step)

    def reference(self, num_layers: int) -> dict:
        distributed.broadcast_object(("reference", num_layers))
        return self.inner.reference(num_layers)

    def final(self, bits: Sequence[int]) -> dict:
        distributed.broadcast_object(("final", list(bits)))
        return self.inner.final(bits)


def follow(evaluator) -> None:
    """Another rank: measure what rank 0 announces, until it says stop."""
    while True:
        command, *args = distributed.broadcast_object(None)
        if command == _STOP[0]:
            return
        getattr(evaluator, command)(*args)
