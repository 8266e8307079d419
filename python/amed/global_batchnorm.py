"""Batch norm over the global batch of every torch.distributed rank, on any backend (gloo included).

torch's SyncBatchNorm refuses CPU tensors, so data-parallel training on CPU would normalise each
rank's shard by its own statistics and drift from a one-process run. `GlobalBatchNorm2d` sums
each channel's count, sum and sum of squares over the ranks with the differentiable
``torch.distributed.nn.functional.all_reduce`` (in float64, so E[x²] − E[x]² loses nothing that
matters), normalises with the global mean and biased variance, and updates the running statistics
with the unbiased one, as BatchNorm2d does on the whole batch. Gradients flow through the sums to
every rank's input, as SyncBatchNorm's do. Outside training, or in a one-process run, it is
BatchNorm2d.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["GlobalBatchNorm2d", "convert"]

_CHANNEL_DIMS = (0, 2, 3)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span every rank's shard of the batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        channels = x.shape[1]
        wide = x.double()
        count = torch.full((1,), x.numel() / channels, dtype=torch.float64, device=x.device)
        totals = all_reduce(torch.cat([wide.sum(_CHANNEL_DIMS), (wide * wide).sum(_CHANNEL_DIMS), count]))
        n = totals[-1]
        mean = totals[:channels] / n
        var = (totals[channels : 2 * channels] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * n / (n - 1).clamp_min(1.0))
        scale = torch.rsqrt(var + self.eps)
        y = (x - mean.to(x.dtype)[None, :, None, None]) * scale.to(x.dtype)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - momentum).add_(mean.to(self.running_mean.dtype), alpha=momentum)
        self.running_var.mul_(1 - momentum).add_(unbiased_var.to(self.running_var.dtype), alpha=momentum)


def convert(model: nn.Module) -> nn.Module:
    """`model` with every BatchNorm2d made a GlobalBatchNorm2d in place: the same module objects,
    parameters and buffers, so optimizers and state dicts made before still apply."""
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GlobalBatchNorm2d
    return model
