"""nn.Module -> Topology: exact output sizes and MACs against independent counts, SCALE-Sim's ResNet-18."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from amed.errors import TopologyError
from amed.models import build_model
from amed.quant import get_allocation, quantize_model
from amed.simcore import Topology
from amed.topology import extract, trace

TOPOLOGIES = Path(__file__).resolve().parents[1] / "topologies"


def independent_count(model: nn.Module, input_shape) -> list[tuple[str, int, tuple[int, ...]]]:
    """(name, MACs, output shape) per conv/linear call, from the real output tensors:
    conv MACs = out_numel * in_channels / groups * kh * kw, linear MACs = out_numel * in_features."""
    found = []

    def hook(name):
        def count(module, inputs, output):
            if isinstance(module, nn.Linear):
                macs = output.numel() * module.in_features
            else:
                kh, kw = module.kernel_size
                macs = output.numel() * module.in_channels // module.groups * kh * kw
            found.append((name, macs, tuple(output.shape)))

        return count

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.randn(1, *input_shape))
    for h in handles:
        h.remove()
    return found


def check_against_torch(model: nn.Module, input_shape) -> Topology:
    topology = extract(model, input_shape)
    reference = independent_count(model, input_shape)
    assert [n.partition("#")[0] for n in topology.names] == [name for name, _, _ in reference]
    for layer, (name, macs, out_shape) in zip(topology.layers, reference):
        assert layer.macs == macs, name
        if layer.kind != "gemm":
            assert (layer.ofmap_h, layer.ofmap_w) == out_shape[-2:], name
            assert layer.num_filters == out_shape[1], name
            # SCALE-Sim's own output-size rule on the simulated ifmap.
            assert math.ceil((layer.ifmap_h - layer.filter_h + layer.stride_h) / layer.stride_h) == out_shape[-2]
    return topology


@pytest.mark.parametrize(
    ("make", "input_shape", "layers", "gmacs"),
    [
        (torchvision.models.resnet18, (3, 224, 224), 21, 1.814),
        (torchvision.models.resnet50, (3, 224, 224), 54, 4.089),
        (torchvision.models.mobilenet_v2, (3, 224, 224), 53, 0.301),
        (lambda: build_model("resnet20", num_classes=10), (3, 32, 32), 20, 0.041),
    ],
    ids=["resnet18", "resnet50", "mobilenet_v2", "resnet20"],
)
def test_torchvision_and_cifar_models(make, input_shape, layers, gmacs):
    topology = check_against_torch(make(), input_shape)
    assert len(topology) == layers
    # Published totals: ResNet-18 1.8 GMACs, ResNet-50 4.1, MobileNetV2 0.30, ResNet-20 41 M.
    assert sum(layer.macs for layer in topology.layers) / 1e9 == pytest.approx(gmacs, abs=5e-4)


def test_mobilenet_v2_depthwise_layers():
    topology = extract(torchvision.models.mobilenet_v2(weights=None), (3, 224, 224))
    kinds = {layer.name: layer.kind for layer in topology.layers}
    assert kinds["features.1.conv.0.0"] == "depthwise" and kinds["features.2.conv.1.0"] == "depthwise"
    assert sum(k == "depthwise" for k in kinds.values()) == 17
    assert kinds["classifier.1"] == "gemm" and kinds["features.0.0"] == "conv"


class SamePadConv2d(nn.Conv2d):
    def forward(self, x):
        ph = max((math.ceil(x.shape[-2] / self.stride[0]) - 1) * self.stride[0] + self.kernel_size[0] - x.shape[-2], 0)
        pw = max((math.ceil(x.shape[-1] / self.stride[1]) - 1) * self.stride[1] + self.kernel_size[1] - x.shape[-1], 0)
        x = nn.functional.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return nn.functional.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Custom(nn.Module):
    """Dilation, grouped and depthwise (multiplier 2) convs, asymmetric stride, same-padding, tokens, reuse."""

    def __init__(self):
        super().__init__()
        self.stem = SamePadConv2d(3, 8, 3, stride=2)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.grouped = nn.Conv2d(8, 16, 3, stride=(2, 1), padding=1, groups=4)
        self.depthwise = nn.Conv2d(16, 32, 5, stride=2, padding=1, groups=16)
        self.pointwise = nn.Conv2d(32, 32, 1)
        self.mix = nn.Linear(32, 24)
        self.head = nn.Linear(24, 5)

    def forward(self, x):
        x = self.depthwise(self.grouped(self.dilated(self.stem(x))))
        x = self.pointwise(self.pointwise(x))  # called twice
        tokens = x.flatten(2).transpose(1, 2)  # (1, positions, 32)
        return self.head(self.mix(tokens).mean(1))


def test_custom_module_layer_kinds_and_mapping():
    model = Custom()
    topology = check_against_torch(model, (3, 23, 17))
    assert topology.names == ["stem", "dilated", "grouped", "depthwise", "pointwise", "pointwise#2", "mix", "head"]
    layers = {layer.name: layer for layer in topology.layers}
    assert [layers[n].kind for n in ("stem", "grouped", "depthwise", "mix")] == ["conv", "grouped", "depthwise", "gemm"]
    # Same padding: 12x9 output from 23x17; the simulated ifmap is (E-1)s+R.
    assert (layers["stem"].ofmap_h, layers["stem"].ofmap_w) == (12, 9)
    assert (layers["stem"].ifmap_h, layers["stem"].ifmap_w) == (25, 19)
    # Dilation 2: the filter stays 3x3 and the ifmap is the output plus 2.
    assert (layers["dilated"].filter_h, layers["dilated"].ifmap_h) == (3, 14)
    assert layers["grouped"].stride_h == 2 and layers["grouped"].stride_w == 1
    traced = {t.name: t for t in trace(model, (3, 23, 17))}
    assert traced["grouped"].groups == 4 and traced["depthwise"].num_filters == 32
    # Linear over tokens: one GEMM row per position of the 2x4 depthwise output.
    assert traced["depthwise"].output_hw == (2, 4)
    assert traced["mix"].rows == 8 and layers["mix"].macs == 8 * 32 * 24
    assert traced["head"].rows == 1


def test_quantized_model_extracts_the_same_names_and_keeps_its_state():
    model = build_model("resnet20", num_classes=10)
    plain = extract(model, (3, 32, 32))
    quantize_model(model)
    quantized = extract(model, (3, 32, 32))
    assert quantized.names == plain.names
    assert [l.macs for l in quantized.layers] == [l.macs for l in plain.layers]
    assert not bool(model.layer1[0].conv1.act_quantizer.initialized)


@pytest.mark.parametrize(
    ("name", "size"), [("resnet18", 64), ("resnet50", 64), ("mobilenet_v2", 64), ("resnet20", 32)]
)
def test_allocation_order_is_topology_order(name, size):
    """The searchable allocation lists the topology's layers minus the first conv and the classifier."""
    model = quantize_model(build_model(name, num_classes=10, image_size=size))
    names = extract(model, (3, size, size)).names
    assert list(get_allocation(model)) == names[1:-1]
    assert list(get_allocation(model, include_fixed=True)) == names


