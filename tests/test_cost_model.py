"""The cost model and mixed-precision simulation from Python: allocation forms, batch queries
(lists and numpy), agreement with direct simulation, and typed errors."""

from __future__ import annotations

import json
import pathlib
import random

import numpy as np
import pytest

from amed.errors import AllocationError, ConfigError
from amed.simcore import CostModel, HwConfig, Layer, MixedReport, Topology, simulate, simulate_mixed

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMALL3 = ROOT / "crates" / "simcore" / "tests" / "golden" / "inputs" / "small3.csv"
BITS = (2, 3, 4, 8)


@pytest.fixture(scope="module")
def hw() -> HwConfig:
    return HwConfig.from_name("scalesim_lowmem")


@pytest.fixture(scope="module")
def topology() -> Topology:
    dw = Layer.depthwise("dw", 10, 10, 3, 3, 16, 16)
    return Topology("mixed", list(Topology.from_csv(SMALL3).layers[:2]) + [dw, Layer.gemm("fc", 4, 10, 64)])


@pytest.fixture(scope="module")
def model(topology: Topology, hw: HwConfig) -> CostModel:
    return CostModel(topology, hw, bits=BITS)


def test_every_allocation_form_gives_the_same_cost(model: CostModel, topology: Topology) -> None:
    pairs = [(8, 4), (2, 3), (4, 4), (3, 8)]
    by_name = dict(zip(topology.names, pairs))
    indices = [(BITS.index(w), BITS.index(a)) for w, a in pairs]
    a, b, c = model.cost(pairs), model.cost(by_name), model.cost_indices(indices)
    assert a.to_dict() == b.to_dict() == c.to_dict()
    assert model.cost(4).to_dict() == model.cost([(4, 4)] * 4).to_dict()
    assert a.latency_ms == pytest.approx(a.latency_us / 1000)


def test_native_cost_is_the_direct_simulation(model: CostModel, topology: Topology, hw: HwConfig) -> None:
    # 8 bits is the widest choice, so the envelope leaves it as simulated.
    report = simulate_mixed(topology, hw, 8)
    cost = model.cost(8)
    assert cost.total_cycles == report.total_cycles == simulate(topology, hw).total_cycles
    assert cost.latency_ms == pytest.approx(report.latency_ms, rel=1e-12)
    assert cost.energy_pj == pytest.approx(report.energy_pj, rel=1e-12)
    assert cost.size_bytes == report.size_bytes
    assert model.latency_8bit == pytest.approx(report.latency_ms, rel=1e-12)
    assert model.native.to_dict() == cost.to_dict()


def test_the_model_never_costs_more_than_simulating(model: CostModel, topology: Topology, hw: HwConfig) -> None:
    rng = random.Random(7)
    for _ in range(5):
        pairs = [(rng.choice(BITS), rng.choice(BITS)) for _ in topology.layers]
        direct = simulate_mixed(topology, hw, pairs)
        cost = model.cost(pairs)
        assert cost.latency_ms <= direct.latency_ms * (1 + 1e-12)
        assert cost.total_cycles <= direct.total_cycles
        assert cost.size_bytes == direct.size_bytes


def test_batches_match_single_queries_for_lists_and_numpy(model: CostModel) -> None:
    rng = np.random.default_rng(3)
    pairs = rng.integers(0, 4, size=(64, 4, 2))
    out = model.cost_batch(pairs)
    assert isinstance(out["latency_us"], np.ndarray) and out["latency_us"].shape == (64,)
    for i in range(64):
        single = model.cost_indices([tuple(p) for p in pairs[i].tolist()])
        assert out["latency_us"][i] == single.latency_us
        assert out["energy_pj"][i] == single.energy_pj
    listed = model.cost_batch(pairs.tolist())
    assert listed["latency_us"] == out["latency_us"].tolist()
    same = rng.integers(0, 4, size=(10, 4))
    shared = model.cost_batch(same)
    paired = model.cost_batch(np.stack([same, same], axis=-1))
    assert shared["total_cycles"].tolist() == paired["total_cycles"].tolist()
    assert model.cost_batch(same.tolist())["size_bytes"] == shared["size_bytes"].tolist()


def test_tables_hold_each_layer_over_the_choices(model: CostModel) -> None:
    table = model.table("latency_us")
    assert len(table) == 4 and len(table[0]) == len(table[0][0]) == len(table[0][0][0]) == 4
    assert table[1][3][0][2] == model.layer_cost(1, 3, 0, 2).latency_us
    # The last layer's output is the network output: independent of next_a.
    assert len(set(table[3][1][2])) == 1
    assert model.simulations > 0 and len(model) == 4 and model.bits == list(BITS)


