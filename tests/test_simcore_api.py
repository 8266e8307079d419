"""amed.simcore: constructors from files and values, shipped inputs, simulate and its report."""

import json
import subprocess
import sys
import threading

import pytest
from peer_harness import peer_python, require_peers

from amed import hw as hw_configs
from amed.simcore import COMPAT_MODES, HwConfig, Layer, Report, Topology, simulate


# --- HwConfig ---------------------------------------------------------------------------


def test_shipped_configs_by_name_and_path(configs):
    assert set(hw_configs.list_configs()) >= {"scalesim", "scalesim_lowmem", "eyeriss"}
    scalesim = HwConfig.from_name("scalesim")
    assert scalesim == HwConfig.from_file(configs / "scalesim.toml")
    assert (scalesim.array_rows, scalesim.array_cols, scalesim.dataflow) == (32, 32, "os")
    assert (scalesim.ifmap_sram_kb, scalesim.filter_sram_kb, scalesim.ofmap_sram_kb) == (64, 64, 64)
    assert (scalesim.ifmap_bw, scalesim.filter_bw, scalesim.ofmap_bw) == (10, 10, 10)
    assert (scalesim.clock_ghz, scalesim.word_bits, scalesim.pe_bits) == (0.2, 8, 8)
    assert scalesim.bit_fusion  # 8-bit PEs packing low-bit MACs (docs/precision.md §3)
    lowmem = HwConfig.from_name("scalesim_lowmem")
    assert (lowmem.ifmap_sram_kb, lowmem.clock_ghz) == (4, 0.1)
    eyeriss = HwConfig.from_name("eyeriss")
    assert (eyeriss.array_rows, eyeriss.array_cols, eyeriss.dataflow, eyeriss.ofmap_sram_kb) == (12, 14, "ws", 108)


@pytest.mark.parametrize("version", ["v2", "v3"])
@pytest.mark.parametrize("name", ["scalesim", "scalesim_lowmem", "eyeriss"])
def test_cfg_files_describe_the_same_hardware(configs, name, version):
    toml = HwConfig.from_name(name)
    cfg = HwConfig.from_file(configs / "scalesim-cfg" / version / f"{name}.cfg")
    keep = ("array_rows", "array_cols", "dataflow", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb",
            "ifmap_bw", "filter_bw", "ofmap_bw", "interface", "word_bits")
    assert {k: cfg.to_dict()[k] for k in keep} == {k: toml.to_dict()[k] for k in keep}
    # A .cfg cannot say Bit Fusion (SCALE-Sim has none); the TOML fuses, which changes nothing
    # at native 8-bit precision, the only precision SCALE-Sim runs.
    assert (cfg.bit_fusion, toml.bit_fusion, toml.pe_bits) == (False, True, 8)
    assert cfg.name == name
    assert HwConfig.from_cfg((configs / "scalesim-cfg" / version / f"{name}.cfg").read_text()) == cfg


def test_hwconfig_from_values_and_round_trips():
    config = HwConfig(array_rows=8, array_cols=4, dataflow="is", ifmap_sram_kb=2, filter_sram_kb=3,
                      ofmap_sram_kb=4, bandwidth=5, ofmap_bw=7, name="tiny", clock_ghz=1.5)
    assert (config.ifmap_bw, config.filter_bw, config.ofmap_bw) == (5, 5, 7)
    assert config.energy["mac_pj"] == pytest.approx(0.23)
    assert HwConfig(**config.to_dict()) == config
    assert HwConfig.from_toml(config.to_toml()) == config
    assert "tiny" in repr(config)


def test_hw_load_accepts_config_name_or_path(configs):
    config = HwConfig.from_name("eyeriss")
    assert hw_configs.load(config) is config
    assert hw_configs.load("eyeriss") == config
    assert hw_configs.load(configs / "eyeriss.toml") == config
    assert hw_configs.load(str(configs / "eyeriss.toml")) == config


# --- Layer and Topology -----------------------------------------------------------------


