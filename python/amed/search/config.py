"""The settings of one search, validated once, saved with every checkpoint.

The fine-tune budget is counted in *steps*: one step's budget is ``epochs_per_step`` epochs over
the training set, or ``batches_per_step`` batches when that is set (quick runs). The uniform-8-bit
warm-up gets ``warmup_steps`` of them and each uniform baseline ``baseline_steps``, so every
number in the output says how much training it had in the same unit.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional, Sequence

from amed.errors import ConfigError

__all__ = ["METHODS", "SearchConfig", "default_dataset", "parse_bits"]

#: How each step's allocation is chosen: the AMED sampler, a uniformly random allocation
#: (the random-search control), or one fixed uniform bitwidth ("uniform-4").
METHODS = ("amed", "random", "uniform-B")

_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


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
    try:
        values = sorted({int(p) for p in parts})
    except (TypeError, ValueError):
        raise ConfigError(f"--bits must be integers like 2,3,4,8, got {bits!r}", field="bits") from None
    if not values or any(not 2 <= b <= 8 for b in values):
        raise ConfigError(f"--bits must be integers in 2..8, got {bits!r}", field="bits")
    return tuple(values)


@dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search's result (``out``, ``steps`` and ``progress`` aside).

    Objective (docs/sampler.md, ``amed.objective``): ``alpha`` and ``beta`` weight CE and the latency
    ratio; ``threshold`` is the accuracy fraction tau below which ``penalty`` (log10 units per
    unit of accuracy) applies; ``max_size`` caps the model size in bytes.
    Sampler: ``ema`` (gamma of Eq. 7), ``temperature`` (T of Algorithm 1), ``infeasible_penalty``
    (None: the literal size mask of Eq. 8; a value v: over-cap samples are credited -v).
    ``threads``: torch's intra-op threads. One by default: the result is then bit-identical on
    any machine, and on a busy 2-core host more threads oversubscribe the cores and run slower.
    """

    model: str = "resnet20"
    hw: str = "scalesim"
    dataset: str = ""
    out: str = "amed-out"
    method: str = "amed"
    bits: tuple[int, ...] = (2, 3, 4, 8)
    steps: int = 20
    epochs_per_step: int = 1
    batches_per_step: Optional[int] = 32
    warmup_steps: int = 4
    baseline_steps: int = 1
    baselines: bool = True
    alpha: float = 1.0
    beta: float = 1.0
    ema: float = 0.01
    temperature: float = 1.0
    threshold: Optional[float] = None
    penalty: float = 1.0
    max_size: Optional[float] = None
    infeasible_penalty: Optional[float] = None
    lr: float = 0.02
    weight_decay: float = 1e-4
    schedule: str = "constant"
    batch_size: int = 32
    train_subset: Optional[int] = 2048
    val_subset: Optional[int] = 1000
    weights: Optional[str] = None
    compat: str = "scalesim-v3"
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if not self.dataset:
            object.__setattr__(self, "dataset", default_dataset())
        object.__setattr__(self, "bits", parse_bits(self.bits))
        for name in ("steps", "epochs_per_step", "warmup_steps", "baseline_steps", "batch_size", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 0, got {value!r}", field=name)
        for name in ("batches_per_step", "train_subset", "val_subset", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}", field=name)
        if self.epochs_per_step == 0 and self.batches_per_step is None:
            raise ConfigError("--epochs-per-step must be >= 1 unless --batches-per-step is set", field="epochs_per_step")
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

    def budget(self) -> str:
        """One step's fine-tune budget in words."""
        if self.batches_per_step is not None:
            return f"{self.batches_per_step} batches of {self.batch_size}"
        return f"{self.epochs_per_step} epoch(s)"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["bits"] = list(self.bits)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "SearchConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "bits" else v) for k, v in data.items() if k in known})

    def mismatches(self, saved: "SearchConfig") -> list[str]:
        """Fields that differ from a saved run's and would change its result (``steps`` may grow)."""
        ignored = {"out", "steps", "threads"}
        return [
            f.name
            for f in fields(self)
            if f.name not in ignored and getattr(self, f.name) != getattr(saved, f.name)
        ]

    @property
    def out_dir(self) -> Path:
        return Path(self.out)
