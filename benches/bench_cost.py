"""The cost model on mlperf ResNet-50 (54 layers) on configs/scalesim.toml, bits {2, 3, 4, 8}:
building the tables (every distinct layer × w × a × next-layer a simulation), one ``cost()``
query, and a batch of 10⁵ allocations.

    scripts/dev-build --release
    python -m pytest benches/bench_cost.py --benchmark-columns=min,median,mean,rounds
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from amed.simcore import CostModel, Topology

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESNET50 = ROOT / "topologies" / "Resnet50.csv"
BITS = (2, 3, 4, 8)
BATCH = 100_000


@pytest.fixture(scope="module")
def topology() -> Topology:
    return Topology.from_csv(RESNET50)


@pytest.fixture(scope="module")
def model(topology: Topology) -> CostModel:
    return CostModel(topology, "scalesim", bits=BITS)


def test_build_tables(benchmark, topology: Topology) -> None:
    built = benchmark.pedantic(CostModel, args=(topology, "scalesim", BITS), rounds=3, iterations=1)
    assert built.simulations == 1296 and len(built) == 54


def test_one_cost_query_in_bits(benchmark, model: CostModel) -> None:
    allocation = [(BITS[i % 4], BITS[(i // 4) % 4]) for i in range(54)]
    cost = benchmark(model.cost, allocation)
    assert cost.latency_ms > 0


def test_one_cost_query_in_indices(benchmark, model: CostModel) -> None:
    allocation = [(i % 4, (i // 4) % 4) for i in range(54)]
    cost = benchmark(model.cost_indices, allocation)
    assert cost.latency_ms > 0


def test_batch_of_1e5_allocations(benchmark, model: CostModel) -> None:
    allocations = np.random.default_rng(0).integers(0, 4, size=(BATCH, 54, 2))
    out = benchmark(model.cost_batch, allocations)
    assert out["latency_us"].shape == (BATCH,)
    first = model.cost_indices([tuple(p) for p in allocations[0].tolist()])
    assert out["latency_us"][0] == first.latency_us
