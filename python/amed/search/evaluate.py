"""How one allocation is measured: fine-tune from the common checkpoint, then evaluate.

Under the default protocol every candidate starts from the same converged 8-bit checkpoint, gets
``set_bits``, a fresh SGD optimizer and the same number of batches in the same order (at a held or a
cosine-decayed learning rate, ``candidate_schedule``), and is scored
on the fixed search-validation split. Its figures therefore depend on the allocation alone: the
order in which the search meets candidates changes nothing, and measuring one twice gives the same
numbers, so repeats are served from a memo. The uniform 8-bit reference is measured the same way.

The final stage does the same with the longer final budget and evaluates on the test split.

``protocol="continued"`` instead keeps one model and one optimizer across the samples (the paper's
Algorithm 2): each sample continues from the previous one, in a batch order keyed by its step.
"""

from __future__ import annotations

import copy
import itertools
import random
from typing import Optional, Sequence

import numpy as np
import torch

from .config import SearchConfig

__all__ = ["Evaluator"]

# Phases mixed into the batch-order seeds, so candidates and finals never share an order by accident.
_CANDIDATE, _FINAL, _CONTINUED = 0, 1, 2


def _reseed(loader, seed: int, *key: int) -> None:
    """Seed every RNG a fine-tune touches (augmentation, shuffle, the batch that initialises the
    activation steps) from (seed, *key)."""
    value = int(np.random.SeedSequence([seed, *key]).generate_state(1, dtype=np.uint64)[0] >> 1)
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)
    loader.generator.manual_seed(value)


def _batches(loader, count: int):
    """`count` batches, going around the loader as often as needed."""
    return itertools.islice(itertools.chain.from_iterable(itertools.repeat(loader)), count)


def _metrics(metrics) -> dict:
    return {"ce": metrics.loss, "top1": metrics.top1, "top5": metrics.top5}


class Evaluator:
    """Fine-tunes and measures allocations of `model`'s searched layers (bits in their order)."""

    def __init__(self, model, data, config: SearchConfig) -> None:
        from amed import distributed

        self.model, self.data, self.config = model, data, config
        self.base = copy.deepcopy(model.state_dict())
        # Under torchrun: DistributedDataParallel around the same module, parameters and buffers.
        self.parallel = distributed.wrap(model)
        self.memo: dict[tuple[int, ...], dict] = {}
        self.optimizer: Optional[torch.optim.Optimizer] = None
        if config.protocol == "continued":
            self.optimizer = self._optimizer()

    def _optimizer(self) -> torch.optim.Optimizer:
        from amed.train import make_optimizer

        c = self.config
        return make_optimizer(self.model, lr=c.candidate_lr, weight_decay=c.weight_decay)

    def _fine_tune(self, bits: Sequence[int], batches: int, *key: int, lr_at=None, keep: bool = False) -> None:
        """`batches` of SGD on `bits`, in the batch order of `key`; from the checkpoint unless `keep`."""
        from amed.quant import set_bits
        from amed.train import train_one_epoch

        if keep:
            optimizer = self.optimizer
        else:
            self.model.load_state_dict(self.base)
            optimizer = self._optimizer()
        set_bits(self.model, list(bits))
        loader = self.data.train
        _reseed(loader, self.config.seed, *key)
        train_one_epoch(self.parallel, _batches(loader, batches), optimizer, lr_at=lr_at,
                        max_grad_norm=self.config.max_grad_norm)

    def _evaluate(self, loader) -> dict:
        from amed.train import evaluate

        return _metrics(evaluate(self.parallel, loader))

    def candidate(self, bits: Sequence[int], step: int) -> dict:
        """Search-validation CE, top-1 and top-5 of `bits` after one candidate budget."""
        c = self.config
        if c.protocol == "continued":
            self._fine_tune(bits, c.batches_per_step, _CONTINUED, step, keep=True)
            return self._evaluate(self.data.val)
        key = tuple(bits)
        if key not in self.memo:
            from amed.train import cosine_lr

            decay = cosine_lr(c.candidate_lr, c.batches_per_step) if c.candidate_schedule == "cosine" else None
            self._fine_tune(bits, c.batches_per_step, _CANDIDATE, lr_at=decay)
            self.memo[key] = self._evaluate(self.data.val)
        return dict(self.memo[key])

    def reference(self, num_layers: int) -> dict:
        """The uniform 8-bit model measured like a candidate (under "continued": as it starts)."""
        if self.config.protocol == "continued":
            from amed.quant import set_bits

            set_bits(self.model, [8] * num_layers)
            return self._evaluate(self.data.val)
        return self.candidate([8] * num_layers, 0)

    def final(self, bits: Sequence[int]) -> dict:
        """Validation and test figures of `bits` after the final budget, always from the checkpoint
        (the model keeps the fine-tuned weights until the next call)."""
        from amed.train import cosine_lr

        c = self.config
        self._fine_tune(bits, c.final_batches, _FINAL, lr_at=cosine_lr(c.final_lr, c.final_batches))
        val, test = self._evaluate(self.data.val), self._evaluate(self.data.test)
        return {
            "val_top1": val["top1"], "val_ce": val["ce"],
            "test_top1": test["top1"], "test_top5": test["top5"], "test_ce": test["ce"],
        }  # fmt: skip
