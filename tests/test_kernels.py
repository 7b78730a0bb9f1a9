"""The CPU kernels compute CompressAI's g_s: same outputs, same input gradients."""

from __future__ import annotations

import pytest
import torch
from compressai.layers import GDN

from sgaplus.kernels import BLOCK_ELEMENTS, InverseGDN, SubpixelDeconv


def forward_backward(module, x: torch.Tensor, grad: torch.Tensor):
    x = x.detach().clone().requires_grad_(True)
    out = module(x)
    out.backward(grad)
    return out.detach(), x.grad


def channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("hw", [(3, 5), (64, 40)])  # one block; several blocks and a remainder
def test_inverse_gdn_matches_compressai(hw):
    torch.manual_seed(0)
    ref = GDN(16, inverse=True)
    with torch.no_grad():  # a non-trivial Γ and β, as after training
        ref.gamma.add_(0.3 * torch.rand_like(ref.gamma))
        ref.beta.add_(torch.rand_like(ref.beta))
    ref.requires_grad_(False)
    fast = InverseGDN(ref.beta_reparam(ref.beta), ref.gamma_reparam(ref.gamma))
    x = torch.randn(2, 16, *hw)
    g = torch.randn(2, 16, *hw)
    assert 2 * 16 * hw[0] * hw[1] > BLOCK_ELEMENTS or hw == (3, 5)
    out_ref, dx_ref = forward_backward(ref, x, g)
    out, dx = forward_backward(fast, channels_last(x), g)  # NCHW gradient into a channels_last op
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(dx, dx_ref, rtol=1e-4, atol=1e-5)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_subpixel_deconv_matches_conv_transpose():
    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose2d(12, 3, 5, stride=2, padding=2, output_padding=1)
    ref.requires_grad_(False)
    assert SubpixelDeconv.fits(ref)
    fast = SubpixelDeconv(ref.weight, ref.bias)
    x = torch.randn(2, 12, 7, 9)
    g = torch.randn(2, 3, 14, 18)
    out_ref, dx_ref = forward_backward(ref, x, g)
    out, dx = forward_backward(fast, channels_last(x), g)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dx, dx_ref, rtol=1e-5, atol=1e-5)
    assert not SubpixelDeconv.fits(torch.nn.ConvTranspose2d(12, 3, 3, stride=2, padding=1))


def test_loop_synthesis_is_g_s(model, photo):
    """The bundled model's g_s and its loop form agree on a real latent and its gradient,
    and building the loop form leaves the model's own g_s untouched."""
    from sgaplus.latent_model import pad

    loop = model.loop_synthesis()
    kinds = [type(m).__name__ for m in loop]
    assert kinds.count("InverseGDN") == 3 and kinds[-1] == "SubpixelDeconv"
    assert all(type(m).__name__ == "GDN" for m in model.net.g_s if "GDN" in type(m).__name__)
    with torch.no_grad():
        y, _ = model.analysis(pad(photo))
    g = torch.randn(1, 3, *pad(photo).shape[-2:])
    out_ref, dy_ref = forward_backward(model.net.g_s, y, g)
    out, dy = forward_backward(loop, channels_last(y), g)
    torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dy, dy_ref, rtol=1e-4, atol=1e-4)
