"""A converged start for every search: FP32 training, then an 8-bit LSQ fine-tune, cached by content.

The search scores each candidate allocation by fine-tuning the same converged checkpoint
(DESIGN.md §4). `converged_checkpoint(model, dataset)` returns that checkpoint, training it on the
first call and reading it from the cache afterwards:

  1. FP32 phase: SGD with momentum, cosine LR over `Recipe.epochs`, evaluated on the
     search-validation split after every epoch; stops after `patience` epochs without a better
     top-1 and keeps the best epoch's weights.
  2. 8-bit phase: `quantize_model(model, config=QuantConfig(8, 8, edge_bits=8))`, the activation
     steps initialised on one training batch (`amed.quant.lsq`), then `qat_epochs` of LSQ
     fine-tuning at `qat_lr`.

The result is `model.pt`, {"model", "dataset", "allocation", "state_dict", "metrics"}, which
`amed.models.build_model(name, ..., weights=path)` loads as a quantized model.

Cache: `cache_root()/pretrained/<key>/{model.pt, meta.json}`, where the key is a hash of every
input that changes the result (`cache_key`). An entry is trained in a temporary folder beside it
and renamed into place once complete, so a reader never sees half an entry; an entry whose
meta.json does not parse or whose model.pt does not match the sha256 recorded there is deleted and
rebuilt. A temporary folder left by a killed run is removed by the next call (a live one is held
by a file lock and left alone). When two processes fill the same key, the second rename finds the
folder present and the second process keeps the existing entry.

Recipe defaults (`recipe_for`) were chosen by measurement on 2 CPU cores; docs/models.md has the
measured accuracies and wall times and the commands that produced them.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import io
import json
import math
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

#: Bump when the training procedure changes in a way the Recipe fields do not capture; every
#: cached entry then gets a new key and is retrained.
RECIPE_VERSION = 2  # 2: activation steps initialised by MSE, not Eq. 9

_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
#: Without fcntl (Windows) a temporary folder counts as stale only when older than this.
_STALE_WITHOUT_LOCKS_S = 24 * 3600.0


@dataclass(frozen=True)
class Recipe:
    """How a converged 8-bit start is trained (the module doc has the two phases).

    epochs: most FP32 epochs (cosine LR from `lr` to 0 over this many epochs).
    lr, momentum, weight_decay, batch_size: SGD of the FP32 phase (and batch size of both phases).
    patience: stop the FP32 phase after this many epochs without a better search-validation top-1.
    train_subset: train on this many training images (drawn with the seed); None for all.
    val_subset: evaluate on this many search-validation images; None for all.
    qat_epochs, qat_lr: the 8-bit LSQ fine-tune (cosine LR, LSQ steps without weight decay).
    """

    epochs: int
    lr: float
    batch_size: int
    patience: int = 3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    train_subset: int | None = None
    val_subset: int | None = None
    qat_epochs: int = 1
    qat_lr: float = 0.01

    def __post_init__(self) -> None:
        from amed.errors import ConfigError

        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"recipe {name} must be >= 1, got {getattr(self, name)}", field=name)
        if self.qat_epochs < 0:
            raise ConfigError(f"recipe qat_epochs must be >= 0, got {self.qat_epochs}", field="qat_epochs")


# Defaults per dataset family and model. Measured on 2 CPU cores (docs/models.md):
#  * digits (1149 training images, 8x8): whole epochs are cheap for every model, so train to
#    convergence: up to 15 FP32 epochs with patience 4, batch 32, then 2 epochs of 8-bit LSQ
#    (the ResNets stopped early after 9-13 epochs at 98-99 %).
#  * Fashion-MNIST (54000 training images, 28x28): the budget is ~10 minutes per model on 2 cores,
#    so the big models train on a fixed subset of the training set for a few epochs.
_DIGITS = Recipe(epochs=15, lr=0.05, batch_size=32, patience=4, qat_epochs=2, qat_lr=0.01)
#: MobileNetV2 diverges for a few epochs at lr 0.05 and batch 32 (train CE 3.9 after epoch 1) and
#: reaches only 91 % in 15 epochs; at lr 0.02 with its paper's weight decay of 4e-5, 96.5 %.
_DIGITS_MOBILENET = replace(_DIGITS, lr=0.02, weight_decay=4e-5)
_FASHION = {
    "resnet20": Recipe(epochs=5, lr=0.1, batch_size=128, patience=2, qat_epochs=1, qat_lr=0.01),
    "resnet18": Recipe(
        epochs=4, lr=0.05, batch_size=64, patience=2, train_subset=20000, qat_epochs=1, qat_lr=0.01
    ),
    "resnet50": Recipe(
        epochs=4, lr=0.05, batch_size=64, patience=2, train_subset=8000, qat_epochs=1, qat_lr=0.01
    ),
    "mobilenet_v2": Recipe(
        epochs=4, lr=0.02, batch_size=64, patience=2, weight_decay=4e-5, train_subset=20000,
        qat_epochs=1, qat_lr=0.01,
    ),
}
#: Other datasets (CIFAR, ImageFolder): a plain schedule, not tuned on this machine.
_GENERIC = Recipe(epochs=30, lr=0.05, batch_size=128, patience=5, qat_epochs=2, qat_lr=0.01)


def recipe_for(model: str, dataset: str) -> Recipe:
    """The default recipe of `model` on `dataset` (a spec of `amed.data.load_data`).

    digits: to convergence, the same for the ResNets (`_DIGITS`), a lower LR and weight decay
    for MobileNetV2. Fashion-MNIST: per model, sized to about 10 minutes on 2 CPU cores
    (`_FASHION`; ResNet-18/50 and MobileNetV2 on a training subset). Anything else: `_GENERIC`,
    untuned. The measurements behind each choice are in docs/models.md.
    """
    name = dataset.partition(":")[0]
    if name == "digits":
        return _DIGITS_MOBILENET if model == "mobilenet_v2" else _DIGITS
    if name == "fashion-mnist":
        return _FASHION.get(model, _FASHION["resnet18"])
    return _GENERIC


def cache_root() -> Path:
    """`$AMED_CACHE` when set, else the user cache folder of amed (platformdirs)."""
    env = os.environ.get("AMED_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("amed"))


def _canonical_dataset(dataset: str) -> dict[str, str]:
    """The spec's name and, for a spec with a folder, that folder resolved to an absolute path."""
    from amed.data import FASHION_MNIST_DIR

    name, _, arg = dataset.partition(":")
    if name == "fashion-mnist" and not arg:
        arg = FASHION_MNIST_DIR
    if not arg:
        return {"name": name}
    return {"name": name, "path": str(Path(arg).expanduser().resolve())}


