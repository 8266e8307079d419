"""Model registry: shapes per dataset, the CIFAR stem, weight sources and their error messages."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from amed.errors import AmedIOError, ConfigError
from amed.models import MODEL_NAMES, build_model, load_checkpoint, torchvision_weights_file
from amed.quant import QuantConfig, get_allocation, quantize_model, set_bits


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize(("in_channels", "size", "classes"), [(1, 28, 10), (3, 32, 100), (1, 8, 10)])
def test_models_fit_the_dataset(name, in_channels, size, classes):
    model = build_model(name, num_classes=classes, in_channels=in_channels, image_size=size).eval()
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, size, size)).shape == (2, classes)


def test_small_images_get_the_cifar_stem_and_large_ones_the_imagenet_stem():
    # The first stage of a small image works on at most 16x16 pixels (docs/models.md).
    small = build_model("resnet18", num_classes=10, image_size=32)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (2, 2)
    assert isinstance(small.maxpool, nn.Identity)
    assert build_model("resnet50", num_classes=10, image_size=8).conv1.stride == (1, 1)
    assert build_model("resnet50", num_classes=10, image_size=16).conv1.stride == (1, 1)
    assert build_model("resnet50", num_classes=10, image_size=28).conv1.stride == (2, 2)
    large = build_model("resnet18", num_classes=10, in_channels=1, image_size=224)
    assert large.conv1.kernel_size == (7, 7) and large.conv1.stride == (2, 2) and large.conv1.in_channels == 1
    assert isinstance(large.maxpool, nn.MaxPool2d)
    assert build_model("mobilenet_v2", image_size=8).features[0][0].stride == (1, 1)
    assert build_model("mobilenet_v2", image_size=32).features[0][0].stride == (2, 2)
    assert build_model("mobilenet_v2", image_size=224).features[0][0].stride == (2, 2)


def test_resnet20_is_he_et_al_cifar_resnet():
    model = build_model("resnet20", num_classes=10)
    # He et al. (2016), Table 6: ResNet-20 has 0.27M parameters (option A shortcuts).
    assert sum(p.numel() for p in model.parameters()) == 269_722
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 19 and [c.out_channels for c in convs[1::6]] == [16, 32, 64]


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ConfigError, match="unknown model 'vgg16'; valid models: mobilenet_v2, resnet18, resnet20, resnet50"):
        build_model("vgg16")


def test_missing_torchvision_weights_name_the_cache_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    expected = tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    assert torchvision_weights_file("resnet18") == expected
    with pytest.raises(AmedIOError, match="--weights PATH or --weights none") as err:
        build_model("resnet18", weights="torchvision")
    assert err.value.file == str(expected) and str(expected) in str(err.value)
    with pytest.raises(ConfigError, match="no pretrained weights for resnet20"):
        build_model("resnet20", weights="torchvision")


def test_cached_torchvision_weights_load_except_the_resized_classifier(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference.state_dict(), torchvision_weights_file("resnet18"))
    with pytest.warns(UserWarning, match="not loading fc.bias, fc.weight"):
        model = build_model("resnet18", num_classes=10, weights="torchvision")
    assert torch.equal(model.layer3[1].conv2.weight, reference.layer3[1].conv2.weight)
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert model.fc.weight.shape == (10, 512)


def test_quantized_checkpoint_round_trips(tmp_path):
    torch.manual_seed(0)
    model = quantize_model(build_model("resnet20", num_classes=10), config=QuantConfig(weight_bits=4, act_bits=4), skip=["layer3.2.conv2"])
    set_bits(model, {"layer2.0.conv1": (2, 3)})
    x = torch.randn(4, 3, 32, 32)
    model(x)
    path = tmp_path / "model.pt"
    torch.save({"model": "resnet20", "state_dict": model.state_dict()}, path)

    loaded = build_model("resnet20", num_classes=10, weights=path)
    assert get_allocation(loaded, include_fixed=True) == get_allocation(model, include_fixed=True)
    assert type(loaded.layer3[2].conv2) is nn.Conv2d
    model.eval(), loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_bad_checkpoints_are_named(tmp_path):
    model = build_model("resnet20", num_classes=10)
    with pytest.raises(AmedIOError, match="does not exist; pass --weights PATH") as err:
        load_checkpoint(model, tmp_path / "missing.pt")
    assert err.value.file == str(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(AmedIOError, match="cannot read checkpoint"):
        load_checkpoint(model, garbage)
    other = tmp_path / "other.pt"
    torch.save(build_model("resnet20", num_classes=100).state_dict(), other)
    with pytest.raises(AmedIOError, match="does not fit this model"):
        load_checkpoint(model, other)


def test_weights_of_another_architecture_or_class_count_are_refused_concisely(tmp_path):
    model = build_model("resnet20", num_classes=10, in_channels=1, image_size=8)
    other_arch = tmp_path / "resnet18.pt"
    torch.save({"state_dict": build_model("resnet18", num_classes=10, in_channels=1, image_size=8).state_dict()}, other_arch)
    with pytest.raises(AmedIOError) as err:
        load_checkpoint(model, other_arch)
    message = str(err.value)
    assert err.value.file == str(other_arch)
    assert "missing keys: layer1.2.conv1.weight" in message and "unexpected keys: layer2.0.downsample.0.weight" in message
    assert "in all)" in message and "shape mismatches (checkpoint vs model): conv1.weight (64, 1, 3, 3) vs (16, 1, 3, 3)" in message
    assert "another architecture or class count" in message and len(message) < 700
    assert "Error(s) in loading state_dict" not in message  # not torch's RuntimeError text

    other_classes = tmp_path / "classes.pt"
    torch.save(build_model("resnet20", num_classes=100, in_channels=1, image_size=8).state_dict(), other_classes)
    with pytest.raises(AmedIOError) as err:
        load_checkpoint(model, other_classes)
    message = str(err.value)
    assert "2 shape mismatches (checkpoint vs model): fc.weight (100, 64) vs (10, 64), fc.bias (100,) vs (10,)" in message
    assert "missing" not in message and "unexpected" not in message
