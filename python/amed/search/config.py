"""The settings of one search, validated once, saved with every checkpoint.

Budgets are counted in batches of ``batch_size`` training images:
  * every candidate allocation gets ``batches_per_step`` batches at ``candidate_lr`` (held, or
    decayed on a cosine: ``candidate_schedule``) from the common converged checkpoint
    (``protocol="checkpoint"``), in the same batch order, and is scored on the search-validation split;
  * the final stage gives the chosen allocation, up to ``final_points`` Pareto points and the uniform
    baselines ``final_batches`` batches each at ``final_lr``, again from the same checkpoint and in the
    same batch order, and evaluates them once on the test split.
``protocol="continued"`` is the paper's protocol, kept for reproduction: one model is trained across
all samples at ``candidate_lr``, each sample continuing from the previous one (docs/search.md).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional, Sequence

from amed.act_init import ACT_INITS
from amed.errors import ConfigError
from amed.objective import Objective

__all__ = [
    "ACT_INITS", "CANDIDATE_SCHEDULES", "CHOICE_RULES", "METHODS", "OBJECTIVE_FIELDS", "PROTOCOLS", "REDUNDANT_WIDTHS",
    "REWARDS", "SAMPLER_FIELDS", "SCORE_INITS", "SCORE_UPDATES", "SearchConfig", "default_dataset", "parse_bits",
    "sample_free_fields",
]  # fmt: skip

#: How each step's allocation is chosen: the AMED sampler, a uniformly random allocation
#: (the random-search control), or one fixed uniform bitwidth ("uniform-4").
METHODS = ("amed", "random", "uniform-B")
#: How a candidate is fine-tuned: from the common checkpoint, or continuing the previous sample.
PROTOCOLS = ("checkpoint", "continued")
#: A candidate's learning rate over its batches: held at ``candidate_lr``, or decayed from it to 0 on
#: a cosine like the final stage's, which ranks allocations closer to how they end up (docs/search.md).
CANDIDATE_SCHEDULES = ("constant", "cosine")
#: Which fine-tuned sample becomes the chosen model: the highest objective (β prices every ms), or the
#: most accurate on search-validation, which spends the slack under a latency or size cap on
#: accuracy rather than on speed (docs/search.md).
CHOICE_RULES = ("objective", "accuracy")
#: What the sampler is credited with: the paper's log10 objective, or that objective as an advantage
#: over the earlier samples in units of their spread (docs/sampler.md §6).
REWARDS = ("normalized", "log10")
#: The score matrix's start: all zeros, or U(0, 1) entries as released.
SCORE_INITS = ("zeros", "uniform")
#: How the score matrix follows the rewards: the paper's exponential average (Eqs. 7-8), or a
#: ridge fit of the objective to every evaluated allocation (docs/sampler.md §7).
SCORE_UPDATES = ("ema", "ridge")
#: A width the hardware runs no faster than a wider one in some layer: trained at the wider width,
#: never proposed, or searched like any other (docs/search.md).
REDUNDANT_WIDTHS = ("promote", "drop", "keep")
#: Settings that only the AMED sampler reads: a random or uniform run is the same run whatever they say.
SAMPLER_FIELDS = {"ema", "temperature", "score_init", "score_update", "reward", "infeasible_penalty"}
#: Settings that only weigh a trained sample (the objective, Eq. 1-2). AMED's proposals follow them;
#: a random or uniform run's samples do not, so resuming one under new weights weighs its samples
#: again and trains only a new choice.
OBJECTIVE_FIELDS = {"alpha", "beta", "threshold", "penalty"}


def sample_free_fields(method: str) -> set[str]:
    """Settings a finished run of `method` may change without changing its samples: the choice rule
    and the baselines (the final stage trains what they ask for), and for a random or uniform run
    the AMED sampler's settings and the objective's weights (resuming weighs its samples again)."""
    return {"choose", "baselines"} | (set() if method == "amed" else SAMPLER_FIELDS | OBJECTIVE_FIELDS)


_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

#: The models a search can use (amed.models builds them), and the budgets each gets unless they are given (steps, batches per candidate, final
#: batches), sized so that a search finishes on a 2-core CPU (docs/search.md has the timings).
#: A candidate's fine-tune costs ResNet-50 about 25 times what it costs ResNet-20.
MODEL_BUDGETS = {
    "resnet20": (64, 16, 256),
    "resnet18": (48, 12, 128),
    "mobilenet_v2": (48, 12, 128),
    "resnet50": (32, 8, 64),
}
_BUDGET_FIELDS = ("steps", "batches_per_step", "final_batches")


def default_dataset() -> str:
    """Fashion-MNIST where the Debian package put it, otherwise scikit-learn's digits (offline)."""
    return "fashion-mnist" if os.path.isdir(_FASHION_MNIST_DIR) else "digits"


