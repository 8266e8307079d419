"""A search's run folder: its file names, atomic writes, the history, the Pareto front, the lock
and the resume contract. `amed search`, `amed report` and `amed compare` all go through here.

The history (``history.jsonl``) gets one fsync'd JSON line per sample before the step's checkpoint
(``checkpoint.json``) is replaced atomically, so after a kill the history may hold lines beyond the
checkpoint, the last of them possibly torn; `resume_state` drops those and the resumed search redoes
them. Anything else that disagrees (a missing file, a missing or repeated step, a damaged record)
refuses to resume with the reason. Nothing here unpickles, and torch is imported only to save and
load the continued protocol's model state, so reading a run never needs torch.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from amed.errors import AmedIOError, ConfigError

__all__ = [
    "ALLOCATION_FILE", "BEST_MODEL_FILE", "CHECKPOINT_FILE", "HISTORY_FILE", "LOCK_FILE", "MODEL_STATE_FILE",
    "REPORTS_DIR", "SEARCH_FILE", "append_record", "folder_lock", "holds_search", "load_checkpoint", "load_model_state",
    "load_run", "pareto_front", "read_history", "read_json", "resume_state", "save_json", "save_model_state",
    "saved_config", "write_atomic", "write_history",
]  # fmt: skip

HISTORY_FILE = "history.jsonl"
CHECKPOINT_FILE = "checkpoint.json"
MODEL_STATE_FILE = "model_state.pt"
SEARCH_FILE = "search.json"
ALLOCATION_FILE = "allocation.json"
BEST_MODEL_FILE = "best.pt"
REPORTS_DIR = "reports"
LOCK_FILE = ".lock"

# -- writing -----------------------------------------------------------------------------------


def _io_error(path: Path, err: OSError, verb: str = "write") -> AmedIOError:
    return AmedIOError(f"cannot {verb} {path}: {err.strerror or err}", file=str(path), errno=err.errno)


def write_atomic(path: Path, write: Callable[[Any], Any]) -> None:
    """`write(binary_file)` into a temporary file beside `path`, fsync, then rename over `path`: a kill
    or a full disk leaves the previous file intact and no temporary file behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _io_error(path, err) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_json(obj: Any, path: Path) -> None:
    """`obj` as JSON, atomically; NaN and infinity are refused rather than written as invalid JSON."""
    data = (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode()
    write_atomic(path, lambda f: f.write(data))


def read_json(path: Path, what: str) -> Any:
    """A JSON file, or an AmedIOError naming the file (and the line of a syntax error)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AmedIOError(f"{path}:{err.lineno}: {what} is not valid JSON ({err.msg})", file=str(path),
                          line=err.lineno) from None  # fmt: skip
    except UnicodeDecodeError:
        raise AmedIOError(f"{path}: {what} is not UTF-8 text", file=str(path)) from None
    except OSError as err:
        raise _io_error(path, err, "read") from None


def save_model_state(state: dict, path: Path) -> None:
    """torch.save a dict of tensors and plain values atomically. Serialised in memory first, so a
    full disk is an OSError of the write (torch's own writer reports it as a RuntimeError)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    write_atomic(path, lambda f: f.write(data))


def load_model_state(path: Path) -> dict:
    """A file of `save_model_state`, read without unpickling code (``weights_only=True``)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise AmedIOError(f"cannot read {path}: {err}", file=str(path)) from None


# -- the checkpoint ----------------------------------------------------------------------------


def load_checkpoint(path: Path) -> dict:
    """A checkpoint written by the search; a clear error when it is damaged or foreign."""
    state = read_json(path, "the search checkpoint")
    step = state.get("step") if isinstance(state, dict) else None
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise AmedIOError(f"{path} is not a search checkpoint (no step >= 0)", file=str(path), field="step")
    for key in ("config", "reference"):
        if not isinstance(state.get(key), dict):
            raise AmedIOError(f"{path} is not a search checkpoint (no {key})", file=str(path), field=key)
    # Random and uniform proposers keep no state (null); AMED's sampler keeps its scores.
    if "proposer" not in state or not isinstance(state["proposer"], (dict, type(None))):
        raise AmedIOError(f"{path} is not a search checkpoint (no proposer)", file=str(path), field="proposer")
    return state


# -- the history -------------------------------------------------------------------------------

#: What every history record holds, and what an evaluated one adds; checked on every read, so a
#: damaged line is reported with its line number instead of failing later with a KeyError.
_RECORD_FIELDS = {"step": int, "bits": list, "allocation": dict, "latency_ms": float, "size_bytes": float,
                  "evaluated": bool, "feasible": bool}  # fmt: skip
_EVALUATED_FIELDS = {"top1": float, "ce": float, "objective": float}


def _check_record(record: Any, path: Path, line: int) -> dict:
    def bad(field: str, why: str) -> AmedIOError:
        return AmedIOError(f"{path}:{line}: damaged record: {why}", file=str(path), line=line, field=field)

    if not isinstance(record, dict):
        raise bad("step", "not a JSON object")
    required = dict(_RECORD_FIELDS, **(_EVALUATED_FIELDS if record.get("evaluated") is True else {}))
    for field, kind in required.items():
        value = record.get(field)
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise bad(field, f"{field!r} is {value!r}, expected {kind.__name__}")
    if record["step"] < 1:
        raise bad("step", f"step {record['step']} < 1")
    return record


def _history_lines(path: Path) -> list[str]:
    if path.exists() and not path.is_file():
        raise AmedIOError(f"cannot read {path}: not a regular file", file=str(path))
    try:
        return path.read_text(encoding="utf-8").split("\n") if path.exists() else []
    except UnicodeDecodeError:
        raise AmedIOError(f"{path}: the history is not UTF-8 text", file=str(path)) from None
    except OSError as err:
        raise _io_error(path, err, "read") from None


def _parsed_lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, JSON value) of each line; a last line without its newline is a write cut off by
    a kill and is dropped; any other bad line is an AmedIOError with its number."""
    lines = _history_lines(path)
    parsed = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            parsed.append((number, json.loads(text)))
        except json.JSONDecodeError as err:
            if number == len(lines):  # no newline after it: the write was cut off
                break
            raise AmedIOError(f"{path}:{number}: not a JSON record ({err.msg})", file=str(path), line=number) from None
    return parsed


def read_history(path: Path) -> list[dict]:
    """Every record of a history file (none when it does not exist), each checked."""
    path = Path(path)
    return [_check_record(record, path, number) for number, record in _parsed_lines(path)]


def append_record(path: Path, record: dict) -> None:
    """Append one record as a JSON line and force it to disk. A failed write (a full disk) is cut
    back off, so the file keeps only whole records."""
    path = Path(path)
    line = (json.dumps(record, sort_keys=True, allow_nan=False) + "\n").encode()
    try:
        with open(path, "ab") as f:
            size = f.tell()
            try:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            except OSError:
                f.truncate(size)
                raise
    except OSError as err:
        raise _io_error(path, err) from None


def write_history(path: Path, records: Iterable[dict]) -> None:
    """Replace the history with `records`, atomically."""
    data = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in records).encode()
    write_atomic(path, lambda f: f.write(data))


def resume_state(out: Path) -> tuple[dict, list[dict]]:
    """The checkpoint and the history records up to its step, after checking that they agree:
    records for exactly steps 1..step, once each. Lines beyond the checkpoint (a kill between the
    history append and the checkpoint) are cut off and will be redone."""
    out = Path(out)
    checkpoint, history = out / CHECKPOINT_FILE, out / HISTORY_FILE
    if not checkpoint.is_file():
        what = f"it holds {HISTORY_FILE} but no {CHECKPOINT_FILE}, so the sampler's state is lost" if history.exists() \
            else f"it holds no {CHECKPOINT_FILE}"  # fmt: skip
        raise AmedIOError(
            f"cannot resume {out}: {what}; start a new search without --resume (move the folder away to keep "
            "what it holds) or choose another --out",
            file=str(checkpoint),
        )
    state = load_checkpoint(checkpoint)
    step = state["step"]
    if step > 0 and not history.is_file():
        raise AmedIOError(f"cannot resume {out}: {CHECKPOINT_FILE} is at step {step} but {HISTORY_FILE} is missing",
                          file=str(history))  # fmt: skip
    # Lines beyond the checkpoint are from a step that will be redone: only the kept ones must be sound.
    records = [_check_record(record, history, number) for number, record in _parsed_lines(history)
               if not (isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] > step)]  # fmt: skip
    steps = [r["step"] for r in records]
    if steps != list(range(1, step + 1)):
        missing = sorted(set(range(1, step + 1)) - set(steps))
        repeated = sorted({s for s in steps if steps.count(s) > 1})
        raise AmedIOError(
            f"cannot resume {out}: {HISTORY_FILE} does not match {CHECKPOINT_FILE} (step {step}): "
            + "; ".join(part for part in (f"missing steps {missing[:5]}" if missing else "",
                                          f"repeated steps {repeated[:5]}" if repeated else "") if part)
            + "; restore the files or start a new search in another --out",
            file=str(history),
        )  # fmt: skip
    write_history(history, records)
    return state, records


