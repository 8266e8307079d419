"""The `amed` command, run in-process (and once in a fresh interpreter without torch)."""

import json
import subprocess
import sys

import fire
import pytest

from amed.cli import Amed, main


def test_hw_lists_shipped_configs(capsys):
    assert main(["hw"]) == 0
    out = capsys.readouterr().out
    for name in ("scalesim", "scalesim_lowmem", "eyeriss"):
        assert name in out
    assert "12x14" in out


def test_hw_shows_one_config(capsys, configs):
    assert main(["hw", "eyeriss"]) == 0
    out = capsys.readouterr().out
    assert "rows = 12" in out and "cols = 14" in out and 'dataflow = "ws"' in out
    assert main(["hw", str(configs / "scalesim-cfg" / "v2" / "scalesim.cfg")]) == 0
    assert 'name = "scalesim"' in capsys.readouterr().out


def test_simulate_prints_table_and_totals(capsys, small3_csv):
    assert main(["simulate", "--topology", str(small3_csv), "--hw", "scalesim_lowmem"]) == 0
    out = capsys.readouterr().out
    assert "small3 on scalesim_lowmem (scalesim-v3)" in out
    for column in ("cycles", "stalls", "util %", "DRAM ifmap", "DRAM filter", "DRAM ofmap"):
        assert column in out
    assert all(name in out for name in ("conv_a", "conv_b", "fc_c"))
    assert "total:" in out


def test_simulate_json_and_out(capsys, tmp_path, small3_csv):
    out_dir = tmp_path / "run"
    code = main(["simulate", "--topology", str(small3_csv), "--hw", "eyeriss", "--compat", "scalesim-v2",
                 "--out", str(out_dir), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["compat"] == "scalesim-v2" and summary["hw"] == "eyeriss"
    assert [layer["name"] for layer in summary["layers"]] == ["conv_a", "conv_b", "fc_c"]
    assert summary["totals"]["total_cycles"] == sum(layer["total_cycles"] for layer in summary["layers"])
    compute = (out_dir / "COMPUTE_REPORT.csv").read_text().splitlines()
    assert compute[0].startswith("LayerID, Total Cycles, Stall Cycles")  # v2 has no incl-prefetch column
    assert (out_dir / "BANDWIDTH_REPORT.csv").is_file() and (out_dir / "DETAILED_ACCESS_REPORT.csv").is_file()


def test_simulate_gemm_topology(capsys, tmp_path):
    path = tmp_path / "mlp.csv"
    path.write_text("Layer Name, M, N, K,\nfc1, 16, 64, 32,\nfc2, 16, 10, 64,\n")
    assert main(["simulate", "--topology", str(path), "--gemm", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["totals"]["macs"] == 16 * 64 * 32 + 16 * 10 * 64


def test_simulate_through_fire_directly(capsys, small3_csv):
    fire.Fire(Amed, command=["simulate", str(small3_csv), "--hw", "scalesim", "--json", "true"])
    assert json.loads(capsys.readouterr().out)["totals"]["layers"] == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "--topology", "{small3}", "--hw", "nope"], "unknown hardware config 'nope'"),
        (["simulate", "--topology", "{small3}", "--compat", "v9"], "unknown --compat 'v9'"),
        (["simulate", "--topology", "/no/such/file.csv"], "cannot read /no/such/file.csv"),
        (["simulate", "--topology", "{small3}", "--json", "maybe"], "--json expects true or false"),
        (["hw", "missing_config"], "shipped configs are"),
    ],
)
def test_bad_input_exits_with_a_clear_error(capsys, small3_csv, argv, message):
    argv = [arg.replace("{small3}", str(small3_csv)) for arg in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("amed: error:") and message in err


def test_missing_argument_is_a_usage_error(capsys):
    assert main(["simulate"]) == 2
    assert "topology" in capsys.readouterr().err


def test_search_without_the_torch_extra_says_how_to_install_it(tmp_path):
    # A fresh interpreter in which torch cannot be imported, as after a plain `pip install .`.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from amed.cli import main\n"
        f"sys.exit(main(['search', '--out', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "needs the 'torch' package of the torch extra" in done.stderr
    assert "pip install 'amed[torch]'" in done.stderr
    assert "Traceback" not in done.stderr
