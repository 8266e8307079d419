"""Search overhead outside fine-tuning, as a fraction of a step.

A step of the search = propose (MH sweep in Rust) + cost lookup + [load the checkpoint, set_bits,
fine-tune, evaluate] + objective and sampler update + history append (fsync) + atomic JSON
checkpoint (sampler state, rewards, reference; fsync). The bracketed part is the work the search
exists to do; the rest is overhead. `test_search_overhead` runs a real search with the `amed search`
defaults (ResNet-20 on Fashion-MNIST from the cached converged start, which it trains first when the
cache lacks it; 16 batches of 32 per candidate; one torch thread; no final stage) and reports the
split the loop itself timed; the other two time the overhead parts alone.

    python -m pytest benches/bench_search.py -s --benchmark-columns=min,median,mean,rounds
"""

from __future__ import annotations

import pytest

from amed import store
from amed.search import Search, SearchConfig

STEPS = 6


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A finished search with the command's defaults (shorter: no final-stage training)."""
    out = tmp_path_factory.mktemp("bench") / "run"
    config = SearchConfig(out=str(out), steps=STEPS, final_batches=0, final_points=1, baselines=False)
    engine = Search(config, progress=False)
    engine.run()
    return engine


def test_search_overhead(search):
    t = search.timings
    work = t.train
    step = work + t.overhead()
    parts = {k: getattr(t, k) / STEPS for k in ("propose", "cost", "update", "history", "checkpoint")}
    print(f"\n{search.config.dataset}, {search.config.budget()} per step, {STEPS} steps")
    print(f"mean step {step / STEPS:.3f} s: fine-tune + evaluate {work / STEPS:.3f} s, overhead {t.overhead() / STEPS * 1e3:.2f} ms "
          f"({100 * t.overhead() / step:.3f} %)")  # fmt: skip
    print("overhead per step (ms): " + ", ".join(f"{k} {v * 1e3:.3f}" for k, v in parts.items()))


def test_propose_cost_update(benchmark, search):
    proposer = search.proposer  # the search has finished: its sampler may keep moving
    costs, objective, reference = search.costs, search.objective, search.reference

    def round_trip():
        bits, _ = proposer.propose(0)
        cost = costs.cost(bits)
        ev = objective.evaluate(cross_entropy=0.5, latency=cost.latency_ms, latency_8=reference["latency_ms"],
                                cross_entropy_8=reference["ce"], accuracy=0.8, size=cost.size_bytes)  # fmt: skip
        proposer.update(bits, ev.value, ev.feasible)

    benchmark(round_trip)


def test_history_and_checkpoint(benchmark, search, tmp_path):
    record = store.read_history(search.out / store.HISTORY_FILE)[-1]
    path = tmp_path / store.HISTORY_FILE

    def write_step():
        store.append_record(path, record)
        search._save(STEPS)

    search.out = tmp_path  # checkpoint into the scratch folder
    benchmark(write_step)
    assert store.load_checkpoint(tmp_path / store.CHECKPOINT_FILE)["step"] == STEPS
