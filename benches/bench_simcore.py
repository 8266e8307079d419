"""Simulator benchmarks: amed's engine against the real SCALE-Sim, whole networks, and memory.

Run (extension built with ``scripts/dev-build --release``; peers from ``scripts/peer-venvs``)::

    python -m pytest benches/bench_simcore.py --benchmark-timer=time.process_time -s

* ``test_speedup_vs_scalesim``: the same topology and config through both simulators in one
  run. SCALE-Sim runs once in a subprocess of its venv (CPU seconds measured inside it, without
  traces); amed is timed by pytest-benchmark. The ratio is stored in ``extra_info``.
* ``test_whole_network``: whole ResNet-50 (mlperf), ResNet-18 and MobileNet on 32x32/64kB/os.
* ``test_whole_network_speedup_vs_scalesim``: whole ResNet-18 through both simulators in one run.
  SCALE-Sim needs several CPU minutes and a few GB for it, so it runs only with
  ``AMED_BENCH_WHOLE_NETWORK=1``.
* ``test_peak_memory_flat_in_cycles``: peak RSS of a fresh process simulating ResNet-50 on
  configs whose cycle counts differ by 20x stays flat (no per-cycle state is kept).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from amed.simcore import HwConfig, Topology, simulate

ROOT = pathlib.Path(__file__).resolve().parents[1]
INPUTS = ROOT / "crates" / "simcore" / "tests" / "golden" / "inputs"
CONFIGS = ROOT / "configs" / "scalesim-cfg" / "v3"
TOPOLOGIES = ROOT / "topologies"
PEER = ROOT / ".venvs" / "scalesim-3.0.0" / "bin" / "python"
RUNNER = ROOT / "tests" / "peer" / "run_scalesim.py"

PEER_CASES = [
    ("scalesim", INPUTS / "test1.csv"),
    ("scalesim_lowmem", INPUTS / "small3.csv"),
    ("eyeriss", INPUTS / "small3.csv"),
    ("scalesim_lowmem", INPUTS / "ostress.csv"),
]


def scalesim_cpu_seconds(cfg: pathlib.Path, topology: pathlib.Path, out: pathlib.Path) -> float:
    done = subprocess.run(
        [str(PEER), str(RUNNER), str(cfg), str(topology), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(re.search(r"cpu_s=([0-9.]+)", done.stdout).group(1))


@pytest.mark.parametrize("cfg,topology", PEER_CASES, ids=[f"{c}-{t.stem}" for c, t in PEER_CASES])
def test_speedup_vs_scalesim(benchmark, tmp_path, cfg: str, topology: pathlib.Path) -> None:
    if not PEER.exists():
        pytest.skip("SCALE-Sim 3.0.0 venv missing; run scripts/peer-venvs")
    hw = HwConfig.from_file(CONFIGS / f"{cfg}.cfg")
    topo = Topology.from_csv(topology)
    report = benchmark(simulate, topo, hw, compat="scalesim-v3")
    peer = scalesim_cpu_seconds(CONFIGS / f"{cfg}.cfg", topology, tmp_path)
    ours = benchmark.stats.stats.median
    benchmark.extra_info.update(
        scalesim_cpu_s=peer,
        speedup=peer / ours,
        cycles=report.total_cycles,
    )
    print(f"\n{cfg}/{topology.stem}: scalesim {peer:.3f} s, amed {ours * 1e3:.3f} ms, {peer / ours:.0f}x")


@pytest.mark.skipif(
    not os.environ.get("AMED_BENCH_WHOLE_NETWORK"), reason="set AMED_BENCH_WHOLE_NETWORK=1 (several CPU minutes)"
)
def test_whole_network_speedup_vs_scalesim(benchmark, tmp_path) -> None:
    test_speedup_vs_scalesim(benchmark, tmp_path, "scalesim", TOPOLOGIES / "Resnet18.csv")


@pytest.mark.parametrize("topology", ["Resnet50.csv", "Resnet18.csv", "mobilenet.csv"])
def test_whole_network(benchmark, topology: str) -> None:
    hw = HwConfig.from_file(CONFIGS / "scalesim.cfg")
    topo = Topology.from_csv(TOPOLOGIES / topology)
    report = benchmark(simulate, topo, hw, compat="scalesim-v3")
    benchmark.extra_info.update(layers=len(topo), cycles=report.total_cycles)


PROBE = """
import json, resource, sys
from amed.simcore import HwConfig, Topology, simulate
report = simulate(Topology.from_csv(sys.argv[1]), HwConfig.from_file(sys.argv[2]))
print(json.dumps({"cycles": report.total_cycles,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def peak_rss(topology: pathlib.Path, cfg: pathlib.Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(topology), str(cfg)], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout)


def test_peak_memory_flat_in_cycles(benchmark) -> None:
    topology = TOPOLOGIES / "Resnet50.csv"
    runs = benchmark.pedantic(
        lambda: {cfg: peak_rss(topology, CONFIGS / f"{cfg}.cfg") for cfg in ("scalesim", "scalesim_lowmem")},
        rounds=1,
        iterations=1,
    )
    benchmark.extra_info.update(runs)
    cycles = [r["cycles"] for r in runs.values()]
    rss = [r["maxrss_kb"] for r in runs.values()]
    print(f"\nResNet-50: cycles {cycles}, peak RSS {rss} kB")
    # More cycles must not mean more memory: per-cycle state would grow RSS with the ratio.
    assert max(rss) < 1.5 * min(rss)
