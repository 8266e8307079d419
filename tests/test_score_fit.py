"""The ridge score update: the fit against objectives with known per-layer effects, and its place
in the proposer."""

from __future__ import annotations

import numpy as np
import pytest

from amed.errors import SamplerError
from amed.search.proposers import AmedProposer
from amed.search.score_fit import RIDGE_WARMUP, ridge_scores
from amed.simcore import Sampler

BITS = [2, 3, 4, 8]
#: Effect of each width in each layer on the objective, 8 bits being the reference.
EFFECTS = np.array([[-0.30, -0.10, -0.02, 0.0], [0.05, 0.02, 0.01, 0.0], [-0.50, 0.00, 0.03, 0.0]])


def _samples(count: int, seed: int = 0) -> list[tuple[list[int], float]]:
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        bits = [int(b) for b in rng.choice(BITS, len(EFFECTS))]
        samples.append((bits, 0.7 + sum(EFFECTS[l][BITS.index(b)] for l, b in enumerate(bits))))
    return samples


def test_the_fit_recovers_known_effects_in_units_of_the_spread():
    samples = _samples(200)
    spread = np.std([value for _, value in samples])
    fitted = np.array(ridge_scores(samples, BITS, penalty=1e-9))
    assert fitted * spread == pytest.approx(EFFECTS, abs=1e-6)


def test_the_penalty_shrinks_toward_the_widest_width():
    samples = _samples(40)
    loose, tight = (np.abs(ridge_scores(samples, BITS, penalty=p)).sum() for p in (1e-9, 50.0))
    assert 0 < tight < loose


def test_nothing_is_fitted_below_the_warmup_and_an_unused_width_scores_zero():
    assert ridge_scores(_samples(RIDGE_WARMUP - 1), BITS) is None
    samples = [([b if b != 3 else 4 for b in bits], value) for bits, value in _samples(RIDGE_WARMUP)]
    fitted = np.array(ridge_scores(samples, BITS))
    assert (fitted[:, BITS.index(3)] == 0).all() and (fitted[:, BITS.index(8)] == 0).all()
    assert (fitted[:, BITS.index(2)] != 0).all()


@pytest.mark.parametrize("score_update", ["ema", "ridge"])
def test_the_proposer_takes_the_fit_only_under_ridge(score_update):
    proposer = AmedProposer(Sampler(3, BITS, seed=0, temperature=0.3, ema=0.05, score_init="zeros"), "normalized",
                            score_update=score_update)  # fmt: skip
    samples = _samples(RIDGE_WARMUP)
    for bits, value in samples:
        proposer.update(bits, value, True)
    fitted = ridge_scores(samples, BITS)
    if score_update == "ridge":
        np.testing.assert_allclose(proposer.sampler.scores(), fitted, atol=1e-12)
    else:
        assert not np.allclose(proposer.sampler.scores(), fitted, atol=1e-3)


def test_an_over_cap_sample_is_not_fitted():
    proposer = AmedProposer(Sampler(3, BITS, seed=0, score_init="zeros"), "normalized", score_update="ridge")
    proposer.update([2, 2, 2], None, False)
    assert proposer.samples == []


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([[0.0] * 4] * 2, "has 2 rows, expected 3"),
        ([[0.0] * 4, [0.0] * 4, [0.0] * 3], "row 2 has 3 entries, expected 4"),
        ([[0.0] * 4, [0.0] * 4, [0.0, float("inf"), 0.0, 0.0]], "row 2 has a non-finite entry"),
    ],
)
def test_set_scores_rejects_a_bad_matrix_naming_the_field(scores, message):
    sampler = Sampler(3, BITS, seed=0, score_init="uniform")
    before = sampler.scores()
    with pytest.raises(SamplerError, match=message) as caught:
        sampler.set_scores(scores)
    assert caught.value.field == "scores"
    assert sampler.scores() == before


@pytest.mark.parametrize(
    "samples",
    ["junk", [[[2, 2], 0.1]], [[[2, 2, 5], 0.1]], [[[2, 2, 2], "x"]], [[[2, 2, 2], float("nan")]], [[[2, 2, True], 0.1]]],
)
def test_a_damaged_saved_sample_list_is_refused_naming_the_field(samples):
    from amed.search import SearchConfig
    from amed.search.proposers import make_proposer

    saved = {"sampler": Sampler(3, BITS, score_init="zeros").state_json(), "rewards": [0.0], "samples": samples}
    with pytest.raises(SamplerError, match="samples are damaged") as caught:
        make_proposer(SearchConfig(dataset="digits", score_update="ridge"), 3, saved)
    assert caught.value.field == "samples"
