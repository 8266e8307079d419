"""The AMED search objective: Eq. 1 inside the reconstructed Eq. 2 (docs/sampler.md).

For an allocation ``b`` the weighted loss is (Eq. 1)::

    L(b) = alpha * CE(b) + beta * latency(b) / latency_8

and the reference is the uniform 8-bit model, whose latency ratio is 1::

    L_ref = alpha * CE_8 + beta

with ``CE_8`` measured on the 8-bit model, never assumed. The value the sampler maximises is
the log of Eq. 2, in base 10 as in Eq. 8::

    value(b) = log10(L_ref / L(b)) + accuracy_penalty * min(0, accuracy(b) - accuracy_threshold)

so the accuracy term is the factor ``10 ** (accuracy_penalty * min(0, acc - tau))`` of Eq. 2,
which only bites below the threshold and grows more negative the further accuracy falls. The
size mask of Eq. 2 is a hard filter: ``size(b) <= size_cap`` (``feasible``), and a latency target
is a second one, ``latency(b) <= latency_cap``; an infeasible sample's value is not used (see the
sampler's ``feasible`` argument).

Units: accuracy is a fraction in [0, 1] (not a percentage); sizes are bytes; latencies may be in
any unit as long as ``latency`` and ``latency_8`` share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from amed.errors import SamplerError

__all__ = ["Evaluation", "Objective"]


def _finite(value: float, field: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise SamplerError(f"{field} must be a finite number, got {value}", field=field)
    return value


def _fraction(value: float, field: str) -> float:
    value = _finite(value, field)
    if not 0.0 <= value <= 1.0:
        hint = " (accuracies are fractions, e.g. 0.712 for 71.2 %)" if 1.0 < value <= 100.0 else ""
        raise SamplerError(f"{field} must lie in [0, 1], got {value}{hint}", field=field)
    return value


@dataclass(frozen=True)
class Evaluation:
    """One allocation's objective terms; ``value`` and ``feasible`` go to ``Sampler.update``."""

    value: float
    loss: float
    reference_loss: float
    latency_ratio: float
    feasible: bool


@dataclass(frozen=True)
class Objective:
    """The parameters of the AMED objective (see the module docstring for the formulas).

    Attributes:
        alpha: weight of the cross-entropy term of Eq. 1 (the paper keeps it at 1).
        beta: weight of the latency term; larger values favour faster allocations.
        accuracy_threshold: tau, the accuracy (fraction in [0, 1]) below which the penalty
            applies; ``None`` disables the penalty.
        accuracy_penalty: lambda_acc >= 0, in log10 units per unit of accuracy below tau
            (0.5 makes a 2-point drop below tau cost 0.01, i.e. a factor 10**-0.01 in Eq. 2).
        size_cap: S_max in bytes; ``None`` means no size limit.
        latency_cap: the latency target, in the unit of the latencies passed to ``feasible``;
            ``None`` means no latency limit.
    """

    alpha: float = 1.0
    beta: float = 1.0
    accuracy_threshold: Optional[float] = None
    accuracy_penalty: float = 0.0
    size_cap: Optional[float] = None
    latency_cap: Optional[float] = None

    def __post_init__(self) -> None:
        for field in ("alpha", "beta", "accuracy_penalty"):
            if _finite(getattr(self, field), field) < 0.0:
                raise SamplerError(f"{field} must not be negative", field=field)
        if self.alpha == 0.0 and self.beta == 0.0:
            raise SamplerError("alpha and beta cannot both be 0", field="beta")
        if self.accuracy_threshold is not None:
            _fraction(self.accuracy_threshold, "accuracy_threshold")
        if self.size_cap is not None and not _finite(self.size_cap, "size_cap") > 0.0:
            raise SamplerError(f"size_cap must be positive, got {self.size_cap}", field="size_cap")
        if self.latency_cap is not None and not _finite(self.latency_cap, "latency_cap") > 0.0:
            raise SamplerError(f"latency_cap must be positive, got {self.latency_cap}", field="latency_cap")

    def loss(self, cross_entropy: float, latency_ratio: float) -> float:
        """Eq. 1: alpha * CE + beta * latency / latency_8."""
        ce = _finite(cross_entropy, "cross_entropy")
        ratio = _finite(latency_ratio, "latency_ratio")
        if ce < 0.0 or ratio <= 0.0:
            raise SamplerError(
                f"need cross_entropy >= 0 and latency_ratio > 0, got {ce} and {ratio}",
                field="cross_entropy" if ce < 0.0 else "latency_ratio",
            )
        return self.alpha * ce + self.beta * ratio

    def reference_loss(self, cross_entropy_8: float) -> float:
        """L_ref: Eq. 1 for the uniform 8-bit model (latency ratio 1) with its measured CE."""
        return self.loss(cross_entropy_8, 1.0)

    def accuracy_term(self, accuracy: Optional[float]) -> float:
        """lambda_acc * min(0, accuracy - tau); 0 when no threshold is set."""
        if self.accuracy_threshold is None:
            return 0.0
        if accuracy is None:
            raise SamplerError("an accuracy threshold is set, so accuracy is needed", field="accuracy")
        return self.accuracy_penalty * min(0.0, _fraction(accuracy, "accuracy") - self.accuracy_threshold)

    def feasible(self, size: Optional[float], latency: Optional[float] = None) -> bool:
        """The size mask of Eq. 2 and the latency target: size <= size_cap and latency <=
        latency_cap (a cap that is not set always holds)."""
        return self._within(size, self.size_cap, "size") and self._within(latency, self.latency_cap, "latency")

    @staticmethod
    def _within(value: Optional[float], cap: Optional[float], field: str) -> bool:
        if cap is None:
            return True
        if value is None:
            raise SamplerError(f"a {field} cap is set, so the model {field} is needed", field=field)
        return _finite(value, field) <= cap

    def evaluate(
        self,
        *,
        cross_entropy: float,
        latency: float,
        latency_8: float,
        cross_entropy_8: float,
        accuracy: Optional[float] = None,
        size: Optional[float] = None,
    ) -> Evaluation:
        """All terms for one evaluated allocation (latency and latency_8 in the same unit)."""
        latency_8 = _finite(latency_8, "latency_8")
        if latency_8 <= 0.0:
            raise SamplerError(f"latency_8 must be positive, got {latency_8}", field="latency_8")
        ratio = _finite(latency, "latency") / latency_8
        loss = self.loss(cross_entropy, ratio)
        reference = self.reference_loss(cross_entropy_8)
        if loss == 0.0:
            raise SamplerError("the weighted loss is 0, so its log-ratio is undefined", field="cross_entropy")
        value = math.log10(reference / loss) + self.accuracy_term(accuracy)
        return Evaluation(value, loss, reference, ratio, self.feasible(size, latency))
