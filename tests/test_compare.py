"""`amed compare`: the statistics on known numbers, the summary of hand-made run folders, the runner
with a fake search (resume, failures, worker processes) and the CLI's validation. No torch."""

import itertools
import json
import random
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import scipy.stats

from amed.cli import main
from amed.compare import compare, stats
from amed.compare.runner import state
from amed.compare.study import Study

# ---------------------------------------------------------------- hand-made run folders

NUM_CLASSES = 10  # chance = 10 %
LATENCY_8 = 2.0  # ms; every run's uniform-8 reference


def _point(top1, latency, label="chosen", bits=None):
    return {"label": label, "allocation": {"conv": [4, 4]}, "bits": bits or [4], "latency_ms": latency,
            "size_bytes": 1000.0, "val_top1": top1, "test_top1": top1, "test_ce": 0.5}  # fmt: skip


def _baselines(rows):
    return [{"bits": b, "label": f"uniform-{b}", "latency_ms": lat, "size_bytes": 100.0 * b, "val_top1": t,
             "test_top1": t, "test_ce": 0.4} for b, t, lat in rows]  # fmt: skip


CHAIN = (2.0, 1.5, 1.3, 1.4, 1.6, 1.2, 1.0, 1.2)  # latency (ms) of each step; last quarter mean 1.1


