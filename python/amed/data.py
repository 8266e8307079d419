"""Datasets by spec string, returned as seeded train / search-validation / test DataLoaders.

Three splits, so that what is reported was never used to choose:
  train     the training images (with augmentation), minus the held-out search-validation part;
  val       search-validation: a fixed part of the training set, evaluated without augmentation.
            Early stopping, candidate scores and every choice of the search use it;
  test      the dataset's own test split, used only for final reports.
The held-out part is fixed by the dataset alone (not by the run's seed), so every run and every
method sees the same split; `VAL_FRACTION` of the training set, at most `VAL_MAX` images.

Specs:
  imagefolder:PATH      ImageNet layout, PATH/train/<class>/* and PATH/val/<class>/*
  cifar10:ROOT          torchvision CIFAR-10 under ROOT (downloaded only with download=True)
  cifar100:ROOT         torchvision CIFAR-100 under ROOT (idem)
  fashion-mnist[:DIR]   the IDX .gz files, default DIR /usr/share/datasets/fashion-mnist (Debian
                        package dataset-fashion-mnist)
  digits                scikit-learn's 8x8 digits; a fixed stratified 80/20 split
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from torchvision import datasets
from torchvision.transforms import v2 as T

from amed.errors import AmedIOError, ConfigError

DATASET_SPECS = ("imagefolder:PATH", "cifar10:ROOT", "cifar100:ROOT", "fashion-mnist[:DIR]", "digits")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CIFAR_MEAN, _CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
_FASHION_MEAN, _FASHION_STD = (0.2860,), (0.3530,)
VAL_FRACTION, VAL_MAX = 0.1, 10_000
_SPLIT_SEED = 0


@dataclass
class Data:
    """Loaders plus the shape facts a model needs (the splits: see the module doc)."""

    train: DataLoader
    val: DataLoader
    test: DataLoader
    num_classes: int
    in_channels: int
    image_size: int


class _ArrayImages(Dataset):
    """uint8 images (N, H, W) or (N, H, W, C) and int labels, transformed per sample."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: T.Transform) -> None:
        if images.ndim == 3:
            images = images[:, None]
        else:
            images = images.transpose(0, 3, 1, 2)
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def with_transform(self, transform: T.Transform) -> "_ArrayImages":
        """The same images (shared memory) under another transform."""
        other = object.__new__(_ArrayImages)
        other.images, other.labels, other.transform = self.images, self.labels, transform
        return other

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.images[index]), self.labels[index]


def _normalize(mean: tuple[float, ...], std: tuple[float, ...]) -> list[T.Transform]:
    return [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)]


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): big-endian magic with the dtype code and the number of dimensions."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise AmedIOError(f"{path} is not an unsigned-byte IDX file", file=str(path))
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise AmedIOError(f"{path}: header says {dims} but holds {data.size} bytes", file=str(path))
    return data.reshape(dims).copy()  # frombuffer is read-only; torch wants writable memory


def _fashion_mnist(root: str) -> tuple[Dataset, Dataset, int, int, int]:
    root_path = Path(root)
    files = {
        split: (root_path / f"{prefix}-images-idx3-ubyte.gz", root_path / f"{prefix}-labels-idx1-ubyte.gz")
        for split, prefix in (("train", "train"), ("val", "t10k"))
    }
    missing = [str(p) for pair in files.values() for p in pair if not p.is_file()]
    if missing:
        raise AmedIOError(
            f"Fashion-MNIST files missing: {', '.join(missing)}; install the Debian package "
            "dataset-fashion-mnist or pass fashion-mnist:DIR with the four IDX .gz files",
            file=missing[0],
        )
    norm = _normalize(_FASHION_MEAN, _FASHION_STD)
    train_tf = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), *norm])
    train = _ArrayImages(_read_idx(files["train"][0]), _read_idx(files["train"][1]), train_tf)
    test = _ArrayImages(_read_idx(files["val"][0]), _read_idx(files["val"][1]), T.Compose(norm))
    return _Sources(train, train.with_transform(T.Compose(norm)), test, None, 10, 1, 28)