def test_mixed_report_has_per_layer_costs_and_scalesim_csvs(topology: Topology, hw: HwConfig, tmp_path) -> None:
    report = simulate_mixed(topology, hw, [(4, 8), (2, 4), (8, 2), (4, 4)])
    assert isinstance(report, MixedReport) and len(report) == 4
    layers = report.layers
    assert [(l["w_bits"], l["a_bits"], l["out_bits"]) for l in layers] == [(4, 8, 4), (2, 4, 2), (8, 2, 4), (4, 4, 8)]
    assert sum(l["latency_ms"] for l in layers) == pytest.approx(report.latency_ms)
    for l in layers:
        assert l["latency_ms"] == pytest.approx(max([l["compute_ms"], *l["memory_ms"]]))
    # The depthwise layer stores its real weights: 3·3·16 at 8 bits.
    assert layers[2]["size_bytes"] == 144
    assert report.to_dict()["total_cycles"] == report.total_cycles
    report.to_csv(tmp_path)
    assert len((tmp_path / "COMPUTE_REPORT.csv").read_text().splitlines()) == 5


@pytest.mark.parametrize(
    "allocation, field",
    [
        ([(8, 8)] * 3, "allocation"),
        ([(8, 8), (8, 0), (8, 8), (8, 8)], "conv_b.a_bits"),
        ([(8, 8), (8, 8), (8, 8), (33, 8)], "fc.w_bits"),
        ({"conv_a": (8, 8), "conv_b": (8, 8), "dw": (8, 8), "nope": (8, 8)}, "nope"),
        ({"conv_a": (8, 8), "conv_b": (8, 8), "dw": (8, 8)}, "fc"),
        ([(8, 8), (8, 8), (5, 8), (8, 8)], "dw.w_bits"),
        ("eight", "allocation"),
    ],
)
def test_bad_allocations_raise_allocation_errors_naming_the_field(model: CostModel, allocation, field: str) -> None:
    with pytest.raises(AllocationError) as info:
        model.cost(allocation)
    assert info.value.field == field


def test_bad_batches_bits_and_modes_are_typed_errors(model: CostModel, topology: Topology, hw: HwConfig) -> None:
    with pytest.raises(AllocationError):
        model.cost_batch(np.zeros((3, 5, 2), dtype=np.int64))
    with pytest.raises(AllocationError):
        model.cost_batch(np.full((2, 4, 2), 4))
    with pytest.raises(AllocationError):
        CostModel(topology, hw, bits=(2, 40))
    with pytest.raises(ConfigError):
        CostModel(topology, hw, compat="scalesim-v9")
    with pytest.raises(AllocationError):
        simulate_mixed(topology, hw, 4, output_bits=0)


def test_cli_simulate_with_uniform_bits_prints_latency_size_and_energy(capsys) -> None:
    from amed.cli import main

    assert main(["simulate", "--topology", str(SMALL3), "--hw", "scalesim_lowmem", "--bits", "4"]) == 0
    out = capsys.readouterr().out
    assert "w/a/out bits" in out and "4/4/8" in out and "total: latency" in out
    report = simulate_mixed(Topology.from_csv(SMALL3), "scalesim_lowmem", 4)
    assert f"latency {report.latency_ms:.4f} ms" in out


def test_cli_simulate_with_a_bits_file_and_json(capsys, tmp_path) -> None:
    from amed.cli import main

    bits = {"conv_a": [8, 8], "conv_b": [2, 4], "fc_c": [4, 2]}
    path = tmp_path / "bits.json"
    path.write_text(json.dumps(bits))
    assert main(["simulate", str(SMALL3), "--bits", str(path), "--json", "--out", str(tmp_path / "csv")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) >= {"latency_ms", "size_bytes", "energy", "total_cycles", "layers"}
    assert [(l["w_bits"], l["a_bits"], l["out_bits"]) for l in summary["layers"]] == [(8, 8, 4), (2, 4, 2), (4, 2, 8)]
    direct = simulate_mixed(Topology.from_csv(SMALL3), "scalesim", [(8, 8), (2, 4), (4, 2)])
    assert summary["latency_ms"] == direct.latency_ms and summary["energy"] == direct.energy_pj
    assert (tmp_path / "csv" / "COMPUTE_REPORT.csv").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"conv_a": [8, 8]}', "no bits for 2 layer(s)"),
        ('{"conv_a": [8], "conv_b": [8, 8], "fc_c": [8, 8]}', "expected [w_bits, a_bits]"),
        ("[8, 8]", "expected a JSON object"),
        ("{", "not valid JSON"),
        ('{"conv_a": [8, 8], "conv_a": [4, 4], "conv_b": [8, 8], "fc_c": [8, 8]}', "duplicate key 'conv_a'"),
        ('{"conv_a": [8, 8], "conv_b": [8, 8], "fc_c": [8, 8], "\udcff": 1}', "not UTF-8"),
        ('{"conv_a": [8, 8], "conv_b": [8, 8], "fc_c": [8, 40]}', "outside the supported range"),
    ],
)
def test_cli_bad_bits_files_are_reported(capsys, tmp_path, content: str, message: str) -> None:
    from amed.cli import main

    path = tmp_path / "bits.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert main(["simulate", str(SMALL3), "--bits", str(path)]) == 1
    assert message in capsys.readouterr().err
    assert main(["simulate", str(SMALL3), "--bits", str(tmp_path / "missing.json")]) == 1
    assert "neither a bit width nor an existing JSON file" in capsys.readouterr().err
