"""Faster CPU kernels for a *frozen* synthesis transform g_s (issue 7).

Refinement runs g_s forward and backward hundreds of times with fixed weights and
needs gradients for the input only. Two layers of CompressAI's g_s leave time on
the table there (figures: docs/bench/refine_speed.md):

* Inverse GDN, ``x · sqrt(β + Γ x²)``. CompressAI computes ``Γ x²`` as a 1x1
  convolution (at one thread PyTorch's slow path, not oneDNN) and each elementwise
  step as a pass over the whole activation (50 MB at 768x512). Here the latents are
  channels_last, so ``Γ x²`` is a matrix product over rows of C channels; the work is
  done in blocks of rows that stay in the cache, and the backward pass is written out
  by hand from the stored input and normaliser (CompressAI's autograd graph keeps
  more intermediates than these two).
* The last transposed convolution (C → 3 channels): oneDNN runs it at a fifth of the
  throughput of the others. As a sub-pixel convolution (one 3x3 convolution to
  4·3 channels, then a pixel shuffle) its forward pass is about twice as fast; its
  backward pass is the transposed convolution's own (a strided convolution).

Both compute the same function as the modules they replace (float rounding aside;
tests/test_kernels.py) and hold no trainable parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Elements per block of the GDN kernels: 64 Ki floats (256 KB) per temporary, so a
#: block's few temporaries stay in a 2 MB L2 cache (measured: 32-128 Ki alike).
BLOCK_ELEMENTS = 1 << 16


def _rows(x: Tensor) -> Tensor:
    """(B, C, H, W) channels_last as a (B·H·W, C) matrix, without a copy when possible."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.size(1))


def _from_rows(rows: Tensor, like: Tensor) -> Tensor:
    b, c, h, w = like.shape
    return rows.view(b, h, w, c).permute(0, 3, 1, 2)


class _InverseGDN(torch.autograd.Function):
    """y = x · n with n = sqrt(β + x² Γᵀ) per pixel; dx = g·n + x · ((g·x / n) Γ).

    β > 0 (CompressAI's reparametrisation bounds it below), so n > 0 and the
    division is safe. Storing n costs one activation and saves a third matrix
    product (measured: g_s forward+backward 0.52 s instead of 0.56 s at 768x512).
    """

    @staticmethod
    def forward(ctx, x: Tensor, beta: Tensor, gamma: Tensor) -> Tensor:  # type: ignore[override]
        xr = _rows(x)
        out, norm = torch.empty_like(xr), torch.empty_like(xr)
        step = max(1, BLOCK_ELEMENTS // xr.size(1))
        gamma_t = gamma.t()
        for s in range(0, xr.size(0), step):
            xb, n = xr[s:s + step], norm[s:s + step]
            torch.addmm(beta, xb.square(), gamma_t, out=n).sqrt_()
            torch.mul(xb, n, out=out[s:s + step])
        ctx.save_for_backward(xr, norm, gamma)
        return _from_rows(out, x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        xr, norm, gamma = ctx.saved_tensors
        gr = _rows(grad.contiguous(memory_format=torch.channels_last))
        dx = torch.empty_like(xr)
        step = max(1, BLOCK_ELEMENTS // xr.size(1))
        for s in range(0, xr.size(0), step):
            xb, gb, db, n = xr[s:s + step], gr[s:s + step], dx[s:s + step], norm[s:s + step]
            m = torch.mm(torch.mul(gb, xb).div_(n), gamma)
            torch.mul(gb, n, out=db).addcmul_(xb, m)
        return _from_rows(dx, grad), None, None


class InverseGDN(nn.Module):
    """Inverse GDN with fixed β (C,) and Γ (C, C), for channels_last inputs."""

    def __init__(self, beta: Tensor, gamma: Tensor) -> None:
        super().__init__()
        self.register_buffer("beta", beta.detach().float().contiguous())
        self.register_buffer("gamma", gamma.detach().float().contiguous())

    def forward(self, x: Tensor) -> Tensor:
        return _InverseGDN.apply(x.contiguous(memory_format=torch.channels_last),
                                 self.beta, self.gamma)


def subpixel_weight(weight: Tensor) -> Tensor:
    """The 3x3 convolution weight (4·C_out, C_in, 3, 3) equal to a transposed
    convolution with kernel 5, stride 2, padding 2, output padding 1 followed by
    ``pixel_shuffle(·, 2)``.

    Output pixel (2i+a, 2j+b) sums x[i+di, j+dj] · w[:, :, a−2di+2, b−2dj+2] over
    di, dj ∈ {−1, 0, 1}; taps outside the 5x5 kernel are zero.
    """
    c_in, c_out = weight.shape[:2]
    sub = weight.new_zeros(c_out, 2, 2, c_in, 3, 3)
    for a in range(2):
        for b in range(2):
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    kh, kw = a - 2 * di + 2, b - 2 * dj + 2
                    if 0 <= kh < 5 and 0 <= kw < 5:
                        sub[:, a, b, :, di + 1, dj + 1] = weight[:, :, kh, kw].t()
    return sub.reshape(4 * c_out, c_in, 3, 3)


class _SubpixelDeconv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, sub: Tensor, bias: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(weight)
        out = F.pixel_shuffle(F.conv2d(x, sub, None, 1, 1), 2)
        return out.add_(bias.view(1, -1, 1, 1))

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        # The adjoint of conv_transpose2d(stride 2, padding 2) is conv2d with the same weight.
        grad = grad.contiguous(memory_format=torch.channels_last)
        return F.conv2d(grad, weight, None, 2, 2), None, None, None


class SubpixelDeconv(nn.Module):
    """``ConvTranspose2d(C_in, C_out, 5, stride=2, padding=2, output_padding=1)`` with
    fixed weights, computed as a sub-pixel convolution."""

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().float().contiguous())
        self.register_buffer("sub", subpixel_weight(self.weight).contiguous(
            memory_format=torch.channels_last))
        self.register_buffer("bias", bias.detach().float().contiguous())

    @staticmethod
    def fits(conv: nn.ConvTranspose2d) -> bool:
        """The configuration CompressAI's ``deconv`` helper builds."""
        return (conv.kernel_size == (5, 5) and conv.stride == (2, 2) and conv.padding == (2, 2)
                and conv.output_padding == (1, 1) and conv.groups == 1
                and conv.dilation == (1, 1) and conv.bias is not None)

    def forward(self, x: Tensor) -> Tensor:
        return _SubpixelDeconv.apply(x, self.weight, self.sub, self.bias)
