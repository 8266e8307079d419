"""The Python face of the AMED sampler: determinism, exact resume through JSON, the update rule
and typed errors."""

import json
import math

import pytest

from amed.errors import SamplerError
from amed.simcore import Sampler


def drive(sampler, rounds, start=0):
    """Update-then-propose rounds with a deterministic reward; every fourth is over the cap."""
    seen = []
    for round_ in range(start, start + rounds):
        evaluated = sampler.current
        reward = 0.2 - 0.01 * sum(evaluated) / len(evaluated)
        sampler.update(evaluated, reward, feasible=round_ % 4 != 3)
        seen.append(sampler.propose())
    return seen


def test_same_seed_same_sequence():
    first = drive(Sampler(12, seed=42, ema=0.2), 200)
    assert first == drive(Sampler(12, seed=42, ema=0.2), 200)
    assert first != drive(Sampler(12, seed=43, ema=0.2), 200)


def test_chain_starts_from_uniform_8_bit_and_proposes_known_bitwidths():
    sampler = Sampler(53, seed=0)
    assert sampler.current == [8] * 53
    assert set(sampler.propose()) <= {2, 3, 4, 8}
    assert Sampler(3, bits=[4, 8], initial=[4, 8, 4]).current == [4, 8, 4]


def test_state_round_trips_through_python_json_and_continues_the_sequence():
    uninterrupted = Sampler(9, seed=7, ema=0.1)
    expected = drive(uninterrupted, 120)

    original = Sampler(9, seed=7, ema=0.1)
    got = drive(original, 45)
    # A checkpoint writer re-encodes the document; floats and the 128-bit RNG position survive.
    document = json.dumps(json.loads(original.state_json()))
    restored = Sampler.from_state_json(document)
    assert restored.scores() == original.scores()
    got += drive(restored, 75, start=45)

    assert got == expected
    assert restored.state_json() == uninterrupted.state_json()
    assert (restored.steps, restored.updates) == (120, 120)


def test_marginals_are_distributions_and_stationary_is_their_square():
    sampler = Sampler(5, seed=3, temperature=0.7)
    drive(sampler, 30)
    for pi, stationary in zip(sampler.marginals(), sampler.stationary()):
        assert math.fsum(pi) == pytest.approx(1.0, abs=1e-12)
        assert math.fsum(stationary) == pytest.approx(1.0, abs=1e-12)
        norm = math.fsum(p * p for p in pi)
        assert stationary == pytest.approx([p * p / norm for p in pi], rel=1e-12)


def test_update_is_the_ema_of_the_log_ratio():
    sampler = Sampler(2, seed=0, ema=0.5, score_init="zeros", infeasible_penalty=0.4)
    reward = math.log10(2.5 / 2.0)  # L_ref = 2.5, L(b) = 2.0
    sampler.update([4, 8], reward)
    flat = [s for row in sampler.scores() for s in row]
    assert flat == pytest.approx([0, 0, reward / 2, 0, 0, 0, 0, reward / 2], abs=1e-16)
    sampler.update([2, 8], None, feasible=False)  # the penalty 0.4 replaces the reward
    flat = [s for row in sampler.scores() for s in row]
    assert flat == pytest.approx([-0.2, 0, reward / 4, 0, 0, 0, 0, reward / 4 - 0.2], abs=1e-16)


