"""The AMED search end to end on real data (scikit-learn's digits, ResNet-20 from a converged 8-bit
checkpoint), through the CLI, and its answers to bad input."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from amed.cli import main
from amed.errors import AllocationError, ConfigError
from amed.quant import quantized_layers
from amed.act_init import ACT_INITS
from amed.search import Search, SearchConfig, run
from amed.search.loop import MAX_DRAWS
from amed.store import pareto_front

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEPS = 5
# A tiny, fast search: 2 batches of 32 digits per candidate, 4 per final model.
QUICK = [
    "--dataset", "digits", "--steps", str(STEPS), "--batches-per-step", "2", "--final-batches", "4",
    "--final-points", "2", "--seed", "3", "--progress", "false",
]  # fmt: skip


def quick_config(out, checkpoint, **options) -> SearchConfig:
    settings = dict(dataset="digits", out=str(out), steps=2, batches_per_step=1, final_batches=1,
                    final_points=1, baselines=False, weights=str(checkpoint))  # fmt: skip
    return SearchConfig(**{**settings, **options})


@pytest.fixture(scope="module")
def searched(tmp_path_factory, digits_checkpoint):
    out = tmp_path_factory.mktemp("search") / "run"
    status = main(["search", "--out", str(out), "--weights", str(digits_checkpoint), *QUICK])
    assert status == 0
    return out


def test_history_has_one_complete_line_per_step(searched):
    lines = (searched / "history.jsonl").read_text().splitlines()
    assert len(lines) == STEPS
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    meta = json.loads((searched / "search.json").read_text())
    for r in records:
        assert list(r["allocation"]) == meta["searched"]
        assert all(w == a and w in (2, 3, 4, 8) for w, a in r["allocation"].values())
        for key in ("ce", "top1", "top5", "latency_ms", "size_bytes", "energy_uj", "objective", "wall_s"):
            assert isinstance(r[key], float), key
        assert r["feasible"] and r["evaluated"]
        assert 0.0 <= r["top1"] <= r["top5"] <= 100.0
        assert isinstance(r["accepted"], int) and 0 <= r["accepted"] <= len(meta["searched"])


def test_reference_is_measured_and_objective_follows_it(searched):
    meta = json.loads((searched / "search.json").read_text())
    ref = meta["reference"]
    assert ref["ce"] > 0 and 0 < ref["top1"] <= 100
    for r in (json.loads(line) for line in (searched / "history.jsonl").read_text().splitlines()):
        # Eq. 1 inside log10 of Eq. 2 with alpha = 1, beta = 1 and no threshold.
        want = torch.log10(torch.tensor((ref["ce"] + 1.0) / (r["ce"] + r["latency_ms"] / ref["latency_ms"])))
        assert r["objective"] == pytest.approx(float(want), rel=1e-5)


def test_searched_layers_exclude_the_fixed_edges(searched):
    meta = json.loads((searched / "search.json").read_text())
    assert set(meta["fixed"]) == {"conv1", "fc"}
    assert meta["fixed"]["conv1"] == [8, 8]
    assert len(meta["searched"]) == 18  # ResNet-20: 19 convs + fc, edges held at 8 bit
    names = [row["name"] for row in meta["best_layers"]]
    assert names[0] == "conv1" and names[-1] == "fc"  # fixed layers still counted in latency
    assert all(row["latency_ms"] > 0 for row in meta["best_layers"])


def test_allocation_and_best_model(searched):
    meta = json.loads((searched / "search.json").read_text())
    allocation = json.loads((searched / "allocation.json").read_text())
    assert list(allocation) == meta["searched"]
    assert all(pair[0] in (2, 3, 4, 8) and pair[0] == pair[1] for pair in allocation.values())
    records = [json.loads(line) for line in (searched / "history.jsonl").read_text().splitlines()]
    best = max(records, key=lambda r: r["objective"])  # no threshold: the highest objective wins
    assert meta["best"]["step"] == best["step"] and allocation == best["allocation"]
    assert meta["final"]["allocation"] == allocation and meta["final"]["label"] == "chosen"
    saved = torch.load(searched / "best.pt", weights_only=True)
    assert {n: saved["allocation"][n] for n in allocation} == allocation
    assert saved["allocation"]["conv1"] == [8, 8]
    # best.pt loads into a fresh model with the registry's loader, bits included.
    from amed.models import build_model
    from amed.quant import get_allocation

    model = build_model("resnet20", num_classes=10, in_channels=1, image_size=8, weights=searched / "best.pt")
    assert {n: list(b) for n, b in get_allocation(model).items()} == allocation


def test_pareto_csv_is_the_front_of_the_history(searched):
    with open(searched / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    records = [json.loads(line) for line in (searched / "history.jsonl").read_text().splitlines()]
    front = pareto_front(records)
    assert [int(r["step"]) for r in rows] == [r["step"] for r in front]
    assert rows and all(float(r["latency_ms"]) > 0 for r in rows)
    for a in front:  # no front member dominates another
        for b in front:
            assert not (a["top1"] >= b["top1"] and a["latency_ms"] <= b["latency_ms"]
                        and a["size_bytes"] <= b["size_bytes"] and a is not b
                        and (a["top1"], a["latency_ms"], a["size_bytes"]) != (b["top1"], b["latency_ms"], b["size_bytes"]))  # fmt: skip


def test_plots_are_png_files(searched):
    for name in ("pareto.png", "bits.png", "latency.png"):
        data = (searched / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1000, name


def test_scalesim_reports_of_the_best_allocation(searched):
    meta = json.loads((searched / "search.json").read_text())
    heads = {
        "COMPUTE_REPORT.csv": "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles,",
        "BANDWIDTH_REPORT.csv": "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW,",
        "DETAILED_ACCESS_REPORT.csv": "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads,",
    }
    for name, head in heads.items():
        lines = (searched / "reports" / name).read_text().splitlines()
        assert lines[0].startswith(head), name
        assert len(lines) == 1 + len(meta["best_layers"]), name


def test_baselines_are_uniform_models_at_the_final_budget(searched):
    meta = json.loads((searched / "search.json").read_text())
    by_bits = {b["bits"]: b for b in meta["baselines"]}
    assert sorted(by_bits) == [2, 3, 4, 8]
    assert by_bits[8]["latency_ms"] == pytest.approx(meta["reference"]["latency_ms"])
    assert by_bits[2]["latency_ms"] < by_bits[3]["latency_ms"] < by_bits[4]["latency_ms"] < by_bits[8]["latency_ms"]
    assert by_bits[2]["size_bytes"] < by_bits[4]["size_bytes"] < by_bits[8]["size_bytes"]
    for point in [meta["final"], *meta["final_pareto"], *meta["baselines"]]:
        assert 0.0 <= point["test_top1"] <= 100.0 and point["test_ce"] > 0
    assert meta["final_budget"] == "4 batches of 32 at lr 0.01 (cosine)"
    assert len(meta["final_pareto"]) <= 1 and all(p["label"] == "pareto" for p in meta["final_pareto"])


def test_final_points_are_measured_alike(searched, digits_checkpoint, tmp_path):
    # The same allocation under the same final budget gives the same test figures in another run.
    meta = json.loads((searched / "search.json").read_text())
    config = quick_config(tmp_path, digits_checkpoint, final_batches=4, seed=3)
    engine = Search(config, progress=False)
    engine._build()
    again = engine.evaluator.final(meta["final"]["bits"])
    assert again["test_top1"] == meta["final"]["test_top1"] and again["test_ce"] == pytest.approx(meta["final"]["test_ce"])


def test_report_rerenders_from_files_alone(searched, capsys):
    for name in ("pareto.png", "pareto.csv"):
        (searched / name).unlink()
    assert main(["report", str(searched)]) == 0
    out = capsys.readouterr().out
    assert "uniform 8 (reference)" in out and "chosen (step" in out and "final stage (test split" in out
    assert (searched / "pareto.png").read_bytes()[:8] == PNG_MAGIC
    assert (searched / "pareto.csv").read_text().startswith("step,top1,")


def test_a_used_output_folder_needs_resume(searched, capsys):
    assert main(["search", "--out", str(searched), *QUICK]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_candidates_do_not_depend_on_order_or_repetition(digits_checkpoint, tmp_path, schedule):
    config = quick_config(tmp_path, digits_checkpoint, batches_per_step=2, candidate_schedule=schedule)
    engine = Search(config, progress=False)
    engine._build()
    n = len(engine.searched)
    a, b = [2] * n, [4, 8] * (n // 2)
    first_a, first_b = engine.evaluator.candidate(a, 1), engine.evaluator.candidate(b, 2)
    engine.evaluator.memo.clear()
    second_b, second_a = engine.evaluator.candidate(b, 1), engine.evaluator.candidate(a, 2)
    assert (first_a, first_b) == (second_a, second_b)
    assert first_a != first_b


def test_a_cosine_candidate_decays_its_learning_rate(digits_checkpoint, tmp_path, monkeypatch):
    import amed.train

    seen = []
    original = amed.train.train_one_epoch

    def recording(model, batches, optimizer, lr_at=None, **kwargs):
        seen.append(None if lr_at is None else [lr_at(i) for i in range(3)])
        return original(model, batches, optimizer, lr_at=lr_at, **kwargs)

    monkeypatch.setattr(amed.train, "train_one_epoch", recording)
    results = {}
    for schedule in ("constant", "cosine"):
        config = quick_config(tmp_path / schedule, digits_checkpoint, batches_per_step=3, candidate_lr=0.02,
                              candidate_schedule=schedule)  # fmt: skip
        engine = Search(config, progress=False)
        engine._build()
        results[schedule] = engine.evaluator.candidate([4] * len(engine.searched), 1)
    assert seen[0] is None  # held at --candidate-lr by the optimizer
    assert seen[1] == pytest.approx([0.02, 0.015, 0.005])  # 0.02 * (1 + cos(pi i / 3)) / 2
    assert results["constant"] != results["cosine"]
    assert "(cosine)" in config.budget()


def test_max_grad_norm_reaches_every_fine_tune(digits_checkpoint, tmp_path):
    """A clip far below the gradient's norm changes a candidate's and a final model's figures; one far
    above it changes nothing (torch then scales by exactly 1)."""
    figures = {}
    for clip in (None, 1e-9, 1e9):
        config = quick_config(tmp_path / str(clip), digits_checkpoint, batches_per_step=2, final_batches=2,
                              max_grad_norm=clip)  # fmt: skip
        engine = Search(config, progress=False)
        engine._build()
        bits = [2] * len(engine.searched)
        figures[clip] = (engine.evaluator.candidate(bits, 1), engine.evaluator.final(bits))
    assert figures[1e9] == figures[None]
    assert figures[1e-9][0] != figures[None][0] and figures[1e-9][1] != figures[None][1]
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ConfigError, match="--max-grad-norm must be a positive number") as info:
            SearchConfig(max_grad_norm=bad)
        assert info.value.field == "max_grad_norm"


def test_a_cosine_candidate_needs_the_checkpoint_protocol():
    with pytest.raises(ConfigError, match="--candidate-schedule cosine needs --protocol checkpoint") as info:
        SearchConfig(protocol="continued", candidate_schedule="cosine")
    assert info.value.field == "candidate_schedule"
    with pytest.raises(ConfigError, match="unknown --candidate-schedule 'linear'; valid: constant, cosine"):
        SearchConfig(candidate_schedule="linear")
    saved = SearchConfig(candidate_schedule="cosine").to_dict()
    del saved["candidate_schedule"]  # a run saved before the option existed fine-tuned at a held rate
    assert SearchConfig.from_dict(saved).candidate_schedule == "constant"


def test_a_run_saved_before_act_init_resumes_with_eq9(tmp_path, digits_checkpoint):
    saved = SearchConfig().to_dict()
    del saved["act_init"]  # a run saved before the option existed initialised its steps by Eq. 9
    assert SearchConfig.from_dict(saved).act_init == "max" and SearchConfig().act_init == "mse"
    for mode in ACT_INITS:
        engine = Search(quick_config(tmp_path / mode, digits_checkpoint, act_init=mode), progress=False)
        engine._build()
        modes = {layer.act_quantizer.act_init for layer in quantized_layers(engine.model, include_fixed=True).values()}
        assert modes == {mode}


def test_an_unconverged_start_stops_before_sampling(tmp_path, capsys):
    out = tmp_path / "o"
    # Random weights barely moved by the candidate budget: the reference sits at chance.
    assert main(["search", "--out", str(out), *QUICK, "--weights", "none", "--candidate-lr", "0.0001"]) == 2
    err = capsys.readouterr().err
    assert "reference reaches only" in err and "chance (10.00 %)" in err and "amed pretrain" in err
    assert not (out / "checkpoint.json").exists() and not (out / "history.jsonl").exists()


def test_same_seed_same_history(tmp_path, digits_checkpoint):
    def history(out):
        run(quick_config(out, digits_checkpoint, seed=5), progress=False)
        return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
                for line in (out / "history.jsonl").read_text().splitlines()]  # fmt: skip

    assert history(tmp_path / "a") == history(tmp_path / "b")


@pytest.mark.parametrize(
    ("option", "value", "names"),
    [
        ("--model", "resnet7", ["resnet20", "resnet18", "mobilenet_v2"]),
        ("--dataset", "mnist", ["fashion-mnist", "digits", "cifar10"]),
        ("--hw", "tpu", ["scalesim", "eyeriss"]),
        ("--method", "greedy", ["amed", "random", "uniform-B"]),
        ("--choose", "fastest", ["objective", "accuracy"]),
        ("--score-update", "adam", ["ema", "ridge"]),
        ("--act-init", "percentile", ["mse", "max"]),
    ],
)
def test_unknown_names_list_the_valid_ones(tmp_path, capsys, option, value, names):
    # Rejected while the inputs are read, before any checkpoint is trained or loaded.
    assert main(["search", "--out", str(tmp_path / "o"), *QUICK, option, value]) == 2
    err = capsys.readouterr().err
    assert value in err and all(n in err for n in names)
    assert not (tmp_path / "o" / "history.jsonl").exists()


def test_size_cap_below_the_smallest_model_fails_at_once(tmp_path, digits_checkpoint):
    config = quick_config(tmp_path, digits_checkpoint, steps=1, max_size=1000)
    with pytest.raises(AllocationError, match=r"smallest achievable model size (\d+) bytes") as info:
        run(config, progress=False)
    assert info.value.field == "max_size"
    assert not (tmp_path / "history.jsonl").exists() or not (tmp_path / "history.jsonl").read_text()


def test_over_cap_proposals_are_drawn_again_without_training(tmp_path, digits_checkpoint):
    # ResNet-20's all-2-bit model is about 68 kB: most mixed proposals break a 100 kB cap.
    cap = 100_000
    for method in ("amed", "random"):
        config = quick_config(tmp_path / method, digits_checkpoint, steps=6, max_size=cap, method=method)
        result = run(config, progress=False)
        assert len(result.records) == 6
        assert all(r["feasible"] and r["evaluated"] and r["size_bytes"] <= cap for r in result.records)
        assert sum(r["draws"] for r in result.records) > 6, "the cap should have rejected some draws"


def test_a_step_whose_every_draw_breaks_the_cap_is_recorded_untrained(tmp_path, digits_checkpoint):
    # Only allocations with nearly every layer at 2 bits fit: a uniform draw hits one about once in 4**17.
    config = quick_config(tmp_path, digits_checkpoint, steps=1, max_size=69_000, method="random")
    smallest = run(quick_config(tmp_path / "u2", digits_checkpoint, steps=1, method="uniform-2"), progress=False)
    assert smallest.records[0]["size_bytes"] <= 69_000
    result = run(config, progress=False)
    (record,) = result.records
    assert record["draws"] == MAX_DRAWS and not record["feasible"] and not record["evaluated"]
    assert record["size_bytes"] > 69_000 and record["top1"] is None and record["objective"] is None


def test_latency_target_holds_for_every_trained_candidate_and_the_choice(tmp_path, digits_checkpoint):
    u3 = run(quick_config(tmp_path / "u3", digits_checkpoint, steps=1, method="uniform-3"), progress=False)
    target = u3.records[0]["latency_ms"]  # every layer at 3 bits or less (Bit Fusion) fits
    for method in ("amed", "random"):
        result = run(quick_config(tmp_path / method, digits_checkpoint, steps=4, max_latency=target, method=method),
                     progress=False)  # fmt: skip
        assert all(r["feasible"] and r["latency_ms"] <= target for r in result.records)
        assert sum(r["draws"] for r in result.records) > 4
        assert result.best["latency_ms"] <= target and result.final["latency_ms"] <= target


def test_latency_target_below_the_fastest_model_fails_before_any_work(tmp_path, digits_checkpoint, capsys):
    status = main(["search", "--out", str(tmp_path / "o"), "--weights", str(digits_checkpoint), *QUICK,
                   "--max-latency", "0.001"])  # fmt: skip
    assert status == 1
    err = capsys.readouterr().err
    assert "--max-latency 0.001 ms is below the latency of the fastest uniform allocation" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="--max-latency must be a positive number") as info:
            SearchConfig(max_latency=bad)
        assert info.value.field == "max_latency"


def test_bad_bits_and_budgets():
    with pytest.raises(ConfigError, match="2..8"):
        SearchConfig(bits="1,4")
    with pytest.raises(ConfigError, match="steps"):
        SearchConfig(steps=-1)
    with pytest.raises(ConfigError, match="uniform-B"):
        SearchConfig(method="uniform-5", bits="2,4,8")
    with pytest.raises(ConfigError, match="--bits must be integers"):
        SearchConfig(bits="2,3.5")
    with pytest.raises(ConfigError, match="--ema must lie in"):
        SearchConfig(ema=5)
    with pytest.raises(ConfigError, match="--candidate-lr must be a finite number"):
        SearchConfig(candidate_lr=float("nan"))
    with pytest.raises(ConfigError, match="unknown --reward 'linear'; valid: normalized, log10"):
        SearchConfig(reward="linear")


def test_every_config_field_is_a_flag():
    import dataclasses

    from amed.cli.parsers import SEARCH_OPTIONS

    assert set(SEARCH_OPTIONS) == {f.name for f in dataclasses.fields(SearchConfig)}


def test_bit_choices_without_8_still_measure_against_uniform_8(tmp_path, digits_checkpoint):
    result = run(quick_config(tmp_path, digits_checkpoint, bits="2,4", baselines=True), progress=False)
    assert [b["bits"] for b in result.baselines] == [8, 4, 2]
    assert result.baselines[0]["latency_ms"] == pytest.approx(result.reference["latency_ms"])
    for r in result.records:
        assert set(r["bits"]) <= {2, 4} and r["latency_ms"] < result.reference["latency_ms"]


def test_report_of_a_folder_without_a_search(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "search.json" in err and str(tmp_path) in err


def test_a_search_can_start_from_an_earlier_best_model(searched, tmp_path):
    from amed.quant import get_allocation

    config = quick_config(tmp_path, searched / "best.pt")
    engine = Search(config, progress=False)
    engine._build()
    saved = torch.load(searched / "best.pt", weights_only=True)["state_dict"]
    state = engine.model.state_dict()
    assert all(torch.equal(state[k], saved[k]) for k in saved if k.endswith(("conv1.weight", "fc.bias")))
    # It restarts from uniform 8 bit over the same searched layers.
    assert engine.searched == list(json.loads((searched / "allocation.json").read_text()))
    assert set(get_allocation(engine.model).values()) == {(8, 8)}


def test_finetune_continues_a_searchs_best_model_at_its_allocation(searched, tmp_path, capsys):
    out = tmp_path / "ft"
    argv = ["finetune", "--weights", str(searched / "best.pt"), "--dataset", "digits", "--epochs", "0",
            "--out", str(out), "--progress", "false", "--threads", "1", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    chosen = json.loads((searched / "allocation.json").read_text())
    saved = torch.load(out / "model.pt", weights_only=True)["allocation"]
    assert {name: saved[name] for name in chosen} == chosen
    assert "mixed bits" in capsys.readouterr().out or len({tuple(v) for v in chosen.values()}) == 1
    assert main([*argv[:-6], "--out", str(tmp_path / "ft4"), "--bits", "4", "--progress", "false"]) == 0
    saved = torch.load(tmp_path / "ft4" / "model.pt", weights_only=True)["allocation"]
    assert {tuple(saved[name]) for name in chosen} == {(4, 4)}
