"""Throughput of the AMED sampler: rounds of (update S with the evaluated allocation, one
Metropolis-Hastings sweep) for L = 53 layers (MobileNetV2) and the bit choices {2, 3, 4, 8}.

* ``rust-batch``: ``Sampler.run_additive`` keeps the whole loop in Rust (GIL released).
* ``rust-from-python``: the search's real call pattern, ``update`` + ``propose`` from Python.
* ``numpy-peer``: the released implementation's algorithm in NumPy (per-layer softmax and
  ``np.random.choice``, acceptance ratio, one-hot EMA update), the reference point.

Build the extension in release mode first (``scripts/dev-build --release``), then:

    python -m pytest benches/bench_sampler.py --benchmark-columns=min,median,mean,rounds

Each benchmark stores its rounds per call in ``extra_info["rounds"]`` and its rounds per second in
``extra_info["rounds_per_s"]`` (from the median).
"""

from __future__ import annotations

import numpy as np
import pytest

from amed.simcore import Sampler

LAYERS = 53
BITS = (2, 3, 4, 8)
# A surrogate reward per (layer, bitwidth): lower bits are faster.
TABLE = [[(8 - b) / 80.0 for b in BITS] for _ in range(LAYERS)]
COLUMN = {b: i for i, b in enumerate(BITS)}


def _record(benchmark, rounds: int) -> None:
    benchmark.extra_info["rounds"] = rounds
    benchmark.extra_info["rounds_per_s"] = rounds / benchmark.stats.stats.median


def test_rust_batch(benchmark):
    rounds = 100_000
    sampler = Sampler(LAYERS, BITS, seed=0)
    benchmark(sampler.run_additive, rounds, TABLE)
    _record(benchmark, rounds)


def test_rust_from_python(benchmark):
    rounds = 10_000
    sampler = Sampler(LAYERS, BITS, seed=0)

    def loop():
        for _ in range(rounds):
            current = sampler.current
            sampler.update(current, sum(row[COLUMN[b]] for row, b in zip(TABLE, current)))
            sampler.propose()

    benchmark(loop)
    _record(benchmark, rounds)


class NumpyPeer:
    """The released code's sampler: S ~ U(0,1), per-layer softmax, independent proposal with
    acceptance pi(b*)/pi(b_t), and S <- (1-g) S + g onehot(b) r."""

    def __init__(self, seed: int) -> None:
        np.random.seed(seed)
        self.score = np.random.rand(LAYERS, len(BITS))
        self.current = np.full(LAYERS, len(BITS) - 1)
        self.table = np.array(TABLE)
        self.ema = 0.01

    def round(self) -> None:
        reward = self.table[np.arange(LAYERS), self.current].sum()
        mask = np.eye(len(BITS))[self.current]
        self.score = (1 - self.ema) * self.score + self.ema * mask * reward
        for layer in range(LAYERS):
            row = np.exp(self.score[layer] - self.score[layer].max())
            prob = row / row.sum()
            proposal = np.random.choice(len(BITS), p=prob)
            a = prob[proposal] / prob[self.current[layer]]
            if a >= 1 or a > np.random.rand():
                self.current[layer] = proposal


@pytest.mark.parametrize("rounds", [200])
def test_numpy_peer(benchmark, rounds):
    peer = NumpyPeer(0)

    def loop():
        for _ in range(rounds):
            peer.round()

    benchmark(loop)
    _record(benchmark, rounds)
