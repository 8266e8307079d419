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
import os
import pathlib
import subprocess
import sys

import pytest

from amed.simcore import HwConfig, Topology, simulate

pytestmark = pytest.mark.peer

ROOT = pathlib.Path(__file__).resolve().parents[1]
INPUTS = ROOT / "crates" / "simcore" / "tests" / "golden" / "inputs"
RUNNER = ROOT / "tests" / "peer" / "run_scalesim.py"
REPORTS = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")
RELEASES = {"v3": ("3.0.0", "scalesim-v3"), "v2": ("2.0.2", "scalesim-v2")}
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


def peer_python(release: str) -> pathlib.Path:
    return ROOT / ".venvs" / f"scalesim-{RELEASES[release][0]}" / "bin" / "python"


def run_peer(release: str, cfg: str, topo: str, out: pathlib.Path) -> None:
    command = [
        str(peer_python(release)),
        str(RUNNER),
        str(INPUTS / release / f"{cfg}.cfg"),
        str(INPUTS / f"{topo}.csv"),
        str(out),
    ]
    if topo == "gemm":
        command.append("--gemm")
    subprocess.run(command, check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def peer_reports(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs each selected peer case once (two processes at a time); maps case -> dir or error."""
    missing = [str(peer_python(r)) for r in RELEASES if not peer_python(r).exists()]
    if missing:
        message = f"SCALE-Sim peer venvs missing: {missing}; create them with scripts/peer-venvs"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("peer")
    selected = {
        (item.callspec.params["release"], item.callspec.params["cfg"], item.callspec.params["topo"])
        for item in request.session.items
        if item.originalname == "test_matches_peer"
    }
    outs = {case: root / "__".join(case) for case in CASES if case in selected}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case: pool.submit(run_peer, *case, out) for case, out in outs.items()}
    results = {}
    for case, future in futures.items():
        error = future.exception()
        results[case] = error if error is not None else outs[case]
    return results


def cells_match(ours: str, theirs: str) -> bool:
    if ours == theirs:
        return True
    try:
        a, b = float(ours), float(theirs)
    except ValueError:
        return False
    return abs(a - b) <= 1e-9 * max(abs(b), 1e-300)


def report_diff(ours: str, theirs: str) -> list[str]:
    ours_rows, their_rows = ours.splitlines(), theirs.splitlines()
    problems = []
    if len(ours_rows) != len(their_rows):
        problems.append(f"{len(ours_rows)} rows, expected {len(their_rows)}")
    header = their_rows[0].split(", ") if their_rows else []
    for row, (a, b) in enumerate(zip(ours_rows, their_rows)):
        if row == 0:
            if a != b:
                problems.append(f"header {a!r}, expected {b!r}")
            continue
        cells_a, cells_b = a.split(", "), b.split(", ")
        if len(cells_a) != len(cells_b):
            problems.append(f"row {row}: {a!r}, expected {b!r}")
            continue
        for i, (x, y) in enumerate(zip(cells_a, cells_b)):
            if not cells_match(x, y):
                column = header[i] if i < len(header) else "?"
                problems.append(f"row {row} {column!r}: {x}, expected {y}")
    return problems


@pytest.mark.parametrize("release,cfg,topo", CASES, ids=["-".join(c) for c in CASES])
def test_matches_peer(peer_reports: dict, tmp_path: pathlib.Path, release: str, cfg: str, topo: str) -> None:
    peer = peer_reports[(release, cfg, topo)]
    if isinstance(peer, BaseException):
        detail = getattr(peer, "stderr", "") or ""
        pytest.fail(f"SCALE-Sim {release} failed on {cfg}/{topo}: {peer}\n{detail[-2000:]}")
    hw = HwConfig.from_file(INPUTS / release / f"{cfg}.cfg")
    topology = Topology.from_csv(INPUTS / f"{topo}.csv", gemm=topo == "gemm")
    report = simulate(topology, hw, compat=RELEASES[release][1])
    report.to_csv(tmp_path)
    problems = []
    for name in REPORTS:
        ours = (tmp_path / name).read_text()
        theirs = (peer / name).read_text()
        problems += [f"{name}: {p}" for p in report_diff(ours, theirs)]
    assert not problems, "\n".join(problems[:50])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
