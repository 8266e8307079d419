"""Atomic checkpoints and the RNG state they carry.

A checkpoint is written to a temporary file in the same folder, fsync'd, then moved over the old
one with ``os.replace``, so a kill at any moment leaves either the previous checkpoint or the new
one, never a torn file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amed.errors import AmedIOError

__all__ = ["CHECKPOINT_FILE", "load", "restore_rng", "rng_state", "save_atomic"]

CHECKPOINT_FILE = "checkpoint.pt"


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save `obj` to `path` through a temporary file and an atomic rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path) -> dict:
    """A checkpoint written by `save_atomic`; a clear error when it cannot be read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a damaged file
        raise AmedIOError(f"cannot read checkpoint {path}: {err}", file=str(path)) from None


def rng_state() -> dict:
    """The global RNG states of torch, numpy and Python."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