def test_layer_constructors_and_properties():
    conv = Layer.conv("c", 224, 224, 7, 7, 3, 64, 2)
    assert (conv.kind, conv.ofmap_h, conv.ofmap_w) == ("conv", 110, 110)  # SCALE-Sim's ceil quirk
    assert conv.macs == 110 * 110 * 7 * 7 * 3 * 64
    assert (conv.stride_h, conv.stride_w, conv.groups) == (2, 2, 1)
    rect = Layer.conv("r", 16, 16, 3, 3, 4, 8, stride_h=2, stride_w=3)
    assert (rect.ofmap_h, rect.ofmap_w) == (8, 6)
    dw = Layer.depthwise("d", 16, 16, 3, 3, 8, 16)
    assert (dw.kind, dw.groups, dw.macs, dw.weights) == ("depthwise", 8, 14 * 14 * 9 * 16, 9 * 16)
    grouped = Layer.grouped("g", 16, 16, 3, 3, 8, 12, groups=4)
    assert (grouped.kind, grouped.groups, grouped.macs) == ("grouped", 4, 14 * 14 * 9 * 2 * 12)
    gemm = Layer.gemm("fc", 5, 7, 11)
    assert (gemm.kind, gemm.gemm_dims, gemm.macs) == ("gemm", (5, 7, 11), 385)
    assert (gemm.ifmap_h, gemm.ifmap_w, gemm.filter_w, gemm.num_filters) == (5, 11, 11, 7)
    assert conv.to_dict()["macs"] == conv.macs
    assert Layer.conv("c", 224, 224, 7, 7, 3, 64, 2) == conv
    assert len({conv, Layer.conv("c", 224, 224, 7, 7, 3, 64, 2)}) == 1


def test_layer_accepts_any_integer_type():
    np = pytest.importorskip("numpy")
    assert Layer.conv("n", np.int64(8), np.int32(8), 3, 3, np.uint8(2), 4) == Layer.conv("n", 8, 8, 3, 3, 2, 4)


@pytest.mark.parametrize("name, layers", [("Resnet18", 21), ("mobilenet", 27), ("Resnet50", 54), ("test", 1)])
def test_shipped_topologies_parse(topologies, name, layers):
    topology = Topology.from_csv(topologies / f"{name}.csv")
    assert (topology.name, len(topology), len(topology.layers), len(topology.names)) == (name, layers, layers, layers)
    assert topology.total_macs == sum(layer.macs for layer in topology.layers)


def test_topology_from_layers_indexing_and_csv_round_trip(tmp_path, topologies):
    layers = [Layer.conv("a", 8, 8, 3, 3, 2, 4), Layer.depthwise("b", 6, 6, 3, 3, 4, 4),
              Layer.grouped("c", 4, 4, 1, 1, 4, 8, groups=2)]
    topology = Topology("mine", layers)
    assert topology.names == ["a", "b", "c"]
    assert topology[-1] == layers[-1]
    with pytest.raises(IndexError):
        topology[3]
    topology.to_csv(tmp_path / "mine.csv")
    assert Topology.from_csv(tmp_path / "mine.csv").layers == layers
    resnet = Topology.from_csv(topologies / "Resnet18.csv")
    assert Topology.from_csv_text(resnet.to_csv_text()).layers == resnet.layers
    gemm = Topology("g", [Layer.gemm("fc", 3, 4, 5)])
    assert gemm.is_gemm
    gemm.to_csv(tmp_path / "g.csv")
    assert Topology.from_csv(tmp_path / "g.csv", gemm=True).layers == gemm.layers


def test_pickle_and_json_round_trips(topologies):
    import pickle

    config = HwConfig.from_name("eyeriss")
    assert pickle.loads(pickle.dumps(config)) == config
    topology = Topology.from_csv(topologies / "mobilenet.csv")
    assert pickle.loads(pickle.dumps(topology)) == topology
    assert Topology.from_json(topology.to_json()) == topology
    for layer in (Layer.grouped("g", 8, 8, 3, 3, 4, 8, groups=2), Layer.gemm("fc", 2, 3, 4),
                  Layer.depthwise("d", 8, 8, 3, 3, 4, 8, 2, 1)):
        assert pickle.loads(pickle.dumps(layer)) == layer
        assert Layer.from_json(layer.to_json()) == layer


