"""Bad input gives a typed amed.errors exception naming the file, line and field; nothing else
(no PanicException, no TypeError) ever comes out of the Python API."""

import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amed import errors
from amed.errors import AmedError, AmedIOError, ConfigError, TopologyError
from amed.simcore import HwConfig, Layer, Topology, simulate

CONV_ROW = "a, 8, 8, 3, 3, 2, 4, 1,"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_hierarchy_and_attributes():
    for cls in (errors.ConfigError, errors.TopologyError, errors.AllocationError, errors.SamplerError):
        assert issubclass(cls, AmedError)
    assert issubclass(AmedIOError, AmedError) and issubclass(AmedIOError, OSError)
    error = TopologyError("bad", file="f.csv", line=3, field="channels")
    assert (str(error), error.file, error.line, error.field) == ("bad", "f.csv", 3, "channels")
    assert (AmedError("x").file, AmedError("x").line, AmedError("x").field) == (None, None, None)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.line, copy.field) == (TopologyError, 3, "channels")


@pytest.mark.parametrize(
    "row, line, field, words",
    [
        ("a, 8, 8, 3, 3, 2, 4,", 2, None, "expected 8 fields"),  # short row
        ("a, 8, 8, 3, 3, 2, 4, 1", 2, None, "end with a comma"),  # trailing comma missing
        ("a, 8, eight, 3, 3, 2, 4, 1,", 2, "ifmap_w", "expected an integer, found 'eight'"),
        ("a, 8, 8, 3, 3, 0, 4, 1,", 2, "channels", "positive"),
        ("a, 8, 8, 3, 3, 2, -4, 1,", 2, "num_filters", "positive"),
        ("a, 8, 8, 9, 3, 2, 4, 1,", 2, "filter_h", "larger than the ifmap height"),
        ("a, 8, 8, 3, 3, 2, 4, 1, 1:4,", 2, "sparsity", "dense layers only"),
        ("a, 8, 8, 3, 3, 6, 6, 1, 1, 4,", 2, "channels", "divisible by groups"),
    ],
)
def test_topology_file_errors_name_file_line_and_field(tmp_path, row, line, field, words):
    path = write(tmp_path, "net.csv", f"header\n{row}\n")
    with pytest.raises(TopologyError) as caught:
        Topology.from_csv(path)
    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), line, field)
    assert words in str(error) and str(path) in str(error)


def test_gemm_row_errors(tmp_path):
    path = write(tmp_path, "g.csv", "Layer, M, N, K,\nfc, 4, 5,\n")
    with pytest.raises(TopologyError, match="expected 4 fields") as caught:
        Topology.from_csv(path, gemm=True)
    assert caught.value.line == 2


def test_unreadable_files_raise_amed_io_error(tmp_path):
    missing = tmp_path / "missing.csv"
    for load in (lambda: Topology.from_csv(missing), lambda: HwConfig.from_file(tmp_path / "missing.toml"),
                 lambda: simulate(missing, "scalesim")):
        with pytest.raises(AmedIOError) as caught:
            load()
        assert caught.value.file.startswith(str(tmp_path)) and caught.value.errno == 2
        assert isinstance(caught.value, OSError)


def test_toml_errors_name_line_and_field(tmp_path, configs):
    text = (configs / "scalesim.toml").read_text()
    bad = write(tmp_path, "bad.toml", text.replace("cols = 32", "cols = 32\ncolumns = 32"))
    with pytest.raises(ConfigError) as caught:
        HwConfig.from_file(bad)
    assert (caught.value.file, caught.value.field) == (str(bad), "columns")
    assert caught.value.line == text.splitlines().index("cols = 32          # PE columns (SCALE-Sim ArrayWidth)") + 2
    bad = write(tmp_path, "df.toml", text.replace('dataflow = "os"', 'dataflow = "rs"'))
    with pytest.raises(ConfigError, match="unknown variant"):
        HwConfig.from_file(bad)
    with pytest.raises(ConfigError, match="unknown config format"):
        HwConfig.from_file(write(tmp_path, "x.yaml", "a: 1"))


