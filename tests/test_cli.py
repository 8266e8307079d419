"""The `amed` command, run in-process (and once in a fresh interpreter without torch)."""

import json
import subprocess
import sys

import pytest

from amed.cli import main


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


def test_simulate_takes_the_topology_as_an_argument(capsys, small3_csv):
    assert main(["simulate", str(small3_csv), "--hw", "scalesim", "--json", "true"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["layers"] == 3


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["simulate", "--topology", "{small3}", "--hw", "nope"], 2, "unknown hardware config 'nope'"),
        (["simulate", "--topology", "{small3}", "--compat", "v9"], 2, "argument --compat: invalid choice: 'v9'"),
        (["simulate", "--topology", "/no/such/file.csv"], 1, "cannot read /no/such/file.csv"),
        (["simulate", "--topology", "{small3}", "--json", "maybe"], 2, "--json: expects true or false"),
        (["simulate", "{small3}", "--topology", "other.csv"], 2, "as an argument or as --topology, not both"),
        (["hw", "missing_config"], 2, "shipped configs are"),
    ],
)
def test_bad_input_exits_with_a_clear_error(capsys, small3_csv, argv, code, message):
    argv = [arg.replace("{small3}", str(small3_csv)) for arg in argv]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("amed: error:") and message in err and len(err.strip().splitlines()) == 1


def test_missing_argument_is_a_usage_error(capsys):
    assert main(["simulate"]) == 2
    assert "topology" in capsys.readouterr().err


def test_the_parser_and_the_search_config_need_neither_torch_nor_numpy():
    # `pip install amed` has neither; every command's parser, `amed simulate` included, reads both modules.
    code = ("import sys; sys.modules['torch'] = None; sys.modules['numpy'] = None\n"
            "from amed.cli.parsers import build_parser\n"
            "from amed.search.config import SearchConfig\n"
            "build_parser(); assert SearchConfig(act_init='max').act_init == 'max'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "--stepz", "3"], "unrecognized arguments: --stepz 3 (did you mean --steps?)"),
        (["search", "--foo", "1"], "unrecognized arguments: --foo 1"),
        (["search", "--steps", "1.5"], "argument --steps: expects a whole number, got '1.5'"),
        (["search", "--bits", "2,3.5"], "argument --bits: must be integers like 2,3,4,8"),
        (["search", "--candidate-lr", "nan"], "argument --candidate-lr: expects a finite number"),
        (["search", "--ema", "5"], "--ema must lie in (0, 1]"),
        (["search", "--model", "vgg"], "unknown --model 'vgg'"),
        (["search", "--hw", "tpu"], "unknown hardware config 'tpu'"),
        (["finetune", "--epochz", "2"], "unrecognized arguments: --epochz 2 (did you mean --epochs?)"),
        (["finetune", "--epochs", "abc"], "argument --epochs: expects a whole number, got 'abc'"),
        (["finetune", "--act-init", "eq9"], "argument --act-init: invalid choice: 'eq9'"),
        (["simulate", "--jsn"], "unrecognized arguments: --jsn (did you mean --json?)"),
        (["compare", "--jobs", "0"], "argument --jobs: must be at least 1, got 0"),
    ],
)
def test_bad_flags_fail_before_any_work(capsys, tmp_path, argv, message):
    # Each would otherwise start a search, a pretrain or a fine-tune: it must fail in the parser or
    # the config, write nothing and exit 2 with one line.
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("amed: error:") and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("command", ["simulate", "hw", "topologies", "search", "pretrain", "finetune", "compare", "report"])
def test_every_command_has_help(capsys, command):
    assert main([command, "-h"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: amed {command}") and "--debug" in out


def test_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("simulate", "hw", "topologies", "search", "pretrain", "finetune", "compare", "report"):
        assert f"    {command}" in out


def test_search_help_names_every_setting_and_the_torchvision_start(capsys):
    assert main(["search", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--batch-size", "--weight-decay", "--infeasible-penalty", "--compat", "--alpha", "--resume"):
        assert flag in out
    assert "torchvision" in out


def test_debug_shows_the_traceback(capsys):
    assert main(["simulate", "/no/such/file.csv", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("amed: error: cannot read")


def test_topologies_are_listed_and_simulated_by_name(capsys, tmp_path, monkeypatch):
    assert main(["topologies"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("resnet18", "resnet50", "mobilenet"))
    monkeypatch.chdir(tmp_path)  # a name works from any folder
    assert main(["simulate", "resnet18", "--hw", "scalesim", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["layers"] == 21
    assert main(["simulate", "--topology", "resnet7"]) == 1
    assert "shipped topologies are" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["search", "--device", "cuda"], "--device cuda: torch sees no CUDA GPU here"),
        (["search", "--device", "tpu"], "--device 'tpu' is not one of auto, cpu, cuda or cuda:N"),
        (["finetune", "--device", "cuda:0", "--dataset", "digits"], "torch sees no CUDA GPU"),
        (["compare", "--ray", "127.0.0.1:9", "--seeds", "0,1"], "127.0.0.1:9"),
        (["compare", "--device", "cuda", "--seeds", "0,1"], "torch sees no CUDA GPU"),
    ],
)
def test_devices_and_ray_addresses_that_cannot_work_fail_first(capsys, tmp_path, argv, message):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() and "cuda" in " ".join(argv):
        pytest.skip("this machine has a GPU")
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) in (1, 2)
    err = capsys.readouterr().err
    assert err.startswith("amed: error:") and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_the_continued_protocol_under_torchrun_says_what_runs_there(capsys, tmp_path, monkeypatch):
    from amed import distributed

    monkeypatch.setattr(distributed, "init", lambda device: None)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    assert main(["search", "--protocol", "continued", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--protocol continued" in err and "without torchrun" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