# --- simulate ---------------------------------------------------------------------------


def test_simulate_matches_scalesim_reference_runs(topologies):
    # test.csv (Inc5b_3x3) on scalesim.cfg as measured with the real SCALE-Sim:
    # v3.0.0 67 667 / 46 188, v2.0.2 65 840 / 44 361 total / stall cycles.
    v3 = simulate(topologies / "test.csv", "scalesim")
    assert (v3.total_cycles, v3.stall_cycles, v3.compat) == (67667, 46188, "scalesim-v3")
    assert (v3[0].dram_ifmap_reads, v3[0].dram_filter_reads) == (393240, 688170)
    v2 = simulate(topologies / "test.csv", "scalesim", compat="scalesim-v2")
    assert (v2.total_cycles, v2.stall_cycles) == (65840, 44361)
    assert v2[0].total_cycles_incl_prefetch is None


def test_simulate_input_forms_agree(small3_csv):
    config = HwConfig.from_name("scalesim_lowmem")
    topology = Topology.from_csv(small3_csv)
    by_path = simulate(small3_csv, "scalesim_lowmem")
    by_objects = simulate(topology, config)
    by_list = simulate(list(topology.layers), hw_configs.config_path("scalesim_lowmem"))
    assert isinstance(by_path, Report)
    assert by_path.to_dict()["layers"] == by_objects.to_dict()["layers"] == by_list.to_dict()["layers"]
    assert [r.name for r in by_path.layers] == ["conv_a", "conv_b", "fc_c"]
    assert by_path.total_cycles == sum(r.total_cycles for r in by_path.layers)
    assert by_path.macs == topology.total_macs


