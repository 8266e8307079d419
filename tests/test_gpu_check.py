"""`scripts/gpu-check`: a tiny CPU run gives every figure, and a missing GPU is a one-line error."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu-check"


def gpu_check(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), *args]
    return subprocess.run(command, check=False, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cpu_run_reports_every_figure(tmp_path):
    """ResNet-50 at 32 px, 2 candidates of 2 batches of 8 (about 10 s on one core)."""
    done = gpu_check("--device", "cpu", "--image-size", "32", "--batch-size", "8", "--batches", "2", "--steps", "2",
                     "--json", "out.json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["workload"]["model"] == "resnet50"
    assert result["workload"]["num_classes"] == 1000
    assert result["machine"]["torch"] == torch.__version__
    for key in ("finetune_images_per_s", "eval_images_per_s", "step_s", "overhead_s_per_step"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert 0.0 <= result["overhead_share"] <= 1.0
    assert result["peak_gpu_memory_bytes"] is None
    assert [s["step"] for s in result["steps"]] == [1, 2]
    for step in result["steps"]:
        assert step["finetune_images"] == 2 * 8 and step["eval_images"] == 16
        assert len(step["bits"]) == result["workload"]["searched_layers"]
        parts = step["propose_s"] + step["cost_s"] + step["update_s"]
        assert step["overhead_s"] == pytest.approx(parts)
        assert step["step_s"] == pytest.approx(parts + step["finetune_s"] + step["eval_s"])
    assert "n/a (CPU)" in done.stdout
    for label in ("machine", "torch", "amed", "fine-tune", "evaluation", "peak GPU memory", "search overhead"):
        assert any(line.startswith(label) for line in done.stdout.splitlines()), label


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_gpu_is_a_one_line_error(tmp_path):
    done = gpu_check("--device", "cuda", "--json", "out.json", cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--device" in lines[0], done.stderr
    assert not (tmp_path / "out.json").exists()
