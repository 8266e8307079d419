"""The simulator core as a hostile caller meets it: it must never abort, hang or balloon the
host process, and it must refuse nonsense at load time with a typed error (issue 13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from amed import errors
from amed.simcore import CostModel, HwConfig, Sampler, Topology, simulate, simulate_mixed

REPO = Path(__file__).resolve().parents[1]
HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"

TOML = """\
name = "t"
[array]
rows = {rows}
cols = 8
dataflow = "os"
[sram]
ifmap_kb = {kb}
filter_kb = {kb}
ofmap_kb = {kb}
[dram]
bandwidth = {bw}
{extra}
"""


def write_hw(tmp_path: Path, *, rows: int = 8, kb: int = 64, bw: int = 10, extra: str = "") -> Path:
    path = tmp_path / "hw.toml"
    path.write_text(TOML.format(rows=rows, kb=kb, bw=bw, extra=extra))
    return path


def csv(text: str) -> Topology:
    return Topology.from_csv_text(HEADER + text)


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter that imports the same amed as this one."""
    import amed

    env = dict(os.environ, PYTHONPATH=str(Path(amed.__file__).parents[1]))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


# --- no abort, ever ---------------------------------------------------------------------------


def test_dp_row_with_billions_of_channels_is_refused_without_allocating():
    with pytest.raises(errors.TopologyError) as info:
        csv("DP1,32,32,3,3,2000000000,1,1,\n")
    assert info.value.line == 2
    assert info.value.field == "channels"
    assert "limit of 65536 layers" in str(info.value)


def test_layer_over_the_memory_limit_is_a_typed_error_naming_layer_and_bound():
    topology = csv("huge,65535,65535,1,1,1,1,1,\n")
    with pytest.raises(errors.ResourceLimitError) as info:
        simulate(topology, "scalesim")
    message = str(info.value)
    assert "layer 'huge'" in message and "limit of 4 GiB" in message


