"""The score matrix as a ridge fit of the log-objective to every allocation evaluated so far.

Under the paper's update (Eqs. 7-8) each entry S[l, b] is an exponential average of the rewards of
the samples that put layer l at b, and every other layer's choice in those samples is noise to
it. With a few dozen samples and a reward that mixes 18 layers, that average is a poor estimate of
what b is worth at l. ``score_update="ridge"`` estimates the same quantity jointly: the objective
is regressed on the allocations' one-hot encoding, each layer's widest choice being the reference
(score 0), and S is set to the coefficients in units of the objective's spread. The chain, its
temperature and its proposal are unchanged; only how S is estimated differs (docs/sampler.md §7).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["RIDGE_PENALTY", "RIDGE_WARMUP", "ridge_scores"]

#: The ridge penalty on the coefficients, in units of one sample's squared weight: it shrinks a
#: width seen in few samples toward its layer's widest width (score 0).
RIDGE_PENALTY = 5.0
#: Samples needed before the fit replaces the paper's update; the first ones keep Eq. 7-8.
RIDGE_WARMUP = 16
#: Floor of the objective's spread, as for the normalised reward.
_MIN_SPREAD = 1e-3


def ridge_scores(
    samples: Sequence[tuple[Sequence[int], float]], bits: Sequence[int], penalty: float = RIDGE_PENALTY
) -> Optional[list[list[float]]]:
    """S fitted to `samples` (allocation as bitwidths per layer, objective value), one row per layer
    and one column per entry of `bits`; None below `RIDGE_WARMUP` samples.

    The objective is standardised, (value - mean) / spread, and fitted as an intercept plus one
    coefficient per (layer, width) other than the layer's widest, with the penalty on the
    coefficients only. A width that no sample used scores 0, like the widest.
    """
    if len(samples) < RIDGE_WARMUP:
        return None
    columns = list(bits)
    widest = columns.index(max(columns))
    num_layers = len(samples[0][0])
    k = len(columns)
    design = np.zeros((len(samples), 1 + num_layers * k))
    design[:, 0] = 1.0
    for row, (allocation, _) in enumerate(samples):
        for layer, width in enumerate(allocation):
            column = columns.index(width)
            if column != widest:
                design[row, 1 + layer * k + column] = 1.0
    values = np.array([value for _, value in samples], dtype=float)
    target = (values - values.mean()) / max(float(values.std()), _MIN_SPREAD)
    ridge = penalty * np.eye(design.shape[1])
    ridge[0, 0] = 0.0
    # Columns no sample used have zero rows and columns in the normal matrix; the penalty keeps it
    # invertible and their coefficients at 0.
    fitted = np.linalg.solve(design.T @ design + ridge, design.T @ target)
    return fitted[1:].reshape(num_layers, k).tolist()
