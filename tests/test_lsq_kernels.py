"""The fused CPU kernel of the LSQ quantizer against the eager path and LSQ's closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amed.quant import lsq
from amed.quant.lsq import LsqQuantizer, lsq_fake_quant, set_fused_cpu_kernel

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def one_thread():
    """The fused kernel is chosen with one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(x: torch.Tensor, s: float, q_n: int, q_p: int, upstream: torch.Tensor, *, fused: bool):
    previous = set_fused_cpu_kernel(fused)
    try:
        xt = x.clone().requires_grad_(True)
        st = torch.tensor(s, dtype=x.dtype, requires_grad=True)
        assert lsq._fused_applies(xt, st) == fused
        out = lsq_fake_quant(xt, st, q_n, q_p, 0.01)
        out.backward(upstream)
        return out.detach(), xt.grad, st.grad
    finally:
        set_fused_cpu_kernel(previous)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("q_n", "q_p"), [(0, 3), (-1, 1), (-8, 7), (-127, 127), (0, 255)])
def test_fused_kernel_equals_eager_path(dtype, q_n, q_p):
    gen = torch.Generator().manual_seed(q_p)
    s = 0.07
    x = (torch.randn(3, 5, 17, 19, generator=gen) * (q_p + 1) * s * 0.6).to(dtype)
    x.view(-1)[:4] = torch.tensor([q_p * s, q_n * s, (q_p + 0.5) * s, 0.5 * s], dtype=dtype)
    upstream = torch.randn(x.shape, generator=gen).to(dtype)
    fused = _run(x, s, q_n, q_p, upstream, fused=True)
    eager = _run(x, s, q_n, q_p, upstream, fused=False)
    assert torch.equal(fused[0], eager[0])
    assert torch.equal(fused[1], eager[1])
    torch.testing.assert_close(fused[2], eager[2], rtol=1e-5, atol=1e-7)


def test_fused_kernel_matches_closed_form_gradient_of_the_step():
    rng = np.random.default_rng(0)
    q_n, q_p, s = -8, 7, np.float32(0.1)
    x = rng.normal(0.0, 0.6, size=(4, 6, 7, 7)).astype(np.float32)
    upstream = rng.normal(size=x.shape).astype(np.float32)
    v = (x / s).astype(np.float32)
    dxhat_ds = np.where(v <= q_n, q_n, np.where(v >= q_p, q_p, np.round(v) - v))
    want = 0.01 * float(np.sum(upstream.astype(np.float64) * dxhat_ds))
    _, grad_x, grad_s = _run(torch.from_numpy(x), float(s), q_n, q_p, torch.from_numpy(upstream), fused=True)
    assert grad_s.item() == pytest.approx(want, rel=1e-5)
    np.testing.assert_array_equal(grad_x.numpy(), upstream * ((v >= q_n) & (v <= q_p)))


def test_quantizer_uses_the_eager_path_where_the_kernel_does_not_apply():
    q = LsqQuantizer(4, kind="act")
    x = torch.randn(2, 8, 5, 5).to(memory_format=torch.channels_last).requires_grad_(True)
    assert not lsq._fused_applies(x, q.step())
    q(x).sum().backward()
    assert x.grad is not None and q.scale.grad is not None
    torch.set_num_threads(2)
    assert not lsq._fused_applies(torch.randn(4, 4), q.step())


@pytest.mark.parametrize("scale", [0.2, -0.3, 0.0, 1e-9, -1e-9, 1e-8])
def test_fused_kernel_applies_the_step_rule_like_the_eager_path(scale):
    """s = max(|scale|, MIN_STEP); dL/dscale as autograd gives abs and clamp_min."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 8, 8, generator=gen)
    upstream = torch.randn(x.shape, generator=gen)
    results = []
    for fused in (True, False):
        previous = set_fused_cpu_kernel(fused)
        try:
            q = LsqQuantizer(4, kind="act")
            with torch.no_grad():
                q.scale.fill_(scale)
            q.initialized.fill_(True)
            q.sign_known.fill_(True)
            q.signed.fill_(True)
            xt = x.clone().requires_grad_(True)
            assert lsq._fused_applies(xt, q.scale) == fused
            out = q(xt)
            out.backward(upstream)
            results.append((out.detach(), xt.grad, q.scale.grad))
        finally:
            set_fused_cpu_kernel(previous)
    (out_f, gx_f, gs_f), (out_e, gx_e, gs_e) = results
    assert torch.equal(out_f, out_e) and torch.equal(gx_f, gx_e)
    assert torch.isfinite(gs_f) and torch.isfinite(out_f).all()
    torch.testing.assert_close(gs_f, gs_e, rtol=1e-5, atol=1e-6)