def _digits() -> "_Sources":
    """Fixed stratified splits of the 1797 images: 20 % test, then 20 % of the rest search-validation."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    rest_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, random_state=_SPLIT_SEED, stratify=bunch.target
    )
    train_idx, val_idx = train_test_split(
        rest_idx, test_size=0.2, random_state=_SPLIT_SEED, stratify=bunch.target[rest_idx]
    )
    mean, std = images[train_idx].mean(), images[train_idx].std()
    images = (images - mean) / std
    train = TensorDataset(images[train_idx], labels[train_idx])
    val = TensorDataset(images[val_idx], labels[val_idx])
    test = TensorDataset(images[test_idx], labels[test_idx])
    return _Sources(train, val, test, (), 10, 1, 8)


def _cifar(name: str, root: str, download: bool) -> "_Sources":
    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    norm = _normalize(_CIFAR_MEAN, _CIFAR_STD)
    train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), *norm])
    try:
        train = cls(root, train=True, transform=train_tf, download=download)
        train_eval = cls(root, train=True, transform=T.Compose(norm), download=False)
        test = cls(root, train=False, transform=T.Compose(norm), download=download)
    except RuntimeError as err:
        raise AmedIOError(
            f"{name} not found under {root} ({err}); point {name}:ROOT at the folder holding "
            f"{cls.base_folder}, or pass download=True to fetch it",
            file=root,
        ) from None
    return _Sources(train, train_eval, test, None, len(train.classes), 3, 32)


def _imagefolder(root: str) -> "_Sources":
    norm = _normalize(_IMAGENET_MEAN, _IMAGENET_STD)
    train_tf = T.Compose([T.RandomResizedCrop(224, antialias=True), T.RandomHorizontalFlip(), *norm])
    val_tf = T.Compose([T.Resize(256, antialias=True), T.CenterCrop(224), *norm])
    for split in ("train", "val"):
        if not (Path(root) / split).is_dir():
            raise AmedIOError(
                f"imagefolder:{root} needs {Path(root) / split}/<class>/<images> (ImageNet layout)",
                file=str(Path(root) / split),
            )
    train = datasets.ImageFolder(os.path.join(root, "train"), transform=train_tf)
    train_eval = datasets.ImageFolder(os.path.join(root, "train"), transform=val_tf)
    test = datasets.ImageFolder(os.path.join(root, "val"), transform=val_tf)
    return _Sources(train, train_eval, test, None, len(train.classes), 3, 224)


@dataclass
class _Sources:
    """What a dataset reader returns: the training set with augmentation, the same images without
    (`train_eval`), the test set, and `held_out`: () when `train` and `train_eval` are already
    the train and search-validation splits, None to hold out the split here."""

    train: Dataset
    train_eval: Dataset
    test: Dataset
    held_out: tuple | None
    num_classes: int
    in_channels: int
    image_size: int

    def splits(self) -> tuple[Dataset, Dataset, Dataset]:
        if self.held_out is not None:
            return self.train, self.train_eval, self.test
        size = len(self.train)
        count = min(int(size * VAL_FRACTION), VAL_MAX)
        order = torch.randperm(size, generator=torch.Generator().manual_seed(_SPLIT_SEED)).tolist()
        val_idx, train_idx = sorted(order[:count]), sorted(order[count:])
        return Subset(self.train, train_idx), Subset(self.train_eval, val_idx), self.test


def _datasets(spec: str, download: bool) -> _Sources:
    name, _, arg = spec.partition(":")
    if name == "digits" and not arg:
        return _digits()
    if name == "fashion-mnist":
        return _fashion_mnist(arg or FASHION_MNIST_DIR)
    if name in ("cifar10", "cifar100", "imagefolder"):
        if not arg:
            raise ConfigError(f"dataset {name} needs a path: {name}:PATH", field="dataset")
        return _imagefolder(arg) if name == "imagefolder" else _cifar(name, arg, download)
    raise ConfigError(f"unknown dataset {spec!r}; valid: {', '.join(DATASET_SPECS)}", field="dataset")


def _subset(dataset: Dataset, size: int | None, seed: int) -> Dataset:
    if size is None or size >= len(dataset):
        return dataset
    if size <= 0:
        raise ConfigError(f"subset size must be positive, got {size}", field="subset")
    picked = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:size]
    return Subset(dataset, sorted(picked.tolist()))


def _seed_worker(worker_id: int) -> None:
    # Each worker derives numpy's seed from torch's per-worker seed, so augmentation is reproducible.
    np.random.seed(torch.initial_seed() % 2**32)


def load_data(
    spec: str,
    *,
    batch_size: int = 128,
    workers: int = 0,
    seed: int = 0,
    train_subset: int | None = None,
    val_subset: int | None = None,
    test_subset: int | None = None,
    download: bool = False,
    val_batch_size: int | None = None,
) -> Data:
    """Train, search-validation and test loaders for dataset `spec` (see the module doc).

    Shuffling and the subsets drawn from each split follow `seed`.
    """
    sources = _datasets(spec, download)
    train, val, test = sources.splits()
    train = _subset(train, train_subset, seed)
    val = _subset(val, val_subset, seed + 1)
    test = _subset(test, test_subset, seed + 2)
    common = {"num_workers": workers, "worker_init_fn": _seed_worker, "persistent_workers": workers > 0}
    train_loader = DataLoader(
        train,
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(train) > batch_size,
        generator=torch.Generator().manual_seed(seed),
        **common,
    )
    eval_batch = val_batch_size or batch_size
    val_loader = DataLoader(val, batch_size=eval_batch, shuffle=False, **common)
    test_loader = DataLoader(test, batch_size=eval_batch, shuffle=False, **common)
    return Data(
        train_loader, val_loader, test_loader, sources.num_classes, sources.in_channels, sources.image_size
    )
