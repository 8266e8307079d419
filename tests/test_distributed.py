"""Data-parallel fine-tuning with torch.distributed (gloo, CPU): 2 processes vs 1 process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import amed
from amed import distributed
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


def test_two_gloo_processes_match_one_process(tmp_path):
    """Same global batches: the weights agree to 1e-5 and the reported metrics to 1e-5 (float
    sums in a different order; the averaged gradient is the global mean either way)."""
    single = distributed_worker.run()
    assert single["world"] == 1
    done = _torchrun(tmp_path, str(tmp_path / "two.pt"))
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
