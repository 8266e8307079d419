"""One training step of ResNet-20 (32x32, batch 64, CPU): FP32 vs LSQ QAT vs torch.ao FakeQuantize.

``lsq`` is amed's quantizer as it runs on one thread (the fused numba kernel); ``lsq-eager`` is the
same quantizer forced onto its eager torch path (`set_fused_cpu_kernel(False)`), for comparison.

All three run the same SGD step on the same batch, on one torch thread: the ratios are the result,
and one thread is the setting least disturbed by other work on the machine. The torch.ao peer uses the same fake-quantized
layers as LSQ with each quantizer replaced by torch.ao.quantization.FakeQuantize (moving-average
min/max observer, per tensor: quint8 activations, symmetric qint8 weights), so the difference
between the two QAT rows is the quantizer alone.

    python -m pytest benches/bench_lsq.py --benchmark-columns=min,median,mean,stddev,rounds

`test_ratios_interleaved` times the three steps round-robin (one of each per round, CPU time), so
load from other work on the machine falls on all three alike; it prints the median ratios:

    python -m pytest benches/bench_lsq.py -k interleaved -s
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from torch import nn
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver

from amed.models import build_model
from amed.quant import QuantConfig, quantize_model, quantized_layers
from amed.quant.lsq import set_fused_cpu_kernel

BATCH = 64
torch.set_num_threads(1)


def _model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, image_size=32)
    if kind == "fp32":
        return model
    quantize_model(model, config=QuantConfig(weight_bits=4, act_bits=4, edge_bits=None))
    if kind == "torch.ao":
        for layer in quantized_layers(model).values():
            layer.act_quantizer = FakeQuantize(
                observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8
            )
            layer.weight_quantizer = FakeQuantize(
                observer=MovingAverageMinMaxObserver,
                quant_min=-128,
                quant_max=127,
                dtype=torch.qint8,
                qscheme=torch.per_tensor_symmetric,
            )
    return model


KINDS = ["fp32", "lsq", "lsq-eager", "torch.ao"]


def _train_step(kind: str):
    model = _model(kind).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(BATCH, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 10, (BATCH,), generator=torch.Generator().manual_seed(2))

    def step() -> None:
        fused = set_fused_cpu_kernel(kind != "lsq-eager")
        try:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(images), labels).backward()
            optimizer.step()
        finally:
            set_fused_cpu_kernel(fused)

    step()  # initialises the activation steps / observers outside the timed rounds
    return step


@pytest.mark.parametrize("kind", KINDS)
def test_train_step(benchmark, kind):
    benchmark.pedantic(_train_step(kind), rounds=30, warmup_rounds=3)


def test_ratios_interleaved():
    steps = {kind: _train_step(kind) for kind in KINDS}
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for round_ in range(33):
        for kind, step in steps.items():
            start = time.process_time()
            step()
            if round_ >= 3:
                times[kind].append(time.process_time() - start)
    median = {kind: statistics.median(t) for kind, t in times.items()}
    print()
    for kind in KINDS:
        print(f"{kind:9s} median {median[kind] * 1e3:7.1f} ms   / fp32 {median[kind] / median['fp32']:.3f}")
