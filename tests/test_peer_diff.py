"""Differential tests: amed's simulator against the real SCALE-Sim, run live.

Every case runs the peer release (PyPI ``scalesim`` 3.0.0 and 2.0.2, in their own venvs under
``.venvs/``) and ``amed.simcore.simulate`` on the same config and topology, and compares all
three reports cell by cell: integers exactly, floats to 1e-9 relative. The cases cover the
three Table-1 configs (32x32/64kB/os, the 4 kB lowmem variant, eyeriss 12x14/108kB/ws), all
three dataflows, stride-2 layers (small3), a GEMM, an ofmap-buffer overflow (ostress) and the
stall-dominated lowmem runs, and an 8x20 array with 3/5/2 kB SRAMs and distinct per-operand
bandwidths (v3 reads ifmap/filter bandwidth from ``[layout]``). Peers run two at a time, once
per session.

Without the peer venvs the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import concurrent.futures
import pathlib

import pytest
from peer_harness import INPUTS, RELEASES, all_report_differences, peer_failure, require_peers, run_peer

from amed.simcore import HwConfig, Topology, simulate

pytestmark = pytest.mark.peer

CONFIGS = ("scalesim", "scalesim_ws", "scalesim_is", "scalesim_lowmem", "lowmem_ws", "lowmem_is", "eyeriss")

CASES = [
    (release, cfg, topo)
    for release in RELEASES
    for cfg in CONFIGS
    for topo in ("small3", "ostress", "gemm")
] + [
    (release, cfg, topo)
    for release in RELEASES
    for cfg in ("lowmem_bw", "lowmem_bw_ws", "lowmem_bw_is")
    for topo in ("small3", "ostress")
] + [(release, cfg, "test1") for release in RELEASES for cfg in ("scalesim", "scalesim_lowmem")]


@pytest.fixture(scope="session")
def peer_reports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs each selected peer case once (two processes at a time); maps case -> dir or error."""
    require_peers(*(version for version, _ in RELEASES.values()))
    root = tmp_path_factory.mktemp("peer")
    selected = {
        (item.callspec.params["release"], item.callspec.params["cfg"], item.callspec.params["topo"])
        for item in request.session.items
        if item.originalname == "test_matches_peer"
    }
    outs = {case: root / "__".join(case) for case in CASES if case in selected}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            (release, cfg, topo): pool.submit(
                run_peer, release, INPUTS / release / f"{cfg}.cfg", INPUTS / f"{topo}.csv", out
            )
            for (release, cfg, topo), out in outs.items()
        }
    results = {}
    for case, future in futures.items():
        error = future.exception()
        results[case] = error if error is not None else outs[case]
    return results


@pytest.mark.parametrize("release,cfg,topo", CASES, ids=["-".join(c) for c in CASES])
def test_matches_peer(peer_reports: dict, tmp_path: pathlib.Path, release: str, cfg: str, topo: str) -> None:
    peer = peer_reports[(release, cfg, topo)]
    if isinstance(peer, BaseException):
        pytest.fail(peer_failure(release, f"{cfg}/{topo}", peer))
    hw = HwConfig.from_file(INPUTS / release / f"{cfg}.cfg")
    topology = Topology.from_csv(INPUTS / f"{topo}.csv", gemm=topo == "gemm")
    report = simulate(topology, hw, compat=RELEASES[release][1])
    report.to_csv(tmp_path)
    problems = all_report_differences(tmp_path, peer)
    assert not problems, "\n".join(problems[:50])
