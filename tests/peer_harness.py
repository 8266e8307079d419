"""Running the real SCALE-Sim releases and comparing their reports with ours.

The peers live in their own venvs under ``.venvs/`` (made by ``scripts/peer-venvs``). Without
them a peer test skips, except under CI (``CI`` set), where it fails: CI must really diff.
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
INPUTS = ROOT / "crates" / "simcore" / "tests" / "golden" / "inputs"
RUNNER = ROOT / "tests" / "peer" / "run_scalesim.py"
REPORTS = ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv")
# Short name -> (PyPI version, our compat mode).
RELEASES = {"v3": ("3.0.0", "scalesim-v3"), "v2": ("2.0.2", "scalesim-v2")}


def peer_python(version: str) -> pathlib.Path:
    """The interpreter of the venv holding ``scalesim==version``."""
    return ROOT / ".venvs" / f"scalesim-{version}" / "bin" / "python"


def require_peers(*versions: str) -> None:
    """Skip (or fail under CI) unless every named peer venv exists."""
    missing = [str(peer_python(v)) for v in versions if not peer_python(v).exists()]
    if missing:
        message = f"SCALE-Sim peer venvs missing: {missing}; create them with scripts/peer-venvs"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def run_peer(release: str, cfg: pathlib.Path, topology: pathlib.Path, out: pathlib.Path) -> None:
    """Runs the release on a .cfg and topology CSV (GEMM when its name says so) into ``out``."""
    command = [str(peer_python(RELEASES[release][0])), str(RUNNER), str(cfg), str(topology), str(out)]
    if topology.stem == "gemm":
        command.append("--gemm")
    subprocess.run(command, check=True, capture_output=True, text=True)


def peer_failure(release: str, case: str, error: BaseException) -> str:
    detail = getattr(error, "stderr", "") or ""
    return f"SCALE-Sim {release} failed on {case}: {error}\n{detail[-2000:]}"


def _cells_match(ours: str, theirs: str) -> bool:
    if ours == theirs:
        return True
    try:
        a, b = float(ours), float(theirs)
    except ValueError:
        return False
    return abs(a - b) <= 1e-9 * max(abs(b), 1e-300)


def report_differences(ours: str, theirs: str) -> list[str]:
    """Cell-by-cell differences of two SCALE-Sim CSV reports: ints exact, floats to 1e-9."""
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
            if not _cells_match(x, y):
                column = header[i] if i < len(header) else "?"
                problems.append(f"row {row} {column!r}: {x}, expected {y}")
    return problems


def all_report_differences(ours_dir: pathlib.Path, peer_dir: pathlib.Path) -> list[str]:
    """Differences over the three reports, each line prefixed with its file name."""
    problems = []
    for name in REPORTS:
        ours, theirs = (ours_dir / name).read_text(), (peer_dir / name).read_text()
        problems += [f"{name}: {p}" for p in report_differences(ours, theirs)]
    return problems
