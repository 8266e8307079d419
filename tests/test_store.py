"""The run folder's contract (`amed.store`): what resume accepts and refuses, a full disk, a foreign
pickle, and resumed settings (no training: hand-made folders)."""

from __future__ import annotations

import errno
import json
import os
import pickle
from pathlib import Path

import pytest

from amed import store
from amed.errors import AmedIOError, ConfigError
from amed.search import SearchConfig, configure


def _record(step: int) -> dict:
    return {"step": step, "bits": [4, 4], "allocation": {"a": [4, 4], "b": [4, 4]}, "latency_ms": 1.0,
            "size_bytes": 10.0, "evaluated": True, "feasible": True, "top1": 90.0, "ce": 0.3, "objective": 0.1}  # fmt: skip


def _folder(tmp_path, step: int, history_steps, **config) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    state = {"step": step, "config": SearchConfig(out=str(out), dataset="digits", **config).to_dict(),
             "proposer": {}, "reference": {}}  # fmt: skip
    store.save_json(state, out / store.CHECKPOINT_FILE)
    store.write_history(out / store.HISTORY_FILE, [_record(s) for s in history_steps])
    return out


def test_lines_beyond_the_checkpoint_and_a_torn_tail_are_dropped_to_be_redone(tmp_path):
    out = _folder(tmp_path, 2, [1, 2, 3])
    with open(out / store.HISTORY_FILE, "a") as f:
        f.write('{"step": 4, "bits"')
    state, records = store.resume_state(out)
    assert state["step"] == 2 and [r["step"] for r in records] == [1, 2]
    assert [r["step"] for r in store.read_history(out / store.HISTORY_FILE)] == [1, 2]


def test_a_torn_line_at_the_checkpoints_step_is_refused_not_skipped(tmp_path):
    out = _folder(tmp_path, 3, [1, 2])
    with open(out / store.HISTORY_FILE, "a") as f:
        f.write('{"step": 3, "bits"')
    with pytest.raises(AmedIOError, match=r"does not match checkpoint.json \(step 3\): missing steps \[3\]"):
        store.resume_state(out)


def test_a_repeated_step_is_refused(tmp_path):
    out = _folder(tmp_path, 2, [1, 1, 2])
    with pytest.raises(AmedIOError, match=r"repeated steps \[1\]"):
        store.resume_state(out)


@pytest.mark.parametrize("missing, message", [
    (store.CHECKPOINT_FILE, "holds history.jsonl but no checkpoint.json"),
    (store.HISTORY_FILE, "checkpoint.json is at step 2 but history.jsonl is missing"),
])  # fmt: skip
def test_a_missing_file_is_refused_and_nothing_is_deleted(tmp_path, missing, message):
    out = _folder(tmp_path, 2, [1, 2])
    (out / missing).unlink()
    left = sorted(p.name for p in out.iterdir())
    with pytest.raises(AmedIOError, match=message):
        store.resume_state(out)
    assert sorted(p.name for p in out.iterdir()) == left


def test_resume_of_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(AmedIOError, match="holds no checkpoint.json"):
        store.resume_state(tmp_path)


@pytest.mark.parametrize("damage, field", [
    (lambda r: r.pop("latency_ms"), "latency_ms"),
    (lambda r: r.update(step="3"), "step"),
    (lambda r: r.update(top1=None), "top1"),
    (lambda r: r.update(bits=4), "bits"),
])  # fmt: skip
def test_a_damaged_record_names_file_line_and_field(tmp_path, damage, field):
    records = [_record(1), _record(2)]
    damage(records[1])
    path = tmp_path / store.HISTORY_FILE
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(AmedIOError) as info:
        store.read_history(path)
    assert (info.value.file, info.value.line, info.value.field) == (str(path), 2, field)


def test_a_history_that_is_a_folder_is_an_error(tmp_path):
    (tmp_path / store.HISTORY_FILE).mkdir()
    with pytest.raises(AmedIOError, match="not a regular file"):
        store.read_history(tmp_path / store.HISTORY_FILE)


def test_a_full_disk_keeps_the_last_good_state_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / store.CHECKPOINT_FILE
    store.save_json({"step": 1}, path)
    history = tmp_path / store.HISTORY_FILE
    store.append_record(history, _record(1))
    before = history.read_bytes()

    def full(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(AmedIOError, match="cannot write .*No space left on device"):
        store.save_json({"step": 2}, path)
    with pytest.raises(AmedIOError, match="cannot write .*No space left on device"):
        store.save_model_state({"weights": [1.0]}, tmp_path / store.BEST_MODEL_FILE)
    with pytest.raises(AmedIOError, match="cannot write .*No space left on device"):
        store.append_record(history, _record(2))
    assert json.loads(path.read_text()) == {"step": 1}
    assert history.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [store.CHECKPOINT_FILE, store.HISTORY_FILE]


class _Payload:
    """Unpickling this runs a shell command: what a checkpoint from a stranger could hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / store.MODEL_STATE_FILE
    evil.write_bytes(pickle.dumps({"model": _Payload(marker)}, protocol=2))
    with pytest.raises(AmedIOError, match="cannot read"):
        store.load_model_state(evil)
    assert not marker.exists()


def test_a_malicious_checkpoint_as_weights_never_runs(tmp_path):
    import torch

    from amed.models import build_model

    marker = tmp_path / "pwned"
    evil = tmp_path / "best.pt"
    torch.save({"state_dict": {}, "x": _Payload(marker)}, evil)
    with pytest.raises(AmedIOError, match="cannot read checkpoint"):
        build_model("resnet20", num_classes=10, in_channels=1, image_size=8, weights=str(evil))
    assert not marker.exists()


def test_an_out_that_is_a_file_is_a_clear_error(tmp_path):
    out = tmp_path / "taken"
    out.write_text("not a folder")
    with pytest.raises(AmedIOError, match=f"cannot write {out}"):
        with store.folder_lock(out):
            pass


def test_resume_keeps_the_saved_settings_and_refuses_changes(tmp_path):
    out = _folder(tmp_path, 0, [], steps=12, beta=2.0, threads=1)
    config = configure({"out": str(out)}, resume=True)
    assert (config.steps, config.beta, config.threads) == (12, 2.0, 1)  # not the defaults
    assert configure({"out": str(out), "steps": 20}, resume=True).steps == 20  # steps may grow
    with pytest.raises(ConfigError, match=r"--threads 2 \(started with 1\)") as info:
        configure({"out": str(out), "threads": 2}, resume=True)
    assert info.value.field == "threads"
    with pytest.raises(ConfigError, match=r"--beta 5\.0 \(started with 2\.0\)"):
        configure({"out": str(out), "beta": 5.0}, resume=True)


@pytest.mark.parametrize("state", [{"step": -5}, {"step": "3"}, [1, 2], {"step": 2, "config": None}])
def test_a_foreign_checkpoint_is_refused_before_anything_changes(tmp_path, state):
    out = _folder(tmp_path, 2, [1, 2])
    (out / store.CHECKPOINT_FILE).write_text(json.dumps(state))
    before = (out / store.HISTORY_FILE).read_bytes()
    with pytest.raises(AmedIOError, match="is not a search checkpoint"):
        store.resume_state(out)
    assert (out / store.HISTORY_FILE).read_bytes() == before
