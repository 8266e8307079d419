"""`scripts/final-eval` reproduces what a run's final stage reported for the same allocation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from amed.search import SearchConfig, run

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "final-eval"


def test_a_uniform_baseline_is_measured_again_to_the_same_figures(tmp_path, digits_checkpoint):
    config = SearchConfig(dataset="digits", out=str(tmp_path / "run"), steps=1, batches_per_step=1, final_batches=2,
                          final_points=1, weights=str(digits_checkpoint), seed=2)  # fmt: skip
    result = run(config, progress=False)
    four = next(b for b in result.baselines if b["bits"] == 4)
    width = len(four["allocation"])
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "run"), "--bits", f"4*{width}",
                           "--bits", ",".join(["8"] + ["2"] * (width - 1))],
                          capture_output=True, text=True, check=True)  # fmt: skip
    again, other = (json.loads(line) for line in done.stdout.splitlines())
    assert again["bits"] == [4] * width
    assert (again["test_top1"], again["val_top1"]) == (four["test_top1"], four["val_top1"])
    assert again["latency_ms"] == round(four["latency_ms"], 6)
    assert other["bits"][0] == 8 and other["latency_ms"] < again["latency_ms"]
    clipped = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "run"), "--bits", f"4*{width}",
                              "--max-grad-norm", "1e-9"], capture_output=True, text=True, check=True)  # fmt: skip
    clipped = json.loads(clipped.stdout)
    assert clipped["max_grad_norm"] == 1e-9 and again["max_grad_norm"] is None
    assert again["val_ce"] == four["val_ce"] and clipped["val_ce"] != four["val_ce"]
    eq9 = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "run"), "--bits", f"4*{width}",
                          "--act-init", "max"], capture_output=True, text=True, check=True)  # fmt: skip
    eq9 = json.loads(eq9.stdout)
    assert (eq9["act_init"], again["act_init"]) == ("max", "mse") and eq9["val_ce"] != four["val_ce"]


def test_another_seed_gives_what_a_run_of_that_seed_reported(tmp_path, digits_checkpoint):
    runs = {}
    for seed in (2, 3):
        config = SearchConfig(dataset="digits", out=str(tmp_path / f"run{seed}"), steps=1, batches_per_step=1,
                              final_batches=2, final_points=1, weights=str(digits_checkpoint), seed=seed)  # fmt: skip
        runs[seed] = next(b for b in run(config, progress=False).baselines if b["bits"] == 4)
    width = len(runs[3]["allocation"])
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "run2"), "--bits", f"4*{width}", "--seed", "3"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    moved = json.loads(done.stdout)
    assert moved["seed"] == 3
    assert (moved["test_top1"], moved["val_ce"]) == (runs[3]["test_top1"], runs[3]["val_ce"])
    assert moved["val_ce"] != runs[2]["val_ce"]


def test_a_wrong_allocation_is_named_before_any_training(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "search.json").write_text(json.dumps({"config": {"dataset": "digits"}, "searched": ["a", "b"], "reference": {},
                                                            "hw": "scalesim"}))
    (run_dir / "history.jsonl").write_text("")
    for bits, words in (("4*3", "need 2 widths"), ("4,5", "including 5"), ("4,x", "is not B or B*N")):
        done = subprocess.run([sys.executable, str(SCRIPT), str(run_dir), "--bits", bits], capture_output=True, text=True)
        assert done.returncode == 2 and words in done.stderr, done.stderr
    done = subprocess.run([sys.executable, str(SCRIPT), str(run_dir), "--bits", "4,4", "--max-grad-norm", "-1"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "--max-grad-norm must be a positive number" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, str(SCRIPT), str(run_dir), "--bits", "4,4", "--seed", "x"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "--seed" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nowhere"), "--bits", "4"], capture_output=True, text=True)
    assert done.returncode == 2 and "nowhere" in done.stderr and "Traceback" not in done.stderr