def _key_inputs(
    model: str, dataset: str, *, image_size: int, num_classes: int, seed: int, recipe: Recipe
) -> dict[str, Any]:
    return {
        "model": model,
        "dataset": _canonical_dataset(dataset),
        "image_size": int(image_size),
        "num_classes": int(num_classes),
        "seed": int(seed),
        "recipe_version": RECIPE_VERSION,
        "recipe": asdict(recipe),
    }


def cache_key(
    model: str, dataset: str, *, image_size: int, num_classes: int, seed: int, recipe: Recipe
) -> str:
    """20 hex digits of the sha256 of the canonical JSON of every input that changes the result."""
    inputs = _key_inputs(
        model, dataset, image_size=image_size, num_classes=num_classes, seed=seed, recipe=recipe
    )
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# ---------------------------------------------------------------------------------------------
# Cache entries


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry_problem(entry: Path, key: str) -> str | None:
    """Why `entry` may not be used (None when it is complete and intact)."""
    meta_path, model_path = entry / "meta.json", entry / "model.pt"
    if not meta_path.is_file():
        return "meta.json is missing"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        return f"meta.json does not parse ({err})"
    if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
        return "meta.json has no sha256"
    if meta.get("key") != key:
        return f"meta.json is for key {meta.get('key')!r}"
    if not model_path.is_file():
        return "model.pt is missing"
    try:
        actual = _sha256(model_path)
    except OSError as err:
        return f"model.pt is unreadable ({err})"
    if actual != meta["sha256"]:
        return f"model.pt has sha256 {actual[:12]}..., meta.json records {meta['sha256'][:12]}..."
    return None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no directory fsync on this platform
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _discard(folder: Path) -> None:
    """Remove `folder`: first renamed aside (atomic), so no reader sees it half deleted."""
    trash = folder.parent / f"{_TRASH_PREFIX}{folder.name}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    except OSError:
        trash = folder
    shutil.rmtree(trash, ignore_errors=True)


