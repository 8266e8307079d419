"""A search killed mid-run resumes with nothing lost or repeated, and ends exactly where an
uninterrupted run with the same seed ends."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from amed.search import SearchConfig, run

STEPS = 10
OPTIONS = dict(dataset="digits", steps=STEPS, batches_per_step=2, final_batches=2, final_points=2, baselines=False,
               seed=11, progress=False)


@pytest.fixture(scope="module", autouse=True)
def _start(digits_checkpoint):
    """Every run here starts from the same converged checkpoint."""
    OPTIONS["weights"] = str(digits_checkpoint)


def _history(out):
    """History records without the wall-clock field, which differs between runs."""
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"}
            for line in (out / "history.jsonl").read_text().splitlines()]  # fmt: skip


def _config(out, **changes) -> SearchConfig:
    settings = {k: v for k, v in OPTIONS.items() if k != "progress"}
    return SearchConfig(out=str(out), **{**settings, **changes})


def _cli(out, *extra):
    args = [f"--{k.replace('_', '-')}={v}" for k, v in OPTIONS.items()]
    return [sys.executable, "-m", "amed.cli", "search", f"--out={out}", *args, *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "straight"
    run(_config(out), progress=False)
    return out


def _same_result(out, reference):
    assert _history(out) == _history(reference)
    assert json.loads((out / "allocation.json").read_text()) == json.loads((reference / "allocation.json").read_text())
    finals = [json.loads((folder / "search.json").read_text()) for folder in (out, reference)]
    assert finals[0]["final"] == finals[1]["final"] and finals[0]["final_pareto"] == finals[1]["final_pareto"]
    a = torch.load(out / "best.pt", weights_only=True)["state_dict"]
    b = torch.load(reference / "best.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    history = out / "history.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"the search ended before it could be killed: {proc.stderr.read().decode()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    done = len(history.read_text().splitlines())
    assert 3 <= done < STEPS

    resumed = subprocess.run(_cli(out, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    steps = [r["step"] for r in _history(out)]
    assert steps == list(range(1, STEPS + 1))  # no gap, no duplicate
    _same_result(out, uninterrupted)


def test_lines_beyond_the_checkpoint_are_replayed_once(tmp_path, uninterrupted):
    # A kill after the history append but before the checkpoint leaves an extra line, possibly torn.
    out = tmp_path / "extra"
    run(_config(out, steps=4), progress=False)
    with open(out / "history.jsonl", "a") as f:
        f.write(json.dumps({"step": 5, "stale": True}) + "\n")
        f.write('{"step": 6, "allocation"')  # torn write
    run(_config(out), resume=True, progress=False)
    assert [r["step"] for r in _history(out)] == list(range(1, STEPS + 1))
    assert not any("stale" in r for r in _history(out))
    _same_result(out, uninterrupted)


@pytest.mark.parametrize("method", ["random", "uniform-4"])
def test_a_stateless_proposer_resumes_exactly(tmp_path, method):
    # Random search and uniform runs checkpoint no sampler state; amed compare resumes them too.
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run(_config(straight, method=method, steps=4), progress=False)
    run(_config(stopped, method=method, steps=2), progress=False)
    run(_config(stopped, method=method, steps=4), resume=True, progress=False)
    assert _history(stopped) == _history(straight)


def test_resume_with_other_options_is_refused(tmp_path):
    out = tmp_path / "o"
    run(_config(out, steps=1), progress=False)
    from amed.errors import ConfigError

    with pytest.raises(ConfigError, match=r"beta=1\.0 \(now 5\.0\)"):
        run(_config(out, beta=5.0), resume=True, progress=False)


def test_a_finished_search_chooses_again_when_resumed_with_another_rule(tmp_path):
    # The rule only picks among the samples: a finished search resumed with --choose accuracy ends
    # where a search started with it ends, though its new choice was already trained as a Pareto point.
    first, again, fresh = tmp_path / "first", tmp_path / "again", tmp_path / "fresh"
    run(_config(first, final_points=3, beta=10.0), progress=False)
    shutil.copytree(first, again)
    before = json.loads((first / "search.json").read_text())
    result = run(_config(again, final_points=3, beta=10.0, choose="accuracy"), resume=True, progress=False)
    evaluated = [r for r in _history(again) if r["evaluated"]]
    want = max(evaluated, key=lambda r: (r["top1"], r["objective"], -r["step"]))
    assert result.best["step"] == want["step"] != before["best"]["step"]
    assert want["allocation"] in [p["allocation"] for p in before["final_pareto"]]
    meta = json.loads((again / "search.json").read_text())
    assert meta["config"]["choose"] == "accuracy" and meta["final"]["allocation"] == want["allocation"]
    assert json.loads((again / "allocation.json").read_text()) == want["allocation"]
    saved = torch.load(again / "best.pt", weights_only=True)["allocation"]
    assert {n: saved[n] for n in want["allocation"]} == want["allocation"]
    run(_config(fresh, final_points=3, beta=10.0, choose="accuracy"), progress=False)
    _same_result(again, fresh)


def test_a_run_saved_before_best_pt_was_recorded_keeps_its_best_model(tmp_path, uninterrupted):
    out = tmp_path / "older"
    shutil.copytree(uninterrupted, out)
    state = json.loads((out / "checkpoint.json").read_text())
    del state["best_pt"]
    (out / "checkpoint.json").write_text(json.dumps(state))
    stamp = (out / "best.pt").stat().st_mtime_ns
    run(_config(out), resume=True, progress=False)
    assert (out / "best.pt").stat().st_mtime_ns == stamp  # the chosen model is not trained again
    _same_result(out, uninterrupted)


def test_sampler_settings_and_objective_weights_bind_only_amed_runs():
    # A random-search run draws and trains the same samples whatever the AMED sampler's settings and
    # the objective's weights say: a study that only changes those can share its random runs.
    for name, value in (("temperature", 0.1), ("ema", 0.5), ("score_init", "uniform"), ("reward", "log10"),
                        ("score_update", "ridge"), ("infeasible_penalty", 1.0), ("alpha", 2.0), ("beta", 3.0),
                        ("threshold", 0.9), ("penalty", 5.0)):  # fmt: skip
        for method, expected in (("random", []), ("uniform-4", []), ("amed", [name])):
            saved = SearchConfig(dataset="digits", method=method)
            now = SearchConfig(dataset="digits", method=method, **{name: value})
            assert now.mismatches(saved) == expected, (name, method)
    # Baselines only add final-stage models; a latency cap changes which allocations random search draws.
    for method in ("random", "amed"):
        assert SearchConfig(dataset="digits", method=method, baselines=False).mismatches(
            SearchConfig(dataset="digits", method=method)) == []
    capped = SearchConfig(dataset="digits", method="random", max_latency=0.1)
    assert capped.mismatches(SearchConfig(dataset="digits", method="random")) == ["max_latency"]


def test_a_finished_random_search_resumed_under_another_beta_ends_where_one_started_with_it_ends(tmp_path):
    # The samples are weighed again (history and choice), and only the new choice is trained. At
    # β = 0 the objective is CE alone, so the choice leaves the fast sample that β = 1 favours.
    first, again, fresh = tmp_path / "first", tmp_path / "again", tmp_path / "fresh"
    run(_config(first, method="random", final_points=3), progress=False)
    shutil.copytree(first, again)
    before = json.loads((first / "search.json").read_text())
    run(_config(again, method="random", final_points=3, beta=0.0), resume=True, progress=False)
    after = json.loads((again / "search.json").read_text())
    assert after["config"]["beta"] == 0.0 and after["best"]["step"] != before["best"]["step"]
    assert [r["objective"] for r in _history(again)] != [r["objective"] for r in _history(first)]
    run(_config(fresh, method="random", final_points=3, beta=0.0), progress=False)
    _same_result(again, fresh)


def test_the_ridge_update_resumes_exactly(tmp_path):
    # Stopped once the fit has replaced the scores: the checkpoint carries every sample it refits to.
    from amed.search.score_fit import RIDGE_WARMUP

    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run(_config(straight, score_update="ridge", steps=RIDGE_WARMUP + 3), progress=False)
    run(_config(stopped, score_update="ridge", steps=RIDGE_WARMUP + 1), progress=False)
    run(_config(stopped, score_update="ridge", steps=RIDGE_WARMUP + 3), resume=True, progress=False)
    assert _history(stopped) == _history(straight)


def test_the_papers_continued_protocol_resumes_exactly(tmp_path):
    # One model trained across the samples: the checkpoint carries it (weights_only-safe) and its optimizer.
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run(_config(straight, protocol="continued", steps=4), progress=False)
    run(_config(stopped, protocol="continued", steps=2), progress=False)
    assert (stopped / "model_state.pt").is_file()
    run(_config(stopped, protocol="continued", steps=4), resume=True, progress=False)
    assert _history(stopped) == _history(straight)


def test_a_second_search_on_a_busy_folder_fails_at_once(tmp_path):
    from amed.errors import ConfigError
    from amed.store import folder_lock

    out = tmp_path / "busy"
    with folder_lock(out):  # another search holds the folder
        with pytest.raises(ConfigError, match=r"is in use by another search \(pid \d+\)"):
            run(_config(out, steps=1), progress=False)
    assert not (out / "history.jsonl").exists()


def test_two_searches_started_on_one_folder(tmp_path):
    # The second fails at once and the first runs on, untouched.
    out = tmp_path / "shared"
    # Long candidates keep the first search in the folder well after the second has started.
    first = subprocess.Popen(_cli(out, "--batches-per-step=64"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None and not (out / "history.jsonl").exists():
        time.sleep(0.01)
    second = subprocess.run(_cli(out), capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    assert second.stderr.startswith("amed: error:") and "in use by another search" in second.stderr
    assert first.wait(timeout=600) == 0, first.stderr.read().decode()
    first.stderr.close()
    assert [r["step"] for r in _history(out)] == list(range(1, STEPS + 1))


def test_resume_without_the_checkpoint_is_refused(tmp_path):
    from amed.errors import AmedIOError

    out = tmp_path / "o"
    run(_config(out, steps=2), progress=False)
    (out / "checkpoint.json").unlink()
    with pytest.raises(AmedIOError, match="holds history.jsonl but no checkpoint.json"):
        run(_config(out, steps=3), resume=True, progress=False)
    assert len((out / "history.jsonl").read_text().splitlines()) == 2  # nothing lost


def test_resume_after_the_hardware_file_changed_is_refused(tmp_path, configs):
    from amed.errors import ConfigError

    hw = tmp_path / "mine.toml"
    hw.write_text((configs / "scalesim.toml").read_text())
    out = tmp_path / "o"
    run(_config(out, steps=1, hw=str(hw)), progress=False)
    hw.write_text(hw.read_text().replace("ghz = 0.2", "ghz = 0.4"))
    with pytest.raises(ConfigError, match="hardware config .* changed") as info:
        run(_config(out, steps=2, hw=str(hw)), resume=True, progress=False)
    assert info.value.field == "hw"
