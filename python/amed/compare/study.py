"""The study's settings from loose command-line values, all checked before any folder is made.

The command line hands over text (``--betas 0.5,1``, ``--options '{...}'``); the Python API may also
pass an int, a tuple or a dict; each is taken back here, and every mistake is a ConfigError naming its flag.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from amed.errors import ConfigError

__all__ = ["METHODS", "Study", "run_name"]

#: The proposers a study compares (uniform widths come from each run's baselines instead).
METHODS = ("amed", "random")

#: SearchConfig fields the study sets itself, so --options may not.
_MANAGED = {
    "method": "--methods",
    "beta": "--betas",
    "seed": "--seeds",
    "out": "--out",
    "baselines": "the study (first method and beta of each seed)",
    "model": "--model",
    "hw": "--hw",
    "dataset": "--dataset",
    "steps": "--steps",
    "device": "--device",
}


def run_name(method: str, beta: float, seed: int) -> str:
    """The run folder's name, e.g. ``amed-b1-s0``."""
    return f"{method}-b{beta:g}-s{seed}"


def _items(value: Any, flag: str) -> list:
    """A comma-separated string, a tuple or list, or a single value, as a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    if value is None or isinstance(value, dict):
        raise ConfigError(f"{flag} expects a comma-separated list, got {value!r}", field=flag.lstrip("-"))
    return [value]


def _methods(value: Any) -> tuple[str, ...]:
    methods = [str(m) for m in _items(value, "--methods")]
    if not methods:
        raise ConfigError("--methods must name at least one of amed, random", field="methods")
    for method in methods:
        if method not in METHODS:
            raise ConfigError(f"unknown --methods entry {method!r}: valid are amed, random", field="methods")
    if len(set(methods)) != len(methods):
        raise ConfigError(f"--methods has a duplicate: {value!r}", field="methods")
    return tuple(methods)


def _betas(value: Any) -> tuple[float, ...]:
    betas = []
    for item in _items(value, "--betas"):
        try:
            beta = float(item) if not isinstance(item, bool) else math.nan
        except (TypeError, ValueError):
            beta = math.nan
        if not math.isfinite(beta) or beta < 0:
            raise ConfigError(f"--betas must be finite numbers >= 0, got {item!r}", field="betas")
        betas.append(beta)
    if not betas:
        raise ConfigError("--betas must list at least one value", field="betas")
    if len({f"{b:g}" for b in betas}) != len(betas):
        raise ConfigError(f"--betas has a duplicate (compared at 6 significant digits): {value!r}", field="betas")
    return tuple(betas)


def _seeds(value: Any) -> tuple[int, ...]:
    seeds = []
    for item in _items(value, "--seeds"):
        text = str(item)
        if isinstance(item, bool) or not text.isdigit():
            raise ConfigError(f"--seeds must be integers >= 0, got {item!r}", field="seeds")
        seeds.append(int(text))
    if len(seeds) < 2:
        raise ConfigError(f"--seeds needs at least 2 seeds for a test statistic, got {value!r}", field="seeds")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds has a duplicate: {value!r}", field="seeds")
    return tuple(seeds)


def _positive(value: Any, flag: str, minimum: int) -> int:
    text = str(value)
    if isinstance(value, bool) or not text.lstrip("-").isdigit() or int(text) < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{flag} must be {kind}, got {value!r}", field=flag.lstrip("-"))
    return int(text)


def _options(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--options must be a JSON object, got {value!r} ({error})", field="options") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--options must be a JSON object, got {value!r}", field="options")
    for key in value:
        if key in _MANAGED:
            raise ConfigError(f"--options may not set {key!r}: it is set by {_MANAGED[key]}", field="options")
    return dict(value)


def _text(value: Any, flag: str) -> str:
    if value is None or isinstance(value, (bool, list, tuple, dict)):
        raise ConfigError(f"{flag} expects a name or a path, got {value!r}", field=flag.lstrip("-"))
    return str(value)


@dataclass(frozen=True)
class Study:
    """Methods x betas x seeds of one search setting; ``options`` are extra SearchConfig fields."""

    out: Path
    methods: tuple[str, ...]
    betas: tuple[float, ...]
    seeds: tuple[int, ...]
    jobs: int = 1
    model: str = "resnet20"
    hw: str = "scalesim"
    dataset: Optional[str] = None
    steps: Optional[int] = None
    options: dict = field(default_factory=dict)
    device: Optional[str] = None

    @classmethod
    def parse(
        cls,
        out: Any,
        methods: Any,
        betas: Any,
        seeds: Any,
        jobs: Any = 1,
        model: Any = "resnet20",
        hw: Any = "scalesim",
        dataset: Any = None,
        steps: Any = None,
        options: Any = None,
        device: Any = None,
    ) -> "Study":
        """Validates every value; raises ConfigError naming the flag of the first bad one."""
        return cls(
            out=Path(_text(out, "--out")),
            methods=_methods(methods),
            betas=_betas(betas),
            seeds=_seeds(seeds),
            jobs=_positive(jobs, "--jobs", 1),
            model=_text(model, "--model"),
            hw=_text(hw, "--hw"),
            dataset=None if dataset is None else _text(dataset, "--dataset"),
            steps=None if steps is None else _positive(steps, "--steps", 0),
            options=_options(options),
            device=None if device is None else _text(device, "--device"),
        )

    def fields(self, method: str, beta: float, seed: int) -> dict:
        """The SearchConfig fields of one run (dataset, steps and device only when given)."""
        fields = {"model": self.model, "hw": self.hw, "method": method, "beta": beta, "seed": seed}
        fields["out"] = str(self.out / run_name(method, beta, seed))
        fields["baselines"] = method == self.methods[0] and beta == self.betas[0]
        if self.dataset is not None:
            fields["dataset"] = self.dataset
        if self.steps is not None:
            fields["steps"] = self.steps
        if self.device is not None:
            fields["device"] = self.device
        return {**fields, **self.options}

    def command(self) -> str:
        """The `amed compare` command line that reproduces this study, every setting spelled out."""
        words = ["amed", "compare", "--out", str(self.out), "--methods", ",".join(self.methods)]
        words += ["--betas", ",".join(f"{b:g}" for b in self.betas), "--seeds", ",".join(map(str, self.seeds))]
        words += ["--jobs", str(self.jobs), "--model", self.model, "--hw", self.hw]
        if self.dataset is not None:
            words += ["--dataset", self.dataset]
        if self.steps is not None:
            words += ["--steps", str(self.steps)]
        if self.device is not None:
            words += ["--device", self.device]
        if self.options:
            words += ["--options", json.dumps(self.options, sort_keys=True)]
        return shlex.join(words)