def test_report_fields_csv_and_dict(tmp_path, small3_csv):
    report = simulate(small3_csv, "scalesim")
    record = report[0]
    assert record.total_cycles >= record.stall_cycles >= 0
    assert 0 < record.overall_util <= record.mapping_efficiency <= 100
    record_dict = record.to_dict()
    assert {"total_cycles", "stall_cycles", "dram_ifmap_reads", "sram_ofmap_writes", "avg_ofmap_dram_bw"} <= set(record_dict)
    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["totals"]["total_cycles"] == report.total_cycles
    assert len(summary["layers"]) == len(report) == 3
    report.to_csv(tmp_path / "out")
    compute = (tmp_path / "out" / "COMPUTE_REPORT.csv").read_text().splitlines()
    assert compute[0].startswith("LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles")
    assert len(compute) == 4
    for name in ("BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
        assert len((tmp_path / "out" / name).read_text().splitlines()) == 4


def test_compat_modes_are_all_accepted(small3_csv):
    totals = {mode: simulate(small3_csv, "scalesim_lowmem", compat=mode).total_cycles for mode in COMPAT_MODES}
    # v3 counts the positive part of a read stall twice, so it is never faster than the others.
    assert totals["scalesim-v3"] >= totals["fixed"]
    assert totals["scalesim-v3"] >= totals["scalesim-v2"]


def test_threads_simulate_concurrently(small3_csv):
    configs = ["scalesim", "scalesim_lowmem", "eyeriss"] * 2
    expected = {name: simulate(small3_csv, name).to_dict() for name in set(configs)}
    results, errors = {}, []

    def run(index, name):
        try:
            results[index] = simulate(small3_csv, name).to_dict()
        except Exception as error:  # collected and re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, name)) for i, name in enumerate(configs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(results[i] == expected[name] for i, name in enumerate(configs))


def test_simulator_imports_without_torch():
    code = "import sys, amed, amed.simcore, amed.hw, amed.cli; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the inputs read exactly as the real SCALE-Sim reads them -------------------------------

PEER_READER = r"""
import json, sys
from scalesim.scale_config import scale_config
from scalesim.topology_utils import topologies
kind, path, gemm = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if kind == "cfg":
    c = scale_config()
    c.read_conf_file(path)
    bw = c.bandwidths[0]
    print(json.dumps(dict(
        name=c.run_name, array_rows=c.array_rows, array_cols=c.array_cols, dataflow=c.df,
        ifmap_sram_kb=c.ifmap_sz_kb, filter_sram_kb=c.filter_sz_kb, ofmap_sram_kb=c.ofmap_sz_kb,
        ifmap_offset=c.ifmap_offset, filter_offset=c.filter_offset, ofmap_offset=c.ofmap_offset,
        ifmap_bw=getattr(c, "ifmap_sram_bank_bandwidth", bw), filter_bw=getattr(c, "filter_sram_bank_bandwidth", bw),
        ofmap_bw=bw)))
else:
    t = topologies()
    t.load_arrays(topofile=path, mnk_inputs=gemm)
    t.topo_calc_hyperparams()
    print(json.dumps([dict(name=a[0], dims=a[1:9], ofmap=h[:2], macs=h[2])
                      for a, h in zip(t.topo_arrays, t.layers_calculated_hyperparams)]))
"""


def peer_read(release, kind, path, gemm=False):
    import json as _json
    require_peers(release)
    result = subprocess.run([str(peer_python(release)), "-c", PEER_READER, kind, str(path), "1" if gemm else "0"],
                            check=True, capture_output=True, text=True)
    return _json.loads(result.stdout.strip().splitlines()[-1])


def ours(topology):
    return [dict(name=l.name, dims=[l.ifmap_h, l.ifmap_w, l.filter_h, l.filter_w, l.channels, l.num_filters,
                                    l.stride_h, l.stride_w], ofmap=[l.ofmap_h, l.ofmap_w], macs=l.macs)
            for l in topology.layers]


@pytest.mark.peer
@pytest.mark.parametrize("release, folder", [("3.0.0", "v3"), ("2.0.2", "v2")])
def test_cfg_files_read_as_scalesim_reads_them(configs, tmp_path, release, folder):
    base = (configs / "scalesim-cfg" / folder / "eyeriss.cfg").read_text()
    variants = {
        "eyeriss": base,
        # configparser rules: keys in any case, '=' or ':', comments, [DEFAULT] fallbacks,
        # bandwidth lists, unused keys.
        "relaxed": base.replace("ArrayHeight:    12", "# rows\n; still rows\narrayheight = 12")
                       .replace("Bandwidth : 10", "BANDWIDTH: 7, 3")
                       .replace("[general]", "[DEFAULT]\nOfmapOffset = 5\n[general]")
                       .replace("OfmapOffset:    20000000\n", ""),
    }
    for name, text in variants.items():
        path = tmp_path / f"{name}.cfg"
        path.write_text(text)
        expected = peer_read(release, "cfg", path)
        config = HwConfig.from_file(path).to_dict()
        assert {key: config[key] for key in expected} == expected, name


@pytest.mark.peer
@pytest.mark.parametrize("release", ["3.0.0", "2.0.2"])
def test_topologies_read_as_scalesim_reads_them(topologies, tmp_path, release):
    quirks = tmp_path / "quirks.csv"
    quirks.write_text("anything\n\n conv_a , 18, 18, 3, 3, 3, 16, 1,\nconv_b,16,16,3,3,16,40,2,\n"
                      "stem, 224, 224, 7, 7, 3, 64, 2,\nDWlayerDP, 10, 10, 3, 3, 3, 1, 2,\n")
    gemm = tmp_path / "gemm.csv"
    gemm.write_text("Layer, M, N, K,\nfc1, 16, 64, 32,\nqk, 128, 128, 64,\n")
    cases = [(topologies / f"{name}.csv", False) for name in ("Resnet18", "mobilenet", "Resnet50", "test")]
    cases += [(quirks, False), (gemm, True)]
    for path, is_gemm in cases:
        assert ours(Topology.from_csv(path, gemm=is_gemm)) == peer_read(release, "topology", path, is_gemm), path.name
