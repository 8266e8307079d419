"""The AMED objective (Eq. 1 inside the reconstructed Eq. 2) against hand computations."""

import math

import pytest

from amed.errors import SamplerError
from amed.objective import Objective


def test_loss_and_reference_follow_eq_1():
    objective = Objective(alpha=1.0, beta=2.0)
    # CE 1.25, latency 30 ms against 40 ms at 8 bit: 1.25 + 2 * 0.75.
    assert objective.loss(1.25, 30.0 / 40.0) == pytest.approx(2.75, abs=1e-15)
    # The 8-bit model's own ratio is 1: L_ref = CE_8 + beta.
    assert objective.reference_loss(1.0) == pytest.approx(3.0, abs=1e-15)


def test_value_is_the_log10_ratio_to_the_8_bit_reference():
    objective = Objective(beta=2.0)
    ev = objective.evaluate(cross_entropy=1.25, latency=30.0, latency_8=40.0, cross_entropy_8=1.0)
    assert ev.latency_ratio == 0.75
    assert ev.loss == pytest.approx(2.75)
    assert ev.reference_loss == pytest.approx(3.0)
    assert ev.value == pytest.approx(math.log10(3.0 / 2.75), abs=1e-15)
    assert ev.feasible
    # The uniform 8-bit model scores exactly 0.
    same = objective.evaluate(cross_entropy=1.0, latency=40.0, latency_8=40.0, cross_entropy_8=1.0)
    assert same.value == 0.0


def test_accuracy_penalty_only_bites_below_the_threshold():
    objective = Objective(beta=1.0, accuracy_threshold=0.70, accuracy_penalty=5.0)
    terms = dict(cross_entropy=1.0, latency=20.0, latency_8=40.0, cross_entropy_8=1.0)
    base = math.log10(2.0 / 1.5)
    assert objective.evaluate(**terms, accuracy=0.75).value == pytest.approx(base, abs=1e-15)
    assert objective.evaluate(**terms, accuracy=0.70).value == pytest.approx(base, abs=1e-15)
    # 2 points below tau: 5 * (0.68 - 0.70) = -0.1 in log10 units.
    assert objective.evaluate(**terms, accuracy=0.68).value == pytest.approx(base - 0.1, abs=1e-12)
    assert objective.accuracy_term(0.60) == pytest.approx(-0.5, abs=1e-12)


def test_size_cap_is_a_hard_mask():
    objective = Objective(size_cap=1000.0)
    terms = dict(cross_entropy=1.0, latency=20.0, latency_8=40.0, cross_entropy_8=1.0)
    assert objective.evaluate(**terms, size=1000.0).feasible
    assert not objective.evaluate(**terms, size=1000.5).feasible
    assert Objective().feasible(None)


def test_latency_cap_is_a_hard_mask_on_the_latency_passed():
    objective = Objective(latency_cap=20.0)
    terms = dict(cross_entropy=1.0, latency_8=40.0, cross_entropy_8=1.0)
    assert objective.evaluate(**terms, latency=20.0).feasible
    assert not objective.evaluate(**terms, latency=20.001).feasible
    both = Objective(size_cap=1000.0, latency_cap=20.0)
    assert both.feasible(1000.0, 20.0)
    assert not both.feasible(1000.5, 10.0) and not both.feasible(10.0, 20.5)
    with pytest.raises(SamplerError) as caught:
        both.feasible(10.0, None)
    assert caught.value.field == "latency"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": -1.0}, "alpha"),
        ({"beta": float("nan")}, "beta"),
        ({"alpha": 0.0, "beta": 0.0}, "beta"),
        ({"accuracy_threshold": 71.0}, "accuracy_threshold"),
        ({"accuracy_penalty": -2.0}, "accuracy_penalty"),
        ({"size_cap": 0.0}, "size_cap"),
        ({"latency_cap": -1.0}, "latency_cap"),
        ({"latency_cap": float("inf")}, "latency_cap"),
    ],
)
def test_bad_parameters_raise_naming_the_field(kwargs, field):
    with pytest.raises(SamplerError) as caught:
        Objective(**kwargs)
    assert caught.value.field == field


def test_bad_measurements_raise_naming_the_field():
    objective = Objective(accuracy_threshold=0.5, accuracy_penalty=1.0, size_cap=10.0)
    terms = dict(cross_entropy=1.0, latency=20.0, latency_8=40.0, cross_entropy_8=1.0, size=5.0)
    cases = [
        ({"accuracy": 71.2}, "accuracy"),  # a percentage, not a fraction
        ({"accuracy": None}, "accuracy"),
        ({"accuracy": 0.6, "size": None}, "size"),
        ({"accuracy": 0.6, "latency_8": 0.0}, "latency_8"),
        ({"accuracy": 0.6, "cross_entropy": -0.1}, "cross_entropy"),
        ({"accuracy": 0.6, "latency": float("inf")}, "latency"),
    ]
    for change, field in cases:
        with pytest.raises(SamplerError) as caught:
            objective.evaluate(**{**terms, **change})
        assert caught.value.field == field, change
    with pytest.raises(SamplerError, match="fractions"):
        objective.accuracy_term(71.2)
