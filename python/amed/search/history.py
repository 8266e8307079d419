"""The search's durable record: one JSON line per sample in ``history.jsonl``, and its Pareto front.

A line is appended (and fsync'd) before the step's checkpoint is written. After a kill the
history may therefore hold lines beyond the last checkpoint, or a torn last line; ``truncate``
cuts it back to the checkpoint's step so the resumed run appends each later step exactly once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from amed.errors import AmedIOError

__all__ = ["HISTORY_FILE", "append", "front_2d", "pareto_front", "read", "truncate"]

HISTORY_FILE = "history.jsonl"


def append(path: Path, record: dict) -> None:
    """Append one record as a JSON line and force it to disk."""
    line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read(path: Path) -> list[dict]:
    """Every complete record; a torn last line (a kill mid-write) is ignored, any other bad line is an error."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number == len(lines):  # no newline after it: the write was cut off
                break
            raise AmedIOError(f"{path}:{number}: not a JSON record ({err})", file=str(path), line=number) from None
    return records


def truncate(path: Path, last_step: int) -> list[dict]:
    """Keep the records with ``step <= last_step`` (rewritten atomically); return them."""
    records = [r for r in read(path) if r["step"] <= last_step]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, sort_keys=True, allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return records


def _dominates(a: dict, b: dict) -> bool:
    better_or_equal = a["top1"] >= b["top1"] and a["latency_ms"] <= b["latency_ms"] and a["size_bytes"] <= b["size_bytes"]
    strictly = a["top1"] > b["top1"] or a["latency_ms"] < b["latency_ms"] or a["size_bytes"] < b["size_bytes"]
    return better_or_equal and strictly


def pareto_front(records: Iterable[dict]) -> list[dict]:
    """The evaluated samples no other sample beats on top-1 (higher), latency and size (lower),
    sorted by latency. Repeats of one allocation keep their best evaluation only."""
    best: dict[str, dict] = {}
    for r in records:
        if not r.get("evaluated"):
            continue
        key = json.dumps(r["allocation"], sort_keys=True)
        if key not in best or r["top1"] > best[key]["top1"]:
            best[key] = r
    candidates = list(best.values())
    front = [r for r in candidates if not any(_dominates(o, r) for o in candidates)]
    return sorted(front, key=lambda r: (r["latency_ms"], -r["top1"], r["step"]))


def front_2d(records: Iterable[dict]) -> list[dict]:
    """The evaluated samples that no other beats on top-1 (higher) and latency (lower) alone,
    sorted by latency; one record per allocation (its best evaluation)."""
    kept: list[dict] = []
    for r in sorted(pareto_front(records), key=lambda r: (r["latency_ms"], -r["top1"], r["step"])):
        if not kept or r["top1"] > kept[-1]["top1"]:
            kept.append(r)
    return kept
