"""The paper's Algorithm 2, with the released code's bugs (numbered below) fixed.

1. Build the model, extract its simulator topology and build the cost model once. The bit vector,
   the topology and the cost tables name the same layers in the same order (bug 3).
2. Quantize to uniform 8-bit LSQ, fine-tune ``warmup_steps`` step budgets and *measure* the
   reference: CE_8 and top-1 of that model, L_ref = alpha CE_8 + beta (bug 4: no hard-coded CE).
3. Each step: propose an allocation; screen the size cap with the cost model before any training
   (an over-cap proposal updates the sampler as infeasible and costs no fine-tune); ``set_bits`` in
   place so the optimizer keeps the same Parameters (bug 1); fine-tune one step budget; evaluate
   validation CE and top-1/top-5; objective; update the sampler with the allocation that was
   actually trained (bug 2: the 4-bit MH start is never credited).
4. Append the sample to ``history.jsonl``, then write the checkpoint atomically.

Best-model rule: among evaluated samples, those meeting the accuracy threshold (all of them when
none is set) win over those that do not; among equals the highest objective value wins, the
earliest step on ties.

Determinism: before each fine-tune the torch, numpy and Python RNGs and the training loader's
shuffle generator are re-seeded from (seed, phase, step), and loading is single-process, so a
step's batches and augmentations depend only on the seed and the step. Together with the
checkpointed model, optimizer, scheduler and sampler state a resumed run repeats the
uninterrupted one exactly.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from amed.errors import AllocationError, ConfigError
from amed.objective import Objective

from . import checkpoint as ckpt
from . import history
from .config import SearchConfig
from .costs import SearchCosts
from .proposers import make_proposer

__all__ = ["Search", "SearchResult", "SEARCH_FILE"]

SEARCH_FILE = "search.json"
BEST_MODEL_FILE = "best.pt"
# Phases of the run, mixed into the per-step seeds so warm-up, baselines and search never share batches.
_WARMUP, _BASELINE, _STEP = 0, 1, 2


def _reseed(loader, seed: int, *key: int) -> None:
    """Seed every RNG a fine-tune touches from (seed, *key) alone."""
    value = int(np.random.SeedSequence([seed, *key]).generate_state(1, dtype=np.uint64)[0] >> 1)
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)
    loader.generator.manual_seed(value)


def _batches(loader, count: int):
    """`count` batches, going around the loader as often as needed."""
    return itertools.islice(itertools.chain.from_iterable(itertools.repeat(loader)), count)


@dataclass
class Timings:
    """Seconds spent per phase over the search steps (for the overhead benchmark)."""

    propose: float = 0.0
    cost: float = 0.0
    train: float = 0.0
    evaluate: float = 0.0
    update: float = 0.0
    history: float = 0.0
    checkpoint: float = 0.0

    def overhead(self) -> float:
        """Everything outside fine-tuning and evaluation."""
        return self.propose + self.cost + self.update + self.history + self.checkpoint


@dataclass
class SearchResult:
    """What a finished search produced (the files under ``out`` hold the same)."""

    out: Path
    best: Optional[dict]
    reference: dict
    baselines: list[dict]
    records: list[dict]
    pareto: list[dict]
    timings: Timings = field(default_factory=Timings)


class Search:
    """One search run: ``Search(config).run(resume=False)``."""

    def __init__(self, config: SearchConfig, *, progress: bool = True) -> None:
        self.config = config
        self.progress = progress
        self.out = config.out_dir
        self.timings = Timings()

    # -- setup -------------------------------------------------------------------------------

    def _build(self) -> None:
        from amed.data import load_data
        from amed.hw import load as load_hw
        from amed.models import build_model
        from amed.quant import QuantConfig, get_allocation, quantize_model, quantized_layers, set_bits
        from amed.topology import extract
        from amed.train import make_optimizer, make_scheduler, seed_everything

        c = self.config
        torch.set_num_threads(c.threads)
        seed_everything(c.seed)
        self.objective = Objective(
            alpha=c.alpha, beta=c.beta, accuracy_threshold=c.threshold,
            accuracy_penalty=c.penalty if c.threshold is not None else 0.0, size_cap=c.max_size,
        )  # fmt: skip
        self.hw = load_hw(c.hw)
        self.data = load_data(
            c.dataset, batch_size=c.batch_size, workers=0, seed=c.seed,
            train_subset=c.train_subset, val_subset=c.val_subset,
        )  # fmt: skip
        model = build_model(
            c.model, num_classes=self.data.num_classes, in_channels=self.data.in_channels,
            image_size=self.data.image_size, weights=c.weights,
        )  # fmt: skip
        shape = (self.data.in_channels, self.data.image_size, self.data.image_size)
        self.topology = extract(model, shape, name=c.model)
        if quantized_layers(model, include_fixed=True):
            # A quantized checkpoint (e.g. an earlier search's best.pt) restarts from uniform 8 bit.
            set_bits(model, [8] * len(get_allocation(model)))
        else:
            quantize_model(model, config=QuantConfig(weight_bits=8, act_bits=8, edge_bits=8))
        self.model = model
        self.searched = list(get_allocation(model))
        everything = get_allocation(model, include_fixed=True)
        self.fixed = {n: tuple(b) for n, b in everything.items() if n not in self.searched}
        self.costs = SearchCosts(self.topology, self.hw, self.searched, self.fixed, c.bits, compat=c.compat)
        if c.max_size is not None:
            smallest = self.costs.minimum_size(c.bits)
            if smallest > c.max_size:
                raise AllocationError(
                    f"--max-size {c.max_size:g} bytes is below the smallest achievable model size "
                    f"{smallest:.0f} bytes (every searched layer at {min(c.bits)} bits, "
                    f"{', '.join(self.fixed) or 'no layer'} fixed at 8 bits); raise --max-size to at least {math.ceil(smallest)}",
                    field="max_size",
                )
        self.make_optimizer = lambda m: make_optimizer(m, lr=c.lr, weight_decay=c.weight_decay)
        self.optimizer = self.make_optimizer(model)
        try:
            self.scheduler = make_scheduler(self.optimizer, c.schedule, c.warmup_steps + c.steps)
        except ConfigError as err:
            raise ConfigError(f"--schedule: {err}", field="schedule") from None

    # -- fine-tune and evaluate ---------------------------------------------------------------

    def _finetune(self, model, optimizer, *key: int) -> None:
        """One step budget of SGD on weights and LSQ step sizes, seeded by `key`."""
        from amed.train import train_one_epoch

        c = self.config
        loader = self.data.train
        _reseed(loader, c.seed, *key)
        if c.batches_per_step is not None:
            train_one_epoch(model, _batches(loader, c.batches_per_step), optimizer, progress=False)
            return
        for _ in range(c.epochs_per_step):
            train_one_epoch(model, loader, optimizer, progress=False)

    def _evaluate(self, model) -> dict:
        from amed.train import evaluate

        m = evaluate(model, self.data.val)
        return {"ce": m.loss, "top1": m.top1, "top5": m.top5}

    def _warmup(self) -> dict:
        """Fine-tune the uniform-8-bit model and measure the reference the objective divides by."""
        bar = tqdm(range(self.config.warmup_steps), desc="warm-up (uniform 8 bit)", disable=not self.progress, leave=False)
        for i in bar:
            self._finetune(self.model, self.optimizer, _WARMUP, i)
            self.scheduler.step()
        metrics = self._evaluate(self.model)
        cost = self.costs.cost([8] * len(self.searched))
        return {**metrics, "latency_ms": cost.latency_ms, "size_bytes": cost.size_bytes, "energy_uj": cost.energy_uj}

    def _baselines(self) -> list[dict]:
        """Uniform 8, 4 and 2 bits, each fine-tuned `baseline_steps` budgets from the warm-up model."""
        c = self.config
        if not c.baselines:
            return []
        from amed.quant import set_bits

        rows = []
        widths = [8] + [b for b in (4, 2) if b in c.bits]
        for b in tqdm(widths, desc="uniform baselines", disable=not self.progress, leave=False):
            model = copy.deepcopy(self.model)
            optimizer = self.make_optimizer(model)
            set_bits(model, [b] * len(self.searched))
            for i in range(c.baseline_steps):
                self._finetune(model, optimizer, _BASELINE, b, i)
            cost = self.costs.cost([b] * len(self.searched))
            rows.append(
                {"bits": b, **self._evaluate(model), "latency_ms": cost.latency_ms,
                 "size_bytes": cost.size_bytes, "energy_uj": cost.energy_uj}  # fmt: skip
            )
        return rows

    # -- checkpoint ---------------------------------------------------------------------------

    def _save(self, step: int) -> None:
        state = {
            "step": step,
            "config": self.config.to_dict(),
            "proposer": self.proposer.state(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": ckpt.rng_state(),
            "reference": self.reference,
            "baselines": self.baselines,
            "best": self.best,
        }
        ckpt.save_atomic(state, self.out / ckpt.CHECKPOINT_FILE)

    def _restore(self, state: dict) -> int:
        saved = SearchConfig.from_dict(state["config"])
        changed = self.config.mismatches(saved)
        if changed:
            details = ", ".join(f"{n}={getattr(saved, n)!r} (now {getattr(self.config, n)!r})" for n in changed)
            raise ConfigError(
                f"cannot resume {self.out}: it was started with {details}; use the same options or another --out",
                field=changed[0],
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        ckpt.restore_rng(state["rng"])
        self.reference, self.baselines, self.best = state["reference"], state["baselines"], state["best"]
        self.proposer = make_proposer(self.config, len(self.searched), state["proposer"])
        return int(state["step"])

    def _write_meta(self) -> None:
        meta = {
            "config": self.config.to_dict(),
            "budget": self.config.budget(),
            "hw": self.hw.name,
            "searched": self.searched,
            "fixed": {n: list(b) for n, b in self.fixed.items()},
            "reference": self.reference,
            "baselines": self.baselines,
        }
        tmp = self.out / (SEARCH_FILE + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        tmp.replace(self.out / SEARCH_FILE)

    # -- the loop -----------------------------------------------------------------------------

    def _better(self, record: dict) -> bool:
        if not record["evaluated"]:
            return False
        if self.best is None:
            return True
        new = (record["meets_threshold"], record["objective"])
        old = (self.best["meets_threshold"], self.best["objective"])
        return new > old

    def _step(self, step: int) -> dict:
        from amed.quant import set_bits

        c, t = self.config, self.timings
        started = time.perf_counter()
        bits, accepted = self.proposer.propose(step)
        t.propose += time.perf_counter() - started
        mark = time.perf_counter()
        cost = self.costs.cost(bits)
        feasible = self.objective.feasible(cost.size_bytes)
        t.cost += time.perf_counter() - mark
        record = {
            "step": step,
            "allocation": {n: [b, b] for n, b in zip(self.searched, bits)},
            "bits": bits,
            "latency_ms": cost.latency_ms,
            "size_bytes": cost.size_bytes,
            "energy_uj": cost.energy_uj,
            "feasible": feasible,
            "evaluated": feasible,
            "accepted": accepted,
            "ce": None, "top1": None, "top5": None, "objective": None, "loss": None,
            "latency_ratio": cost.latency_ms / self.reference["latency_ms"],
            "meets_threshold": None,
        }  # fmt: skip
        if feasible:
            set_bits(self.model, bits)
            mark = time.perf_counter()
            self._finetune(self.model, self.optimizer, _STEP, step)
            t.train += time.perf_counter() - mark
            mark = time.perf_counter()
            metrics = self._evaluate(self.model)
            t.evaluate += time.perf_counter() - mark
            mark = time.perf_counter()
            ev = self.objective.evaluate(
                cross_entropy=metrics["ce"], latency=cost.latency_ms, latency_8=self.reference["latency_ms"],
                cross_entropy_8=self.reference["ce"], accuracy=metrics["top1"] / 100.0, size=cost.size_bytes,
            )  # fmt: skip
            self.proposer.update(bits, ev.value, True)
            threshold = c.threshold
            record.update(
                metrics, objective=ev.value, loss=ev.loss,
                meets_threshold=threshold is None or metrics["top1"] / 100.0 >= threshold,
            )  # fmt: skip
        else:
            mark = time.perf_counter()
            self.proposer.update(bits, None, False)
        self.scheduler.step()
        t.update += time.perf_counter() - mark
        record["wall_s"] = time.perf_counter() - started
        return record

    def run(self, *, resume: bool = False) -> SearchResult:
        self.out.mkdir(parents=True, exist_ok=True)
        history_path = self.out / history.HISTORY_FILE
        checkpoint_path = self.out / ckpt.CHECKPOINT_FILE
        if not resume and (checkpoint_path.exists() or history.read(history_path)):
            raise ConfigError(
                f"{self.out} already holds a search; pass --resume to continue it or choose another --out",
                field="out",
            )
        self._build()
        start = 0
        if resume and checkpoint_path.exists():
            start = self._restore(ckpt.load(checkpoint_path))
            records = history.truncate(history_path, start)
        else:
            history.truncate(history_path, -1)
            self.best = None
            self.reference = self._warmup()
            self.baselines = self._baselines()
            self.proposer = make_proposer(self.config, len(self.searched))
            self._save(0)
            records = []
        self._write_meta()
        bar = tqdm(range(start + 1, self.config.steps + 1), desc="search", initial=start,
                   total=self.config.steps, disable=not self.progress)  # fmt: skip
        for step in bar:
            record = self._step(step)
            mark = time.perf_counter()
            history.append(history_path, record)
            records.append(record)
            self.timings.history += time.perf_counter() - mark
            mark = time.perf_counter()
            if self._better(record):
                self.best = {k: record[k] for k in ("step", "allocation", "bits", "ce", "top1", "top5", "latency_ms",
                                                    "size_bytes", "energy_uj", "objective", "meets_threshold")}  # fmt: skip
                ckpt.save_atomic(self._best_model(), self.out / BEST_MODEL_FILE)
            self._save(step)
            self.timings.checkpoint += time.perf_counter() - mark
            if record["evaluated"]:
                bar.set_postfix(top1=f"{record['top1']:.1f}", lat=f"{record['latency_ms']:.3g}ms",
                                obj=f"{record['objective']:+.3f}")  # fmt: skip
        return SearchResult(
            self.out, self.best, self.reference, self.baselines, records, history.pareto_front(records), self.timings
        )

    def _best_model(self) -> dict:
        from amed.quant import get_allocation

        return {
            "model": self.config.model,
            "dataset": self.config.dataset,
            "allocation": {n: list(b) for n, b in get_allocation(self.model, include_fixed=True).items()},
            "state_dict": self.model.state_dict(),
        }
