"""Peak memory of the simulator against layer size: each layer simulated alone in a fresh
interpreter, whose peak RSS (whole process: Python, amed, the extension) is read from wait4.

    python benches/bench_memory.py                 # every case, a Markdown table on stdout
    python benches/bench_memory.py --quick         # skip the case that takes minutes

A layer the engine refuses (over its working-memory limit) is reported as refused, with the
RSS of the refusal. The goal is a peak RSS of at most 256 MB for every case.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_MB = 256

CHILD = """
import sys, time
from amed.simcore import Topology, simulate
from amed.errors import AmedError
row, hw = sys.argv[1], sys.argv[2]
topology = Topology.from_csv_text("header\\n" + row + "\\n")
start = time.perf_counter()
try:
    report = simulate(topology, hw)
    print("ok", report.total_cycles, time.perf_counter() - start)
except AmedError as error:
    print("refused", type(error).__name__, time.perf_counter() - start)
"""

# Layers beyond the shipped topologies, in SCALE-Sim's row form (name, H, W, R, S, C, K, stride).
EXTRA = [
    ("first layer at 1024x1024", "first1024,1024,1024,3,3,3,64,1,", False),
    ("U-Net-sized layer", "unet,514,514,3,3,64,64,1,", False),
    ("512x512x1024 -> 1024", "big,512,512,3,3,1024,1024,1,", True),
]


def shipped_rows() -> list:
    """(topology, row) for every distinct layer shape of every shipped topology."""
    import amed

    folder = Path(amed.__file__).parent / "topologies"
    if not folder.is_dir():
        folder = REPO / "topologies"
    cases, seen = [], set()
    for path in sorted(folder.glob("*.csv")):
        for line in path.read_text().splitlines()[1:]:
            fields = [f.strip() for f in line.split(",")]
            if len(fields) < 9 or not fields[0]:
                continue
            values = fields[1:8]
            if "DP" in fields[0]:
                # SCALE-Sim expands a DP row into single-channel layers of one shape.
                values[4] = "1"
            if tuple(values) in seen:
                continue
            seen.add(tuple(values))
            name = fields[0].replace("DP", "dp")
            cases.append((path.stem, ",".join([name, *values]) + ","))
    return cases


def measure(row: str, hw: str) -> tuple:
    """(outcome, seconds, peak RSS in MB) of simulating `row` on `hw` in a fresh interpreter."""
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, row, hw],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    fields = out.split()
    if proc.returncode != 0 or not fields:
        return (f"exit {proc.returncode}: {err.strip().splitlines()[-1:]}", float("nan"), rss_mb)
    outcome = "ok" if fields[0] == "ok" else f"refused ({fields[1]})"
    return (outcome, float(fields[-1]), rss_mb)


def baseline_mb() -> float:
    proc = subprocess.Popen([sys.executable, "-c", "import amed.simcore"])
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="scalesim")
    parser.add_argument("--quick", action="store_true", help="skip the slow extra layers")
    args = parser.parse_args()
    print(f"hw = {args.hw}; interpreter + amed.simcore alone: {baseline_mb():.0f} MB peak RSS\n")
    print("| topology | layer (H, W, R, S, C, K, stride) | ifmap im2col entries | outcome | time (s) | peak RSS (MB) | ≤ 256 MB |")
    print("|---|---|---|---|---|---|---|")
    cases = [(topo, row) for topo, row in shipped_rows()]
    cases += [(label, row) for label, row, slow in EXTRA if not (args.quick and slow)]
    worst = 0.0
    started = time.monotonic()
    for topo, row in cases:
        fields = row.rstrip(",").split(",")
        h, w, r, s, c, k, stride = (int(x) for x in fields[1:8])
        oh, ow = -(-(h - r + stride) // stride), -(-(w - s + stride) // stride)
        entries = oh * ow * r * s * c
        outcome, seconds, rss = measure(row, args.hw)
        worst = max(worst, rss)
        mark = "yes" if rss <= GOAL_MB else "**no**"
        print(
            f"| {topo} | {fields[0]} ({', '.join(fields[1:8])}) | {entries:.3g} | {outcome} | "
            f"{seconds:.2f} | {rss:.0f} | {mark} |",
            flush=True,
        )
    print(f"\nworst peak RSS {worst:.0f} MB over {len(cases)} cases, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
