"""The refiner on a trained model and a real photo (spec §3)."""

from __future__ import annotations

import pytest
import torch

from sgaplus.latent_model import pad
from sgaplus.loss import psnr_8bit, rd_terms
from sgaplus.refine import Refiner
from method_db import SGA_PLUS


@pytest.mark.parametrize("method", SGA_PLUS)
def test_sga_plus_lowers_true_loss_and_reports_what_decodes(model, photo, method):
    result = Refiner(model, method=method, iters=200, log_every=50, device="cpu").refine(photo)
    before, after = result.before[0], result.after[0]
    assert after.loss < before.loss

    # Decode the returned hard latents independently and recompute the figures.
    hard = result.hard
    with torch.no_grad():
        scales, means = model.hyper_decode(hard.z_hat, hard.y_symbols.shape)
        terms, x_hat = rd_terms(model, photo, hard.y_hat, hard.z_hat, scales.float(), means.float())
    assert torch.equal(hard.z_hat, torch.round(hard.z_hat))
    assert torch.equal(hard.y_symbols, torch.round(hard.y_symbols))
    assert float(psnr_8bit(x_hat, photo)[0]) == pytest.approx(after.psnr, abs=1e-4)
    assert float(terms.bpp[0]) == pytest.approx(after.bpp, rel=1e-5)
    assert x_hat.shape == photo.shape


def test_history_rows_and_gap(model, photo):
    result = Refiner(model, method="ssl", iters=20, log_every=5, device="cpu").refine(photo)
    assert [r["iter"] for r in result.history] == [5, 10, 15, 20]
    for row in result.history:
        assert row["gap"] == pytest.approx(row["loss_method"] - row["loss_true"])
        assert row["bpp"] > 0 and 10 < row["psnr"] < 60
    assert result.iters == 20 and result.seconds > 0


def test_ste_gap_is_zero_at_every_logged_iteration(model, photo):
    """The gap compares the method and the true loss at the same latents: STE's forward
    pass is hard rounding, so its gap is exactly 0 (the paper's Fig. 2b)."""
    result = Refiner(model, method="ste", iters=12, log_every=3, device="cpu").refine(photo)
    assert [r["iter"] for r in result.history] == [3, 6, 9, 12]
    assert all(r["gap"] == 0.0 and r["loss_method"] == r["loss_true"] for r in result.history)
    # Uniform noise moves every latent, so the same measurement is not 0 for it.
    noisy = Refiner(model, method="noise", iters=6, log_every=3, device="cpu").refine(photo)
    assert all(r["gap"] != 0.0 for r in noisy.history)


def test_history_does_not_change_the_trajectory(model, photo):
    """The history's method loss draws its own noise: logging leaves the refinement alone."""
    logged = Refiner(model, method="ssl", iters=8, log_every=2, device="cpu").refine(photo)
    silent = Refiner(model, method="ssl", iters=8, log_every=0, device="cpu").refine(photo)
    assert torch.equal(logged.latents[0], silent.latents[0])
    assert torch.equal(logged.latents[1], silent.latents[1])


def test_odd_size_refines_and_decodes_to_original_size(model):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 97, 131) * 0.2 + torch.linspace(0, 0.8, 131)
    result = Refiner(model, method="ssl", iters=5, log_every=0, device="cpu").refine(x)
    assert result.x_hat.shape == x.shape
    # bpp is normalised by the original pixels, not the padded ones
    lik_pixels = pad(x).shape[-1] * pad(x).shape[-2]
    assert lik_pixels > 97 * 131
    assert result.after[0].bpp > 0


def test_batch_gives_per_image_results(model, photo):
    x = torch.cat([photo, photo.flip(-1)])
    result = Refiner(model, method="ssl", iters=30, log_every=0, device="cpu").refine(x)
    assert len(result.before) == len(result.after) == 2
    assert result.hard.y_symbols.size(0) == 2
    for b, a in zip(result.before, result.after):
        assert a.loss < b.loss


def test_semi_multi_rate_moves_along_the_curve(model, photo):
    low = Refiner(model, method="ssl", iters=150, lmbda=model.lmbda / 4, log_every=0).refine(photo)
    high = Refiner(model, method="ssl", iters=150, lmbda=model.lmbda * 4, log_every=0).refine(photo)
    assert low.after[0].bpp < low.before[0].bpp
    assert high.after[0].bpp > high.before[0].bpp
    assert high.after[0].psnr > low.after[0].psnr


def test_same_seed_same_result_other_seed_other_noise(tiny_model, photo):
    run = lambda seed: Refiner(tiny_model, method="ssl", iters=10, seed=seed, log_every=5).refine(photo)
    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a.hard.y_symbols, b.hard.y_symbols)
    assert a.history == b.history
    # the relaxed (method) loss sees the Gumbel noise, so another seed changes it
    assert a.history[0]["loss_method"] != c.history[0]["loss_method"]


def test_zero_iterations_returns_the_base_latents(model, photo):
    result = Refiner(model, method="ssl", iters=0).refine(photo)
    assert result.after[0] == result.before[0]
    assert result.iters == 0


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0}, "learning rate"), ({"lmbda": -1.0}, "lambda"), ({"iters": -5}, "iterations"),
    ({"precision": "fp8"}, "precision"), ({"log_every": -1}, "log interval"),
])
def test_invalid_arguments(tiny_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Refiner(tiny_model, method="ssl", **kwargs)


def test_wrong_input_shape(tiny_model):
    with pytest.raises(ValueError, match="expected images"):
        Refiner(tiny_model).refine(torch.rand(3, 16, 16))


def test_paper_settings_are_the_refiner_defaults(model):
    r = Refiner(model)
    assert (r.config.lr, r.config.lr_decay, r.config.iters) == (0.005, "constant", 2000)
    assert r.schedule.config() == {"schedule": "sgaplus", "r": 1e-3, "t_max": 1.0}
    with pytest.raises(ValueError, match="Invalid lr decay"):
        Refiner(model, lr_decay="cosine")


def test_linear_lr_decay_reaches_zero_at_the_cap(model, photo, monkeypatch):
    """Adam sees lr·(1 − t/N) at step t with ``lr_decay="linear"``, lr at every step without."""
    seen: list[float] = []
    step = torch.optim.Adam.step

    def spy(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    Refiner(model, iters=4, lr=0.04, lr_decay="linear", log_every=0, device="cpu").refine(photo)
    assert seen == pytest.approx([0.04, 0.03, 0.02, 0.01])
    seen.clear()
    Refiner(model, iters=3, lr=0.04, log_every=0, device="cpu").refine(photo)
    assert seen == [0.04] * 3
