"""`scripts/proxy-fidelity` scores a run's final-stage models at other candidate budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from amed.search import SearchConfig, run

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "proxy-fidelity"


def test_each_budget_scores_every_final_model_and_pools_them(tmp_path, digits_checkpoint):
    config = SearchConfig(dataset="digits", out=str(tmp_path / "run"), steps=3, batches_per_step=2, final_batches=2,
                          final_points=2, weights=str(digits_checkpoint), seed=1)  # fmt: skip
    result = run(config, progress=False)
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "run"), "--budgets", "2@0.005,2@0.005:cosine",
                           "--scratch", str(tmp_path / "scratch")], capture_output=True, text=True, check=True)  # fmt: skip
    held, cosine, *pooled = (json.loads(line) for line in done.stdout.splitlines())
    models = 1 + len(result.final_pareto) + len(result.baselines)
    assert (held["schedule"], cosine["schedule"]) == ("constant", "cosine")
    # The run's own budget scores its chosen allocation exactly as the search did.
    assert held["candidate_val_top1"][0] == round(result.best["top1"], 1)
    assert len(cosine["candidate_val_top1"]) == models and cosine["candidate_val_top1"] != held["candidate_val_top1"]
    searched = 1 + len(result.final_pareto)  # the pooled line leaves the uniform baselines out
    assert [(p["schedule"], p["models"]) for p in pooled] == [("constant", searched), ("cosine", searched)]
    assert not (tmp_path / "scratch").exists()


def test_a_malformed_budget_is_named(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--budgets", "64@0.01,64:cosine"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "'64:cosine' is not BATCHES@LR[:SCHEDULE]" in done.stderr
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--budgets", "64@0.01:cosin"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "unknown schedule 'cosin'; valid: constant, cosine" in done.stderr
