"""The precision model against the real SCALE-Sim, run live.

A uniform b-bit allocation without Bit Fusion must be exactly SCALE-Sim on the same config
with every SRAM size and DRAM bandwidth scaled by word_bits/b (docs/precision.md §2). Each case
simulates small3 (and a GEMM) at b bits, network output included, with
``amed.simcore.simulate_mixed`` on the base config,
runs the peer release on the scaled config, and compares the three reports cell by cell:
integers exactly, floats to 1e-9 relative.

Without the peer venvs the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import re
import subprocess

import pytest

from amed.simcore import HwConfig, Topology, simulate_mixed

pytestmark = pytest.mark.peer

ROOT = pathlib.Path(__file__).resolve().parents[1]
INPUTS = ROOT / "crates" / "simcore" / "tests" / "golden" / "inputs"
RUNNER = ROOT / "tests" / "peer" / "run_scalesim.py"
REPORTS = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")
RELEASES = {"v3": ("3.0.0", "scalesim-v3"), "v2": ("2.0.2", "scalesim-v2")}

# (release, base config, topology, bits): 4 and 2 bits on the 8-bit-word configs scale the
# sizes by 2 and 4; the lowmem configs keep the runs stall-heavy.
CASES = [
    ("v3", "scalesim_lowmem", "small3", 4),
    ("v3", "scalesim_lowmem", "small3", 2),
    ("v3", "lowmem_ws", "small3", 4),
    ("v3", "lowmem_is", "gemm", 2),
    ("v2", "scalesim_lowmem", "small3", 4),
]

SCALED_KEYS = (
    "IfmapSramSzkB",
    "FilterSramSzkB",
    "OfmapSramSzkB",
    "Bandwidth",
    "IfmapSRAMBankBandwidth",
    "FilterSRAMBankBandwidth",
)


def scaled_cfg(text: str, factor: int) -> str:
    """The .cfg text with every SRAM size and DRAM bandwidth multiplied by ``factor``."""
    for key in SCALED_KEYS:
        pattern = re.compile(rf"^(\s*{key}\s*[:=]\s*)(\d+)", re.MULTILINE | re.IGNORECASE)
        text, count = pattern.subn(lambda m: f"{m.group(1)}{int(m.group(2)) * factor}", text)
        assert count <= 1, key
    return text


def peer_python(release: str) -> pathlib.Path:
    return ROOT / ".venvs" / f"scalesim-{RELEASES[release][0]}" / "bin" / "python"


def run_peer(release: str, cfg: str, topo: str, bits: int, out: pathlib.Path) -> None:
    out.mkdir(parents=True)
    base = (INPUTS / release / f"{cfg}.cfg").read_text()
    scaled = out / f"{cfg}_{bits}bit.cfg"
    scaled.write_text(scaled_cfg(base, 8 // bits))
    command = [str(peer_python(release)), str(RUNNER), str(scaled), str(INPUTS / f"{topo}.csv"), str(out)]
    if topo == "gemm":
        command.append("--gemm")
    subprocess.run(command, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def peer_reports(tmp_path_factory: pytest.TempPathFactory) -> dict:
    missing = [str(peer_python(r)) for r in RELEASES if not peer_python(r).exists()]
    if missing or not RUNNER.exists():
        message = f"SCALE-Sim peer venvs or runner missing: {missing or RUNNER}; create them with scripts/peer-venvs"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("precision-peer")
    outs = {case: root / "__".join(map(str, case)) for case in CASES}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case: pool.submit(run_peer, *case, out) for case, out in outs.items()}
    return {case: future.exception() or outs[case] for case, future in futures.items()}


def cells_match(ours: str, theirs: str) -> bool:
    if ours == theirs:
        return True
    try:
        a, b = float(ours), float(theirs)
    except ValueError:
        return False
    return abs(a - b) <= 1e-9 * max(abs(b), 1e-300)


def differences(ours: str, theirs: str) -> list[str]:
    rows_a, rows_b = ours.splitlines(), theirs.splitlines()
    if len(rows_a) != len(rows_b):
        return [f"{len(rows_a)} rows, expected {len(rows_b)}"]
    header = rows_b[0].split(", ")
    problems = []
    for row, (a, b) in enumerate(zip(rows_a, rows_b)):
        cells_a, cells_b = a.split(", "), b.split(", ")
        if len(cells_a) != len(cells_b):
            problems.append(f"row {row}: {a!r}, expected {b!r}")
            continue
        for column, x, y in zip(header, cells_a, cells_b):
            if not cells_match(x, y):
                problems.append(f"row {row} {column!r}: {x}, expected {y}")
    return problems


def test_scaled_cfg_scales_sizes_and_bandwidths_only() -> None:
    text = (INPUTS / "v3" / "scalesim_lowmem.cfg").read_text()
    scaled = scaled_cfg(text, 4)
    assert "IfmapSramSzkB:    16" in scaled and "Bandwidth : 40" in scaled
    assert "IfmapSRAMBankBandwidth: 40" in scaled and "ArrayHeight:    32" in scaled


@pytest.mark.parametrize("release,cfg,topo,bits", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_uniform_bits_equal_scalesim_on_the_scaled_config(
    peer_reports: dict, tmp_path: pathlib.Path, release: str, cfg: str, topo: str, bits: int
) -> None:
    peer = peer_reports[(release, cfg, topo, bits)]
    if isinstance(peer, BaseException):
        detail = getattr(peer, "stderr", "") or ""
        pytest.fail(f"SCALE-Sim {release} failed on {cfg}/{topo} at {bits} bits: {peer}\n{detail[-2000:]}")
    hw = HwConfig.from_file(INPUTS / release / f"{cfg}.cfg")
    assert hw.word_bits == 8 and not hw.bit_fusion
    topology = Topology.from_csv(INPUTS / f"{topo}.csv", gemm=topo == "gemm")
    compat = RELEASES[release][1]
    report = simulate_mixed(topology, hw, bits, compat=compat, output_bits=bits)
    report.to_csv(tmp_path, compat=compat)
    problems = []
    for name in REPORTS:
        problems += [f"{name}: {p}" for p in differences((tmp_path / name).read_text(), (peer / name).read_text())]
    assert not problems, "\n".join(problems[:40])
