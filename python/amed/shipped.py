"""Find the shipped network topologies by name or by path, and list them.

Shipped topologies are the ``*.csv`` files in the package folder ``amed/topologies`` (the
repository's top-level ``topologies`` links there), so a wheel and a source checkout both carry
them. A topology's name is its file stem in lower case (``resnet18`` for ``Resnet18.csv``), and
names match without regard to case. Shipped hardware configs are found by :mod:`amed.hw`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Union

from amed.errors import TopologyError

__all__ = ["TOPOLOGY_DIR", "resolve_topology", "shipped_topologies"]

TOPOLOGY_DIR = Path(__file__).resolve().parent / "topologies"


def shipped_topologies() -> Dict[str, Path]:
    """Shipped topology names and their CSV files, sorted by name."""
    files = sorted(TOPOLOGY_DIR.glob("*.csv"), key=lambda path: path.stem.lower())
    return {path.stem.lower(): path for path in files}


def resolve_topology(name_or_path: Union[str, "os.PathLike[str]"]) -> Path:
    """The CSV file for a path or a shipped name ("resnet18").

    An existing file wins over a shipped name of the same spelling. A value with a directory
    part or a ``.csv`` suffix is a path (the CSV reader reports a missing file); anything else
    must be a shipped name, or TopologyError lists the shipped ones.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TopologyError(
            f"expected a topology name or path, found {type(name_or_path).__name__}",
            field="topology",
        )
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.is_file() or path.suffix.lower() == ".csv" or len(path.parts) > 1:
        return path
    shipped = shipped_topologies()
    if text.lower() in shipped:
        return shipped[text.lower()]
    names = ", ".join(shipped) or "none found"
    raise TopologyError(
        f"unknown topology {text!r}: shipped topologies are {names}; "
        "or pass the path of a topology CSV file",
        field="topology",
    )
