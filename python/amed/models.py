"""Model registry: torchvision ResNet-18/50, MobileNetV2 and the CIFAR ResNet-20 (He et al., 2016).

Every model is built for the dataset's input channels, image size and number of classes. Images
smaller than `SMALL_IMAGE` pixels get a CIFAR-style stem: ResNet-18/50 use a 3x3 first conv and no
max-pool, MobileNetV2 a 3x3 first conv, with the stride `small_stem_stride` picks so that the first
stage works on at most `FIRST_STAGE_MAX` pixels a side (stride 1 for 8x8 digits and up to 16x16,
stride 2 for 28x28 Fashion-MNIST and 32x32 CIFAR). The ImageNet stem would shrink such images to
nothing; a full-size first stage on 28x28 costs ResNet-50 four times the compute for little
accuracy on CPU-sized budgets. What each network sees per dataset is in docs/models.md.

ResNet-18/50 start with the last BatchNorm of every residual branch at zero (Goyal et al., 2017),
so each block begins as the identity. Trained from scratch without it, ResNet-50's sixteen
bottlenecks add up their outputs' variance, and on small data its loss diverged (train CE 8.3 and
validation CE 349 after one epoch on digits at lr 0.02); with it the same run reaches 94.7 % in
three epochs.

Weights: None (random init), "torchvision" (ImageNet weights already in the local torch hub cache;
never downloaded), or the path of a checkpoint (a state_dict, or a dict holding one under
"state_dict"). A checkpoint of a quantized model is loaded into a quantized model.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from amed.errors import AmedIOError, ConfigError

SMALL_IMAGE = 64
FIRST_STAGE_MAX = 16


def small_stem_stride(image_size: int) -> int:
    """The CIFAR-style stem's stride: 1 up to FIRST_STAGE_MAX pixels a side, else 2."""
    return 1 if image_size <= FIRST_STAGE_MAX else 2


class _BasicBlock(nn.Module):
    """CIFAR ResNet block with the parameter-free shortcut (option A): stride, then zero channels."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.stride = stride
        self.extra_channels = planes - in_planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.extra_channels == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.extra_channels // 2
        return nn.functional.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """ResNet-20 for 32x32 images: 3 stages of 3 basic blocks with 16, 32 and 64 channels."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = [_BasicBlock(in_planes, planes, stride)]
            blocks += [_BasicBlock(planes, planes, 1) for _ in range(2)]
            layers.append(nn.Sequential(*blocks))
            in_planes = planes
        self.layer1, self.layer2, self.layer3 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _resnet(builder: Callable[..., nn.Module]) -> Callable[[int, int, int], nn.Module]:
    def build(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        model = builder(weights=None, num_classes=num_classes, zero_init_residual=True)
        if image_size < SMALL_IMAGE:
            stride = small_stem_stride(image_size)
            model.conv1 = nn.Conv2d(in_channels, 64, 3, stride=stride, padding=1, bias=False)
            model.maxpool = nn.Identity()
        elif in_channels != 3:
            model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        return model

    return build


def _mobilenet_v2(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    model = torchvision.models.mobilenet_v2(weights=None, num_classes=num_classes)
    stem = model.features[0][0]
    stride = small_stem_stride(image_size) if image_size < SMALL_IMAGE else 2
    if stride != 2 or in_channels != 3:
        model.features[0][0] = nn.Conv2d(
            in_channels, stem.out_channels, 3, stride=stride, padding=1, bias=False
        )
    return model


def _resnet20(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return ResNet20(num_classes=num_classes, in_channels=in_channels)


_BUILDERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "mobilenet_v2": _mobilenet_v2,
    "resnet18": _resnet(torchvision.models.resnet18),
    "resnet20": _resnet20,
    "resnet50": _resnet(torchvision.models.resnet50),
}
MODEL_NAMES = tuple(sorted(_BUILDERS))


def build_model(
    name: str,
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    image_size: int = 224,
    weights: str | os.PathLike | None = None,
) -> nn.Module:
    """Build registry model `name` for the given data shape, with `weights` (see the module doc)."""
    if name not in _BUILDERS:
        raise ConfigError(
            f"unknown model {name!r}; valid models: {', '.join(MODEL_NAMES)}", field="model"
        )
    model = _BUILDERS[name](num_classes, in_channels, image_size)
    if weights is None or str(weights).lower() == "none":
        return model
    if str(weights).lower() == "torchvision":
        _load_torchvision_weights(model, name)
    else:
        load_checkpoint(model, weights)
    return model


def torchvision_weights_file(name: str) -> Path:
    """Where torchvision keeps the ImageNet weights of `name` in the local torch hub cache."""
    try:
        entry = torchvision.models.get_model_weights(name).DEFAULT
    except ValueError:
        raise ConfigError(
            f"torchvision has no pretrained weights for {name}; pass --weights PATH or --weights none",
            field="weights",
        ) from None
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(entry.url)


def _load_torchvision_weights(model: nn.Module, name: str) -> None:
    path = torchvision_weights_file(name)
    if not path.is_file():
        raise AmedIOError(
            f"no torchvision weights for {name} at {path} (they are never downloaded "
            "automatically); copy the file there, or pass --weights PATH or --weights none",
            file=str(path),
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    # The stem and the classifier differ when the dataset does; keep them randomly initialised.
    mismatched = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape)
    if mismatched:
        warnings.warn(
            f"{name}: not loading {', '.join(mismatched)} from {path.name} (shape differs for this "
            "dataset)",
            stacklevel=3,
        )
    model.load_state_dict({k: v for k, v in state.items() if k not in mismatched}, strict=False)


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a checkpoint file into `model`; quantizes `model` first when the checkpoint is quantized."""
    path = Path(path)
    if not path.is_file():
        raise AmedIOError(
            f"checkpoint {path} does not exist; pass --weights PATH of an existing file or --weights none",
            file=str(path),
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise AmedIOError(f"cannot read checkpoint {path}: {err}", file=str(path)) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise AmedIOError(f"checkpoint {path} holds no state_dict", file=str(path))
    if any(".weight_quantizer." in key for key in state):
        from amed.quant import quantize_model

        layers = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        full_precision = [n for n in layers if f"{n}.weight_quantizer.scale" not in state]
        quantize_model(model, skip=full_precision)
    mismatch = _state_mismatch(model, state)
    if mismatch:
        raise AmedIOError(
            f"checkpoint {path} does not fit this model ({mismatch}); was it saved for another "
            "architecture or class count? Pass --weights of a checkpoint of this model and dataset, "
            "or --weights none",
            file=str(path),
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise AmedIOError(f"checkpoint {path} does not fit this model: {err}", file=str(path)) from None


def _few(items: list[str], shown: int = 3) -> str:
    """The first `shown` items and how many there are in all."""
    more = f", ... ({len(items)} in all)" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _state_mismatch(model: nn.Module, state: dict) -> str:
    """Missing keys, unexpected keys and shape mismatches of `state` against `model`, concisely
    (a few of each kind with counts); "" when the keys and shapes all fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state
        and isinstance(own[k], torch.Tensor)
        and isinstance(state[k], torch.Tensor)
        and own[k].shape != state[k].shape
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys: {_few(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys: {_few(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches (checkpoint vs model): {_few(shapes, 2)}")
    return "; ".join(parts)