def test_cfg_errors_name_line_and_field(tmp_path, configs):
    text = (configs / "scalesim-cfg" / "v3" / "scalesim.cfg").read_text()
    bad = write(tmp_path, "bad.cfg", text.replace("Dataflow : os", "Dataflow : rs"))
    with pytest.raises(ConfigError, match="unknown dataflow 'rs'") as caught:
        HwConfig.from_file(bad)
    line = text.splitlines().index("Dataflow : os") + 1
    assert (caught.value.file, caught.value.line, caught.value.field) == (str(bad), line, "[architecture_presets] Dataflow")
    bad = write(tmp_path, "missing.cfg", text.replace("IfmapSRAMBankBandwidth: 10\n", ""))
    with pytest.raises(ConfigError, match="missing key") as caught:
        HwConfig.from_file(bad)
    assert caught.value.field == "[layout] IfmapSRAMBankBandwidth"


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: Layer.conv("x", 8, 8, 3, 3, 2, 4, 0), "stride_h"),
        (lambda: Layer.conv("x", 8, -8, 3, 3, 2, 4), "ifmap_w"),
        (lambda: Layer.conv("x", 8, 8, 3, 3, 2.5, 4), "channels"),
        (lambda: Layer.conv("x", 8, 8, 3, 3, "2", 4), "channels"),
        (lambda: Layer.conv(7, 8, 8, 3, 3, 2, 4), "name"),
        (lambda: Layer.conv("x", 8, 8, 3, 3, 2, 2**70), "num_filters"),
        (lambda: Layer.depthwise("x", 8, 8, 3, 3, 4, 6), "num_filters"),
        (lambda: Layer.grouped("x", 8, 8, 3, 3, 4, 6, groups=4), "num_filters"),
        (lambda: Layer.gemm("x", 4, 0, 4), "n"),
        (lambda: Topology("t", [Layer.gemm("x", 1, 1, 1), "not a layer"]), "layers[1]"),
        (lambda: Topology("t", []), None),
        (lambda: Topology("t", 5), "layers"),
    ],
)
def test_layer_value_errors_name_the_field(call, field):
    with pytest.raises(TopologyError) as caught:
        call()
    assert caught.value.field == field


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"dataflow": "rs"}, "dataflow"),
        ({"array_rows": 0}, "array_rows"),
        ({"bandwidth": None}, "ifmap_bw"),
        ({"clock_ghz": -1.0}, "clock_ghz"),
        ({"word_bits": 65}, "word_bits"),
        ({"interface": "USER"}, "interface"),
        ({"energy": {"mac_pj": 1.0}}, "energy.sram_read_pj"),
        ({"energy": {"mac_pj": 1.0, "typo_pj": 1.0}}, "energy.typo_pj"),
    ],
)
def test_hwconfig_value_errors_name_the_field(changes, field):
    values = dict(array_rows=4, array_cols=4, dataflow="os", ifmap_sram_kb=1, filter_sram_kb=1,
                  ofmap_sram_kb=1, bandwidth=2)
    values.update(changes)
    with pytest.raises(ConfigError) as caught:
        HwConfig(**values)
    assert caught.value.field == field


def test_bad_hw_and_compat_in_simulate(small3_csv):
    with pytest.raises(ConfigError, match="shipped configs are") as caught:
        simulate(small3_csv, "no_such_config")
    assert caught.value.field == "hw"
    with pytest.raises(ConfigError, match="unknown compat mode") as caught:
        simulate(small3_csv, "scalesim", compat="v3")
    assert caught.value.field == "compat"
    with pytest.raises(TopologyError):
        simulate(42, "scalesim")


# --- property tests: only AmedError subclasses ever come out --------------------------------
# A Rust panic would arrive as a plain AmedError saying "internal error"; inputs must never
# cause one, so each test also checks that every error is about the input.


def about_the_input(error):
    assert "internal error" not in str(error), str(error)

csv_cell = st.one_of(
    st.integers(-5, 40).map(str),
    st.sampled_from(["", " ", "x", "1:1", "2:4", "1.5", "9" * 30, "DP", "-0", "+3"]),
)
csv_row = st.lists(csv_cell, min_size=0, max_size=12).map(lambda cells: ",".join(cells))
csv_text = st.one_of(
    st.text(max_size=200),
    st.lists(csv_row, min_size=0, max_size=6).map(lambda rows: "\n".join(["header"] + rows)),
)


@settings(max_examples=300, deadline=None)
@given(text=csv_text, gemm=st.booleans())
def test_random_csv_text_gives_only_amed_errors(text, gemm):
    try:
        topology = Topology.from_csv_text(text, gemm=gemm)
    except AmedError as error:
        about_the_input(error)
        return
    assert len(topology) >= 1
    assert Topology.from_csv_text(topology.to_csv_text(), gemm=topology.is_gemm).layers == topology.layers