def saved_config(out: Path) -> dict:
    """The settings a resumable search in `out` was started with (see `resume_state`)."""
    return resume_state(out)[0]["config"]


# -- reading a run -----------------------------------------------------------------------------


def load_run(out: str | Path) -> tuple[dict, list[dict]]:
    """(search.json contents, history records) of a search's output folder."""
    out = Path(out)
    meta_path = out / SEARCH_FILE
    if not meta_path.is_file():
        raise AmedIOError(
            f"{out} holds no search ({meta_path.name} is missing); pass the --out folder of `amed search`",
            file=str(meta_path),
        )
    meta = read_json(meta_path, "the search's summary")
    for key in ("config", "reference", "hw"):
        if not isinstance(meta, dict) or key not in meta:
            raise AmedIOError(f"{meta_path} is not a search summary (no {key!r})", file=str(meta_path), field=key)
    return meta, read_history(out / HISTORY_FILE)


def pareto_front(records: Iterable[dict]) -> list[dict]:
    """The evaluated samples that no other beats on search-validation top-1 (higher) and latency
    (lower), sorted by latency; one record per allocation (its best evaluation). The search's only
    Pareto definition: pareto.csv, the plots and the final stage all use it."""
    best: dict[str, dict] = {}
    for r in records:
        if not r.get("evaluated"):
            continue
        key = json.dumps(r["bits"])
        if key not in best or r["top1"] > best[key]["top1"]:
            best[key] = r
    front: list[dict] = []
    for r in sorted(best.values(), key=lambda r: (r["latency_ms"], -r["top1"], r["step"])):
        if not front or r["top1"] > front[-1]["top1"]:
            front.append(r)
    return front


# -- one search per folder ---------------------------------------------------------------------


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock on ``OUT/.lock``: a second process on the same folder fails at
    once, naming the holder's pid. flock dies with its process, so a killed search never leaves the
    folder locked. A folder made here and left empty (a search that stopped early) is removed."""
    out = Path(out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / LOCK_FILE, "a+")
    except OSError as err:
        raise AmedIOError(f"cannot write {out}: {err.strerror or err}", file=str(out), field="out") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ConfigError(
                f"{out} is in use by another search (pid {holder}); wait for it or choose another --out",
                field="out",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
        if created and [p.name for p in out.iterdir()] == [LOCK_FILE]:
            (out / LOCK_FILE).unlink(missing_ok=True)
            out.rmdir()


def holds_search(out: Path) -> Optional[str]:
    """The file that shows `out` already holds a search, or None."""
    for name in (CHECKPOINT_FILE, HISTORY_FILE):
        if (Path(out) / name).exists():
            return name
    return None