class _Lock:
    """An exclusive flock on `path` (created if missing), held until `release`.

    Every temporary folder `.tmp-NAME` has its lock file `.tmp-NAME.lock` beside it, taken before
    the folder is made and released after it is renamed into place: a folder whose lock can be
    taken has no live owner.
    """

    def __init__(self, path: Path, *, blocking: bool) -> None:
        self.path = path
        self.fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.real = True
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; staleness falls back to age
            self.real = False
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise

    def release(self, *, unlink: bool = False) -> None:
        if self.fd is None:
            return
        if unlink:
            try:
                self.path.unlink()
            except OSError:
                pass
        os.close(self.fd)  # closing the descriptor drops the flock
        self.fd = None


def _remove_stale(root: Path, log: Callable[[str], None]) -> None:
    """Delete temporary folders whose owner is gone (their lock is free), and leftover trash."""
    for folder in sorted(root.iterdir()):
        name = folder.name
        if name.startswith(_TRASH_PREFIX) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            continue
        if not name.startswith(_TMP_PREFIX) or name.endswith(".lock"):
            continue
        try:
            lock = _Lock(root / f"{name}.lock", blocking=False)
        except OSError:
            continue  # held: a live pretrain owns this folder
        try:
            if not lock.real and time.time() - folder.stat().st_mtime < _STALE_WITHOUT_LOCKS_S:
                continue
            log(f"removing {folder}, left by an interrupted pretrain")
            shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            pass
        finally:
            lock.release(unlink=True)
    for lock_file in root.glob(f"{_TMP_PREFIX}*.lock"):  # locks whose folder is gone
        if lock_file.with_suffix("").exists():
            continue
        try:
            lock = _Lock(lock_file, blocking=False)
        except OSError:
            continue
        lock.release(unlink=True)