def test_run_additive_equals_the_same_loop_driven_from_python():
    table = [[0.3, 0.2, 0.1, 0.0], [0.0, 0.1, 0.4, 0.2], [0.5, 0.0, 0.0, 0.1]]
    batch = Sampler(3, seed=5, ema=0.05)
    batch.run_additive(500, table)
    looped = Sampler(3, seed=5, ema=0.05)
    columns = {b: i for i, b in enumerate(looped.bits)}
    for _ in range(500):
        current = looped.current
        looped.update(current, sum(row[columns[b]] for row, b in zip(table, current)))
        looped.propose()
    assert batch.state_json() == looped.state_json()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_layers": 3, "bits": []}, "bits"),
        ({"num_layers": 3, "bits": [4, 4]}, "bits"),
        ({"num_layers": 3, "bits": [0, 8]}, "bits"),
        ({"num_layers": 3, "bits": [-2, 8]}, "bits"),
        ({"num_layers": 0}, "num_layers"),
        ({"num_layers": -1}, "num_layers"),
        ({"num_layers": 3, "temperature": 0.0}, "temperature"),
        ({"num_layers": 3, "temperature": -1.0}, "temperature"),
        ({"num_layers": 3, "ema": 0.0}, "ema"),
        ({"num_layers": 3, "ema": 1.01}, "ema"),
        ({"num_layers": 3, "ema": float("nan")}, "ema"),
        ({"num_layers": 3, "seed": -5}, "seed"),
        ({"num_layers": 3, "score_init": "normal"}, "score_init"),
        ({"num_layers": 3, "initial": [8, 8]}, "initial"),
        ({"num_layers": 3, "initial": [8, 8, 6]}, "initial"),
        ({"num_layers": 3, "infeasible_penalty": -0.1}, "infeasible.value"),
        ({"num_layers": 2, "coupling": [[0.5, 0.6], [0.0, 1.0]]}, "coupling"),
        ({"num_layers": 2, "coupling": [[0.0, 1.0], [0.5, 0.5]]}, "coupling"),
    ],
)
def test_bad_settings_raise_sampler_error_naming_the_field(kwargs, field):
    with pytest.raises(SamplerError) as caught:
        Sampler(**kwargs)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("allocation", "reward", "feasible", "field"),
    [
        ([8, 8], 0.1, True, "allocation"),
        ([8, 8, 5], 0.1, True, "allocation"),
        ([8, 8, 8], float("nan"), True, "reward"),
        ([8, 8, 8], float("inf"), True, "reward"),
        ([8, 8, 8], None, True, "reward"),
    ],
)
def test_bad_updates_raise_and_leave_the_state_unchanged(allocation, reward, feasible, field):
    sampler = Sampler(3, seed=1)
    before = sampler.state_json()
    with pytest.raises(SamplerError) as caught:
        sampler.update(allocation, reward, feasible=feasible)
    assert caught.value.field == field
    assert sampler.state_json() == before


def test_corrupt_state_documents_raise_sampler_error():
    good = json.loads(Sampler(2, seed=1).state_json())
    with pytest.raises(SamplerError):
        Sampler.from_state_json("{")
    with pytest.raises(SamplerError) as caught:
        Sampler.from_state_json(json.dumps({**good, "current": [8, 7]}))
    assert caught.value.field == "current"
    with pytest.raises(SamplerError) as caught:
        Sampler.from_state_json(json.dumps({**good, "format": "something-else"}))
    assert caught.value.field == "format"
    with pytest.raises(SamplerError) as caught:
        Sampler(2).run_additive(3, [[0.0] * 4])
    assert caught.value.field == "table"


def test_identity_coupling_gives_the_uncoupled_sequence():
    identity = [[1.0 if j == k else 0.0 for k in range(4)] for j in range(4)]
    plain = drive(Sampler(4, seed=9, ema=0.3), 100)
    assert drive(Sampler(4, seed=9, ema=0.3, coupling=identity), 100) == plain
    mixed = [[0.5 if j == k else 0.5 / 3 for k in range(4)] for j in range(4)]
    assert drive(Sampler(4, seed=9, ema=0.3, coupling=mixed), 100) != plain


def test_numpy_integers_and_arrays_are_accepted():
    np = pytest.importorskip("numpy")
    from_numpy = Sampler(np.int64(3), np.array([2, 4, 8]), seed=np.uint64(4))
    plain = Sampler(3, [2, 4, 8], seed=4)
    from_numpy.update(np.array([8, 8, 4]), np.float64(0.1), feasible=np.bool_(True))
    plain.update([8, 8, 4], 0.1)
    from_numpy.run_additive(np.int32(5), np.zeros((3, 3)))
    plain.run_additive(5, [[0.0] * 3] * 3)
    assert from_numpy.state_json() == plain.state_json()
