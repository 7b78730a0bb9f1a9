"""Bounded memory (issue 14): g_a and g_s in tiles give what one piece gives.

The refinement with tiles forced on a small photo must end on the same hard
latents as the one-piece fast path (same seed); the tiled MSE's gradient must
equal autograd's through the whole g_s; the relaxation and rate of y, in bands of
rows, must equal one call and keep only a few copies of y in the graph; the budget
picks one piece, the largest fitting tile, or refuses with the amount needed.
"""

from __future__ import annotations

import weakref

import pytest
import torch

from sgaplus import memory, tiling
from sgaplus.latent_model import pad
from sgaplus.refine import Refiner


def test_tiled_mse_and_gradient_equal_one_piece(tiny_model):
    """An odd-sized image (its padding is not part of the MSE) and tiles of 2 latents."""
    x = torch.rand(2, 3, 75, 90, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y, _ = tiny_model.analysis(pad(x))
    whole_y = y.clone().requires_grad_()
    whole = (tiny_model.synthesis(whole_y)[..., :75, :90] - x).pow(2).flatten(1).mean(1)
    (whole * torch.tensor([1.0, 3.0])).sum().backward()
    tiled_y = y.clone().requires_grad_()
    tiled = tiling.mse(tiny_model.synthesis, tiled_y, x, 2, tiny_model.synthesis_halo)
    (tiled * torch.tensor([1.0, 3.0])).sum().backward()
    torch.testing.assert_close(tiled, whole, rtol=1e-6, atol=0)
    scale = float(whole_y.grad.abs().max())  # float rounding of sums in another order
    torch.testing.assert_close(tiled_y.grad, whole_y.grad, rtol=0, atol=1e-5 * scale)


def test_by_rows_equals_one_call_with_its_gradient():
    """Bands of 3 rows (an uneven last band), a None input passed through, channels_last."""
    gen = torch.Generator().manual_seed(2)
    a, b = (torch.randn(2, 4, 8, 5, generator=gen).contiguous(memory_format=torch.channels_last)
            for _ in range(2))
    weights = torch.randn(2, 4, 8, 5, generator=gen)

    def fn(a: torch.Tensor, b: torch.Tensor, none: None) -> tuple[torch.Tensor, torch.Tensor]:
        assert none is None
        out = torch.sigmoid(a) * b + a
        return out, (a * b).exp().flatten(1).sum(1)

    grads = []
    for rows in (None, 3):
        x, y = a.clone().requires_grad_(), b.clone().requires_grad_()
        out, total = fn(x, y, None) if rows is None else tiling.by_rows(fn, rows, x, y, None)
        ((out * weights).sum() + (total * torch.tensor([1.0, -2.0])).sum()).backward()
        grads.append((out.detach(), total.detach(), x.grad, y.grad))
    for whole, banded in zip(*grads):
        torch.testing.assert_close(banded, whole, rtol=1e-6, atol=1e-6)


def _graph_copies_of_y(run, y: torch.Tensor) -> float:
    """Bytes the autograd graph of ``run()`` keeps in per-image tensors (weights excluded:
    their first dimension is not the batch of 2), in copies of y."""
    refs: list[weakref.ref] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        refs.append(weakref.ref(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                for t in (r() for r in refs) if t is not None and t.dim() > 1 and t.size(0) == 2}
    return sum(storages.values()) / (y.numel() * y.element_size()), out


def test_tiled_loop_keeps_a_few_copies_of_y_and_the_same_loss(model):
    """The tiled loop's graph (relaxation and rate of y in bands, g_s by tiles) against
    the one-piece graph: the same loss and gradients, a fraction of the memory."""
    x = torch.rand(2, 3, 128, 192, generator=torch.Generator().manual_seed(3))
    refiner = Refiner(model, device="cpu")
    with torch.no_grad():
        y0, z0 = model.analysis(x)
    results = []
    for tiled in (False, True):
        y, z = y0.clone().requires_grad_(), z0.clone().requires_grad_()
        gen = torch.Generator().manual_seed(0)

        def run():
            if tiled:
                return refiner._tiled_terms(x, y, z, 0.5, gen, 3)
            z_tilde = refiner.method(z, 0.5, gen)
            y_tilde, scales, means = model.latents(y, z_tilde, lambda v: refiner.method(v, 0.5, gen))
            return refiner._terms(x, y_tilde, z_tilde, scales, means)[0]

        copies, terms = _graph_copies_of_y(run, y)
        loss = terms.loss(refiner.lmbda)
        loss.sum().backward()
        results.append((copies, loss.detach(), y.grad, z.grad))
    (whole_copies, *whole), (tiled_copies, *tiled) = results
    # y, the noise, g_s's gradient, h_s's output (σ, μ) and its last activation: about 7.
    assert tiled_copies < 8 < 3 * 8 < whole_copies
    for a, b in zip(tiled, whole):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


@pytest.mark.parametrize("fixture", ["tiny_cheng", "model"])
def test_tiled_analysis_and_synthesis_equal_one_piece(request, fixture):
    """The halo covers g_a's and g_s's reach, for GDN stacks and cheng2020's residual blocks."""
    model = request.getfixturevalue(fixture)
    x = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y, z = model.analysis(x)
        y_t, z_t = model.tiled(3).analysis(x)
        x_hat, x_hat_t = model.synthesis(y), model.tiled(3).synthesis(y)
    torch.testing.assert_close(y_t, y, rtol=0, atol=1e-4)
    torch.testing.assert_close(z_t, z, rtol=0, atol=1e-4)
    torch.testing.assert_close(x_hat_t, x_hat, rtol=0, atol=1e-5)


@pytest.mark.parametrize("fixture", ["model", "context_model"])
def test_tiled_refinement_ends_on_the_same_latents(request, photo, fixture):
    """Tiles of 2 latents (8 tiles with halos) against the fast path, same seed."""
    model = request.getfixturevalue(fixture)
    iters = 8 if fixture == "context_model" else 15
    whole = Refiner(model, iters=iters, log_every=5, device="cpu")
    tiled = Refiner(model, iters=iters, log_every=5, device="cpu")
    tiled.tile_size = lambda shape: 2  # type: ignore[method-assign]
    assert whole.tile_size(photo.shape) is None  # a small photo runs in one piece
    a, b = whole.refine(photo), tiled.refine(photo)
    assert b.before[0].loss == pytest.approx(a.before[0].loss, rel=1e-6)
    assert torch.equal(a.hard.z_hat, b.hard.z_hat)
    assert torch.equal(a.hard.y_symbols, b.hard.y_symbols)
    assert b.after[0].loss == pytest.approx(a.after[0].loss, rel=1e-5)
    # The reported figures: the same latents give the same rates; x̂ differs by float rounding.
    assert b.after[0].bpp == pytest.approx(a.after[0].bpp, rel=1e-6)
    assert b.after[0].psnr == pytest.approx(a.after[0].psnr, abs=0.01)
    assert b.after[0].ms_ssim == pytest.approx(a.after[0].ms_ssim, abs=1e-5)
    assert [r["loss_true"] for r in b.history] == pytest.approx([r["loss_true"] for r in a.history],
                                                                 rel=1e-4)
    torch.testing.assert_close(b.x_hat, a.x_hat, rtol=0, atol=1e-4)


@pytest.mark.parametrize("height, width", [(3000, 4000), (4248, 5664)])  # 12 and 24 MP photos
def test_budget_leaves_the_margin_free_at_the_default(height, width):
    """The chooser against the model's constants: the largest tile whose fitted peak plus
    MARGIN fits the default budget, i.e. a fitted peak at most 1 / 1.1 of it."""
    halo = 4
    tile = memory.tile_size(1, height, width, memory.DEFAULT_BUDGET, halo)
    assert tile is not None and memory.MIN_TILE <= tile < width // 16

    def fitted(tile: int) -> float:  # the model spelled out from its constants
        window = (tile + 2 * halo) * 16
        piece = min(window, memory.padded(height)) * min(window, memory.padded(width))
        pixels = memory.padded(height) * memory.padded(width)
        return memory.BASE + memory.WHOLE_PER_PIXEL * pixels + memory.PIECE_PER_PIXEL * piece

    assert fitted(tile) * (1 + memory.MARGIN) <= memory.DEFAULT_BUDGET < fitted(tile + 1) * (1 + memory.MARGIN)
    assert memory.need(1, height, width, tile, halo) == int(fitted(tile) * (1 + memory.MARGIN))
    assert memory.MARGIN >= 0.1  # the margin README.md states


def test_budget_picks_one_piece_the_largest_tile_or_refuses():
    gib = 2**30
    assert memory.tile_size(1, 512, 768, memory.DEFAULT_BUDGET, 4) is None
    tile = memory.tile_size(1, 3000, 4000, memory.DEFAULT_BUDGET, 4)
    assert tile is not None and memory.MIN_TILE <= tile < 4000 // 16
    assert memory.need(1, 3000, 4000, tile, 4) <= memory.DEFAULT_BUDGET < memory.need(1, 3000, 4000, tile + 1, 4)
    assert memory.tile_size(1, 3000, 4000, 64 * gib, 4) is None
    assert memory.tile_size(1, 4248, 5664, memory.DEFAULT_BUDGET, 4) is not None  # 24 MP fits
    with pytest.raises(ValueError, match=r"8000x6000 needs about 11\.0 GiB, more than --max-memory 8\.0 GiB"):
        memory.tile_size(1, 6000, 8000, memory.DEFAULT_BUDGET, 4)
    assert memory.parse_size("8G") == memory.parse_size("8GiB") == memory.parse_size("8") == 8 * gib
    assert memory.parse_size("1500M") == 1500 * 2**20
    for bad in ("", "-1G", "8X", "0"):
        with pytest.raises(ValueError, match="invalid memory size"):
            memory.parse_size(bad)


def test_out_of_memory_is_recognised_with_its_size():
    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                       "memory: you tried to allocate 5368709120 bytes. Error code 12 (Cannot allocate memory)")
    cuda = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total ...")
    assert memory.is_out_of_memory(cpu) and memory.is_out_of_memory(cuda)
    assert memory.is_out_of_memory(MemoryError()) and not memory.is_out_of_memory(RuntimeError("shape"))
    assert memory.requested(cpu) == 5 * 2**30 and memory.requested(cuda) == int(2.5 * 2**30)
    assert str(memory.OutOfMemory(cpu, "coding 1 image(s) of 9x9", 2**30)) == (
        "out of memory coding 1 image(s) of 9x9: an allocation of 5.0 GiB failed; "
        "lower --max-memory (now 1.0 GiB) to work in smaller tiles")


def test_tiled_refinement_without_an_iteration_gives_the_unrefined_result(model, photo):
    """In tiles the unrefined latents are not kept through the loop; with no iteration they
    are computed again, and are what one piece gives."""
    whole = Refiner(model, iters=0, log_every=0, device="cpu")
    tiled = Refiner(model, iters=0, log_every=0, device="cpu")
    tiled.tile_size = lambda shape: 2  # type: ignore[method-assign]
    a, b = whole.refine(photo), tiled.refine(photo)
    assert b.iters == 0 and b.after == b.before
    assert b.after[0].loss == pytest.approx(a.after[0].loss, rel=1e-6)
    assert torch.equal(a.hard.y_symbols, b.hard.y_symbols) and torch.equal(a.hard.z_hat, b.hard.z_hat)
    torch.testing.assert_close(b.x_hat, a.x_hat, rtol=0, atol=1e-5)