def test_resnet18_matches_scalesim_topology_csv():
    """SCALE-Sim's topologies/conv_nets/Resnet18.csv describes the same 21 layers in the same order.

    Compared for every layer: filter size, channels, number of filters and stride; and the CSV's
    IFMAP equals the unpadded input torch gives that layer. The ifmap SCALE-Sim simulates differs
    by design: the CSV feeds unpadded inputs, so its 3x3 stride-1 convs yield 54x54 where torch
    yields 56x56, its 7x7/2 stem 110 vs 112, and its 1x1/2 shortcuts 29 vs 28 (the ceil rule).
    Output sizes agree exactly for the 3x3 stride-2 convs and the FC layer, where unpadded windows
    tile the input as torch's padded ones do; those are compared.
    """
    with open(TOPOLOGIES / "Resnet18.csv", newline="") as f:
        rows = [row for row in csv.reader(f)][1:]
    rows = [[cell.strip() for cell in row] for row in rows if row and row[0].strip()]
    model = torchvision.models.resnet18(weights=None)
    traced = trace(model, (3, 224, 224))
    topology = extract(model, (3, 224, 224))
    assert len(rows) == len(traced) == 21
    same_output = {"Conv3_1a", "Conv4_1a", "Conv5_1a", "FC"}
    for row, t, layer in zip(rows, traced, topology.layers):
        name = row[0]
        ifmap_h, ifmap_w, fh, fw, channels, filters, stride = map(int, row[1:8])
        assert (fh, fw, channels, filters) == (*t.kernel, t.channels, t.num_filters), name
        if layer.kind == "gemm":
            assert name == "FC" and (layer.filter_h, layer.ifmap_h) == (1, 1)
            continue
        assert (layer.filter_h, layer.filter_w, layer.channels, layer.num_filters) == (fh, fw, channels, filters)
        assert stride == layer.stride_h == layer.stride_w, name
        assert (ifmap_h, ifmap_w) == t.input_hw, name
        csv_out = math.ceil((ifmap_h - fh + stride) / stride)
        assert (csv_out == layer.ofmap_h) == (name in same_output), name
    assert [row[0] for row in rows if row[0].endswith("_s")] == ["Conv3_s", "Conv4_s", "Conv5_s"]
    assert [t.name for t in traced if "downsample" in t.name] == [
        "layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"
    ]


def test_unsupported_layers_and_bad_shapes_are_named():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(4, 4, 2), nn.Sequential(nn.Conv3d(1, 1, 1)))
    with pytest.raises(TopologyError, match=r"only Conv2d and Linear.*: 1 \(ConvTranspose2d\), 2.0 \(Conv3d\)"):
        extract(model, (3, 8, 8))
    with pytest.raises(TopologyError, match=r"one image, got \(2, 3, 8, 8\)"):
        extract(nn.Conv2d(3, 4, 3), (2, 3, 8, 8))
    with pytest.raises(TopologyError, match="ran no Conv2d or Linear"):
        extract(nn.Sequential(nn.ReLU()), (3, 8, 8))
