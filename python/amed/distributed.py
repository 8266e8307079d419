"""torch.distributed set-up for data-parallel fine-tuning under torchrun.

    torchrun --nproc-per-node N $(which amed) search ...

torchrun starts N processes and sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT.
`init()` reads them and joins the process group: NCCL when the device is CUDA (one GPU per process,
``cuda:LOCAL_RANK``), gloo on CPU. Without those variables it is a one-process run and nothing is
initialised. Every collective has a timeout (`DEFAULT_TIMEOUT_S`): a rank that dies makes the
others fail with an error instead of waiting forever, and torchrun then stops the whole job.

The search's division of work (`amed.search.ranks`): the sampler, the cost model and every file
write on rank 0 (`is_main()`); each allocation to measure reaches the other ranks by
`broadcast_object`; every rank fine-tunes the same candidate on its shard of each global batch
(`amed.train.train_one_epoch` with the model from `wrap`).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from amed.device import resolve_device
from amed.errors import ConfigError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Context",
    "barrier",
    "broadcast_object",
    "init",
    "is_distributed",
    "is_main",
    "rank",
    "shutdown",
    "world_size",
    "wrap",
]

#: Seconds a collective waits for the slowest rank before failing (fine-tuning one candidate and
#: evaluating it must fit in it; rank 0's sampler and file writes happen between collectives).
DEFAULT_TIMEOUT_S = 1800.0

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank, world size, local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer (torchrun sets it)", field=name) from None


def launched_by_torchrun() -> bool:
    """True when RANK and WORLD_SIZE are in the environment (torchrun, or a launcher like it)."""
    return _env_int("RANK") is not None and _env_int("WORLD_SIZE") is not None


def init(device: str | torch.device = "auto", *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Context:
    """Join the process group torchrun describes, or describe a one-process run without it.

    `device` is resolved per process: ``auto``/``cuda`` become ``cuda:LOCAL_RANK`` on a machine with
    GPUs. With CUDA the backend is NCCL and LOCAL_RANK must have a GPU: asking for more processes
    per node than GPUs is a ConfigError (one line) before any process group is created. On CPU the
    backend is gloo. Calling `init` again returns the existing context.
    """
    world = _env_int("WORLD_SIZE") or 1
    rank_ = _env_int("RANK") or 0
    local_rank = _env_int("LOCAL_RANK")
    local_rank = rank_ if local_rank is None else local_rank
    wants_cuda = str(device).strip().lower() != "cpu" and torch.cuda.is_available()
    if wants_cuda and launched_by_torchrun():
        count = torch.cuda.device_count()
        local_world = _env_int("LOCAL_WORLD_SIZE") or world
        if local_world > count or local_rank >= count:
            raise ConfigError(
                f"--nproc-per-node {local_world} is more than the {count} GPU(s) on this machine; "
                f"NCCL needs one GPU per process (use --nproc-per-node {count}, or --device cpu for gloo)",
                field="nproc_per_node",
            )
    resolved = resolve_device(device)
    if resolved.type == "cuda" and launched_by_torchrun():
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    if world == 1 or not launched_by_torchrun():
        return Context(0, 1, 0, resolved, None)
    backend = "nccl" if resolved.type == "cuda" else "gloo"
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"timeout": datetime.timedelta(seconds=float(timeout_s))}
        if backend == "nccl":
            kwargs["device_id"] = resolved
        dist.init_process_group(backend=backend, **kwargs)
    return Context(dist.get_rank(), dist.get_world_size(), local_rank, resolved, backend)


def shutdown() -> None:
    """Leave the process group (no-op in a one-process run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on rank 0 and in a one-process run: the process that samples and writes files."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_object(obj: T = None, *, src: int = 0) -> T:
    """`obj` as rank `src` has it, on every rank (any picklable object: an allocation, a dict).

    Other ranks' arguments are ignored. In a one-process run this returns `obj`.
    """
    if not is_distributed():
        return obj
    box = [obj if dist.get_rank() == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap(model: nn.Module, device: torch.device | None = None) -> nn.Module:
    """`model` on `device` inside DistributedDataParallel (rank 0's parameters and buffers are
    copied to every rank); in a one-process run, `model` on `device` unwrapped.

    Hand the result to `amed.train.train_one_epoch`, which shards each global batch over the
    ranks. The module stays reachable as ``.module``; `load_state_dict` and `set_bits` on it keep
    the same Parameter objects, so one wrap serves every candidate.

    Batch norm normalises over the global batch, as in one process: on CUDA the BatchNorm layers
    become torch's SyncBatchNorm; elsewhere (torch has no CPU SyncBatchNorm) they become
    `amed.global_batchnorm.GlobalBatchNorm2d` in place.
    """
    if device is not None:
        model = model.to(device)
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    first = next(model.parameters())
    if first.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[first.device.index])
    from amed import global_batchnorm

    return DistributedDataParallel(global_batchnorm.convert(model))
