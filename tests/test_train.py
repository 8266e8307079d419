"""Training loops: metrics against their definitions, LR schedules, and the finetune command end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from amed.errors import ConfigError
from amed.train import evaluate, make_optimizer, make_scheduler, run_finetune, train_one_epoch


class FixedLogits(nn.Module):
    """Returns the logits stored in the input itself, so metrics are known in advance."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_evaluate_matches_definitions():
    logits = torch.tensor(
        [
            [5.0, 4, 3, 2, 1, 0],  # target 0: top-1 hit
            [5.0, 4, 3, 2, 1, 0],  # target 4: top-5 hit only
            [5.0, 4, 3, 2, 1, 0],  # target 5: miss
            [0.0, 0, 0, 0, 0, 9],  # target 5: top-1 hit
        ]
    )
    target = torch.tensor([0, 4, 5, 5])
    loader = DataLoader(TensorDataset(logits, target), batch_size=3)
    metrics = evaluate(FixedLogits(), loader)
    want_ce = -torch.log_softmax(logits, 1)[torch.arange(4), target].mean().item()
    assert metrics.top1 == 50.0 and metrics.top5 == 75.0 and metrics.samples == 4
    assert metrics.loss == pytest.approx(want_ce, rel=1e-6)


def test_schedules_and_optimizer_groups():
    model = nn.Linear(2, 2)
    opt = make_optimizer(model, lr=0.1, weight_decay=1e-4)
    sched = make_scheduler(opt, "cosine", 4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
    opt = make_optimizer(model, lr=0.1)
    sched = make_scheduler(opt, "step", 5, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    with pytest.raises(ConfigError, match="unknown LR schedule 'linear'; valid: cosine, step, constant"):
        make_scheduler(opt, "linear", 3)


def test_step_sizes_get_no_weight_decay():
    from amed.quant import QuantConfig, quantize_model

    model = quantize_model(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 3)), config=QuantConfig(edge_bits=None))
    groups = make_optimizer(model, lr=0.1, weight_decay=0.5).param_groups
    assert groups[0]["weight_decay"] == 0.5 and len(groups[0]["params"]) == 4
    assert groups[1]["weight_decay"] == 0.0 and len(groups[1]["params"]) == 4


@pytest.mark.parametrize("fraction", [0.25, 4.0])
def test_a_clipped_step_is_the_gradient_scaled_down_to_the_norm(fraction):
    """Plain SGD, one batch: the step is -lr * g * min(1, c / |g|), with |g| the L2 norm over every
    parameter's gradient together (torch adds 1e-6 to |g| in the ratio)."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    images, target = torch.randn(8, 4) * 10, torch.randint(0, 3, (8,))
    nn.functional.cross_entropy(model(images), target).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    norm = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    train_one_epoch(model, [(images, target)], optimizer, max_grad_norm=fraction * norm)
    factor = min(1.0, fraction * norm / (norm + 1e-6))
    for p, b, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), b - 0.1 * factor * g, rtol=1e-5, atol=1e-7)


def test_finetune_command_writes_a_loadable_checkpoint_and_is_deterministic(tmp_path):
    from amed.models import build_model
    from amed.train import evaluate as eval_model
    from amed.data import load_data

    kwargs = dict(
        model="resnet20", dataset="digits", bits=4, epochs=2, lr=0.05, batch_size=64, train_subset=768,
        threads=1, progress=False,
    )  # fmt: skip
    metrics = run_finetune(out=str(tmp_path / "a"), **kwargs)
    again = run_finetune(out=str(tmp_path / "b"), **kwargs)
    assert metrics["final"] == again["final"]
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["final"] == metrics["final"]
    assert len(metrics["epochs"]) == 2
    # Two epochs of 4-bit QAT from scratch on 768 digits: 88.9% measured, chance is 10%.
    assert metrics["final"]["top1"] > 60.0
    saved = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    assert saved["allocation"]["layer1.0.conv1"] == [4, 4] and saved["allocation"]["conv1"] == [8, 8]
    model = build_model("resnet20", num_classes=10, in_channels=1, image_size=8, weights=tmp_path / "a" / "model.pt")
    reloaded = eval_model(model, load_data("digits").val)
    assert reloaded.top1 == pytest.approx(metrics["final"]["top1"])


def test_finetune_command_rejects_bad_bits(tmp_path):
    with pytest.raises(ConfigError, match="--bits: weight_bits must be an integer in 2..8, got 1; use 32 for full precision"):
        run_finetune(dataset="digits", bits=1, epochs=0, out=str(tmp_path), progress=False)


def test_amed_finetune_command_line(tmp_path, capsys):
    from amed.cli import main

    out = tmp_path / "run"
    status = main(
        ["finetune", "--model", "resnet20", "--dataset", "digits", "--bits", "3", "--epochs", "1",
         "--out", str(out), "--train-subset", "256", "--val-subset", "none", "--weights", "none",
         "--progress", "false", "--threads", "1"]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "resnet20 on digits, 3 bits, 1 epochs: val top-1" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["args"]["train_subset"] == 256 and metrics["args"]["val_subset"] is None
    assert metrics["final"]["samples"] == 288  # the search-validation split
    assert metrics["test"]["samples"] == 360 and "test top-1" in printed
    assert (out / "model.pt").is_file()

    assert main(["finetune", "--model", "vgg", "--dataset", "digits", "--out", str(out), "--progress", "false"]) == 2
    assert "amed: error: argument --model: invalid choice: 'vgg' (choose from 'resnet20', 'resnet18', 'mobilenet_v2', 'resnet50')" in capsys.readouterr().err
