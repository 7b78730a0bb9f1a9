"""g_a and g_s over spatial tiles, so an image of any size fits a memory budget.

The transforms are convolution stacks: a latent depends on the pixels around its
16 x 16 block, a pixel on the latents around it, and on nothing further away than
a few latents (``LatentModel.synthesis_halo``). Running a transform on one tile of
the latent grid widened by that halo and keeping the tile's core gives the pixels
(or latents) of the whole-image pass, up to float rounding; the memory of one pass
is then that of one tile, whatever the image size.

    latent grid (y's H/16 x W/16):   ┌──────┬──────┬──┐   core: size x size latents
                                     │ ░░░░ │      │  │   ░: core + halo, what the
                                     ├──────┼──────┼──┤      transform sees
                                     └──────┴──────┴──┘

The refinement loop also needs g_s's *gradient*. For the MSE distortion, a sum
over pixels, :func:`mse` runs forward and backward one tile at a time and adds up
the tiles' gradients with respect to ŷ (a latent in one tile's halo gets its share
from each tile whose pixels it reaches), so the activations of one tile are alive
at a time and nothing is computed twice. A distortion that is not a per-pixel sum
(MS-SSIM: windows across tile borders, a mean of products over scales) does not
split this way; the refiner tiles only MSE.

What the loop computes on the whole latents, the relaxation of y and its rate, is
elementwise over the latent grid: :func:`by_rows` runs it over bands of rows
without keeping its autograd graph (some 25 intermediate copies of y) and runs a
band again in the backward pass, for that band's gradient (gradient
checkpointing). Only the inputs, the output and their gradients exist whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor

#: Pixels per latent along each axis: g_a downsamples 16x, g_s upsamples 16x.
SCALE = 16


@dataclass(frozen=True)
class Tile:
    """One tile of the latent grid: its core rows/columns and the halo-widened window."""

    r: int
    c: int
    h: int
    w: int
    r0: int
    c0: int
    r1: int
    c1: int


def tiles(h: int, w: int, size: int, halo: int) -> Iterator[Tile]:
    """Tiles of ``size`` x ``size`` latents covering an h x w grid, in raster order."""
    if size < 1 or halo < 0:
        raise ValueError(f"invalid tile {size} / halo {halo}")
    for r in range(0, h, size):
        for c in range(0, w, size):
            yield Tile(r, c, min(size, h - r), min(size, w - c),
                       max(r - halo, 0), max(c - halo, 0), min(r + size + halo, h), min(c + size + halo, w))


def map_tiles(fn: Callable[[Tensor], Tensor], x: Tensor, grid: tuple[int, int], size: int,
              halo: int, scale_in: int, scale_out: int) -> Tensor:
    """``fn(x)`` computed tile by tile over a grid of latents (no gradient).

    A grid cell is ``scale_in`` input and ``scale_out`` output positions per axis
    (g_a: 16 and 1, g_s: 1 and 16). The output is assembled on ``x``'s device from
    each tile's core, whatever device ``fn`` returns its piece on.
    """
    out: Tensor | None = None
    with torch.no_grad():
        for t in tiles(*grid, size, halo):
            piece = fn(x[..., t.r0 * scale_in:t.r1 * scale_in, t.c0 * scale_in:t.c1 * scale_in])
            if out is None:
                out = piece.new_empty(*piece.shape[:2], grid[0] * scale_out, grid[1] * scale_out,
                                      device=x.device)
            out[..., t.r * scale_out:(t.r + t.h) * scale_out, t.c * scale_out:(t.c + t.w) * scale_out] = \
                piece[..., (t.r - t.r0) * scale_out:(t.r - t.r0 + t.h) * scale_out,
                      (t.c - t.c0) * scale_out:(t.c - t.c0 + t.w) * scale_out]
    assert out is not None  # a grid has at least one tile
    return out


class _TiledMSE(torch.autograd.Function):
    """Per-image mean((g_s(ŷ) − x)²) over x's pixels, with its gradient computed during the
    forward pass, tile by tile (see the module docstring); backward only scales it."""

    @staticmethod
    def forward(ctx, y_hat: Tensor, x: Tensor, g_s: Callable[[Tensor], Tensor],  # type: ignore[override]
                size: int, halo: int, precision: Callable[[], AbstractContextManager]) -> Tensor:
        height, width = x.shape[-2:]
        sse = x.new_zeros(x.size(0))
        grad = torch.zeros_like(y_hat) if ctx.needs_input_grad[0] else None
        for t in tiles(*y_hat.shape[-2:], size, halo):
            # The core's pixels inside the image (a tile of padding only has none).
            top, left = t.r * SCALE, t.c * SCALE
            bottom, right = min((t.r + t.h) * SCALE, height), min((t.c + t.w) * SCALE, width)
            if bottom <= top or right <= left:
                continue
            window = y_hat[..., t.r0:t.r1, t.c0:t.c1].detach()
            with torch.enable_grad():
                window.requires_grad_(grad is not None)
                with precision():
                    piece = g_s(window)
                oy, ox = (t.r - t.r0) * SCALE, (t.c - t.c0) * SCALE
                diff = piece[..., oy:oy + bottom - top, ox:ox + right - left].float() - x[..., top:bottom, left:right]
                tile_sse = diff.pow(2).flatten(1).sum(1)
                if grad is not None:
                    tile_sse.sum().backward()
                    grad[..., t.r0:t.r1, t.c0:t.c1] += window.grad
            sse += tile_sse.detach()
        ctx.save_for_backward(grad)
        ctx.count = x[0].numel()  # a mean over channels and pixels
        return sse / ctx.count

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        return grad * (grad_out / ctx.count).view(-1, 1, 1, 1), None, None, None, None, None


def mse(g_s: Callable[[Tensor], Tensor], y_hat: Tensor, x: Tensor, size: int, halo: int,
        precision: Callable[[], AbstractContextManager] = nullcontext) -> Tensor:
    """Per-image MSE of ``g_s(ŷ)`` cropped to x (B, 3, H, W), differentiable in ŷ, with
    one tile's activations alive at a time. ``precision`` wraps g_s (e.g. autocast)."""
    return _TiledMSE.apply(y_hat, x, g_s, size, halo, precision)