def make_run(folder: Path, fields: dict, final, pareto=(), baselines=(), chain=CHAIN):
    """A finished run folder by the search's contract."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "config": {"steps": 20, "bits": [2, 3, 4, 8], **fields},
        "num_classes": NUM_CLASSES,
        "reference": {"ce": 0.3, "top1": 90.0, "latency_ms": LATENCY_8, "size_bytes": 800.0},
        "final": None if final is None else _point(*final),
        "final_pareto": [_point(t, lat, label="pareto") for t, lat in pareto],
        "baselines": _baselines(baselines) if fields.get("baselines") else [],
        "final_budget": "256 batches of 32",
    }
    (folder / "search.json").write_text(json.dumps(meta))
    lines = [{"step": i, "latency_ms": lat, "evaluated": True, "feasible": True, "bits": [4],
              "allocation": {"conv": [4, 4]}, "size_bytes": 400.0, "top1": 80.0, "ce": 0.5, "objective": 0.1}
             for i, lat in enumerate(chain, start=1)]  # fmt: skip
    (folder / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


# Two seeds x {amed, random} at beta 1; latencies in ms, top-1 in %.
KNOWN = {
    "amed-b1-s0": dict(final=(90, 1.0), pareto=[(80, 0.5)], baselines=[(8, 88, 2.0), (4, 86, 1.1), (2, 50, 0.6)]),
    "random-b1-s0": dict(final=(85, 1.2)),
    "amed-b1-s1": dict(final=(88, 1.0), pareto=[(95, 1.8)], baselines=[(8, 87, 2.0), (4, 85, 1.2), (2, 40, 0.6)]),
    "random-b1-s1": dict(final=(80, 1.0)),
}
# HV by hand, latency / 2 ms against (chance 10, 1.0):
#   amed s0: (80, .25), (90, .5) -> .25 * 70 + .5 * 80 = 57.5     random s0: (85, .6) -> .4 * 75 = 30
#   amed s1: (88, .5), (95, .9)  -> .4 * 78 + .1 * 85 = 39.7      random s1: (80, .5) -> .5 * 70 = 35
KNOWN_HV = {"amed-b1-s0": 57.5, "random-b1-s0": 30.0, "amed-b1-s1": 39.7, "random-b1-s1": 35.0}


@pytest.fixture
def study_dir(tmp_path):
    out = tmp_path / "study"
    study = Study.parse(out, "amed,random", "1", "0,1")
    for seed, method in itertools.product(study.seeds, study.methods):
        fields = study.fields(method, 1.0, seed)
        make_run(Path(fields["out"]), fields, **KNOWN[f"{method}-b1-s{seed}"])
    return out


def _never(fields, resume):
    raise AssertionError(f"finished run {fields['out']} was run again")


# ---------------------------------------------------------------- statistics


def test_hypervolume_hand_computed_fronts():
    ref = (10.0, 1.0)
    assert stats.hypervolume([], ref) == 0.0
    assert stats.hypervolume([(90, 0.5)], ref) == pytest.approx(40.0)
    front = [(80, 0.25), (90, 0.5)]
    assert stats.hypervolume(front, ref) == pytest.approx(57.5)
    assert stats.hypervolume(front[::-1] + front, ref) == pytest.approx(57.5)  # order and duplicates
    assert stats.hypervolume(front + [(70, 0.4), (80, 0.3)], ref) == pytest.approx(57.5)  # dominated
    beyond = [(95, 1.2), (99, 1.0), (5, 0.1), (10, 0.2)]  # slower than the reference, or not above chance
    assert stats.hypervolume(front + beyond, ref) == pytest.approx(57.5)
    assert stats.hypervolume(beyond, ref) == 0.0
    assert stats.run_hypervolume([(90, 1.0)], num_classes=10, latency_8bit_ms=2.0) == pytest.approx(40.0)


def _grid_area(points, ref):
    """Area of the union of [lat, ref_lat] x [ref_top1, top1] by coordinate compression."""
    useful = [(t, lat) for t, lat in points if t > ref[0] and lat < ref[1]]
    xs = sorted({lat for _, lat in useful} | {ref[1]})
    ys = sorted({t for t, _ in useful} | {ref[0]})
    area = 0.0
    for (x0, x1), (y0, y1) in itertools.product(zip(xs, xs[1:]), zip(ys, ys[1:])):
        if any(lat <= x0 and t >= y1 for t, lat in useful):
            area += (x1 - x0) * (y1 - y0)
    return area


def test_hypervolume_matches_union_of_rectangles_on_random_fronts():
    rng = random.Random(3)
    for _ in range(50):
        points = [(rng.uniform(0, 100), rng.uniform(0, 1.5)) for _ in range(rng.randint(0, 12))]
        assert stats.hypervolume(points, (10.0, 1.0)) == pytest.approx(_grid_area(points, (10.0, 1.0)))


def test_wilcoxon_matches_scipy_and_says_when_it_cannot_test():
    a = [1.2, 3.4, 2.2, 5.0, 4.1, 3.3, 2.8, 0.9]
    b = [1.0, 2.9, 2.5, 3.9, 3.0, 3.1, 2.0, 1.5]
    expected = scipy.stats.wilcoxon(a, b, alternative="two-sided")
    result = stats.paired_wilcoxon(a, b)
    assert result["n"] == 8 and result["note"] is None
    assert result["statistic"] == pytest.approx(expected.statistic) and result["p"] == pytest.approx(expected.pvalue)
    few = stats.paired_wilcoxon(a[:4], b[:4])
    assert few["p"] == pytest.approx(scipy.stats.wilcoxon(a[:4], b[:4]).pvalue) and "6 pairs" in few["note"]
    zero = stats.paired_wilcoxon([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert zero["p"] is None and "zero" in zero["note"]
    one = stats.paired_wilcoxon([1.0], [2.0])
    assert one["p"] is None and "at least 2" in one["note"]


def test_spearman_matches_scipy_and_handles_constant_input():
    x, y = [0.5, 1, 2, 4, 8], [3.1, 2.9, 2.0, 2.2, 1.1]
    expected = scipy.stats.spearmanr(x, y)
    result = stats.spearman(x, y)
    assert result["rho"] == pytest.approx(expected.statistic) and result["p"] == pytest.approx(expected.pvalue)
    assert stats.spearman([1, 1, 1], [1, 2, 3])["rho"] is None
    assert "at least 3" in stats.spearman([1, 2], [2, 1])["note"]


def test_bootstrap_ci_is_deterministic_and_contains_the_mean():
    values = [71.2, 69.8, 73.5, 70.1, 72.4, 68.9]
    first, second = stats.bootstrap_ci(values), stats.bootstrap_ci(values)
    assert first == second
    assert first["low"] <= np.mean(values) <= first["high"] and first["estimate"] == pytest.approx(np.mean(values))
    assert first["low"] >= min(values) and first["high"] <= max(values)
    narrow = stats.bootstrap_ci(values, level=0.5)
    assert narrow["high"] - narrow["low"] < first["high"] - first["low"]
    median = stats.bootstrap_ci(values, stat=np.median)
    assert median["estimate"] == pytest.approx(np.median(values))
    assert stats.bootstrap_ci([5.0, 5.0, 5.0])["low"] == 5.0
    single = stats.bootstrap_ci([3.0])
    assert single["estimate"] == 3.0 and single["low"] is None and single["note"]


# ---------------------------------------------------------------- summary of hand-made folders


def test_summary_of_known_runs(study_dir):
    summary = compare(study_dir, "amed,random", "1", "0,1", run_fn=_never, command="amed compare --test", log=print)
    runs = {r["name"]: r for r in summary["runs"]}
    assert {name: r["hypervolume"] for name, r in runs.items()} == pytest.approx(KNOWN_HV)
    assert runs["amed-b1-s0"]["best_test_top1_within_uniform4_latency"] == 90  # (90, 1.0) <= 1.1 ms
    assert runs["random-b1-s0"]["best_test_top1_within_uniform4_latency"] is None  # 1.2 ms > 1.1 ms
    assert runs["random-b1-s1"]["best_test_top1_within_uniform4_latency"] == 80
    assert runs["amed-b1-s0"]["chain_tail_latency_ms"] == pytest.approx(1.1)  # last 2 of 8 steps
    targets = runs["amed-b1-s0"]["targets"]
    assert targets == {"final_not_dominated_by_uniform": True, "uniform4_top1_at_0.9x_latency": False}
    assert runs["amed-b1-s1"]["targets"]["uniform4_top1_at_0.9x_latency"] is True  # 88 >= 85 at 1.0 <= 1.08 ms
    # random search is held to the same targets: s0's (85, 1.2) is dominated by uniform 4's (86, 1.1);
    # s1's (80, 1.0) is faster than every baseline that is more accurate, but below uniform 4's 85
    assert runs["random-b1-s0"]["targets"] == {"final_not_dominated_by_uniform": False,
                                               "uniform4_top1_at_0.9x_latency": False}  # fmt: skip
    assert runs["random-b1-s1"]["targets"] == {"final_not_dominated_by_uniform": True,
                                               "uniform4_top1_at_0.9x_latency": False}  # fmt: skip
    assert summary["seeds"]["1"]["from"] == "amed-b1-s1" and len(summary["seeds"]["1"]["baselines"]) == 3

    statistics = summary["statistics"]
    wilcoxon = statistics["wilcoxon_hypervolume_amed_vs_random"]["1"]
    expected = scipy.stats.wilcoxon([57.5, 39.7], [30.0, 35.0])
    assert wilcoxon["seeds"] == [0, 1] and wilcoxon["p"] == pytest.approx(expected.pvalue)
    assert "not meaningful" in wilcoxon["note"]
    assert statistics["spearman_amed_final_latency_vs_beta"]["rho"] is None  # one beta
    top1 = statistics["wilcoxon_final_top1_amed_vs_random"]["1"]
    assert top1["seeds"] == [0, 1] and top1["p"] == pytest.approx(scipy.stats.wilcoxon([90, 88], [85, 80]).pvalue)
    groups = {g["method"]: g["targets"] for g in summary["groups"]}
    assert groups == {
        "amed": {"final_not_dominated_by_uniform": {"met": 2, "of": 2},
                 "uniform4_top1_at_0.9x_latency": {"met": 1, "of": 2}},
        "random": {"final_not_dominated_by_uniform": {"met": 1, "of": 2},
                   "uniform4_top1_at_0.9x_latency": {"met": 0, "of": 2}},
    }  # fmt: skip
    assert summary["failed"] == {} and summary["num_classes"] == NUM_CLASSES

    markdown = (study_dir / "compare.md").read_text()
    for row in (
        "| amed | 1 | 2 | 89.00 [88.00, 90.00] | 1 | 48.60 [39.70, 57.50] | 89.00 | 1.1 |",
        "| random | 1 | 2 | 82.50 [80.00, 85.00] | 1.1 | 32.50 [30.00, 35.00] | 80.00 | 1.1 |",
        "| uniform-8 | – | 2 | 87.50 [87.00, 88.00] | 2 | 0.00 [0.00, 0.00] | – | – |",
        "| uniform-4 | – | 2 | 85.50 [85.00, 86.00] | 1.15 | 32.10 [30.00, 34.20] | – | – |",
        "| uniform-2 | – | 2 | 45.00 [40.00, 50.00] | 0.6 | 24.50 [21.00, 28.00] | – | – |",
        "amed, β = 1: final dominated by no uniform baseline in 2 of 2 runs; "
        "reaches uniform-4 test top-1 at ≤ 0.9× its latency in 1 of 2",
        "random, β = 1: final dominated by no uniform baseline in 1 of 2 runs; "
        "reaches uniform-4 test top-1 at ≤ 0.9× its latency in 0 of 2",
        "AMED vs random final test top-1 over paired seeds, β = 1: statistic = 0",
        "amed compare --test",
        "256 batches of 32",
    ):
        assert row in markdown, row
    assert json.loads((study_dir / "compare.json").read_text())["runs"][0]["name"] == "amed-b1-s0"
    png = study_dir / "compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_finished_run_with_other_settings_is_refused(study_dir):
    from amed.errors import ConfigError

    with pytest.raises(ConfigError, match="steps") as error:
        compare(study_dir, "amed,random", "1", "0,1", steps=5, run_fn=_never, log=print)
    assert error.value.field == "out"


def test_a_sampler_setting_refuses_finished_amed_runs_and_reuses_random_ones(tmp_path):
    import shutil

    from amed.errors import ConfigError

    out = tmp_path / "study"
    quiet = dict(run_fn=fake_search, log=lambda line: None)
    compare(out, "amed,random", "1", "0,1", options={"score_update": "ema"}, **quiet)
    ridge = {"score_update": "ridge"}
    with pytest.raises(ConfigError, match=r"amed-b1-s0 is a finished run with score_update='ema'"):
        compare(out, "amed,random", "1", "0,1", options=ridge, **quiet)
    for seed in (0, 1):
        shutil.rmtree(out / f"amed-b1-s{seed}")
    summary = compare(out, "amed,random", "1", "0,1", options=ridge, **quiet)
    calls = _calls(out)
    assert calls["random-b1-s0"] == calls["random-b1-s1"] == ["resume=False"]  # reused, not run again
    assert calls["amed-b1-s0"] == calls["amed-b1-s1"] == ["resume=False"]
    assert all(r["status"] == "complete" for r in summary["runs"])
    with pytest.raises(ConfigError, match=r"random-b1-s0 is a finished run with steps=20"):  # any other setting counts
        compare(out, "random", "1", "0,1", steps=5, options=ridge, **quiet)


def test_random_runs_at_a_new_beta_start_from_the_samples_of_finished_ones(tmp_path):
    out = tmp_path / "study"
    quiet = dict(run_fn=fake_search, log=lambda line: None)
    compare(out, "amed,random", "1", "0,1", **quiet)
    killed_copy = out / ".random-b3-s0.copying"  # what a copy killed midway leaves
    killed_copy.mkdir()
    (killed_copy / "half-written").write_text("")
    summary = compare(out, "amed,random", "3", "0,1", **quiet)
    assert not killed_copy.exists() and not (out / "random-b3-s0" / "half-written").exists()
    calls = _calls(out)
    assert calls["random-b3-s0"] == calls["random-b3-s1"] == ["resume=False", "resume=True"]  # copied, then resumed
    assert calls["amed-b3-s0"] == calls["amed-b3-s1"] == ["resume=False"]  # AMED's samples follow β
    assert json.loads((out / "random-b3-s0" / "search.json").read_text())["config"]["beta"] == 3.0
    assert all(r["status"] == "complete" for r in summary["runs"])
    # A finished random run that drew its samples under another setting is no source.
    compare(out, "random", "5", "0,1", options={"max_latency": 1.0}, **quiet)
    assert _calls(out)["random-b5-s0"] == _calls(out)["random-b5-s1"] == ["resume=False"]


# ---------------------------------------------------------------- runner with a fake search


def fake_search(fields: dict, resume: bool) -> None:
    """Writes a finished run folder; logs each call; fails for seed 7."""
    folder = Path(fields["out"])
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "calls.txt", "a") as log:
        log.write(f"resume={resume}\n")
    if fields["seed"] == 7:
        raise RuntimeError("simulated crash")
    top1 = 80.0 + fields["seed"] + (5.0 if fields["method"] == "amed" else 0.0)
    make_run(folder, fields, final=(top1, 1.0 / (1.0 + fields["beta"])), pareto=[(top1 - 5, 0.5)],
             baselines=[(8, 85.0, 2.0), (4, 83.0, 1.2)])  # fmt: skip


def _calls(out: Path) -> dict:
    return {p.parent.name: p.read_text().split() for p in sorted(out.glob("*/calls.txt"))}


def test_runner_runs_every_cell_then_resumes_only_the_unfinished(tmp_path):
    out = tmp_path / "study"
    lines = []
    summary = compare(out, "amed,random", "0.5,2", "0,1", run_fn=fake_search, log=lines.append)
    names = [f"{m}-b{b}-s{s}" for s in (0, 1) for m in ("amed", "random") for b in ("0.5", "2")]
    # Random search's runs at β = 2 start from a copy of those at β = 0.5 (their call log included).
    reused = {f"random-b2-s{s}" for s in (0, 1)}
    assert _calls(out) == {name: ["resume=False"] + ["resume=True"] * (name in reused) for name in names}
    assert all(state(out / name) == "complete" for name in names)
    assert len([line for line in lines if " done in " in line]) == 8
    assert len([line for line in lines if "starts from the samples of random-b0.5-s" in line]) == 2
    baselines_from = {name: bool(json.loads((out / name / "search.json").read_text())["baselines"]) for name in names}
    assert [name for name, has in baselines_from.items() if has] == ["amed-b0.5-s0", "amed-b0.5-s1"]
    assert summary["statistics"]["spearman_amed_final_latency_vs_beta"]["rho"] == pytest.approx(-1.0)
    assert set(summary["statistics"]["wilcoxon_hypervolume_amed_vs_random"]) == {"0.5", "2"}

    (out / "random-b2-s1" / "search.json").unlink()  # interrupted: the history is still there
    lines.clear()
    compare(out, "amed,random", "0.5,2", "0,1", run_fn=fake_search, log=lines.append)
    calls = _calls(out)
    assert calls.pop("random-b2-s1") == ["resume=False", "resume=True", "resume=True"]
    assert calls.pop("random-b2-s0") == ["resume=False", "resume=True"]
    assert all(c == ["resume=False"] for c in calls.values())
    assert lines[0] == "7 of 8 runs already complete, skipped"


def test_a_finished_study_chooses_again_under_another_rule(tmp_path):
    # --choose only picks among a run's samples: finished runs are resumed, not refused or redone.
    out = tmp_path / "study"
    compare(out, "amed,random", "1", "0,1", run_fn=fake_search, log=lambda line: None)
    compare(out, "amed,random", "1", "0,1", options={"choose": "accuracy"}, run_fn=fake_search, log=lambda line: None)
    assert all(calls == ["resume=False", "resume=True"] for calls in _calls(out).values())
    assert all(state(out / name, {"choose": "accuracy"}) == "complete" != state(out / name, {}) for name in _calls(out))
    lines = []
    summary = compare(out, "amed,random", "1", "0,1", options={"choose": "accuracy"}, run_fn=fake_search,
                      log=lines.append)  # fmt: skip
    assert lines[0] == "4 of 4 runs already complete, skipped"
    assert all(r["status"] == "complete" for r in summary["runs"])


def test_a_failed_run_does_not_stop_the_others(tmp_path, capsys):
    out = tmp_path / "study"
    summary = compare(out, "amed,random", "1", "7,8", run_fn=fake_search, log=print)
    assert set(summary["failed"]) == {"amed-b1-s7", "random-b1-s7"}
    assert "RuntimeError: simulated crash" in summary["failed"]["amed-b1-s7"]
    assert state(out / "amed-b1-s8") == state(out / "random-b1-s8") == "complete"
    assert {r["name"]: r["status"] for r in summary["runs"]}["amed-b1-s7"] == "failed"
    assert "FAILED" in capsys.readouterr().out
    assert "## Failed runs" in (out / "compare.md").read_text()


def test_jobs_run_in_spawned_workers(tmp_path):
    out = tmp_path / "study"
    summary = compare(out, "amed", "1", "0,1,7", jobs=2, run_fn=fake_search, log=print)
    assert set(summary["failed"]) == {"amed-b1-s7"}
    assert state(out / "amed-b1-s0") == state(out / "amed-b1-s1") == "complete"


def dying_search(fields: dict, resume: bool) -> None:
    """Seed 0's worker process dies on its first attempt, seed 9's on every attempt (once seed 8
    has finished, so that seed 8 is never in the pool it breaks); the rest (and seed 0's second
    attempt) finish as `fake_search` does."""
    import os
    import time

    folder = Path(fields["out"])
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "died"
    if fields["seed"] == 9:
        deadline = time.monotonic() + 60
        while state(folder.parent / "amed-b1-s8") != "complete" and time.monotonic() < deadline:
            time.sleep(0.01)
    if fields["seed"] == 9 or (fields["seed"] == 0 and not marker.exists()):
        marker.touch()
        os._exit(9)  # like a kill: no exception, the process is gone
    fake_search(fields, resume)


def test_a_run_whose_worker_dies_starts_again_and_the_others_finish(tmp_path):
    out = tmp_path / "study"
    lines: list[str] = []
    summary = compare(out, "amed", "1", "0,1,2", jobs=2, run_fn=dying_search, log=lines.append)
    assert not summary["failed"]
    assert all(state(out / f"amed-b1-s{seed}") == "complete" for seed in (0, 1, 2))
    assert any("a worker process died" in line for line in lines)

    lines.clear()
    summary = compare(tmp_path / "doomed", "amed", "1", "8,9", jobs=2, run_fn=dying_search, log=lines.append)
    assert set(summary["failed"]) == {"amed-b1-s9"}
    assert "worker process died 4 times" in summary["failed"]["amed-b1-s9"]
    assert state(tmp_path / "doomed" / "amed-b1-s8") == "complete"


def sleeping_search(fields: dict, resume: bool) -> None:
    """Records its process id in the run folder, then works for two minutes."""
    import os
    import time

    folder = Path(fields["out"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pid.tmp").write_text(str(os.getpid()))
    (folder / "pid.tmp").rename(folder / "pid")
    time.sleep(120)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its reaper does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_killing_the_study_stops_its_workers(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "study"
    script = (f"from test_compare import sleeping_search; from amed.compare import compare; "
              f"compare({str(out)!r}, 'amed', '1', '0,1', jobs=2, run_fn=sleeping_search)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parent)
    pids = [out / "amed-b1-s0" / "pid", out / "amed-b1-s1" / "pid"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(p.exists() for p in pids):
        time.sleep(0.05)
    workers = [int(p.read_text()) for p in pids]
    assert all(_alive(pid) for pid in workers)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "a worker outlived the killed study"


# ---------------------------------------------------------------- CLI validation


@pytest.mark.parametrize(
    "arguments, flag",
    [
        (["--methods", "amed,bogus"], "--methods"),
        (["--methods", "amed,amed"], "--methods"),
        (["--betas=-1"], "--betas"),
        (["--betas", "1,inf"], "--betas"),
        (["--betas", "nan"], "--betas"),
        (["--seeds", "0"], "--seeds"),
        (["--seeds", "1,1"], "--seeds"),
        (["--seeds", "0,x"], "--seeds"),
        (["--jobs", "0"], "--jobs"),
        (["--jobs=-2"], "--jobs"),
        (["--options", "{not json"], "--options"),
        (["--options", "[1, 2]"], "--options"),
        (["--options", '{"beta": 2}'], "--options"),
    ],
)
def test_cli_rejects_bad_flags_before_making_a_folder(tmp_path, capsys, arguments, flag):
    out = tmp_path / "study"
    assert main(["compare", "--out", str(out), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("amed: error: ") and flag in error and error.count("\n") == 1
    assert not out.exists()


def test_cli_jobs_message():
    from amed.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^--jobs must be a positive integer, got 0$"):
        Study.parse("x", "amed", "1", "0,1", jobs=0)


def test_cli_checks_options_against_search_config_and_prints_the_table(tmp_path, study_dir, capsys):
    pytest.importorskip("torch")  # amed.search builds each run's SearchConfig before any folder is made
    out = tmp_path / "other"
    assert main(["compare", "--out", str(out), "--options", '{"no_such_setting": 1}']) == 2
    assert "--options" in capsys.readouterr().err and not out.exists()
    assert main(["compare", "--out", str(study_dir)]) == 0  # every run finished: nothing runs
    printed = capsys.readouterr().out
    assert printed.startswith(f"4 of 4 runs already complete, skipped\n{study_dir / 'compare.md'}\n| method | β |")
    assert "| amed | 1 | 2 | 89.00 [88.00, 90.00] |" in printed
    assert "amed compare --out" in (study_dir / "compare.md").read_text()


def test_real_tiny_study_survives_a_kill(tmp_path, digits_checkpoint):
    """`amed compare` on real searches (digits, 2 seeds x {amed, random}, a tiny budget, a latency
    target): killed mid-study with SIGKILL, the same command finishes the rest and writes every file."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "study"
    target = 0.07  # ms: between uniform 3 and uniform 4 bit of ResNet-20 on scalesim
    options = json.dumps({"weights": str(digits_checkpoint), "batches_per_step": 1, "final_batches": 1,
                          "final_points": 1, "max_latency": target})  # fmt: skip
    command = [sys.executable, "-m", "amed.cli", "compare", f"--out={out}", "--seeds=0,1", "--dataset=digits",
               "--steps=3", f"--options={options}"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if any((run / "search.json").is_file() and "final" in json.loads((run / "search.json").read_text() or "{}")
               for run in out.glob("*-s*")):  # fmt: skip
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    summary = json.loads((out / "compare.json").read_text())
    assert sorted(r["name"] for r in summary["runs"]) == ["amed-b1-s0", "amed-b1-s1", "random-b1-s0", "random-b1-s1"]
    assert all(r["status"] == "complete" for r in summary["runs"])
    for run in out.glob("*-s*"):
        assert json.loads((run / "search.json").read_text())["final"]["latency_ms"] <= target
    assert (out / "compare.md").read_text().count("| amed") >= 1
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_random_runs_at_another_beta_match_runs_started_there(tmp_path, digits_checkpoint):
    """A random run copied from another β (which trained the baselines) and resumed ends where a
    random search started at its β ends."""
    from amed.search import SearchConfig, run

    out = tmp_path / "study"
    options = {"weights": str(digits_checkpoint), "batches_per_step": 1, "final_batches": 1, "final_points": 2}
    lines = []
    compare(out, "random", "1,20", "0,1", dataset="digits", steps=4, options=options, log=lines.append)
    assert len([line for line in lines if "starts from the samples of random-b1-s" in line]) == 2
    reused = json.loads((out / "random-b20-s0" / "search.json").read_text())
    fresh = tmp_path / "fresh"
    run(SearchConfig(**{**reused["config"], "out": str(fresh)}), progress=False)
    started = json.loads((fresh / "search.json").read_text())
    assert reused["config"]["beta"] == 20.0 and reused["baselines"] == [] and not reused["config"]["baselines"]
    assert all(reused[key] == started[key] for key in ("best", "final", "final_pareto"))
    histories = [[{k: v for k, v in json.loads(line).items() if k != "wall_s"} for line in h.read_text().splitlines()]
                 for h in (out / "random-b20-s0" / "history.jsonl", fresh / "history.jsonl")]  # fmt: skip
    assert histories[0] == histories[1]