def parse_bits(bits: object) -> tuple[int, ...]:
    """Bit choices from "2,3,4,8", (2, 3, 4, 8) or a single int; sorted, distinct, each in 2..8."""
    if isinstance(bits, str):
        parts = [p.strip() for p in bits.split(",") if p.strip()]
    elif isinstance(bits, int) and not isinstance(bits, bool):
        parts = [bits]
    elif isinstance(bits, Sequence):
        parts = list(bits)
    else:
        raise ConfigError(f"--bits must be a list like 2,3,4,8, got {bits!r}", field="bits")
    values = []
    for part in parts:
        text = str(part).strip()
        if isinstance(part, bool) or not text.isdigit():
            raise ConfigError(f"--bits must be integers like 2,3,4,8, got {bits!r}", field="bits")
        values.append(int(text))
    values = sorted(set(values))
    if not values or any(not 2 <= b <= 8 for b in values):
        raise ConfigError(f"--bits must be integers in 2..8, got {bits!r}", field="bits")
    return tuple(values)


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


@dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search's result (``out``, ``steps`` and ``threads`` aside).

    Objective (docs/sampler.md, ``amed.objective``): ``alpha`` and ``beta`` weight CE and the latency
    ratio; ``threshold`` is the accuracy fraction tau below which ``penalty`` (log10 units per
    unit of accuracy) applies; ``max_size`` caps the model size in bytes and ``max_latency`` the
    simulated latency in ms (a proposal over a cap is drawn again, never trained: docs/search.md).
    ``choose``: the chosen model is the sample with the highest objective, or the most accurate one
    on search-validation (`CHOICE_RULES`); samples meeting ``threshold`` come first either way.
    ``redundant_widths``: what happens, without a size cap, to a layer's width that a wider choice
    runs no slower on ``hw`` (`SearchCosts.replacements`): "promote" trains every proposal of it at
    that wider width, "drop" takes it out of the layer's choices, "keep" leaves it be.
    Sampler: ``ema`` (gamma of Eq. 7), ``temperature`` (T of Algorithm 1), ``score_init`` (S_0),
    ``score_update`` (Eq. 7's average or a ridge fit, `SCORE_UPDATES`), ``reward`` (what Eq. 8
    credits), ``infeasible_penalty`` (None: the literal size mask of Eq. 8;
    a value v: over-cap samples are credited -v).
    ``weights``: None starts from the converged 8-bit checkpoint of ``amed pretrain`` (trained and
    cached on first use), "none" from random weights, "torchvision" or a path from those weights.
    ``steps``, ``batches_per_step``, ``final_batches``: None takes the model's `MODEL_BUDGETS`.
    ``max_grad_norm``: None, or the global L2 norm every fine-tune's gradient is clipped to.
    ``act_init``: how an activation step is initialised when a layer's bits change (`ACT_INITS`):
    the MSE-optimal step on the first batch, or the paper's Eq. 9 (docs/search.md).
    ``device``: auto, cpu, cuda or cuda:N (`amed.device`); results are reproducible per device, not
    across devices (docs/scale.md), so a resumed search keeps its device.
    ``threads``: torch's intra-op threads. One by default: the result is then bit-identical from
    run to run on one machine (not across CPU models, docs/scale.md), and on a busy 2-core host
    more threads oversubscribe the cores and run slower.
    """

    model: str = "resnet20"
    hw: str = "scalesim"
    dataset: str = ""
    out: str = "amed-out"
    method: str = "amed"
    bits: tuple[int, ...] = (2, 3, 4, 8)
    steps: Optional[int] = None
    protocol: str = "checkpoint"
    batches_per_step: Optional[int] = None
    candidate_lr: float = 0.005
    candidate_schedule: str = "constant"
    final_batches: Optional[int] = None
    final_lr: float = 0.01
    max_grad_norm: Optional[float] = None
    act_init: str = "mse"
    final_points: int = 3
    baselines: bool = True
    alpha: float = 1.0
    beta: float = 1.0
    ema: float = 0.05
    temperature: float = 0.3
    score_init: str = "zeros"
    score_update: str = "ema"
    reward: str = "normalized"
    threshold: Optional[float] = None
    penalty: float = 1.0
    max_size: Optional[float] = None
    max_latency: Optional[float] = None
    choose: str = "objective"
    redundant_widths: str = "promote"
    infeasible_penalty: Optional[float] = None
    weight_decay: float = 1e-4
    batch_size: int = 32
    train_subset: Optional[int] = None
    val_subset: Optional[int] = 1000
    test_subset: Optional[int] = 5000
    weights: Optional[str] = None
    compat: str = "scalesim-v3"
    seed: int = 0
    threads: int = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.model not in MODEL_BUDGETS:
            raise ConfigError(f"unknown --model {self.model!r}; valid: {', '.join(MODEL_BUDGETS)}", field="model")
        if not self.dataset:
            object.__setattr__(self, "dataset", default_dataset())
        object.__setattr__(self, "bits", parse_bits(self.bits))
        budget = dict(zip(_BUDGET_FIELDS, MODEL_BUDGETS[self.model]))
        for name in _BUDGET_FIELDS:
            if getattr(self, name) is None:
                object.__setattr__(self, name, budget[name])
        for name in ("steps", "final_batches", "final_points", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{_flag(name)} must be an integer >= 0, got {value!r}", field=name)
        for name in ("batches_per_step", "batch_size", "threads", "train_subset", "val_subset", "test_subset"):
            value = getattr(self, name)
            if value is None and name.endswith("_subset"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{_flag(name)} must be a positive integer, got {value!r}", field=name)
        for name in ("candidate_lr", "final_lr", "temperature", "ema", "alpha", "beta", "penalty", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{_flag(name)} must be a finite number, got {value!r}", field=name)
            if value < 0 or (value == 0 and name in ("candidate_lr", "temperature", "ema")):
                raise ConfigError(f"{_flag(name)} must be positive, got {value!r}", field=name)
        for name in ("max_size", "max_latency", "max_grad_norm"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{_flag(name)} must be a positive number, got {value!r}", field=name)
        if self.ema > 1:
            raise ConfigError(f"--ema must lie in (0, 1], got {self.ema!r}", field="ema")
        if self.threshold is not None and not 0 <= self.threshold <= 1:
            raise ConfigError(f"--threshold is an accuracy fraction in [0, 1], got {self.threshold!r}", field="threshold")
        for name, valid in (("protocol", PROTOCOLS), ("reward", REWARDS), ("score_init", SCORE_INITS),
                            ("score_update", SCORE_UPDATES),
                            ("redundant_widths", REDUNDANT_WIDTHS), ("candidate_schedule", CANDIDATE_SCHEDULES),
                            ("choose", CHOICE_RULES), ("act_init", ACT_INITS)):
            if getattr(self, name) not in valid:
                raise ConfigError(
                    f"unknown {_flag(name)} {getattr(self, name)!r}; valid: {', '.join(valid)}", field=name
                )
        if self.protocol == "continued" and self.candidate_schedule != "constant":
            raise ConfigError(
                "--candidate-schedule cosine needs --protocol checkpoint: under the paper's continued protocol one "
                "model trains across the samples at a constant --candidate-lr",
                field="candidate_schedule",
            )
        self.uniform_bits()  # validates the method name

    def uniform_bits(self) -> Optional[int]:
        """The bitwidth of a "uniform-B" method, None for "amed" and "random"."""
        if self.method in ("amed", "random"):
            return None
        prefix, _, value = self.method.partition("-")
        if prefix == "uniform" and value.isdigit() and int(value) in self.bits:
            return int(value)
        raise ConfigError(
            f"unknown --method {self.method!r}; valid: amed, random, or uniform-B with B one of "
            f"--bits {','.join(map(str, self.bits))}",
            field="method",
        )

    def baseline_widths(self) -> list[int]:
        """The uniform widths the final stage trains: every bit choice, and 8 (the reference)."""
        return sorted(set(self.bits) | {8}, reverse=True)

    def objective(self) -> Objective:
        """The objective (Eq. 1-2) and caps every sample of this search is weighed and checked by."""
        return Objective(
            alpha=self.alpha, beta=self.beta, accuracy_threshold=self.threshold,
            accuracy_penalty=self.penalty if self.threshold is not None else 0.0, size_cap=self.max_size,
            latency_cap=self.max_latency,
        )  # fmt: skip

    def budget(self) -> str:
        """One candidate's fine-tune budget in words."""
        decay = " (cosine)" if self.candidate_schedule == "cosine" else ""
        return f"{self.batches_per_step} batches of {self.batch_size} at lr {self.candidate_lr:g}{decay}"

    def final_budget(self) -> str:
        """The final stage's fine-tune budget in words."""
        return f"{self.final_batches} batches of {self.batch_size} at lr {self.final_lr:g} (cosine)"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["bits"] = list(self.bits)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "SearchConfig":
        known = {f.name for f in fields(cls)}
        # Saved before these options existed: every width searched, a constant candidate learning
        # rate, activation steps initialised by Eq. 9.
        data = {"redundant_widths": "keep", "candidate_schedule": "constant", "act_init": "max", **data}
        return cls(**{k: (tuple(v) if k == "bits" else v) for k, v in data.items() if k in known})

    def mismatches(self, saved: "SearchConfig") -> list[str]:
        """Fields that differ from a saved run's and would change its samples (``steps`` may grow;
        ``choose`` may change, since it only picks among the samples, and the final stage then
        trains the new choice; so may ``baselines``, which only adds final-stage models;
        ``threads`` counts, since torch's reductions depend on it; the sampler's settings and the
        objective's weights count only for AMED)."""
        ignored = {"out", "steps"} | sample_free_fields(self.method)
        return [
            f.name
            for f in fields(self)
            if f.name not in ignored and getattr(self, f.name) != getattr(saved, f.name)
        ]

    @property
    def out_dir(self) -> Path:
        return Path(self.out)
