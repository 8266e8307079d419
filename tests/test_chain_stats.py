"""`scripts/chain-stats` on a hand-made run folder whose quarters are known."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from amed import store

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "chain-stats"


def _record(step: int, bits: list[int], top1: float, latency: float) -> dict:
    return {"step": step, "bits": bits, "allocation": {f"l{i}": [b, b] for i, b in enumerate(bits)},
            "latency_ms": latency, "size_bytes": 100.0, "evaluated": True, "feasible": True, "top1": top1,
            "ce": 0.5, "objective": 0.1}  # fmt: skip


def test_quarters_of_a_known_chain(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    store.save_json({"config": {"bits": [8, 2, 4]}, "reference": {}, "hw": "scalesim"}, run / store.SEARCH_FILE)
    # Eight steps, two layers: quarter 1 all 2-bit, quarter 2 half 4-bit, quarters 3-4 all 8-bit.
    chain = [[2, 2], [2, 2], [2, 4], [4, 2], [8, 8], [8, 8], [8, 8], [8, 8]]
    store.write_history(run / store.HISTORY_FILE,
                        [_record(i, bits, 60.0 + i, 0.1 * i) for i, bits in enumerate(chain, start=1)])  # fmt: skip
    done = subprocess.run([sys.executable, str(SCRIPT), str(run), str(run)], capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 4 + 4 + 4  # two runs of four quarters, then the four means
    first, second, last = rows[0], rows[1], rows[3]
    assert (first["quarter"], first["steps"], first["share_2bit"], first["share_4bit"]) == (1, [1, 2], 1.0, 0.0)
    assert (second["share_2bit"], second["share_4bit"], second["share_8bit"]) == (0.5, 0.5, 0.0)
    assert last["share_8bit"] == 1.0 and last["top1"] == pytest.approx(67.5) and last["latency_ms"] == pytest.approx(0.75)
    assert rows[-1]["run"] == "mean of 2" and rows[-1]["share_8bit"] == 1.0