toml_value = st.one_of(st.integers(-3, 100), st.sampled_from(['"os"', '"ws"', '"xx"', "1.5", "true", "[1]", '"user"']))
toml_key = st.sampled_from(["rows", "cols", "dataflow", "ifmap_kb", "filter_kb", "ofmap_kb", "bandwidth",
                            "ifmap_bw", "ghz", "word_bits", "mac_pj", "typo", "interface"])
toml_section = st.tuples(
    st.sampled_from(["array", "sram", "dram", "clock", "precision", "energy", "bogus"]),
    st.lists(st.tuples(toml_key, toml_value), max_size=5),
).map(lambda s: f"[{s[0]}]\n" + "".join(f"{k} = {v}\n" for k, v in s[1]))


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=200), st.lists(toml_section, max_size=6).map("".join)))
def test_random_toml_gives_only_amed_errors(text):
    try:
        HwConfig.from_toml(text)
    except AmedError as error:
        about_the_input(error)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_cfg_gives_only_amed_errors(data, configs):
    lines = (configs / "scalesim-cfg" / "v3" / "scalesim.cfg").read_text().splitlines()
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(lines) - 1), st.text(max_size=30)), max_size=4))
    for index, replacement in edits:
        lines[index] = replacement
    try:
        HwConfig.from_cfg("\n".join(lines))
    except AmedError as error:
        about_the_input(error)


json_scalar = st.one_of(st.integers(-3, 2**65), st.text(max_size=4), st.none(), st.booleans(), st.floats())
json_shape = st.fixed_dictionaries(
    {"name": st.text(max_size=3), "type": st.sampled_from(["conv", "depthwise", "grouped", "gemm", "rnn"])},
    optional={key: json_scalar for key in ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels",
                                           "num_filters", "stride_h", "stride_w", "groups", "m", "n", "k")},
)


@settings(max_examples=200, deadline=None)
@given(layer=json_shape, text=st.text(max_size=60))
def test_random_json_gives_only_amed_errors(layer, text):
    import json

    for load in (lambda: Layer.from_json(json.dumps(layer)), lambda: Layer.from_json(text),
                 lambda: Topology.from_json(json.dumps({"name": "t", "layers": [layer]})),
                 lambda: Topology.from_json(text)):
        try:
            load()
        except AmedError as error:
            about_the_input(error)


any_value = st.one_of(st.integers(-(2**70), 2**70), st.integers(0, 20), st.none(), st.floats(allow_nan=True),
                      st.text(max_size=3), st.booleans())


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["conv", "depthwise", "grouped", "gemm"]), values=st.lists(any_value, min_size=9, max_size=9))
def test_random_layer_values_give_only_amed_errors(kind, values):
    try:
        if kind == "gemm":
            Layer.gemm("g", *values[:3])
        elif kind == "grouped":
            Layer.grouped("g", *values[:8], groups=values[8])
        else:
            getattr(Layer, kind)("l", *values[:8])
    except AmedError as error:
        about_the_input(error)


small = st.integers(1, 12)


@settings(max_examples=60, deadline=None)
@given(
    dims=st.tuples(small, small, st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), st.integers(1, 8), st.integers(1, 3)),
    gemm=st.tuples(small, small, small),
    array=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    dataflow=st.sampled_from(["os", "ws", "is"]),
    sram=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    bandwidth=st.integers(1, 4),
    compat=st.sampled_from(["scalesim-v3", "scalesim-v2", "fixed"]),
)
def test_random_small_simulations_give_reports_or_amed_errors(dims, gemm, array, dataflow, sram, bandwidth, compat):
    config = HwConfig(array_rows=array[0], array_cols=array[1], dataflow=dataflow, ifmap_sram_kb=sram[0],
                      filter_sram_kb=sram[1], ofmap_sram_kb=sram[2], bandwidth=bandwidth)
    try:
        layers = [Layer.conv("c", *dims), Layer.depthwise("d", *dims[:4], dims[4], dims[4] * 2, dims[6]),
                  Layer.gemm("g", *gemm)]
        report = simulate(layers, config, compat=compat)
    except AmedError as error:
        about_the_input(error)
        return
    assert [r.name for r in report.layers] == ["c", "d", "g"]
    assert all(r.total_cycles >= r.stall_cycles >= 0 for r in report.layers)
