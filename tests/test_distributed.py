"""Data-parallel fine-tuning with torch.distributed (gloo, CPU): 2 processes vs 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import amed
from amed import distributed, store
from amed.device import resolve_device
from amed.errors import ConfigError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import distributed_worker  # noqa: E402


def _torchrun(tmp_path: Path, *args: str, nproc: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The amed this test imported (a checkout's python/ folder or an installed package), for the workers.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(amed.__file__).parent.parent), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
         str(HERE / "distributed_worker.py"), *args],  # fmt: skip
        capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path,
    )


@pytest.mark.parametrize("kind", ["mlp", "bn"])
def test_two_gloo_processes_match_one_process(tmp_path, kind):
    """Same global batches: the weights (batch norm's running statistics included) agree to 1e-5
    and the reported metrics to 1e-5 (float sums in a different order; the averaged gradient is the
    global mean either way, and batch norm normalises over the global batch)."""
    single = distributed_worker.run(kind=kind)
    assert single["world"] == 1
    done = _torchrun(tmp_path, str(tmp_path / "two.pt"), kind)
    assert done.returncode == 0, done.stderr[-3000:]
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    assert two["world"] == 2 and two["bits"] == [3, 4]
    assert single["state"].keys() == two["state"].keys()
    for name, value in single["state"].items():
        torch.testing.assert_close(two["state"][name], value, rtol=1e-5, atol=1e-5)
    assert two["train"].samples == single["train"].samples == distributed_worker.GLOBAL_BATCH * distributed_worker.BATCHES
    assert two["train"].top1 == pytest.approx(single["train"].top1, abs=1e-9)
    assert two["train"].loss == pytest.approx(single["train"].loss, rel=1e-5)
    for key in ("val", "val_sharded"):
        assert two[key].samples == single["val"].samples == 200
        assert two[key].top1 == pytest.approx(single["val"].top1, abs=1e-9)
        assert two[key].loss == pytest.approx(single["val"].loss, rel=1e-5)


def _search(tmp_path: Path, out: Path, checkpoint: Path, *extra: str, nproc: int = 0) -> subprocess.CompletedProcess:
    """`amed search` on digits from `checkpoint`, in one process or under torchrun with `nproc`."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(amed.__file__).parent.parent), env.get("PYTHONPATH")]))
    launcher = [sys.executable]
    if nproc:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    command = [*launcher, "-m", "amed.cli", "search", f"--out={out}", "--dataset=digits", f"--weights={checkpoint}",
               "--steps=4", "--batches-per-step=3", "--final-batches=3", "--final-points=2", "--baselines=false",
               "--device=cpu", "--threads=1", "--seed=12", "--progress=false", *extra]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


def test_a_search_under_torchrun_records_the_history_of_one_process(tmp_path, digits_checkpoint):
    """Rank 0 samples and writes; both ranks fine-tune each candidate on half of every batch, batch
    norm over the whole batch. Same seed, same global batch: the same allocations are sampled and
    the same chosen and Pareto allocations trained; top-1 agrees to within one image (0.5 points
    covers one on either digits split), CE to 5 % and the objective to 0.02.

    Not to float rounding: after the first SGD step the weights differ by float rounding (1e-8),
    and a weight that sits on a rounding boundary of its bits then lands on the other side, a whole
    LSQ step away. Here two candidates of four differed by 3.1 % and 2.3 % in CE (objective 0.003);
    both ranks training on the whole batch gave the same figures, so the rounding of global batch
    norm's sums is enough to cause them. Hence random search at 4 and 8 bits: its allocations are
    keyed by (seed, step), so these differences cannot change which are sampled (AMED's sampler, on
    rank 0 alone, feeds them back through its rewards: on one CPU its third proposal differed in one
    layer), and without 2-bit layers a step is a small move (at {2,3,4,8} two candidates of four
    differed by 9 and 13 % in CE). That the ranks' gradients are averaged is checked to 1e-5 by
    `test_two_gloo_processes_match_one_process`."""
    single, double = tmp_path / "one", tmp_path / "two"
    for out, nproc in ((single, 0), (double, 2)):
        done = _search(tmp_path, out, digits_checkpoint, "--method=random", "--bits=4,8", nproc=nproc)
        assert done.returncode == 0, done.stderr[-3000:]
    assert "outputs in" in done.stdout and done.stdout.count("outputs in") == 1  # rank 0 alone reports
    one, two = (store.read_history(out / store.HISTORY_FILE) for out in (single, double))
    assert [r["bits"] for r in one] == [r["bits"] for r in two] and len(one) == 4
    for a, b in zip(one, two):
        assert b["top1"] == pytest.approx(a["top1"], abs=0.5) and b["top5"] == pytest.approx(a["top5"], abs=0.5)
        assert b["ce"] == pytest.approx(a["ce"], rel=0.05) and b["objective"] == pytest.approx(a["objective"], abs=0.02)
    finals = [json.loads((out / store.SEARCH_FILE).read_text()) for out in (single, double)]
    assert finals[0]["final"]["bits"] == finals[1]["final"]["bits"]
    assert finals[1]["final"]["test_top1"] == pytest.approx(finals[0]["final"]["test_top1"], abs=0.5)
    # Which samples join the chosen one on the front depends on the start, and the start differs
    # between CPU models; whatever they are, both runs must train the same ones.
    assert [p["bits"] for p in finals[1]["final_pareto"]] == [p["bits"] for p in finals[0]["final_pareto"]]


def test_a_refused_search_under_torchrun_stops_every_rank(tmp_path, digits_checkpoint):
    """Rank 0 refuses (the folder already holds a search): the other rank is told, and the job
    ends at once with rank 0's one-line error instead of waiting for a collective's timeout."""
    out = tmp_path / "taken"
    out.mkdir()
    (out / store.HISTORY_FILE).write_text("")
    (out / store.CHECKPOINT_FILE).write_text("{}")
    done = _search(tmp_path, out, digits_checkpoint, nproc=2)
    assert done.returncode != 0
    assert "already holds a search" in done.stderr


def test_a_rank_that_dies_stops_the_job(tmp_path):
    done = _torchrun(tmp_path, str(tmp_path / "dead.pt"), "die", timeout=90)
    assert done.returncode != 0
    assert not (tmp_path / "dead.pt").exists()


def test_one_process_without_torchrun_is_not_distributed(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = distributed.init("cpu")
    assert (context.rank, context.world_size, context.backend) == (0, 1, None)
    assert distributed.is_main() and distributed.broadcast_object({"a": 1}) == {"a": 1}
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model) is model


def test_more_processes_than_gpus_with_nccl_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(ConfigError) as err:
        distributed.init("cuda")
    message = str(err.value)
    assert "\n" not in message and "--nproc-per-node 2" in message and "1 GPU" in message


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_is_one_line(monkeypatch, spec):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as err:
        resolve_device(spec)
    assert "\n" not in str(err.value) and "--device" in str(err.value)


def test_device_specs(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="2 CUDA device"):
        resolve_device("cuda:2")
    for bad in ("gpu", "cpu:0", "cuda:x", "auto:1"):
        with pytest.raises(ConfigError, match="--device"):
            resolve_device(bad)
