"""Fine-tuning and evaluation loops (SGD with momentum, step or cosine LR), with tqdm progress bars.

Devices: every loop runs where the model's parameters are (`device=None`) or on the device given;
batches are copied with ``non_blocking`` on CUDA (asynchronous from a pinned DataLoader).

Data parallel: `train_one_epoch` given a DistributedDataParallel model (`amed.distributed.wrap`)
takes the same global batches on every rank and trains each rank on its shard of each batch
(rank r gets rows r, r + W, ...), weighting the loss so that DDP's gradient average is the global
batch mean. `evaluate` given a DDP model shards the same way and sums the counts over the ranks.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from amed.device import resolve_device, to_device
from amed.errors import ConfigError

SCHEDULES = ("cosine", "step", "constant")


@dataclass
class Metrics:
    """Top-1 / top-5 accuracy in percent and mean cross-entropy over `samples` examples."""

    top1: float
    top5: float
    loss: float
    samples: int


class _Meter:
    def __init__(self) -> None:
        self.loss = 0.0
        self.correct1 = 0
        self.correct5 = 0
        self.samples = 0

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss_sum: float) -> None:
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top.eq(target[:, None])
        self.correct1 += int(hits[:, 0].sum())
        self.correct5 += int(hits.any(dim=1).sum())
        self.loss += loss_sum
        self.samples += len(target)

    def all_reduce(self, group=None) -> None:
        """Sum the counts of every rank of `group` (each rank saw its shard of the batches)."""
        import torch.distributed as dist

        totals = torch.tensor(
            [self.loss, self.correct1, self.correct5, self.samples], dtype=torch.float64
        )
        dist.all_reduce(totals, group=group)
        self.loss = float(totals[0])
        self.correct1, self.correct5, self.samples = (int(v) for v in totals[1:].tolist())

    def metrics(self) -> Metrics:
        n = max(self.samples, 1)
        return Metrics(100 * self.correct1 / n, 100 * self.correct5 / n, self.loss / n, self.samples)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch, and ask torch for deterministic kernels where it has them."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _device_of(model: nn.Module, device) -> torch.device:
    if device is not None:
        return resolve_device(device)
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _ddp_shard(model: nn.Module):
    """(module, group, rank, world) when `model` is DistributedDataParallel, else (model, None, 0, 1)."""
    from torch.nn.parallel import DistributedDataParallel

    if not isinstance(model, DistributedDataParallel):
        return model, None, 0, 1
    import torch.distributed as dist

    group = model.process_group
    return model.module, group, dist.get_rank(group), dist.get_world_size(group)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader, *, device: str | torch.device | None = None, progress: bool = False
) -> Metrics:
    """Top-1, top-5 and cross-entropy of `model` on `loader`, in eval mode.

    `device`: where the batches go (None: the model's device). A DistributedDataParallel `model`
    must be evaluated on every rank: each takes its shard of each batch and the sums are reduced,
    so every rank returns the metrics of the whole loader.
    """
    module, group, rank, world = _ddp_shard(model)
    device = _device_of(module, device)
    module.eval()
    meter = _Meter()
    for images, target in tqdm(loader, desc="eval", leave=False, disable=not progress or rank != 0):
        if world > 1:
            images, target = images[rank::world], target[rank::world]
        images, target = to_device(images, device), to_device(target, device)
        logits = module(images)
        loss = nn.functional.cross_entropy(logits, target, reduction="sum")
        meter.update(logits, target, float(loss))
    if world > 1:
        meter.all_reduce(group)
    return meter.metrics()


def make_optimizer(
    model: nn.Module, *, lr: float, momentum: float = 0.9, weight_decay: float = 1e-4
) -> torch.optim.SGD:
    """SGD over all parameters; LSQ step sizes get no weight decay (it would shrink them toward 0)."""
    steps = [p for n, p in model.named_parameters() if n.endswith("_quantizer.scale")]
    step_ids = {id(p) for p in steps}
    others = [p for p in model.parameters() if id(p) not in step_ids]
    groups = [{"params": others, "weight_decay": weight_decay}]
    if steps:
        groups.append({"params": steps, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=lr, momentum=momentum)


def cosine_lr(lr: float, batches: int) -> Callable[[int], float]:
    """A per-batch cosine decay from `lr` towards 0 over `batches` (for `train_one_epoch`'s lr_at)."""
    return lambda i: lr * 0.5 * (1.0 + math.cos(math.pi * i / max(batches, 1)))


def make_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    epochs: int,
    *,
    step_size: int = 30,
    gamma: float = 0.1,
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch LR schedule: cosine to 0 over `epochs`, ×gamma every `step_size` epochs, or constant."""
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if schedule == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    raise ConfigError(
        f"unknown LR schedule {schedule!r}; valid: {', '.join(SCHEDULES)}", field="schedule"
    )


def train_one_epoch(
    model: nn.Module,
    loader,
    optimizer: torch.optim.Optimizer,
    *,
    device: str | torch.device | None = None,
    progress: bool = False,
    desc: str = "train",
    lr_at: Callable[[int], float] | None = None,
    max_grad_norm: float | None = None,
) -> Metrics:
    """One pass of SGD over `loader` (weights and LSQ step sizes alike); returns training metrics.

    `loader` is any iterable of (images, target) batches. `lr_at(i)`, when given, sets every
    group's learning rate before batch i (a per-batch schedule). `device`: where the batches go
    (None: the model's device). `max_grad_norm`, when given, rescales each batch's gradient to at
    most that global L2 norm (torch's `clip_grad_norm_`; after DDP's averaging, so every rank
    clips alike): a low-bit model's gradient can grow a hundredfold within a few dozen batches
    and collapse it to one class (docs/search.md).

    With a DistributedDataParallel `model`, every rank must iterate the same global batches (the
    same loader and seed); rank r trains on rows r, r + W, ... of each, its summed loss multiplied
    by W / (global batch size), so the averaged gradient is the global batch mean even when
    W does not divide the batch. Activation quantizers act as on the whole batch
    (`amed.quant.lsq.data_parallel_shard`): their steps are initialised over all ranks, and LSQ's
    gradient scale uses the global N. The metrics returned are those of all ranks together.
    """
    from amed.quant.lsq import data_parallel_shard

    module, group, rank, world = _ddp_shard(model)
    device = _device_of(module, device)
    model.train()
    meter = _Meter()
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress or rank != 0)
    for i, (images, target) in enumerate(bar):
        if lr_at is not None:
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr_at(i)
        batch = len(target)
        if world > 1:
            images, target = images[rank::world], target[rank::world]
        images, target = to_device(images, device), to_device(target, device)
        if world > 1:
            with data_parallel_shard(group, len(target) / batch):
                logits = model(images)
            loss_sum = nn.functional.cross_entropy(logits, target, reduction="sum")
            loss = loss_sum * (world / batch)
        else:
            logits = model(images)
            loss = nn.functional.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(module.parameters(), max_grad_norm)
        optimizer.step()
        summed = float(loss_sum.detach()) if world > 1 else float(loss.detach()) * batch
        meter.update(logits.detach(), target, summed)
        if rank == 0 and meter.samples:
            bar.set_postfix(loss=f"{meter.loss / meter.samples:.3f}")
    if world > 1:
        meter.all_reduce(group)
    return meter.metrics()


def finetune(
    model: nn.Module,
    data,
    epochs: int,
    *,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    schedule: str = "cosine",
    step_size: int = 30,
    gamma: float = 0.1,
    device: str | torch.device | None = None,
    progress: bool = True,
    seed: int | None = 0,
) -> list[dict]:
    """Fine-tune `model` on `data` (an `amed.data.Data`) for `epochs`, evaluating after each epoch.

    `device`: where to train (``auto``, ``cpu``, ``cuda``, ``cuda:N``; None: where `model` is).
    A DistributedDataParallel `model` (`amed.distributed.wrap`) trains data-parallel; call it on
    every rank. Returns one record per epoch: {"epoch", "lr", "train": Metrics dict, "val": Metrics
    dict}.
    """
    if epochs < 0:
        raise ConfigError(f"epochs must be >= 0, got {epochs}", field="epochs")
    target = _ddp_shard(model)[0]
    device = _device_of(target, device)
    if seed is not None:
        seed_everything(seed)
    model.to(device)
    optimizer = make_optimizer(target, lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = make_scheduler(optimizer, schedule, epochs, step_size=step_size, gamma=gamma)
    history = []
    for epoch in tqdm(range(epochs), desc="epochs", disable=not progress):
        current_lr = optimizer.param_groups[0]["lr"]
        train = train_one_epoch(
            model, data.train, optimizer, device=device, progress=progress, desc=f"epoch {epoch}"
        )
        scheduler.step()
        val = evaluate(model, data.val, device=device, progress=progress)
        history.append({"epoch": epoch, "lr": current_lr, "train": asdict(train), "val": asdict(val)})
    return history


def _optional(value, convert=lambda v: v):
    """None for None or the text "none" (how a command line spells it), else convert(value)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    return convert(value)


def run_finetune(
    model: str = "resnet20",
    dataset: str = "fashion-mnist",
    bits: int | None = None,
    epochs: int = 1,
    out: str = "finetune-out",
    weights: str | None = None,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    act_init: str = "mse",
    schedule: str = "cosine",
    batch_size: int = 128,
    train_subset: int | None = None,
    val_subset: int | None = None,
    workers: int = 0,
    seed: int = 0,
    threads: int | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Build, quantize (uniform `bits`, 2..8; 32 = full precision), fine-tune and save to `out`.

    A quantized checkpoint in `weights` (a search's best.pt) keeps its allocation when `bits` is
    None, or takes `bits` on every searchable layer; otherwise None means 8 bits.
    `act_init`: how activation steps are initialised (`amed.act_init.ACT_INITS`).

    `device`: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``. Under torchrun every
    process fine-tunes its shard of each batch (DistributedDataParallel; `amed.distributed`) and
    rank 0 alone writes `out`.

    Writes `out/model.pt` ({"model", "dataset", "allocation", "state_dict"}) and `out/metrics.json`
    (the arguments, the search-validation metrics before training and per epoch, and the test
    metrics of the final model). Returns the metrics dict.
    """
    from amed import distributed
    from amed.data import load_data
    from amed.models import build_model
    from amed.act_init import check_act_init
    from amed.quant import QuantConfig, get_allocation, quantize_model, quantized_layers, set_act_init, set_bits

    try:
        check_act_init(act_init, "--act-init")
    except ValueError as err:
        raise ConfigError(str(err), field="act_init") from None
    context = distributed.init(device)
    device = context.device
    bits = None if bits is None else int(bits)
    epochs, seed = int(epochs), int(seed)
    weights = _optional(weights)
    if _optional(threads) is not None:
        torch.set_num_threads(int(threads))
    seed_everything(seed)
    data = load_data(
        dataset,
        batch_size=int(batch_size),
        workers=int(workers),
        seed=seed,
        train_subset=_optional(train_subset, int),
        val_subset=_optional(val_subset, int),
    )
    net = build_model(
        model,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        image_size=data.image_size,
        weights=weights,
    )
    if quantized_layers(net, include_fixed=True):  # a quantized checkpoint
        if bits == 32:
            raise ConfigError(f"--weights {weights} is quantized: --bits 32 needs a full-precision start", field="bits")
        set_act_init(net, act_init)
        if bits is not None:
            set_bits(net, bits)
    elif bits != 32:
        try:
            config = QuantConfig(weight_bits=bits or 8, act_bits=bits or 8, act_init=act_init)
        except ValueError as err:
            raise ConfigError(f"--bits: {err}; use 32 for full precision", field="bits") from None
        quantize_model(net, config=config)
    net.to(device)
    if bits != 32:
        # Each activation step is initialised on the first batch a quantizer sees: make that a
        # training batch rather than the first validation batch (eval mode keeps BN statistics).
        # Every rank sees the same whole batch, so the steps agree across ranks.
        images, _ = next(iter(data.train))
        with torch.no_grad():
            net.eval()(images.to(device))
    parallel = distributed.wrap(net, device)
    initial = evaluate(parallel, data.val, device=device, progress=progress)
    history = finetune(
        parallel,
        data,
        epochs,
        lr=float(lr),
        weight_decay=float(weight_decay),
        schedule=schedule,
        device=device,
        progress=progress,
        seed=seed,
    )
    allocation = get_allocation(net, include_fixed=True) if bits != 32 else {}
    if bits is None:
        bits = "mixed" if len({pair for pair in allocation.values()}) > 1 else next(iter(allocation.values()))[0]
    test = evaluate(parallel, data.test, device=device, progress=progress)
    if not distributed.is_main():
        distributed.barrier()
        return {}
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model,
            "dataset": dataset,
            "allocation": {name: list(pair) for name, pair in allocation.items()},
            "state_dict": net.state_dict(),
        },
        out_dir / "model.pt",
    )
    metrics = {
        "args": {
            "model": model, "dataset": dataset, "bits": bits, "epochs": epochs, "weights": weights,
            "lr": lr, "weight_decay": weight_decay, "act_init": act_init, "schedule": schedule,
            "batch_size": batch_size, "train_subset": _optional(train_subset, int),
            "val_subset": _optional(val_subset, int),
            "seed": seed, "device": str(device), "world_size": context.world_size,
        },
        "initial": asdict(initial),
        "epochs": history,
        "final": history[-1]["val"] if history else asdict(initial),
        "test": asdict(test),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    distributed.barrier()
    return metrics
