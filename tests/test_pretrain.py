"""amed.pretrain: the content-addressed cache of converged 8-bit starts.

Every test points AMED_CACHE at its tmp_path (the user cache is never touched) and trains with a
tiny recipe (ResNet-20 on 256 digits, one FP32 and one 8-bit epoch: about a second a fill).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import pytest
import torch

from amed import pretrain
from amed.data import FASHION_MNIST_DIR
from amed.models import build_model
from amed.pretrain import Recipe, cache_key, cache_root, converged_checkpoint, recipe_for
from amed.quant import QConv2d, get_allocation

TINY = Recipe(epochs=1, lr=0.05, batch_size=64, patience=1, train_subset=256, qat_epochs=1, qat_lr=0.01)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cache(tmp_path, monkeypatch, one_thread):
    """AMED_CACHE in tmp_path and the tiny recipe for every model and dataset."""
    monkeypatch.setenv("AMED_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pretrain, "recipe_for", lambda model, dataset: TINY)
    return tmp_path / "cache" / "pretrained"


class Log(list):
    def __call__(self, message: str) -> None:
        self.append(message)

    def has(self, text: str) -> bool:
        return any(text in line for line in self)


def fill(log: Log | None = None, **kwargs):
    log = Log() if log is None else log
    return converged_checkpoint("resnet20", "digits", progress=False, log=log, **kwargs), log


KEY_ARGS = {"image_size": 8, "num_classes": 10, "seed": 0, "recipe": TINY}


def test_cache_key_changes_with_every_input(monkeypatch, tmp_path):
    base = cache_key("resnet20", "digits", **KEY_ARGS)
    assert len(base) == 20 and int(base, 16) >= 0
    assert cache_key("resnet20", "digits", **KEY_ARGS) == base  # deterministic
    variants = {
        "model": cache_key("resnet18", "digits", **KEY_ARGS),
        "dataset": cache_key("resnet20", "fashion-mnist", **KEY_ARGS),
        "seed": cache_key("resnet20", "digits", **{**KEY_ARGS, "seed": 1}),
        "image_size": cache_key("resnet20", "digits", **{**KEY_ARGS, "image_size": 28}),
        "num_classes": cache_key("resnet20", "digits", **{**KEY_ARGS, "num_classes": 100}),
    }
    for field in dataclasses.fields(Recipe):
        value = getattr(TINY, field.name)
        changed = (value or 0) + 1 if not isinstance(value, float) else value * 2
        recipe = dataclasses.replace(TINY, **{field.name: changed})
        variants[f"recipe.{field.name}"] = cache_key("resnet20", "digits", **{**KEY_ARGS, "recipe": recipe})
    monkeypatch.setattr(pretrain, "RECIPE_VERSION", pretrain.RECIPE_VERSION + 1)
    variants["RECIPE_VERSION"] = cache_key("resnet20", "digits", **KEY_ARGS)
    monkeypatch.undo()
    assert len(set(variants.values()) | {base}) == len(variants) + 1, variants

    # A dataset folder enters the key as its resolved absolute path.
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path)
    relative = cache_key("resnet20", "fashion-mnist:a", **KEY_ARGS)
    assert relative == cache_key("resnet20", f"fashion-mnist:{tmp_path / 'a'}", **KEY_ARGS)
    assert relative != cache_key("resnet20", "fashion-mnist:b", **KEY_ARGS)
    assert cache_key("resnet20", "fashion-mnist", **KEY_ARGS) == cache_key(
        "resnet20", f"fashion-mnist:{FASHION_MNIST_DIR}", **KEY_ARGS
    )


def test_cache_root_honours_amed_cache(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setenv("AMED_CACHE", str(tmp_path / "here"))
    assert cache_root() == tmp_path / "here"
    monkeypatch.delenv("AMED_CACHE")
    assert str(cache_root()) == platformdirs.user_cache_dir("amed")


def test_recipes_cover_every_model_and_the_shipped_datasets():
    from amed.models import MODEL_NAMES

    for model in MODEL_NAMES:
        for dataset in ("digits", "fashion-mnist", "fashion-mnist:/somewhere", "cifar10:/x"):
            recipe = recipe_for(model, dataset)
            assert recipe.epochs >= 1 and recipe.qat_epochs >= 1
    assert recipe_for("resnet50", "fashion-mnist").train_subset is not None


def test_fill_then_hit_returns_the_same_file_without_training(cache, monkeypatch):
    path, log = fill()
    assert log.has("pretraining resnet20 on digits") and log.has("expect at most")
    assert path == cache / cache_key("resnet20", "digits", **KEY_ARGS) / "model.pt"
    meta = json.loads((path.parent / "meta.json").read_text())
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert meta["inputs"]["recipe"] == dataclasses.asdict(TINY)
    metrics = meta["metrics"]
    assert {"val_top1", "epochs_run", "wall_s"} <= metrics["fp32"].keys()
    assert {"val_top1", "epochs_run", "wall_s"} <= metrics["int8"].keys()
    assert sorted(p.name for p in path.parent.iterdir()) == ["meta.json", "model.pt"]
    assert [p.name for p in cache.iterdir()] == [path.parent.name]  # no temporary left behind

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert {"model", "dataset", "allocation", "state_dict", "metrics"} <= checkpoint.keys()
    model = build_model("resnet20", num_classes=10, in_channels=1, image_size=8, weights=path)
    assert isinstance(model.conv1, QConv2d)
    assert set(get_allocation(model, include_fixed=True).values()) == {(8, 8)}

    def no_training(*args, **kwargs):
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(pretrain, "train_recipe", no_training)
    again, log = fill()
    assert again == path and len(log) == 1 and log.has("cached at")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: (d / "model.pt").write_bytes((d / "model.pt").read_bytes()[:1000]), "sha256"),
        (lambda d: (d / "meta.json").unlink(), "meta.json is missing"),
        (lambda d: (d / "meta.json").write_text("{not json"), "meta.json does not parse"),
        (lambda d: (d / "model.pt").unlink(), "model.pt is missing"),
    ],
    ids=["truncated-model", "no-meta", "bad-meta", "no-model"],
)
def test_a_damaged_entry_is_rebuilt_never_loaded(cache, monkeypatch, damage, reason):
    path, _ = fill()
    damage(path.parent)
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    again, log = fill()
    assert not loads  # the damaged file was not read as a checkpoint
    assert again == path
    assert log.has("corrupted or partial") and log.has(reason) and log.has("pretraining")
    meta = json.loads((path.parent / "meta.json").read_text())
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(torch, "load", real_load)
    build_model("resnet20", num_classes=10, in_channels=1, image_size=8, weights=path)


def test_a_stale_temporary_folder_is_removed_and_a_live_one_kept(cache):
    cache.mkdir(parents=True)
    stale = cache / ".tmp-0123456789abcdef0123-host-99999999-deadbeef"
    stale.mkdir()
    (stale / "model.pt").write_bytes(b"half a checkpoint")
    (cache / f"{stale.name}.lock").touch()  # left behind, nobody holds it
    trash = cache / ".trash-0123-abcd"
    trash.mkdir()
    live = cache / ".tmp-fedcba9876543210fedc-host-1-cafecafe"
    live.mkdir()
    held = pretrain._Lock(cache / f"{live.name}.lock", blocking=True)
    try:
        path, log = fill()
        assert not stale.exists() and not (cache / f"{stale.name}.lock").exists() and not trash.exists()
        assert live.is_dir()  # its owner is alive (holds the lock)
        assert log.has(f"removing {stale}, left by an interrupted pretrain")
    finally:
        held.release(unlink=True)
    fill()
    assert not live.exists()
    assert sorted(p.name for p in cache.iterdir()) == [path.parent.name]


def test_the_second_of_two_fills_keeps_the_first_entry(cache):
    path, _ = fill()
    key = path.parent.name
    first = path.read_bytes()
    other = cache / f".tmp-{key}-host-2-0000"
    other.mkdir()
    (other / "model.pt").write_bytes(b"another copy")
    (other / "meta.json").write_text("{}")
    log = Log()
    pretrain._publish(other, path.parent, key, log)
    assert log.has("filled by another process meanwhile; using it")
    assert not other.exists() and path.read_bytes() == first

    # A second process that finds the entry damaged at its rename replaces it with its own.
    (path.parent / "meta.json").unlink()
    copy = cache / f".tmp-{key}-host-3-0000"
    copy.mkdir()
    (copy / "model.pt").write_bytes(first)
    meta = {"key": key, "sha256": hashlib.sha256(first).hexdigest()}
    (copy / "meta.json").write_text(json.dumps(meta))
    pretrain._publish(copy, path.parent, key, log)
    assert log.has("replacing it") and json.loads((path.parent / "meta.json").read_text()) == meta


def test_an_interrupted_fill_leaves_no_entry(cache, monkeypatch):
    train_recipe = pretrain.train_recipe

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pretrain, "train_recipe", killed)
    with pytest.raises(KeyboardInterrupt):
        fill()
    assert list(cache.iterdir()) == []
    monkeypatch.setattr(pretrain, "train_recipe", train_recipe)
    path, log = fill()
    assert log.has("pretraining") and path.is_file()


def test_cli_pretrain_prints_the_path_and_the_metrics(cache, capsys):
    from amed.cli import main

    assert main(["pretrain", "--model", "resnet20", "--dataset", "digits", "--progress", "false"]) == 0
    out = capsys.readouterr().out
    key = cache_key("resnet20", "digits", **KEY_ARGS)
    assert f"checkpoint: {cache / key / 'model.pt'}" in out
    assert "search-validation top-1: FP32" in out and "8-bit LSQ" in out


def test_unknown_model_is_refused_before_any_work(cache):
    from amed.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown model 'vgg'"):
        converged_checkpoint("vgg", "digits", progress=False, log=Log())
    assert not cache.exists() or list(cache.iterdir()) == []


def test_fills_are_reproducible(cache):
    path, _ = fill()
    first = json.loads((path.parent / "meta.json").read_text())["metrics"]
    for entry in cache.iterdir():
        os.rename(entry, cache / f".trash-{entry.name}")
    path, _ = fill()
    second = json.loads((path.parent / "meta.json").read_text())["metrics"]
    assert second["fp32"]["history"] == first["fp32"]["history"]
    assert second["int8"]["val_top1"] == first["int8"]["val_top1"]
