"""`scripts/study-power` replays a study's searches through the search's own loop on a fitted model."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import numpy as np
import pytest

from amed import store
from amed.compare import compare

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "study-power"
power_script = module_from_spec(spec_from_loader("study_power", SourceFileLoader("study_power", str(SCRIPT))))
power_script.__loader__.exec_module(power_script)


@pytest.fixture(scope="module")
def study(tmp_path_factory, digits_checkpoint) -> Path:
    """A finished two-seed AMED-and-random study on digits, at a tiny budget."""
    out = tmp_path_factory.mktemp("power") / "study"
    options = {"weights": str(digits_checkpoint), "batches_per_step": 1, "final_batches": 1, "final_points": 2}
    compare(out, "amed,random", "1", "0,1", dataset="digits", steps=10, options=options, log=lambda _line: None)
    return out


def _engine(runs):
    base = power_script.SearchConfig.from_dict({**runs[0][0]["config"], "out": "unused", "weights": "none"})
    engine = power_script.Search(base, progress=False)
    engine._build()
    return base, engine


def test_a_simulated_random_search_draws_what_the_real_one_drew_and_repeats_itself(study):
    runs = [store.load_run(folder) for folder in power_script.run_folders([str(study)])]
    fit = power_script.AdditiveFit(runs, [2, 3, 4, 8], len(runs[0][0]["searched"]))
    base, engine = _engine(runs)
    real, records = store.load_run(study / "random-b1-s1")
    config = dataclasses.replace(base, method="random", seed=1)
    simulated = power_script.simulate(engine, config, fit, real["reference"], real["num_classes"])
    assert [r["bits"] for r in simulated["records"]] == [r["bits"] for r in records]
    assert [r["latency_ms"] for r in simulated["records"]] == pytest.approx([r["latency_ms"] for r in records])
    amed = dataclasses.replace(base, method="amed", seed=1, beta=10.0)
    first, again = (power_script.simulate(engine, amed, fit, real["reference"], real["num_classes"]) for _ in range(2))
    assert first["hv"] == again["hv"] and first["hv"] > 0
    assert [r["bits"] for r in first["records"]] == [r["bits"] for r in again["records"]]


def test_a_repeated_allocation_scores_the_same_and_another_seed_scores_it_otherwise():
    fit = _known_fit(noise=0.5)
    bits = [2, 8, 4, 4, 3, 2]
    first = power_script.ModelledCandidates(fit, seed=3)
    assert first.candidate(bits, step=1) == first.candidate(bits, step=9)
    assert first.candidate(bits, step=1) != power_script.ModelledCandidates(fit, seed=4).candidate(bits, step=1)
    assert first.final_top1(bits) == first.final_top1(bits)


def _known_fit(noise: float = 0.0, offset: float = 1.5):
    """A fit to 400 allocations of 6 layers scored exactly by known per-(layer, width) terms."""
    rng = np.random.default_rng(0)
    widths = [2, 3, 4, 8]
    ce_terms = rng.uniform(0.0, 0.2, (6, 4))
    top1_terms = rng.uniform(-3.0, 0.0, (6, 4))

    def score(bits):
        idx = [widths.index(b) for b in bits]
        return 0.3 + sum(ce_terms[l, i] for l, i in enumerate(idx)), 90.0 + sum(top1_terms[l, i] for l, i in enumerate(idx))

    allocations = [[int(b) for b in rng.choice(widths, 6)] for _ in range(400)]
    records = []
    for bits in allocations:
        ce, top1 = score(bits)
        records.append({"evaluated": True, "bits": bits, "ce": ce + rng.normal(0, noise * 0.01),
                        "top1": top1 + rng.normal(0, noise)})  # fmt: skip
    finals = [{"bits": b, "test_top1": score(b)[1] + offset} for b in allocations[:20]]
    meta = {"config": {"seed": 0}, "final": finals[0], "final_pareto": finals[1:]}
    fit = power_script.AdditiveFit([(meta, records)], widths, 6)
    fit.truth, fit.distinct = score, len({tuple(b) for b in allocations})
    return fit


def test_the_fit_recovers_known_additive_terms_and_the_final_offset():
    fit = _known_fit()
    for bits in ([2] * 6, [8, 4, 3, 2, 2, 8], [3, 8, 2, 4, 4, 4]):
        ce, top1 = fit.predict(bits)
        assert ce == pytest.approx(fit.truth(bits)[0], abs=2e-3)
        assert top1 == pytest.approx(fit.truth(bits)[1], abs=2e-2)
    assert fit.final_offset == pytest.approx(1.5, abs=2e-2) and fit.final_sd < 2e-2
    assert fit.summary["top1_residual_sd"] < 2e-2 and fit.summary["candidates"] == fit.distinct


def test_power_is_one_for_a_sure_gap_and_near_the_level_for_none():
    gaps = np.linspace(0.5, 3.0, 50)
    assert power_script.power(gaps, 10, resamples=200, seed=0) == 1.0
    centred = np.random.default_rng(1).normal(0.0, 1.0, 200)
    assert power_script.power(centred - np.median(centred), 10, resamples=400, seed=0) < 0.1


def test_the_command_prints_the_fit_the_study_and_each_design(study):
    done = subprocess.run([sys.executable, str(SCRIPT), str(study), "--design", "", "--design", "beta=10,temperature=0.1",
                           "--sims", "6", "--pairs", "6", "--resamples", "20"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    measured = {(meta["config"]["seed"], tuple(r["bits"])) for meta, records in map(store.load_run, study.glob("*-s*"))
                for r in records}  # fmt: skip
    assert lines[0]["runs"] == 4 and lines[0]["fit"]["candidates"] == len(measured)
    assert lines[1]["observed"]["pairs"] == 2
    assert [line["design"] for line in lines[2:]] == [{}, {"beta": 10, "temperature": 0.1}]
    assert all(set(line["power"]) == {"6"} and line["sims"] == 6 for line in lines[2:])


def test_bad_input_is_named_before_any_work(study, tmp_path):
    def refused(*args) -> str:
        done = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        return done.stderr

    assert "batches_per_step=2" in refused(study, "--design", "batches_per_step=2")
    assert "every entry must be at least 2" in refused(study, "--pairs", "1")
    assert "--sims must be at least the largest --pairs (6)" in refused(study, "--sims", "5", "--pairs", "6")
    assert "nowhere" in refused(tmp_path / "nowhere")
    assert "no search folder" in refused(tmp_path)
    mixed = tmp_path / "mixed"
    for name in ("random-b1-s0", "random-b1-s1"):
        shutil.copytree(study / name, mixed / name)
    meta_path = mixed / "random-b1-s1" / "search.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["batches_per_step"] = 7
    meta_path.write_text(json.dumps(meta))
    message = refused(mixed)
    assert "differs" in message and "batches_per_step (7 against 1)" in message
