"""Fine-tuning and evaluation loops (SGD with momentum, step or cosine LR), with tqdm progress bars."""

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
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

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

    def metrics(self) -> Metrics:
        n = max(self.samples, 1)
        return Metrics(100 * self.correct1 / n, 100 * self.correct5 / n, self.loss / n, self.samples)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch, and ask torch for deterministic kernels where it has them."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, *, device: str = "cpu", progress: bool = False
) -> Metrics:
    """Top-1, top-5 and cross-entropy of `model` on `loader`, in eval mode."""
    model.eval()
    meter = _Meter()
    for images, target in tqdm(loader, desc="eval", leave=False, disable=not progress):
        images, target = images.to(device), target.to(device)
        logits = model(images)
        loss = nn.functional.cross_entropy(logits, target, reduction="sum")
        meter.update(logits, target, float(loss))
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
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    device: str = "cpu",
    progress: bool = False,
    desc: str = "train",
    lr_at: Callable[[int], float] | None = None,
) -> Metrics:
    """One pass of SGD over `loader` (weights and LSQ step sizes alike); returns training metrics.

    `lr_at(i)`, when given, sets every group's learning rate before batch i (a per-batch schedule).
    """
    model.train()
    meter = _Meter()
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress)
    for i, (images, target) in enumerate(bar):
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(i)
        images, target = images.to(device), target.to(device)
        logits = model(images)
        loss = nn.functional.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        meter.update(logits.detach(), target, float(loss.detach()) * len(target))
        bar.set_postfix(loss=f"{meter.loss / meter.samples:.3f}")
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
    device: str = "cpu",
    progress: bool = True,
    seed: int | None = 0,
) -> list[dict]:
    """Fine-tune `model` on `data` (an `amed.data.Data`) for `epochs`, evaluating after each epoch.

    Returns one record per epoch: {"epoch", "lr", "train": Metrics dict, "val": Metrics dict}.
    """
    if epochs < 0:
        raise ConfigError(f"epochs must be >= 0, got {epochs}", field="epochs")
    if seed is not None:
        seed_everything(seed)
    model.to(device)
    optimizer = make_optimizer(model, lr=lr, momentum=momentum, weight_decay=weight_decay)
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
    bits: int = 8,
    epochs: int = 1,
    out: str = "finetune-out",
    weights: str | None = None,
    lr: float = 0.01,
    weight_decay: float = 1e-4,
    schedule: str = "cosine",
    batch_size: int = 128,
    train_subset: int | None = None,
    val_subset: int | None = None,
    workers: int = 0,
    seed: int = 0,
    threads: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Build, quantize (uniform `bits`, 2..8; 32 = full precision), fine-tune and save to `out`.

    Writes `out/model.pt` ({"model", "dataset", "allocation", "state_dict"}) and `out/metrics.json`
    (the arguments, the search-validation metrics before training and per epoch, and the test
    metrics of the final model). Returns the metrics dict.
    """
    from amed.data import load_data
    from amed.models import build_model
    from amed.quant import QuantConfig, get_allocation, quantize_model

    bits, epochs, seed = int(bits), int(epochs), int(seed)
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
    if bits != 32:
        try:
            config = QuantConfig(weight_bits=bits, act_bits=bits)
        except ValueError as err:
            raise ConfigError(f"--bits: {err}; use 32 for full precision", field="bits") from None
        quantize_model(net, config=config)
    net.to(device)
    if bits != 32:
        # Eq. 9 sets each activation step on the first batch a quantizer sees: make that a
        # training batch rather than the first validation batch (eval mode keeps BN statistics).
        images, _ = next(iter(data.train))
        with torch.no_grad():
            net.eval()(images.to(device))
    initial = evaluate(net, data.val, device=device, progress=progress)
    history = finetune(
        net,
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
            "lr": lr, "weight_decay": weight_decay, "schedule": schedule, "batch_size": batch_size,
            "train_subset": _optional(train_subset, int), "val_subset": _optional(val_subset, int),
            "seed": seed,
        },
        "initial": asdict(initial),
        "epochs": history,
        "final": history[-1]["val"] if history else asdict(initial),
        "test": asdict(evaluate(net, data.test, device=device, progress=progress)),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
