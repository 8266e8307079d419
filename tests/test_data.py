"""Datasets by spec string: real Fashion-MNIST IDX files, scikit-learn digits, ImageFolder, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from amed.data import FASHION_MNIST_DIR, load_data
from amed.errors import AmedIOError, ConfigError

needs_fashion = pytest.mark.skipif(
    not Path(FASHION_MNIST_DIR).is_dir(), reason="Debian package dataset-fashion-mnist not installed"
)


def test_digits_splits_are_fixed_stratified_and_normalised():
    data = load_data("digits", batch_size=32, seed=3)
    splits = (data.train.dataset, data.val.dataset, data.test.dataset)
    # 1797 images: 20 % test, then 20 % of the rest search-validation, both stratified.
    assert [len(s) for s in splits] == [1149, 288, 360]
    assert (data.num_classes, data.in_channels, data.image_size) == (10, 1, 8)
    images, labels = data.train.dataset.tensors
    assert images.shape == (1149, 1, 8, 8)
    # Normalised with the training split's statistics.
    assert abs(images.mean().item()) < 1e-5 and images.std().item() == pytest.approx(1.0, abs=1e-4)
    from sklearn.datasets import load_digits

    per_class = np.bincount(load_digits().target)
    for split in splits:
        counts = torch.bincount(split.tensors[1], minlength=10).numpy()
        # Stratified: each class keeps its share of the 1797 images, to within 2 images.
        assert np.abs(counts - per_class * len(split) / per_class.sum()).max() <= 2
    # Disjoint: no image appears in two splits.
    rows = [{tuple(x.flatten().tolist()) for x in s.tensors[0]} for s in splits]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    # The split does not depend on the seed.
    other = load_data("digits", seed=99)
    for mine, theirs in zip(splits, (other.train.dataset, other.val.dataset, other.test.dataset)):
        assert torch.equal(mine.tensors[0], theirs.tensors[0])


def test_same_seed_gives_the_same_batches():
    first = next(iter(load_data("digits", batch_size=16, seed=5).train))
    again = next(iter(load_data("digits", batch_size=16, seed=5).train))
    other = next(iter(load_data("digits", batch_size=16, seed=6).train))
    assert torch.equal(first[1], again[1]) and torch.equal(first[0], again[0])
    assert not torch.equal(first[1], other[1])


@needs_fashion
def test_fashion_mnist_reads_the_idx_files():
    data = load_data("fashion-mnist", batch_size=50, train_subset=500, val_subset=200, test_subset=300, seed=0)
    assert [len(d.dataset) for d in (data.train, data.val, data.test)] == [500, 200, 300]
    assert len(data.test.dataset.dataset) == 10000
    images, labels = next(iter(data.test))
    assert images.shape == (50, 1, 28, 28) and images.dtype == torch.float32
    assert labels.min() >= 0 and labels.max() <= 9
    full_test = data.test.dataset.dataset
    # Independent read of the first test label and image with gzip + numpy.
    with gzip.open(Path(FASHION_MNIST_DIR) / "t10k-labels-idx1-ubyte.gz") as f:
        first_labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    assert full_test.labels[:100].tolist() == first_labels[:100].tolist()
    with gzip.open(Path(FASHION_MNIST_DIR) / "t10k-images-idx3-ubyte.gz") as f:
        first_image = np.frombuffer(f.read(), dtype=np.uint8, offset=16, count=784).reshape(28, 28)
    assert torch.equal(full_test.images[0, 0], torch.from_numpy(first_image.copy()))
    assert torch.bincount(full_test.labels).tolist() == [1000] * 10


@needs_fashion
def test_fashion_mnist_search_validation_is_held_out_of_the_training_images():
    data = load_data("fashion-mnist", batch_size=50, seed=0)
    train, val, test = data.train.dataset, data.val.dataset, data.test.dataset
    # 6000 of the 60000 training images are the search-validation split; test is the t10k file.
    assert (len(train), len(val), len(test)) == (54000, 6000, 10000)
    assert len(train.dataset) == len(val.dataset) == 60000
    assert train.dataset.images is val.dataset.images  # the same images, another transform
    assert not set(train.indices) & set(val.indices)
    assert sorted(train.indices + val.indices) == list(range(60000))
    # Search-validation images come without augmentation: the same image twice is identical.
    first, _ = val[0]
    again, _ = val[0]
    assert torch.equal(first, again)
    # The held-out part is fixed by the dataset, not by the run's seed.
    other = load_data("fashion-mnist", batch_size=50, seed=7)
    assert other.val.dataset.indices == val.indices and other.train.dataset.indices == train.indices


def test_imagefolder_layout(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((40, 30, 3), 60 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    data = load_data(f"imagefolder:{tmp_path}", batch_size=4)
    images, labels = next(iter(data.test))  # PATH/val is the test split
    assert images.shape == (4, 3, 224, 224) and data.num_classes == 2
    assert labels.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("mnist", ConfigError, r"unknown dataset 'mnist'; valid: imagefolder:PATH, cifar10:ROOT, cifar100:ROOT, fashion-mnist\[:DIR\], digits"),
        ("cifar10", ConfigError, "dataset cifar10 needs a path: cifar10:PATH"),
        ("cifar100:/nonexistent/cifar", AmedIOError, "cifar100 not found under /nonexistent/cifar.*cifar-100-python.*download=True"),
        ("fashion-mnist:/nonexistent", AmedIOError, "Fashion-MNIST files missing: /nonexistent/train-images-idx3-ubyte.gz.*dataset-fashion-mnist"),
        ("imagefolder:/nonexistent", AmedIOError, "needs /nonexistent/train/<class>/<images>"),
    ],
)
def test_bad_specs_say_how_to_fix_them(spec, error, message):
    with pytest.raises(error, match=message):
        load_data(spec)


def test_corrupt_idx_file_is_named(tmp_path):
    for prefix in ("train", "t10k"):
        for kind, dims in (("images-idx3", (2, 28, 28)), ("labels-idx1", (2,))):
            with gzip.open(tmp_path / f"{prefix}-{kind}-ubyte.gz", "wb") as f:
                f.write(bytes([0, 0, 8, len(dims)]) + np.array(dims, dtype=">u4").tobytes() + b"\0" * 5)
    with pytest.raises(AmedIOError, match=r"train-images-idx3-ubyte.gz: header says \(2, 28, 28\) but holds 5 bytes"):
        load_data(f"fashion-mnist:{tmp_path}")


def test_bad_subset_size():
    with pytest.raises(ConfigError, match="subset size must be positive, got 0"):
        load_data("digits", train_subset=0)
