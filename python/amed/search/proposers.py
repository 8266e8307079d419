"""Where each step's allocation comes from: the AMED sampler or one of the two controls.

All three share one interface (``propose(step, draw)``, ``update(...)``, ``state()``), so the loop,
the fine-tune budget and the bookkeeping are identical for AMED, random search and a uniform
bitwidth, which makes their comparison a fair one.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from amed.errors import SamplerError
from amed.simcore import Sampler

from .score_fit import ridge_scores

__all__ = ["AmedProposer", "RandomProposer", "UniformProposer", "make_proposer", "normalized_reward"]

#: Floor of the reward spread, so the first samples (spread near 0) are not blown up.
MIN_SPREAD = 1e-3
#: Normalised rewards are clipped to this many spreads: one outlier cannot dominate the scores.
MAX_ADVANTAGE = 3.0


def normalized_reward(value: float, earlier: Sequence[float]) -> float:
    """`value` as an advantage over the `earlier` rewards in units of their spread:
    (value - mean) / max(std, MIN_SPREAD), clipped to +-MAX_ADVANTAGE.

    The paper's log10 rewards of one search are all close to each other (their spread is a few
    hundredths), so under the EMA the scores stay below that size and the chain stays near uniform.
    The advantage is credited to the bits that did better than usual and debited from the others.
    """
    mean = float(np.mean(earlier))
    spread = max(float(np.std(earlier)), MIN_SPREAD)
    return float(np.clip((value - mean) / spread, -MAX_ADVANTAGE, MAX_ADVANTAGE))


class AmedProposer:
    """Algorithm 1 in Rust: a layerwise Metropolis-Hastings sweep over the score matrix.

    With ``reward="normalized"`` the sampler is credited `normalized_reward` of each log10
    objective against the earlier ones, starting from the uniform 8-bit reference's 0. With
    ``score_update="ridge"`` S is refitted to every evaluated sample after each update once there
    are enough of them (`ridge_scores`), replacing Eq. 7-8's estimate.
    """

    def __init__(
        self,
        sampler: Sampler,
        reward: str,
        rewards: Sequence[float] = (0.0,),
        score_update: str = "ema",
        samples: Sequence[tuple[Sequence[int], float]] = (),
    ) -> None:
        self.sampler, self.reward, self.rewards = sampler, reward, list(rewards)
        self.score_update = score_update
        self.samples = [(list(bits), float(value)) for bits, value in samples]

    def propose(self, step: int, draw: int = 0) -> tuple[list[int], int]:
        """The next allocation and how many layer moves the sweep accepted. A step's later draws
        (its earlier ones broke a cap) are the chain's next sweeps, without any update between."""
        before = self.sampler.accepted
        bits = list(self.sampler.propose())
        return bits, self.sampler.accepted - before

    def update(self, bits: Sequence[int], value: Optional[float], feasible: bool) -> None:
        credit = value
        if value is not None and math.isfinite(value):
            if self.reward == "normalized":
                credit = normalized_reward(value, self.rewards)
            self.rewards.append(value)
            self.samples.append((list(bits), float(value)))
        self.sampler.update(list(bits), credit, feasible)
        if self.score_update == "ridge":
            fitted = ridge_scores(self.samples, self.sampler.bits)
            if fitted is not None:
                self.sampler.set_scores(fitted)

    def marginals(self) -> list[list[float]]:
        return self.sampler.marginals()

    def state(self) -> Optional[dict]:
        return {"sampler": self.sampler.state_json(), "rewards": self.rewards,
                "samples": [[bits, value] for bits, value in self.samples]}  # fmt: skip


class RandomProposer:
    """Every layer's bitwidth drawn uniformly from its choices, from a stream keyed by (seed, step)
    and, for a step's later draws, the draw: under a cap this is the uniform law on the allocations
    within it. `choices` (one list per layer) defaults to `bits` everywhere."""

    def __init__(
        self, num_layers: int, bits: Sequence[int], seed: int, choices: Optional[Sequence[Sequence[int]]] = None
    ) -> None:
        self.num_layers, self.bits, self.seed = num_layers, list(bits), seed
        self.choices = None if choices is None or all(list(c) == self.bits for c in choices) else choices

    def propose(self, step: int, draw: int = 0) -> tuple[list[int], Optional[int]]:
        rng = np.random.default_rng([self.seed, step, draw] if draw else [self.seed, step])
        if self.choices is None:
            return [int(b) for b in rng.choice(self.bits, size=self.num_layers)], None
        return [int(c[i]) for c, i in zip(self.choices, rng.integers(0, [len(c) for c in self.choices]))], None

    def update(self, bits: Sequence[int], value: Optional[float], feasible: bool) -> None:
        """Random search learns nothing."""

    def marginals(self) -> None:
        return None

    def state(self) -> None:
        return None


class UniformProposer:
    """The same bitwidth in every layer at every step: a uniform model given the search's budget."""

    def __init__(self, num_layers: int, bits: int) -> None:
        self.allocation = [bits] * num_layers

    def propose(self, step: int, draw: int = 0) -> tuple[list[int], Optional[int]]:
        return list(self.allocation), None

    def update(self, bits: Sequence[int], value: Optional[float], feasible: bool) -> None:
        """A fixed allocation learns nothing."""

    def marginals(self) -> None:
        return None

    def state(self) -> None:
        return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _saved_samples(saved_state: dict, num_layers: int, bits: Sequence[int]) -> list:
    """The evaluated samples a saved AMED state carries, each [bitwidth per layer, objective];
    a damaged list is refused before the ridge fit could trip on it. Checkpoints written before
    the ridge update kept none; they only ever used Eq. 7-8."""
    samples = saved_state.get("samples", [])

    def valid(sample) -> bool:
        return (isinstance(sample, list) and len(sample) == 2 and isinstance(sample[0], list)
                and len(sample[0]) == num_layers and all(b in bits and _is_number(b) for b in sample[0])
                and _is_number(sample[1]))  # fmt: skip

    if not isinstance(samples, list) or not all(valid(s) for s in samples):
        raise SamplerError(
            f"the saved search state's samples are damaged: each must be [{num_layers} bitwidths from "
            f"{','.join(map(str, bits))}, a finite objective]",
            field="samples",
        )
    return samples


def make_proposer(
    config, num_layers: int, saved_state: Optional[dict] = None, choices: Optional[Sequence[Sequence[int]]] = None
):
    """The proposer of ``config.method``, drawing each layer's width from `choices` (one list per
    layer; None: ``config.bits`` everywhere); the AMED sampler resumes from `saved_state` when given."""
    uniform = config.uniform_bits()
    if uniform is not None:
        return UniformProposer(num_layers, uniform)
    if config.method == "random":
        return RandomProposer(num_layers, config.bits, config.seed, choices)
    if saved_state is not None:
        sampler = Sampler.from_state_json(saved_state["sampler"])
        samples = _saved_samples(saved_state, num_layers, sampler.bits)
        return AmedProposer(sampler, config.reward, saved_state["rewards"], config.score_update, samples)
    sampler = Sampler(
        num_layers,
        list(config.bits),
        seed=config.seed,
        temperature=config.temperature,
        ema=config.ema,
        score_init=config.score_init,
        infeasible_penalty=config.infeasible_penalty,
        choices=choices,
    )
    return AmedProposer(sampler, config.reward, score_update=config.score_update)
