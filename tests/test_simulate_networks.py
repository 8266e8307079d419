"""The ResNet-18, MobileNet and mlperf ResNet-50 topologies shipped with SCALE-Sim simulate on the
three shipped configs, and every layer obeys SCALE-Sim's stall-free closed form:
Total Cycles - Stall Cycles = folds * rows per fold - 1, and Overall Util = MACs / (Total * R * C)."""

import math

import pytest

from amed.simcore import HwConfig, Topology, simulate


def stall_free_cycles(layer, rows: int, cols: int, dataflow: str) -> int:
    pixels = layer.ofmap_h * layer.ofmap_w
    window = layer.filter_h * layer.filter_w * layer.channels
    filters = layer.num_filters
    if dataflow == "os":
        return math.ceil(pixels / rows) * math.ceil(filters / cols) * (window + rows + cols - 2) - 1
    if dataflow == "ws":
        return math.ceil(window / rows) * math.ceil(filters / cols) * (2 * rows + cols + pixels - 2) - 1
    return math.ceil(window / rows) * math.ceil(pixels / cols) * (2 * rows + cols + filters - 2) - 1


@pytest.mark.parametrize("hw_name", ["scalesim", "scalesim_lowmem", "eyeriss"])
@pytest.mark.parametrize("network", ["Resnet18", "mobilenet", "Resnet50"])
def test_shipped_network_on_shipped_config(topologies, network, hw_name):
    topology = Topology.from_csv(topologies / f"{network}.csv")
    hw = HwConfig.from_name(hw_name)
    report = simulate(topology, hw)
    assert [r.name for r in report.layers] == topology.names
    rows, cols = hw.array_rows, hw.array_cols
    for layer, record in zip(topology.layers, report.layers):
        assert record.macs == layer.macs
        assert record.stall_cycles >= 0
        assert record.total_cycles - record.stall_cycles == stall_free_cycles(layer, rows, cols, hw.dataflow)
        assert record.overall_util == pytest.approx(100 * layer.macs / (record.total_cycles * rows * cols), rel=1e-12)
    assert report.total_cycles == sum(r.total_cycles for r in report.layers)
