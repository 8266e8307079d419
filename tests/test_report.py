"""`amed.report` and the Pareto front on hand-made search folders (no training)."""

from __future__ import annotations

import csv
import json

import pytest

from amed.errors import AmedIOError
from amed.report import render, summary
from amed.store import pareto_front, read_history, resume_state, save_json

LAYERS = ["a", "b"]


def _record(step, top1, latency, size, bits=(4, 4), evaluated=True):
    return {
        "step": step, "bits": list(bits), "allocation": {n: [b, b] for n, b in zip(LAYERS, bits)},
        "top1": top1 if evaluated else None, "top5": 99.0 if evaluated else None, "ce": 0.5 if evaluated else None,
        "latency_ms": latency, "size_bytes": size, "energy_uj": 1.0, "objective": 0.1 if evaluated else None,
        "feasible": evaluated, "evaluated": evaluated, "meets_threshold": evaluated or None, "accepted": 1,
    }  # fmt: skip


def test_pareto_front_keeps_exactly_the_non_dominated():
    records = [
        _record(1, 70.0, 1.0, 100, (2, 2)),  # fastest
        _record(2, 80.0, 2.0, 200, (4, 4)),  # more accurate
        _record(3, 75.0, 2.5, 250, (4, 8)),  # dominated by step 2
        _record(4, 80.0, 2.0, 150, (3, 4)),  # ties step 2 on top-1 and latency: the earlier one stays
        _record(5, 90.0, 9.0, 900, (8, 8)),  # most accurate
        _record(6, 99.0, 0.1, 10, (2, 3), evaluated=False),  # over a cap: never on the front
        _record(7, 60.0, 1.0, 100, (2, 2)),  # a worse repeat of step 1's allocation
    ]
    assert [r["step"] for r in pareto_front(records)] == [1, 2, 5]


def test_pareto_front_is_the_one_the_csv_holds(folder):
    render(folder)
    rows = list(csv.DictReader(open(folder / "pareto.csv")))
    assert [int(r["step"]) for r in rows] == [r["step"] for r in pareto_front(read_history(folder / "history.jsonl"))]


@pytest.fixture
def folder(tmp_path):
    records = [_record(1, 70.0, 1.0, 100, (2, 2)), _record(2, 80.0, 2.0, 200, (4, 4)),
               _record(3, 75.0, 2.5, 250, (4, 8))]  # fmt: skip
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    layer = lambda name, bits, lat: {"name": name, "searched": name in LAYERS, "w_bits": bits, "a_bits": bits,
                                     "latency_ms": lat, "size_bytes": 10.0, "energy_uj": 1.0}  # fmt: skip
    meta = {
        "config": {"method": "amed", "model": "tiny", "dataset": "digits", "bits": [2, 4, 8], "beta": 1.0, "seed": 0},
        "budget": "2 batches of 32", "final_budget": "8 batches of 32", "hw": "scalesim", "num_classes": 10,
        "searched": LAYERS, "fixed": {"stem": [8, 8]},
        "reference": {"ce": 0.9, "top1": 60.0, "top5": 95.0, "latency_ms": 4.0, "size_bytes": 400.0},
        "final": {"label": "chosen", "bits": [4, 4], "test_ce": 0.6, "test_top1": 79.0, "latency_ms": 2.0,
                  "size_bytes": 200.0},
        "final_pareto": [{"label": "pareto", "bits": [2, 2], "test_ce": 0.9, "test_top1": 71.0, "latency_ms": 1.0,
                          "size_bytes": 100.0}],
        "baselines": [{"bits": 8, "label": "uniform-8", "test_ce": 0.8, "test_top1": 82.0, "latency_ms": 4.0,
                       "size_bytes": 400.0}],
        "best": {**records[1], "meets_threshold": True},
        "best_layers": [layer("stem", 8, 1.0), layer("a", 4, 0.5), layer("b", 4, 0.5)],
        "reference_layers": [layer("stem", 8, 1.0), layer("a", 8, 1.5), layer("b", 8, 1.5)],
    }  # fmt: skip
    (tmp_path / "search.json").write_text(json.dumps(meta))
    return tmp_path


def test_render_writes_front_and_plots(folder):
    text = render(folder)
    with open(folder / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["step"]), r["bits"]) for r in rows] == [(1, "2-2"), (2, "4-4")]
    for name in ("pareto.png", "bits.png", "latency.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "chosen (step 2)" in text and "uniform 8 (reference)" in text and "2 layers at 4" in text
    assert "final stage (test split; every model 8 batches of 32" in text and "WARNING" not in text
    final_rows = text.split("final stage")[1].splitlines()
    assert any(line.startswith("chosen") and "79.00" in line for line in final_rows)
    assert any(line.startswith("uniform 8") and "82.00" in line for line in final_rows)


def test_summary_warns_when_a_model_is_near_chance(folder):
    meta = json.loads((folder / "search.json").read_text())
    meta["final_pareto"][0]["test_top1"] = 12.0
    text = summary(meta, read_history(folder / "history.jsonl"))
    assert "WARNING: pareto within 10 points of chance (10.0 %)" in text


def test_summary_counts_over_cap_samples(folder):
    meta = json.loads((folder / "search.json").read_text())
    records = read_history(folder / "history.jsonl") + [_record(4, 0, 1.0, 900, evaluated=False)]
    assert "4 samples (3 fine-tuned, 1 over a cap)" in summary(meta, records)
    assert "trained within" not in summary(meta, records)
    meta["config"].update(max_latency=0.25, max_size=1e5)
    assert "every candidate trained within: latency <= 0.25 ms, size <= 100000 bytes" in summary(meta, records)


def test_a_bad_history_line_names_file_and_line(folder):
    path = folder / "history.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{oops", lines[1]]) + "\n")
    with pytest.raises(AmedIOError) as info:
        read_history(path)
    assert info.value.line == 2 and info.value.file == str(path)


def test_resume_drops_steps_after_the_checkpoint_and_a_torn_tail(folder):
    path = folder / "history.jsonl"
    save_json({"step": 2, "config": {}, "proposer": {}, "reference": {}}, folder / "checkpoint.json")
    path.write_text(path.read_text() + '{"step": 4, "bits"')
    assert [r["step"] for r in resume_state(folder)[1]] == [1, 2]
    assert [r["step"] for r in read_history(path)] == [1, 2]


def test_amed_report_needs_no_torch(folder):
    # A fresh interpreter in which torch cannot be imported: `amed report` must still work.
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            f"from amed.cli import main\nsys.exit(main(['report', {str(folder)!r}]))\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "final stage (test split" in done.stdout