def test_hostile_rows_never_kill_the_interpreter():
    result = run_python(
        """
        from amed.simcore import Topology, simulate
        from amed.errors import AmedError
        head = "h\\n"
        for row in ["DP1,32,32,3,3,2000000000,1,1,", "huge,65535,65535,1,1,1,1,1,",
                    "x,4294967295,4294967295,1,1,1,1,1,"]:
            try:
                simulate(Topology.from_csv_text(head + row + "\\n"), "scalesim")
            except AmedError as e:
                print(type(e).__name__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["TopologyError", "ResourceLimitError", "TopologyError"]


def test_cost_tables_over_the_memory_limit_are_refused():
    topology = csv("DP1,8,8,3,3,65536,1,1,\n")
    with pytest.raises(errors.ResourceLimitError, match="fewer bit choices"):
        CostModel(topology, "scalesim", bits=range(1, 33))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("reader", ["topology", "hw"])
def test_endless_input_file_fails_fast(reader, tmp_path):
    start = time.monotonic()
    with pytest.raises(errors.AmedIOError) as info:
        if reader == "topology":
            Topology.from_csv("/dev/zero")
        else:
            link = tmp_path / "zero.toml"
            link.symlink_to("/dev/zero")
            HwConfig.from_file(link)
    assert time.monotonic() - start < 5
    assert "limit" in str(info.value) and "cannot read" in str(info.value)


def test_write_failure_says_cannot_write(tmp_path):
    topology = csv("a,8,8,3,3,2,2,1,\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(errors.AmedIOError) as info:
        topology.to_csv(blocker / "sub.csv")
    assert str(info.value).startswith("cannot write")
    report = simulate(topology, "scalesim")
    with pytest.raises(errors.AmedIOError) as info:
        report.to_csv(blocker / "dir")
    assert str(info.value).startswith("cannot write")


# --- hostile values refused at load time ------------------------------------------------------


@pytest.mark.parametrize(
    "extra, field",
    [
        ("[clock]\nghz = 5e-324", "clock_ghz"),
        ("[clock]\nghz = 1e300", "clock_ghz"),
        (
            "[energy]\nmac_pj = 1.7e308\nsram_read_pj = 1\nsram_write_pj = 1\ndram_access_pj = 1",
            "energy.mac_pj",
        ),
    ],
)
def test_values_that_make_derived_quantities_overflow_are_refused(tmp_path, extra, field):
    path = write_hw(tmp_path, extra=extra)
    with pytest.raises(errors.ConfigError) as info:
        HwConfig.from_file(path)
    assert info.value.field == field
    assert info.value.file == str(path)


def test_array_beyond_the_documented_limit_is_refused_at_load(tmp_path):
    path = write_hw(tmp_path, rows=1_000_000)
    with pytest.raises(errors.ConfigError) as info:
        HwConfig.from_file(path)
    assert info.value.file == str(path)
    assert info.value.field == "array_rows"
    assert "65536" in str(info.value)


def test_addresses_defaults_apply_per_field(tmp_path):
    path = write_hw(tmp_path, extra="[addresses]\nofmap_offset = 30000000")
    hw = HwConfig.from_file(path)
    assert hw.to_dict()["ofmap_offset"] == 30_000_000
    assert hw.to_dict()["ifmap_offset"] == 0
    assert hw.to_dict()["filter_offset"] == 10_000_000


@pytest.mark.parametrize("text", ["a,8,8,3,3,2,2,1,\na,8,8,3,3,2,4,1,\n", ",8,8,3,3,2,2,1,\n"])
def test_empty_and_duplicate_layer_names_are_refused(text):
    with pytest.raises(errors.TopologyError) as info:
        csv(text)
    assert info.value.field == "name"
    assert info.value.line is not None


def test_duplicate_names_refused_in_a_topology_built_from_layers():
    from amed.simcore import Layer

    layer = Layer.conv("a", 8, 8, 3, 3, 2, 2)
    with pytest.raises(errors.TopologyError, match="duplicate layer name 'a'"):
        Topology("t", [layer, layer])


def test_bool_is_not_a_bit_width():
    topology = csv("a,8,8,3,3,2,2,1,\nb,8,8,3,3,2,2,1,\n")
    for allocation in (True, [(True, 8), (8, 8)], {"a": (8, False), "b": (8, 8)}):
        with pytest.raises(errors.AllocationError, match="bool"):
            simulate_mixed(topology, "scalesim", allocation)


def test_duplicate_keys_in_a_bits_json_are_refused(tmp_path):
    from amed.simcore import load_json_object

    path = tmp_path / "bits.json"
    path.write_text('{"a": [8, 8],\n "a": [4, 4]}')
    with pytest.raises(errors.AllocationError) as info:
        load_json_object(path)
    assert info.value.field == "a"
    assert "duplicate key" in str(info.value)


@pytest.fixture(scope="module")
def cost_model():
    return CostModel(csv("a,8,8,3,3,2,2,1,\nb,8,8,3,3,2,2,1,\n"), "scalesim")


@pytest.mark.parametrize("dtype", ["float64", "bool"])
def test_cost_batch_refuses_non_integer_arrays(cost_model, dtype):
    numpy = pytest.importorskip("numpy")
    with pytest.raises(errors.AllocationError, match="dtype"):
        cost_model.cost_batch(numpy.zeros((3, 2, 2), dtype=dtype))


def test_negative_indices_are_allocation_errors(cost_model):
    with pytest.raises(errors.AllocationError):
        cost_model.cost_indices([(-1, 0), (0, 0)])
    with pytest.raises(errors.AllocationError):
        cost_model.layer_cost(-1, 0, 0)
    with pytest.raises(errors.AllocationError):
        cost_model.layer_cost(0, 0, -1)
    assert cost_model.layer_cost(0, 0, 0).latency_us > 0


def test_sampler_shared_between_threads():
    sampler = Sampler(30, seed=1)
    failures = []

    def work():
        try:
            for _ in range(200):
                bits = sampler.propose()
                sampler.update(bits, 0.5)
                sampler.run_additive(5, [[0.0, 0.1, 0.2, 0.3]] * 30)
                _ = sampler.current, sampler.steps, repr(sampler)
        except Exception as e:  # noqa: BLE001 - any failure is the test's finding
            failures.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sampler.steps == 4 * 200 * 6


# --- interruptible ----------------------------------------------------------------------------

SLOW = """
import signal, sys, time
from amed.simcore import HwConfig, Topology, simulate, CostModel
# A shell's background job starts with SIGINT ignored, and Python keeps an inherited SIG_IGN:
# take Ctrl-C's usual handler, as an interactive session has it.
signal.signal(signal.SIGINT, signal.default_int_handler)
hw = HwConfig.from_file(sys.argv[1])
topology = Topology.from_csv_text("h\\nslow,256,256,3,3,512,512,1,\\n")
print("started", flush=True)
try:
    if sys.argv[2] == "simulate":
        simulate(topology, hw)
    else:
        CostModel(topology, hw, bits=range(1, 9))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
print("finished", flush=True)
"""


@pytest.mark.parametrize("what", ["simulate", "costmodel"])
def test_sigint_stops_a_long_simulation_promptly(tmp_path, what):
    import amed

    hw = write_hw(tmp_path, kb=1, bw=1)
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    env = dict(os.environ, PYTHONPATH=str(Path(amed.__file__).parents[1]))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(hw), what],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(1.0)
        assert proc.poll() is None, "the pathological layer finished in under a second"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, (out, err)
    assert "interrupted" in out
    assert elapsed < 2.0, f"took {elapsed:.2f} s to stop"
