"""Fine-tunes a small LSQ-quantized network on scikit-learn digits, in one process or under torchrun.

    torchrun --standalone --nproc-per-node 2 tests/distributed_worker.py OUT.pt [mlp|bn|die]

``mlp`` (the default) is a three-layer MLP; ``bn`` a conv net with batch norm on the 8x8 images.
Rank 0 saves the weights and the training and evaluation metrics to OUT.pt. With ``die``, rank 1
exits before the first collective (to check that the job stops instead of hanging).
"""

from __future__ import annotations

import os
import sys

import torch
from torch import nn

GLOBAL_BATCH = 30  # not a multiple of 4: the loss weighting must still give the global mean
BATCHES = 12


def _batches():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    train = [(x[i * GLOBAL_BATCH:(i + 1) * GLOBAL_BATCH], y[i * GLOBAL_BATCH:(i + 1) * GLOBAL_BATCH])
             for i in range(BATCHES)]  # fmt: skip
    val = [(x[-200:-100], y[-200:-100]), (x[-100:], y[-100:])]
    return train, val


def _network(kind: str) -> nn.Module:
    if kind == "bn":
        return nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
        )  # fmt: skip
    return nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 10))


def run(out: str | None = None, *, die: bool = False, kind: str = "mlp") -> dict:
    from amed import distributed
    from amed.quant import QuantConfig, quantize_model
    from amed.train import evaluate, make_optimizer, train_one_epoch

    torch.set_num_threads(1)
    context = distributed.init("cpu", timeout_s=60)
    try:
        torch.manual_seed(0)
        model = _network(kind)
        quantize_model(model, config=QuantConfig(weight_bits=4, act_bits=4, edge_bits=None))
        # Rank 0 decides; the others must receive the same allocation.
        bits = distributed.broadcast_object([3, 4] if context.is_main else None)
        if die and context.rank == 1:
            os._exit(3)
        from amed.quant import set_bits

        set_bits(model, [tuple(bits)] * 3)
        ddp = distributed.wrap(model, context.device)
        optimizer = make_optimizer(ddp, lr=0.2, weight_decay=1e-4)
        train, val = _batches()
        metrics = train_one_epoch(ddp, train, optimizer)
        result = {
            "world": context.world_size,
            "bits": bits,
            "train": metrics,
            "val_sharded": evaluate(ddp, val),
            "val": evaluate(model, val),
            "state": {k: v.clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)},
        }
        if out is not None and distributed.is_main():
            torch.save(result, out)
        distributed.barrier()
        return result
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    mode = sys.argv[2] if len(sys.argv) > 2 else "mlp"
    run(sys.argv[1], die=mode == "die", kind="mlp" if mode == "die" else mode)