def _write_entry(tmp: Path, checkpoint: dict, meta: dict) -> None:
    """model.pt and meta.json (with model.pt's sha256) into `tmp`, fsynced."""
    import torch

    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    meta = dict(meta, sha256=hashlib.sha256(data).hexdigest(), model_bytes=len(data))
    for name, payload in (("model.pt", data), ("meta.json", (json.dumps(meta, indent=2) + "\n").encode())):
        with open(tmp / name, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
    _fsync_dir(tmp)


# ---------------------------------------------------------------------------------------------
# Training


def _shapes(dataset: str) -> tuple[int, int, int]:
    """(num_classes, in_channels, image_size) of `dataset`."""
    from amed.data import load_data

    data = load_data(dataset, batch_size=1, train_subset=1, val_subset=1, test_subset=1)
    return data.num_classes, data.in_channels, data.image_size


def _seconds_per_batch(step: Callable[[], None], repeats: int = 3) -> float:
    step()  # warm-up: first-call allocations and kernel selection
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def _estimate_seconds(
    model: str, recipe: Recipe, data, shapes: tuple[int, int, int], device=None
) -> float:
    """Upper estimate of the recipe's wall time: a few timed batches of a throwaway model."""
    import torch
    from torch import nn

    from amed.models import build_model
    from amed.quant import QuantConfig, quantize_model

    num_classes, in_channels, size = shapes
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(recipe.batch_size, in_channels, size, size, generator=gen).to(device)
    y = torch.randint(0, num_classes, (recipe.batch_size,), generator=gen).to(device)
    net = build_model(model, num_classes=num_classes, in_channels=in_channels, image_size=size)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-4)

    def train_step() -> None:
        net.train()
        loss = nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    def eval_step() -> None:
        net.eval()
        with torch.no_grad():
            net(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    fp32_train, fp32_eval = _seconds_per_batch(train_step), _seconds_per_batch(eval_step, 1)
    quantize_model(net, config=QuantConfig(8, 8, edge_bits=8))
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-4)
    q_train, q_eval = _seconds_per_batch(train_step), _seconds_per_batch(eval_step, 1)
    train_batches, val_batches = len(data.train), len(data.val)
    fp32 = recipe.epochs * (train_batches * fp32_train + val_batches * fp32_eval)
    qat = recipe.qat_epochs * train_batches * q_train + (recipe.qat_epochs + 1) * val_batches * q_eval
    return fp32 + qat


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def train_recipe(
    model: str,
    dataset: str,
    recipe: Recipe,
    *,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
    data=None,
    device=None,
):
    """Train `model` on `dataset` by `recipe` (no cache): returns (8-bit model, metrics dict).

    `device`: a torch.device or ``auto|cpu|cuda|cuda:N`` (None: the CPU). Under torchrun
    (`amed.distributed.init` called first) every rank trains its shard of each batch with
    DistributedDataParallel; the returned model is the plain module, the same on every rank.

    metrics: {"fp32": {val_top1, val_loss, epochs_run, best_epoch, wall_s, history},
              "int8": {val_top1_calibrated, val_top1, val_loss, epochs_run, wall_s, history},
              "wall_s", "cpu_s" (process CPU seconds), "threads", "train_samples", "val_samples"};
    val is the search-validation split (`recipe.val_subset` of it).
    """
    import torch
    from tqdm.auto import tqdm

    from amed.data import load_data
    from amed.errors import AmedError
    from amed.models import build_model
    from amed.quant import QuantConfig, quantize_model
    from amed import distributed
    from amed.device import resolve_device
    from amed.train import evaluate, make_optimizer, make_scheduler, seed_everything, train_one_epoch

    device = resolve_device("cpu" if device is None else device)
    start, cpu_start = time.perf_counter(), time.process_time()
    if data is None:
        data = load_data(
            dataset,
            batch_size=recipe.batch_size,
            seed=seed,
            train_subset=recipe.train_subset,
            val_subset=recipe.val_subset,
            val_batch_size=max(recipe.batch_size, 256),
        )
    seed_everything(seed)
    net = build_model(
        model, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size
    ).to(device)
    parallel = distributed.wrap(net)

    # Phase 1: FP32 with early stopping on the search-validation split.
    optimizer = make_optimizer(
        net, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    scheduler = make_scheduler(optimizer, "cosine", recipe.epochs)
    best_top1, best_epoch, best_state, best_loss, history = -1.0, -1, None, math.inf, []
    epochs = tqdm(range(recipe.epochs), desc=f"{model} FP32", disable=not progress)
    for epoch in epochs:
        train = train_one_epoch(parallel, data.train, optimizer, progress=progress, desc=f"epoch {epoch}")
        scheduler.step()
        val = evaluate(parallel, data.val, progress=progress)
        history.append({"epoch": epoch, "train_top1": train.top1, "train_loss": train.loss,
                        "val_top1": val.top1, "val_loss": val.loss})  # fmt: skip
        if val.top1 > best_top1 and math.isfinite(val.loss):
            best_top1, best_loss, best_epoch = val.top1, val.loss, epoch
            best_state = copy.deepcopy(net.state_dict())
        epochs.set_postfix(val=f"{val.top1:.1f}%", best=f"{best_top1:.1f}%")
        if not progress:  # without bars, a line per epoch shows that a long pretrain is alive
            log(f"FP32 epoch {epoch + 1}/{recipe.epochs}: val top-1 {val.top1:.2f}% (best "
                f"{best_top1:.2f}%), {_minutes(time.perf_counter() - start)}")  # fmt: skip
        if epoch - best_epoch >= recipe.patience:
            break
    if best_state is None:
        raise AmedError(
            f"pretraining {model} on {dataset} diverged: the validation loss was never finite "
            f"(lr {recipe.lr}); nothing was cached"
        )
    net.load_state_dict(best_state)
    fp32_wall = time.perf_counter() - start
    fp32 = {"val_top1": best_top1, "val_loss": best_loss, "epochs_run": len(history),
            "best_epoch": best_epoch, "wall_s": round(fp32_wall, 1), "history": history}  # fmt: skip
    log(f"FP32: val top-1 {best_top1:.2f}% (best of {len(history)} epochs), {_minutes(fp32_wall)}")

    # Phase 2: 8-bit LSQ. Each activation step is initialised on the first batch: a training batch.
    quantize_model(net, config=QuantConfig(8, 8, edge_bits=8))
    net.to(device)
    images, _ = next(iter(data.train))
    with torch.no_grad():
        net.eval()(images.to(device))
    parallel = distributed.wrap(net)  # again: the quantizers added parameters
    calibrated = evaluate(parallel, data.val, progress=progress)
    optimizer = make_optimizer(net, lr=recipe.qat_lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)  # fmt: skip
    scheduler = make_scheduler(optimizer, "cosine", recipe.qat_epochs)
    val, q_history = calibrated, []
    for epoch in tqdm(range(recipe.qat_epochs), desc=f"{model} 8-bit", disable=not progress):
        train = train_one_epoch(parallel, data.train, optimizer, progress=progress, desc=f"8-bit epoch {epoch}")
        scheduler.step()
        val = evaluate(parallel, data.val, progress=progress)
        q_history.append({"epoch": epoch, "train_top1": train.top1, "train_loss": train.loss,
                          "val_top1": val.top1, "val_loss": val.loss})  # fmt: skip
    wall = time.perf_counter() - start
    int8 = {"val_top1_calibrated": calibrated.top1, "val_top1": val.top1, "val_loss": val.loss,
            "epochs_run": len(q_history), "wall_s": round(wall - fp32_wall, 1),
            "history": q_history}  # fmt: skip
    log(f"8-bit LSQ: val top-1 {val.top1:.2f}% after {len(q_history)} epochs, {_minutes(wall - fp32_wall)}")
    cpu = time.process_time() - cpu_start
    return net, {"fp32": fp32, "int8": int8, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                 "threads": torch.get_num_threads(), "device": str(device),
                 "world_size": distributed.world_size(), "train_samples": len(data.train.dataset),
                 "val_samples": val.samples}  # fmt: skip


def converged_checkpoint(
    model: str,
    dataset: str,
    *,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
    device="auto",
) -> Path:
    """The path of the converged 8-bit checkpoint of `model` on `dataset`, trained on a cache miss.

    On a hit this logs one line and returns at once. On a miss it logs the recipe and an estimate
    of the time, trains (`train_recipe`, on `device`: ``auto|cpu|cuda|cuda:N`` or a torch.device)
    and fills the cache (see the module doc). The cached weights are CPU tensors whatever the
    device; the cache key does not include the device (docs/scale.md).

    Under torchrun (`amed.distributed.init` called first) every rank must call this: rank 0 alone
    reads, logs and writes the cache, all ranks train on their shards, and every rank returns the
    path (a cache folder all ranks can read: one machine, or a shared file system).
    """
    from amed import distributed
    from amed.data import load_data
    from amed.device import resolve_device
    from amed.errors import ConfigError
    from amed.models import MODEL_NAMES
    from amed.quant import get_allocation

    if model not in MODEL_NAMES:
        raise ConfigError(f"unknown model {model!r}; valid models: {', '.join(MODEL_NAMES)}", field="model")
    device = resolve_device(device)
    main = distributed.is_main()
    if not main:
        log = _silent
    seed = int(seed)
    recipe = recipe_for(model, dataset)
    shapes = _shapes(dataset)
    num_classes, _, image_size = shapes
    inputs = _key_inputs(model, dataset, image_size=image_size, num_classes=num_classes, seed=seed,
                         recipe=recipe)  # fmt: skip
    key = cache_key(model, dataset, image_size=image_size, num_classes=num_classes, seed=seed,
                    recipe=recipe)  # fmt: skip
    root = cache_root() / "pretrained"
    entry = root / key
    hit = False
    if main:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale(root, log)
        if entry.exists():
            problem = _entry_problem(entry, key)
            if problem is None:
                log(f"converged {model} on {dataset} (seed {seed}): cached at {entry / 'model.pt'}")
                hit = True
            else:
                log(f"cache entry {entry} is corrupted or partial ({problem}); deleting it and pretraining again")
                _discard(entry)
    if distributed.broadcast_object(hit):
        return entry / "model.pt"

    data = load_data(dataset, batch_size=recipe.batch_size, seed=seed, train_subset=recipe.train_subset,
                     val_subset=recipe.val_subset, val_batch_size=max(recipe.batch_size, 256))  # fmt: skip
    if main:
        estimate = _estimate_seconds(model, recipe, data, shapes, device)
        subset = f"{len(data.train.dataset)} training images"
        where = f"{_threads()} threads" if device.type == "cpu" else str(device)
        if distributed.world_size() > 1:
            where += f" x {distributed.world_size()} processes (an estimate for one)"
        log(
            f"pretraining {model} on {dataset} (seed {seed}) into {entry}: FP32 up to {recipe.epochs} "
            f"epochs (lr {recipe.lr}, batch {recipe.batch_size}, patience {recipe.patience}) on {subset}, "
            f"then {recipe.qat_epochs} epochs of 8-bit LSQ (lr {recipe.qat_lr}); expect at most "
            f"~{_minutes(estimate)} on {where}"
        )
    if not main:
        train_recipe(model, dataset, recipe, seed=seed, progress=False, log=log, data=data, device=device)
        distributed.barrier()  # rank 0 publishes the entry
        return entry / "model.pt"
    tmp = root / f"{_TMP_PREFIX}{key}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    lock = _Lock(tmp.with_name(tmp.name + ".lock"), blocking=True)
    try:
        tmp.mkdir()
        net, metrics = train_recipe(
            model, dataset, recipe, seed=seed, progress=progress, log=log, data=data, device=device
        )
        checkpoint = {
            "model": model,
            "dataset": dataset,
            "allocation": {n: list(p) for n, p in get_allocation(net, include_fixed=True).items()},
            "state_dict": net.cpu().state_dict(),
            "metrics": metrics,
        }
        meta = {"key": key, "inputs": inputs, "metrics": metrics, "threads": _threads(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
        _write_entry(tmp, checkpoint, meta)
        _publish(tmp, entry, key, log)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        lock.release(unlink=True)
        if distributed.world_size() > 1:
            distributed.barrier()
    log(f"cached {entry / 'model.pt'}")
    return entry / "model.pt"


def _silent(_: str) -> None:
    """The log of ranks other than 0."""


def _publish(tmp: Path, entry: Path, key: str, log: Callable[[str], None]) -> None:
    """Rename the finished `tmp` to `entry`; when another process got there first, keep its entry."""
    for _ in range(2):
        try:
            os.rename(tmp, entry)
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY) and not entry.exists():
                raise
            problem = _entry_problem(entry, key)
            if problem is None:
                log(f"{entry} was filled by another process meanwhile; using it")
                shutil.rmtree(tmp, ignore_errors=True)
                return
            log(f"cache entry {entry} is corrupted or partial ({problem}); replacing it")
            _discard(entry)
            continue
        _fsync_dir(entry.parent)
        return
    raise OSError(errno.EEXIST, f"could not move {tmp} to {entry}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


__all__ = [
    "RECIPE_VERSION",
    "Recipe",
    "cache_key",
    "cache_root",
    "converged_checkpoint",
    "recipe_for",
    "train_recipe",
]