class _ByRows(torch.autograd.Function):
    """``fn`` over bands of rows without a graph, each band recomputed with one for its
    gradient in the backward pass (see the module docstring)."""

    @staticmethod
    def forward(ctx, fn: Callable[..., tuple[Tensor, Tensor]], rows: int,  # type: ignore[override]
                *inputs: Tensor | None) -> tuple[Tensor, Tensor]:
        first = inputs[0]
        assert first is not None
        out, total = torch.empty_like(first), first.new_zeros(first.size(0))
        for r in range(0, first.size(2), rows):
            piece, subtotal = fn(*_band(inputs, r, rows))
            out[:, :, r:r + rows] = piece
            total += subtotal
        ctx.fn, ctx.rows = fn, rows
        ctx.save_for_backward(*inputs)
        return out, total

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_total: Tensor):  # type: ignore[override]
        inputs = ctx.saved_tensors
        needs = ctx.needs_input_grad[2:]
        grads = [torch.zeros_like(t) if need else None for t, need in zip(inputs, needs)]
        for r in range(0, inputs[0].size(2), ctx.rows):
            leaves = [None if t is None else t.detach().requires_grad_(need)
                      for t, need in zip(_band(inputs, r, ctx.rows), needs)]
            with torch.enable_grad():
                piece, subtotal = ctx.fn(*leaves)
                torch.autograd.backward((piece, subtotal), (grad_out[:, :, r:r + ctx.rows], grad_total))
            for grad, leaf in zip(grads, leaves):
                if grad is not None and leaf.grad is not None:
                    grad[:, :, r:r + ctx.rows] = leaf.grad
        return None, None, *grads


def _band(tensors: tuple[Tensor | None, ...], r: int, rows: int) -> list[Tensor | None]:
    """Rows r..r+rows (dimension 2, the latent grid's height) of each tensor."""
    return [None if t is None else t[:, :, r:r + rows] for t in tensors]


def by_rows(fn: Callable[..., tuple[Tensor, Tensor]], rows: int,
            *inputs: Tensor | None) -> tuple[Tensor, Tensor]:
    """``fn(*inputs)`` in bands of ``rows`` rows of the latent grid, differentiable, with
    one band's graph alive at a time (forward and backward).

    ``fn`` maps bands of the inputs (B, ..., H, ...; the height at dimension 2, None
    passed through) to a band shaped like the first input's and a per-image sum (B,),
    and must be elementwise along the height: a band's result depends on that band
    alone. Returns the assembled output and the sum over bands, equal to
    ``fn(*inputs)`` up to float rounding. ``fn`` runs twice per band with a gradient.
    """
    return _ByRows.apply(fn, rows, *inputs)
