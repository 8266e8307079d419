"""The statistics of a study: hypervolume of a run's final points, paired tests, rank correlation, CIs.

Hypervolume (HV) of one run: the exact area of the (test top-1, latency) plane dominated by the
run's final points (the chosen allocation and every fine-tuned Pareto point, all evaluated once on
the test split) and bounded by the reference point

    top-1 = chance = 100 / num_classes,    latency = the run's uniform-8-bit reference latency.

Latency is divided by that uniform-8 latency first, so HV is in units of
(top-1 points above chance) x (fraction of uniform-8 latency saved): a single point at 90 % top-1
and half the uniform-8 latency on a 10-class task has HV (90 - 10) x 0.5 = 40. Points no better
than the reference on either axis add nothing, so a run with no useful point has HV 0.

The tests and the interval return dicts of plain numbers with a ``note`` that says when a result
cannot be meaningful (too few values, all-zero differences, constant input) instead of raising, so
a study with few seeds still gets a summary.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import scipy.stats

__all__ = ["bootstrap_ci", "hypervolume", "paired_wilcoxon", "run_hypervolume", "spearman"]

#: Below this many pairs the two-sided exact Wilcoxon p cannot reach 0.05 (its minimum is 2 / 2**n).
WILCOXON_MIN_PAIRS = 6


def hypervolume(points: Iterable[Sequence[float]], ref: Sequence[float]) -> float:
    """Area dominated by ``(top1, latency)`` points (maximise top-1, minimise latency) up to ``ref``.

    A sweep in order of latency: between consecutive latencies the dominated height is the best
    top-1 seen so far. Points with top-1 <= ref top-1 or latency >= ref latency contribute nothing.
    """
    ref_top1, ref_latency = float(ref[0]), float(ref[1])
    useful = sorted(
        (float(lat), float(top1)) for top1, lat in points if float(top1) > ref_top1 and float(lat) < ref_latency
    )
    area, best = 0.0, ref_top1
    for i, (latency, top1) in enumerate(useful):
        best = max(best, top1)
        next_latency = useful[i + 1][0] if i + 1 < len(useful) else ref_latency
        area += (next_latency - latency) * (best - ref_top1)
    return area


def run_hypervolume(points: Iterable[Sequence[float]], num_classes: int, latency_8bit_ms: float) -> float:
    """HV of ``(test top-1 %, latency ms)`` points with the documented reference (module doc)."""
    if latency_8bit_ms <= 0:
        raise ValueError(f"uniform-8 latency must be positive, got {latency_8bit_ms}")
    scaled = [(top1, latency / latency_8bit_ms) for top1, latency in points]
    return hypervolume(scaled, (100.0 / num_classes, 1.0))


def paired_wilcoxon(a: Sequence[float], b: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test of ``a - b`` over pairs; ``note`` says when it is weak or void."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    n = len(a)
    result = {"n": n, "statistic": None, "p": None, "note": None}
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if n < 2:
        result["note"] = f"needs at least 2 pairs, got {n}"
        return result
    if np.all(differences == 0):
        result["note"] = "all differences are zero: no test"
        return result
    test = scipy.stats.wilcoxon(a, b, alternative="two-sided")
    result["statistic"], result["p"] = float(test.statistic), float(test.pvalue)
    if n < WILCOXON_MIN_PAIRS:
        result["note"] = (
            f"p is not meaningful below {WILCOXON_MIN_PAIRS} pairs: the smallest possible p is {2 / 2**n:.3g}"
        )
    return result


def spearman(x: Sequence[float], y: Sequence[float]) -> dict:
    """Spearman rank correlation with its p value; ``note`` instead of NaN for short or constant input."""
    if len(x) != len(y):
        raise ValueError(f"samples differ in length: {len(x)} and {len(y)}")
    n = len(x)
    result = {"n": n, "rho": None, "p": None, "note": None}
    if n < 3:
        result["note"] = f"needs at least 3 points, got {n}"
    elif len(set(x)) < 2 or len(set(y)) < 2:
        result["note"] = "an input is constant: the correlation is not defined"
    else:
        test = scipy.stats.spearmanr(x, y)
        result["rho"], result["p"] = float(test.statistic), float(test.pvalue)
    return result


def bootstrap_ci(
    values: Sequence[float],
    stat: Callable[..., np.ndarray] = np.mean,
    level: float = 0.95,
    resamples: int = 10000,
    seed: int = 0,
) -> dict:
    """Percentile bootstrap CI of ``stat`` from a seeded numpy resample (same input, same interval).

    ``stat`` must accept ``axis`` like ``np.mean`` and ``np.median``. With fewer than 2 values
    there is no interval: ``low`` and ``high`` are None and ``note`` says why.
    """
    data = np.asarray(values, dtype=float)
    n = len(data)
    result: dict = {"n": n, "level": level, "estimate": None, "low": None, "high": None, "note": None}
    if n == 0:
        result["note"] = "no values"
        return result
    result["estimate"] = float(stat(data))
    if n < 2:
        result["note"] = "needs at least 2 values for an interval"
        return result
    rng = np.random.default_rng(seed)
    samples = stat(data[rng.integers(0, n, size=(resamples, n))], axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    result["low"], result["high"] = float(low), float(high)
    return result

