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
import pathlib
import re

import pytest
from peer_harness import INPUTS, RELEASES, all_report_differences, peer_failure, require_peers, run_peer

from amed.simcore import HwConfig, Topology, simulate_mixed

pytestmark = pytest.mark.peer


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


def run_scaled_peer(release: str, cfg: str, topo: str, bits: int, out: pathlib.Path) -> None:
    out.mkdir(parents=True)
    scaled = out / f"{cfg}_{bits}bit.cfg"
    scaled.write_text(scaled_cfg((INPUTS / release / f"{cfg}.cfg").read_text(), 8 // bits))
    run_peer(release, scaled, INPUTS / f"{topo}.csv", out)


@pytest.fixture(scope="module")
def peer_reports(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_peers(*(version for version, _ in RELEASES.values()))
    root = tmp_path_factory.mktemp("precision-peer")
    outs = {case: root / "__".join(map(str, case)) for case in CASES}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case: pool.submit(run_scaled_peer, *case, out) for case, out in outs.items()}
    return {case: future.exception() or outs[case] for case, future in futures.items()}


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
        pytest.fail(peer_failure(release, f"{cfg}/{topo} at {bits} bits", peer))
    hw = HwConfig.from_file(INPUTS / release / f"{cfg}.cfg")
    assert hw.word_bits == 8 and not hw.bit_fusion
    topology = Topology.from_csv(INPUTS / f"{topo}.csv", gemm=topo == "gemm")
    compat = RELEASES[release][1]
    report = simulate_mixed(topology, hw, bits, compat=compat, output_bits=bits)
    report.to_csv(tmp_path, compat=compat)
    problems = all_report_differences(tmp_path, peer)
    assert not problems, "\n".join(problems[:40])
