"""The paper's Algorithm 2 as an equal-budget protocol, with the released code's bugs fixed.

1. Build the model from a converged start (the ``amed pretrain`` cache unless ``--weights`` says
   otherwise), extract its simulator topology and build the cost model once. The bit vector, the
   topology and the cost tables name the same layers in the same order (bug 3). A width that a
   wider one runs no slower in that layer is redundant (`SearchCosts.replacements`): by default a
   proposal of it is trained at the wider width.
2. Measure the reference exactly like a candidate: uniform 8 bit, one candidate budget from the
   checkpoint, CE_8 and top-1 on the search-validation split (bug 4: no hard-coded CE). A reference
   within `QUALITY_MARGIN` points of chance stops the search before any sampling.
3. Each step: propose an allocation; screen the size and latency caps with the cost model before
   any training, drawing again while a proposal breaks one (up to `MAX_DRAWS` draws); fine-tune it
   from the checkpoint (`Evaluator`); objective; update the sampler with the allocation that was
   actually trained (bug 2).
4. Append the sample to ``history.jsonl``, then write the JSON checkpoint atomically.
5. The final stage (`final.py`) fine-tunes the chosen allocation, Pareto points and the uniform
   baselines with the same long budget and evaluates each once on the test split.

Under torchrun rank 0 runs all of this and the other ranks fine-tune each allocation with it on
their shards of every batch (`ranks`).

Chosen allocation: among evaluated samples, those meeting the accuracy threshold (all of them when
none is set) win over those that do not; among equals the highest objective value wins (under
``choose="accuracy"`` the highest search-validation top-1, then the objective), the earliest step
on ties. The choice is made again from the history on resume, so a finished search resumed with
another ``choose`` only trains the new choice; a random or uniform search resumed under other
objective weights (`OBJECTIVE_FIELDS`, β among them) weighs its samples again first. Every choice
uses the search-validation split; test figures are only reported.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Optional

import torch
from tqdm.auto import tqdm

from amed import distributed, store
from amed.errors import AllocationError, ConfigError

from . import ranks
from .config import OBJECTIVE_FIELDS, SearchConfig
from .costs import SearchCosts
from .evaluate import Evaluator
from .proposers import make_proposer

__all__ = ["MAX_DRAWS", "QUALITY_MARGIN", "Search", "SearchResult"]

#: The reference must beat chance (100 / classes) by this many top-1 points, or the search stops:
#: below it, differences between allocations are noise and no "best" means anything.
QUALITY_MARGIN = 10.0
#: Proposals per step before a step whose every draw broke a cap is recorded untrained. Each
#: costs one cost-model query (microseconds), and every method gets the same number.
MAX_DRAWS = 1000
#: The fields of the chosen sample kept in the checkpoint and search.json ("best").
_BEST_FIELDS = ("step", "allocation", "bits", "ce", "top1", "top5", "latency_ms", "size_bytes", "energy_uj",
                "objective", "meets_threshold")


@dataclass
class Timings:
    """Seconds spent per phase over the search steps (for the overhead benchmark)."""

    propose: float = 0.0
    cost: float = 0.0
    train: float = 0.0  # a candidate: load the checkpoint, fine-tune, evaluate
    update: float = 0.0
    history: float = 0.0
    checkpoint: float = 0.0

    def overhead(self) -> float:
        """Everything outside fine-tuning and evaluation."""
        return self.propose + self.cost + self.update + self.history + self.checkpoint


@dataclass
class SearchResult:
    """What a finished search produced (the files under ``out`` hold the same)."""

    out: object
    best: Optional[dict]
    reference: dict
    baselines: list[dict]
    records: list[dict]
    pareto: list[dict]
    final: Optional[dict] = None
    final_pareto: list[dict] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)


def _start_weights(c: SearchConfig, progress: bool) -> Optional[str]:
    """The checkpoint the search starts from (see ``SearchConfig.weights``)."""
    if c.weights is None:
        from amed.pretrain import converged_checkpoint

        log = print if progress else (lambda _msg: None)
        return str(converged_checkpoint(c.model, c.dataset, seed=c.seed, progress=progress, log=log, device=c.device))
    if str(c.weights).lower() == "none":
        return None
    return c.weights


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
        from amed.device import resolve_device
        from amed.hw import load as load_hw
        from amed.models import build_model
        from amed.quant import QuantConfig, get_allocation, quantize_model, quantized_layers, set_act_init, set_bits
        from amed.topology import extract
        from amed.train import seed_everything

        c = self.config
        self.device = resolve_device(c.device)
        start = _start_weights(c, self.progress)  # a pretrain that fills the cache uses torch's threads
        self.start = start
        torch.set_num_threads(c.threads)
        seed_everything(c.seed)
        self.objective = c.objective()
        self.hw = load_hw(c.hw)
        self.data = load_data(
            c.dataset, batch_size=c.batch_size, workers=0, seed=c.seed, train_subset=c.train_subset,
            val_subset=c.val_subset, test_subset=c.test_subset, val_batch_size=256,
        )  # fmt: skip
        shape = dict(num_classes=self.data.num_classes, in_channels=self.data.in_channels,
                     image_size=self.data.image_size)  # fmt: skip
        self.topology = extract(build_model(c.model, **shape), (shape["in_channels"],) + (shape["image_size"],) * 2,
                                name=c.model)  # fmt: skip
        model = build_model(c.model, **shape, weights=start).to(self.device)
        if quantized_layers(model, include_fixed=True):
            set_act_init(model, c.act_init)
            set_bits(model, [8] * len(get_allocation(model)))
        else:
            quantize_model(model, config=QuantConfig(weight_bits=8, act_bits=8, edge_bits=8, act_init=c.act_init))
            self._calibrate(model)
        self.model = model
        self.searched = list(get_allocation(model))
        everything = get_allocation(model, include_fixed=True)
        self.fixed = {n: tuple(b) for n, b in everything.items() if n not in self.searched}
        self.evaluator = Evaluator(model, self.data, c)
        if not distributed.is_main():
            return  # another torchrun rank only fine-tunes what rank 0 sends (`ranks.follow`)
        if distributed.world_size() > 1:
            self.evaluator = ranks.LeadingEvaluator(self.evaluator)
        self.costs = SearchCosts(self.topology, self.hw, self.searched, self.fixed, c.bits, compat=c.compat)
        searches = c.redundant_widths != "keep" and c.max_size is None and c.uniform_bits() is None
        self.replacements = (self.costs.replacements(c.bits) if searches
                             else [{b: b for b in c.bits}] * len(self.searched))  # fmt: skip
        self.choices = [sorted(set(r.values())) for r in self.replacements]
        if c.max_size is not None:
            smallest = self.costs.minimum_size(c.bits)
            if smallest > c.max_size:
                raise AllocationError(
                    f"--max-size {c.max_size:g} bytes is below the smallest achievable model size "
                    f"{smallest:.0f} bytes (every searched layer at {min(c.bits)} bits, "
                    f"{', '.join(self.fixed) or 'no layer'} fixed at 8 bits); raise --max-size to at least {math.ceil(smallest)}",
                    field="max_size",
                )
        if c.max_latency is not None:
            fastest = min(self.costs.cost([b] * len(self.searched)).latency_ms for b in c.bits)
            if fastest > c.max_latency:
                raise AllocationError(
                    f"--max-latency {c.max_latency:g} ms is below the latency of the fastest uniform allocation "
                    f"on {self.hw.name}, {fastest:.6g} ms ({', '.join(self.fixed) or 'no layer'} fixed at 8 bits); "
                    f"raise --max-latency to at least {fastest:.6g}",
                    field="max_latency",
                )

    def _calibrate(self, model) -> None:
        """Each activation step is initialised on the first batch it sees: make that a training batch."""
        images, _ = next(iter(self.data.train))
        with torch.no_grad():
            model.eval()(images.to(self.device))

    # -- reference, gate, steps ----------------------------------------------------------------

    def _reference(self) -> dict:
        metrics = self.evaluator.reference(len(self.searched))
        chance = 100.0 / self.data.num_classes
        if metrics["top1"] < chance + QUALITY_MARGIN:
            c = self.config
            start = {None: f"the converged start of `amed pretrain --model {c.model} --dataset {c.dataset}`",
                     "none": "random weights (--weights none)"}.get(c.weights, f"--weights {c.weights}")  # fmt: skip
            raise ConfigError(
                f"the uniform 8-bit reference reaches only {metrics['top1']:.2f} % top-1 (CE {metrics['ce']:.4f}) "
                f"on the search-validation split, within {QUALITY_MARGIN:g} points of chance ({chance:.2f} %), "
                f"so every allocation would score noise. It started from {start}. Train a working model first "
                "(amed pretrain, or amed finetune --bits 8) and pass it with --weights PATH, or give the "
                "candidates more training with --batches-per-step",
                field="weights",
            )
        cost = self.costs.cost([8] * len(self.searched))
        return {**metrics, "latency_ms": cost.latency_ms, "size_bytes": cost.size_bytes, "energy_uj": cost.energy_uj}

    def _draw(self, step: int):
        """The step's allocation: a proposal over the size or latency cap is drawn again, neither
        trained nor credited, so every method trains allocations within the caps. A redundant
        width is replaced before the caps are checked. After `MAX_DRAWS` over-cap draws the last
        one is returned as infeasible."""
        t = self.timings
        for draw in range(1, MAX_DRAWS + 1):
            mark = time.perf_counter()
            bits, accepted = self.proposer.propose(step, draw - 1)
            bits = [r[b] for r, b in zip(self.replacements, bits)]
            t.propose += time.perf_counter() - mark
            mark = time.perf_counter()
            cost = self.costs.cost(bits)
            feasible = self.objective.feasible(cost.size_bytes, cost.latency_ms)
            t.cost += time.perf_counter() - mark
            if feasible:
                break
        return bits, accepted, cost, feasible, draw

    def _proposer_choices(self) -> Optional[list[list[int]]]:
        """What each layer may propose: only the widths worth training under "drop"; under
        "promote" every width, a redundant one being trained at its replacement (`_draw`)."""
        return self.choices if self.config.redundant_widths == "drop" else None

    def _step(self, step: int) -> dict:
        t = self.timings
        started = time.perf_counter()
        bits, accepted, cost, feasible, draws = self._draw(step)
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
            "draws": draws,
            "ce": None, "top1": None, "top5": None, "objective": None, "loss": None,
            "latency_ratio": cost.latency_ms / self.reference["latency_ms"],
            "meets_threshold": None,
        }  # fmt: skip
        mark = time.perf_counter()
        if feasible:
            record.update(self.evaluator.candidate(bits, step))
            t.train += time.perf_counter() - mark
            mark = time.perf_counter()
            record.update(self._weigh(record))
            self.proposer.update(bits, record["objective"], True)
        else:
            self.proposer.update(bits, None, False)
        t.update += time.perf_counter() - mark
        record["wall_s"] = time.perf_counter() - started
        return record

    def _weigh(self, record: dict) -> dict:
        """A trained sample's objective, weighted loss and threshold flag under this run's objective."""
        ev = self.objective.evaluate(
            cross_entropy=record["ce"], latency=record["latency_ms"], latency_8=self.reference["latency_ms"],
            cross_entropy_8=self.reference["ce"], accuracy=record["top1"] / 100.0, size=record["size_bytes"],
        )  # fmt: skip
        threshold = self.config.threshold
        return {"objective": ev.value, "loss": ev.loss,
                "meets_threshold": threshold is None or record["top1"] / 100.0 >= threshold}  # fmt: skip

    def _rank(self, record: dict) -> tuple:
        """What the chosen sample maximises (`CHOICE_RULES`); a tie keeps the earlier step."""
        primary = record["top1"] if self.config.choose == "accuracy" else record["objective"]
        return record["meets_threshold"], primary, record["objective"]

    def _consider(self, record: dict) -> None:
        """Makes `record` the chosen sample if it was trained and ranks above the current choice."""
        if record["evaluated"] and (self.best is None or self._rank(record) > self._rank(self.best)):
            self.best = {k: record[k] for k in _BEST_FIELDS}

    # -- checkpoint ---------------------------------------------------------------------------

    def _save(self, step: int, *, with_model: bool = True) -> None:
        state = {
            "step": step,
            "config": self.config.to_dict(),
            "hw_sha256": self._hw_hash(),
            "proposer": self.proposer.state(),
            "reference": self.reference,
            "best": self.best,
            "finals": self.finals,
            "best_pt": self.best_pt,
        }
        if with_model and self.config.protocol == "continued":
            store.save_model_state(
                {"model": self.model.state_dict(), "optimizer": self.evaluator.optimizer.state_dict()},
                self.out / store.MODEL_STATE_FILE,
            )
        store.save_json(state, self.out / store.CHECKPOINT_FILE)

    def _restore(self, state: dict, records: list[dict]) -> int:
        saved = SearchConfig.from_dict(state["config"])
        changed = self.config.mismatches(saved)
        if changed:
            details = ", ".join(f"{n}={getattr(saved, n)!r} (now {getattr(self.config, n)!r})" for n in changed)
            raise ConfigError(
                f"cannot resume {self.out}: it was started with {details}; use the same options or another --out",
                field=changed[0],
            )
        if state.get("hw_sha256") != self._hw_hash():
            raise ConfigError(
                f"cannot resume {self.out}: the hardware config {self.config.hw!r} changed since the search "
                "started (its latencies would not compare with the reference); restore it or choose another --out",
                field="hw",
            )
        self.reference, self.finals = state["reference"], state.get("finals", {})
        if any(getattr(saved, name) != getattr(self.config, name) for name in OBJECTIVE_FIELDS):
            # Only a run whose samples do not follow the objective gets here (`mismatches`).
            for record in records:
                if record["evaluated"]:
                    record.update(self._weigh(record))
            store.write_history(self.out / store.HISTORY_FILE, records)
        saved_best = state["best"]
        # Saved before best_pt existed: best.pt was written when the chosen allocation's final ran.
        legacy = allocation_key(saved_best["bits"]) if saved_best else None
        self.best_pt = state.get("best_pt", legacy if legacy in self.finals else None)
        self.best = None
        for record in records:
            self._consider(record)
        self.proposer = make_proposer(self.config, len(self.searched), state["proposer"], self._proposer_choices())
        if self.config.protocol == "continued":
            saved_model = store.load_model_state(self.out / store.MODEL_STATE_FILE)
            self.model.load_state_dict(saved_model["model"])
            self.evaluator.optimizer.load_state_dict(saved_model["optimizer"])
        else:
            for r in records:  # a candidate measured before the kill gives the same figures again
                if r["evaluated"]:
                    self.evaluator.memo[tuple(r["bits"])] = {k: r[k] for k in ("ce", "top1", "top5")}
        return int(state["step"])

    def _hw_hash(self) -> str:
        return hashlib.sha256(self.hw.to_toml().encode()).hexdigest()

    def _write_meta(self, **extra) -> None:
        meta = {
            "config": self.config.to_dict(),
            "budget": self.config.budget(),
            "final_budget": self.config.final_budget(),
            "hw": self.hw.name,
            "num_classes": self.data.num_classes,
            "start": self.start,
            "searched": self.searched,
            "fixed": {n: list(b) for n, b in self.fixed.items()},
            "choices": dict(zip(self.searched, self.choices)),
            "reference": self.reference,
            **extra,
        }
        store.save_json(meta, self.out / store.SEARCH_FILE)

    # -- the loop -----------------------------------------------------------------------------

    def run(self, *, resume: bool = False) -> SearchResult:
        self._leading = distributed.world_size() > 1
        self._followers_started = False
        try:
            with store.folder_lock(self.out):
                return self._run(resume)
        finally:
            if self._leading and self._followers_started:  # whatever happened, the other ranks stop waiting
                ranks.release()
            elif self._leading:
                ranks.start(False)

    def follow(self) -> None:
        """Another torchrun rank: build the same model, then fine-tune what rank 0 asks for."""
        if ranks.wait_for_start():
            self._build()
            ranks.follow(self.evaluator)

    def _run(self, resume: bool) -> SearchResult:
        from .final import FinalStage

        history_path = self.out / store.HISTORY_FILE
        if resume:
            state, records = store.resume_state(self.out)  # refuses a folder whose files disagree
        elif store.holds_search(self.out):
            raise ConfigError(
                f"{self.out} already holds a search; pass --resume to continue it or choose another --out",
                field="out",
            )
        if self._leading:
            ranks.start(True)
            self._followers_started = True
        self._build()
        start = 0
        if resume:
            start = self._restore(state, records)
        else:
            self.best, self.finals, self.best_pt = None, {}, None
            self.reference = self._reference()  # the quality gate, before anything is written
            store.write_history(history_path, [])
            self.proposer = make_proposer(self.config, len(self.searched), choices=self._proposer_choices())
            self._save(0)
            records = []
        self._write_meta()
        bar = tqdm(range(start + 1, self.config.steps + 1), desc="search", initial=start,
                   total=self.config.steps, disable=not self.progress)  # fmt: skip
        for step in bar:
            record = self._step(step)
            mark = time.perf_counter()
            store.append_record(history_path, record)
            records.append(record)
            self.timings.history += time.perf_counter() - mark
            mark = time.perf_counter()
            self._consider(record)
            self._save(step)
            self.timings.checkpoint += time.perf_counter() - mark
            if record["evaluated"]:
                bar.set_postfix(top1=f"{record['top1']:.1f}", lat=f"{record['latency_ms']:.3g}ms",
                                obj=f"{record['objective']:+.3f}")  # fmt: skip
        stage = FinalStage(self, records)
        final, final_pareto, baselines = stage.run()
        self._write_meta(final=final, final_pareto=final_pareto, baselines=baselines, best=self.best)
        return SearchResult(
            self.out, self.best, self.reference, baselines, records, store.pareto_front(records),
            final, final_pareto, self.timings,
        )  # fmt: skip

    def checkpoint_finals(self) -> None:
        """Persist the final-stage results measured so far (a kill there resumes without redoing them).
        The model now holds a final-stage fine-tune, not the continued protocol's chain: not saved."""
        self._save(self.config.steps, with_model=False)

    def best_model(self) -> dict:
        """The model as the final stage left it, in the layout `best.pt` stores."""
        from amed.quant import get_allocation

        return {
            "model": self.config.model,
            "dataset": self.config.dataset,
            "allocation": {n: list(b) for n, b in get_allocation(self.model, include_fixed=True).items()},
            "state_dict": {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in self.model.state_dict().items()},
        }


def allocation_key(bits) -> str:
    """A JSON key for a bit vector (the final stage's results are stored by it)."""
    return json.dumps(list(bits))
