"""Atomic checkpoints: JSON for the search's state, and (``protocol="continued"`` only) the model.

Every file is written to a temporary file in the same folder, fsync'd, then moved over the old one
with ``os.replace``, so a kill at any moment leaves either the previous file or the new one, never a
torn file. Nothing here unpickles: the state is JSON, and the continued protocol's model and
optimizer state are read with ``torch.load(..., weights_only=True)``, so a checkpoint from a
stranger cannot run code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from amed.errors import AmedIOError

__all__ = ["CHECKPOINT_FILE", "MODEL_STATE_FILE", "load", "load_model_state", "save_json", "save_model_state"]

CHECKPOINT_FILE = "checkpoint.json"
MODEL_STATE_FILE = "model_state.pt"


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise AmedIOError(f"cannot write {path}: {err.strerror or err}", file=str(path)) from None


def save_json(obj: Any, path: Path) -> None:
    """Write `obj` as JSON to `path` atomically."""
    data = (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode()
    _write_atomic(path, lambda f: f.write(data))


def load(path: Path) -> dict:
    """A checkpoint written by `save_json`; a clear error when it cannot be read."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AmedIOError(f"cannot read checkpoint {path}: {err}", file=str(path)) from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int) or state["step"] < 0:
        raise AmedIOError(f"{path} is not a search checkpoint (no step >= 0)", file=str(path), field="step")
    return state


def save_model_state(state: dict, path: Path) -> None:
    """torch.save a dict of tensors and plain values atomically."""
    import torch

    _write_atomic(path, lambda f: torch.save(state, f))


def load_model_state(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged or foreign file
        raise AmedIOError(f"cannot read {path}: {err}", file=str(path)) from None
