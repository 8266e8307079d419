"""Which torch device a command runs on: ``--device auto|cpu|cuda|cuda:N``.

``auto`` is CUDA (the current device, normally ``cuda:0``) when torch sees a GPU, else the CPU.
Under torchrun a process on CUDA uses the GPU of its LOCAL_RANK (`amed.distributed`), so
``--device cuda`` means "this process's GPU" there.
"""

from __future__ import annotations

import os
import re

import torch

from amed.errors import ConfigError

__all__ = ["DEVICE_CHOICES", "is_cuda", "resolve_device", "to_device"]

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
_SPEC = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The torch.device that `spec` names (``auto``, ``cpu``, ``cuda``, ``cuda:N``; None = auto).

    Raises ConfigError (field "device") with a one-line message when the text is not one of these,
    when CUDA is asked for on a machine without it, or when the index is out of range. A bare
    ``cuda`` under torchrun (LOCAL_RANK set) is ``cuda:LOCAL_RANK``.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = "auto" if spec is None else str(spec).strip().lower()
    match = _SPEC.match(text)
    if match is None or (match.group(1) != "cuda" and match.group(2) is not None):
        raise ConfigError(f"--device {spec!r} is not one of {DEVICE_CHOICES}", field="device")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if kind == "auto":
        if not available:
            return torch.device("cpu")
        kind = "cuda"
    if not available:
        raise ConfigError(
            f"--device {text}: torch sees no CUDA GPU here (torch {torch.__version__}, "
            f"CUDA build {torch.version.cuda or 'none'}); pass --device cpu or --device auto",
            field="device",
        )
    # cuBLAS is deterministic only with a fixed workspace; it must be set before its first handle.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    count = torch.cuda.device_count()
    if index is None:
        local_rank = os.environ.get("LOCAL_RANK")
        index = int(local_rank) if local_rank is not None else torch.cuda.current_device()
        if index >= count:
            raise ConfigError(
                f"--device cuda: LOCAL_RANK {index} has no GPU; this machine has {count} "
                f"(run torchrun with --nproc-per-node at most {count})",
                field="device",
            )
        return torch.device("cuda", index)
    index = int(index)
    if index >= count:
        raise ConfigError(
            f"--device cuda:{index}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}",
            field="device",
        )
    return torch.device("cuda", index)


def is_cuda(device: str | torch.device) -> bool:
    return torch.device(device).type == "cuda"


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a batch tensor to `device`; asynchronous from pinned memory when `device` is CUDA
    (a DataLoader with ``pin_memory=True`` yields pinned batches)."""
    if tensor.device == device:
        return tensor
    return tensor.to(device, non_blocking=device.type == "cuda")
