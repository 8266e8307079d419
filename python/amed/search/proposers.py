"""Where each step's allocation comes from: the AMED sampler or one of the two controls.

All three share one interface (``propose(step)``, ``update(...)``, ``state()``), so the loop,
the fine-tune budget and the bookkeeping are identical for AMED, random search and a uniform
bitwidth, which makes their comparison a fair one.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from amed.simcore import Sampler

__all__ = ["AmedProposer", "RandomProposer", "UniformProposer", "make_proposer"]


class AmedProposer:
    """Algorithm 1 in Rust: a layerwise Metropolis-Hastings sweep over the score matrix."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def propose(self, step: int) -> tuple[list[int], int]:
        """The next allocation and how many layer moves the sweep accepted."""
        before = self.sampler.accepted
        bits = list(self.sampler.propose())
        return bits, self.sampler.accepted - before

    def update(self, bits: Sequence[int], value: Optional[float], feasible: bool) -> None:
        self.sampler.update(list(bits), value, feasible)

    def marginals(self) -> list[list[float]]:
        return self.sampler.marginals()

    def state(self) -> Optional[str]:
        return self.sampler.state_json()


class RandomProposer:
    """Every layer's bitwidth drawn uniformly from the choices, from a stream keyed by (seed, step)."""

    def __init__(self, num_layers: int, bits: Sequence[int], seed: int) -> None:
        self.num_layers, self.bits, self.seed = num_layers, list(bits), seed

    def propose(self, step: int) -> tuple[list[int], Optional[int]]:
        rng = np.random.default_rng([self.seed, step])
        return [int(b) for b in rng.choice(self.bits, size=self.num_layers)], None

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

    def propose(self, step: int) -> tuple[list[int], Optional[int]]:
        return list(self.allocation), None

    def update(self, bits: Sequence[int], value: Optional[float], feasible: bool) -> None:
        """A fixed allocation learns nothing."""

    def marginals(self) -> None:
        return None

    def state(self) -> None:
        return None


def make_proposer(config, num_layers: int, saved_state: Optional[str] = None):
    """The proposer of ``config.method``; the AMED sampler resumes from `saved_state` when given."""
    uniform = config.uniform_bits()
    if uniform is not None:
        return UniformProposer(num_layers, uniform)
    if config.method == "random":
        return RandomProposer(num_layers, config.bits, config.seed)
    if saved_state is not None:
        return AmedProposer(Sampler.from_state_json(saved_state))
    sampler = Sampler(
        num_layers,
        list(config.bits),
        seed=config.seed,
        temperature=config.temperature,
        ema=config.ema,
        infeasible_penalty=config.infeasible_penalty,
    )
    return AmedProposer(sampler)
