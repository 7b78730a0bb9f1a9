"""The distortion term: MS-SSIM as pytorch-msssim computes it, its guards, and refinement with it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import pytorch_msssim
import torch

from sgaplus.distortion import MSE, ms_ssim, ms_ssim_scales
from sgaplus.images import load_image
from sgaplus.loss import ms_ssim_8bit, psnr_8bit, rd_terms
from sgaplus.refine import Refiner

DEMO = Path(__file__).parents[1] / "src" / "sgaplus" / "data" / "demo.png"

#: CompressAI's ms-ssim λ for quality 4, the counterpart of the default model's mse λ 0.013.
MS_SSIM_LAMBDA = 16.64


@pytest.fixture(scope="module")
def demo_crop() -> torch.Tensor:
    """168 x 168 px of the bundled demo photo (face and suit): just enough for five scales."""
    return load_image(DEMO).x[..., 36:204, 60:228]


def noisy_pair(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=gen)
    return (x + 0.1 * torch.randn(shape, generator=gen)).clamp(0, 1), x


@pytest.mark.parametrize("shape", [(2, 3, 161, 200), (1, 3, 171, 333)])
def test_five_scales_are_pytorch_msssim(shape):
    x_hat, x = noisy_pair(shape)
    want = pytorch_msssim.ms_ssim(x_hat, x, data_range=1, size_average=False)
    assert ms_ssim(x_hat, x) == pytest.approx(want.tolist(), abs=1e-6)


def test_bands_of_rows_give_the_one_band_figure(monkeypatch):
    """A photo's SSIM maps are made in bands (distortion.BAND_PIXELS); forced to bands of
    3 map rows at the first scale (uneven last band), the figure is pytorch-msssim's."""
    from sgaplus import distortion

    x_hat, x = noisy_pair((2, 3, 171, 200))
    want = pytorch_msssim.ms_ssim(x_hat, x, data_range=1, size_average=False)
    monkeypatch.setattr(distortion, "BAND_PIXELS", 3 * 200)
    assert ms_ssim(x_hat, x) == pytest.approx(want.tolist(), abs=1e-6)


def test_small_images_get_fewer_scales_and_tiny_ones_none():
    assert [ms_ssim_scales(s, 500) for s in (10, 11, 20, 21, 40, 41, 80, 81, 160, 161)] == \
        [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    x_hat, x = noisy_pair((1, 3, 64, 96))  # three scales
    worse = (x + 0.3 * (x_hat - x) / 0.1).clamp(0, 1)
    value = float(ms_ssim(x_hat, x)[0])
    assert 0 < float(ms_ssim(worse, x)[0]) < value < 1
    assert float(ms_ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="larger than 10 px"):
        ms_ssim(x[..., :10, :], x[..., :10, :])
    assert ms_ssim_8bit(x[..., :10, :], x[..., :10, :]) is None


def test_anticorrelated_images_give_finite_gradients():
    """Negative SSIM terms are clamped at 0 (ops.nonnegative_ssim): no NaN from x^w."""
    _, x = noisy_pair((1, 3, 96, 96))
    x_hat = (1 - x).requires_grad_(True)
    value = ms_ssim(x_hat, x)
    value.sum().backward()
    assert float(value.detach()) >= 0 and torch.isfinite(x_hat.grad).all()


def test_mse_loss_is_the_spec_formula(model, photo):
    """The mse path computes λ·255²·MSE + bpp exactly as before the distortion term existed."""
    with torch.no_grad():
        hard = model.quantize(*model.analysis(torch.nn.functional.pad(photo, (0, 32, 0, 0), "replicate")))
        scales, means = hard.scales.float(), hard.means.float()
        terms, x_hat = rd_terms(model, photo, hard.y_hat, hard.z_hat, scales, means)
    mse = (x_hat - photo).pow(2).flatten(1).mean(1)
    assert torch.equal(terms.loss(0.01), 0.01 * 255.0**2 * mse + terms.bpp)
    assert terms.weight == MSE.weight == 255.0**2


def test_ms_ssim_refinement_raises_ms_ssim_at_lower_rate(model, demo_crop):
    """The default (mse-trained) model refined for MS-SSIM at CompressAI's ms-ssim λ of the
    same rate: a real photo gains MS-SSIM with fewer bits, and the history's true loss,
    which the plateau rule watches, is the ms-ssim loss."""
    refiner = Refiner(model, method="ssl", iters=30, lmbda=MS_SSIM_LAMBDA, distortion="ms-ssim",
                      log_every=10, device="cpu")
    result = refiner.refine(demo_crop)
    before, after = result.before[0], result.after[0]
    assert after.ms_ssim > before.ms_ssim and after.ms_ssim_db > before.ms_ssim_db
    assert after.bpp <= before.bpp and after.loss < before.loss
    assert result.config.distortion == "ms-ssim"
    for row in result.history:
        assert row["loss_true"] == pytest.approx(MS_SSIM_LAMBDA * (1 - row["ms_ssim"]) + row["bpp"],
                                                 rel=1e-5)
    # the reported figures are those of the 8-bit reconstruction
    assert after.ms_ssim == pytest.approx(float(ms_ssim_8bit(result.x_hat, demo_crop)[0]), abs=1e-6)
    assert after.psnr == pytest.approx(float(psnr_8bit(result.x_hat, demo_crop)[0]), abs=1e-4)


def test_distortion_defaults_to_the_models_metric(tiny_model, photo):
    ms_model = copy.copy(tiny_model)
    ms_model.meta, ms_model.lmbda = {"metric": "ms-ssim"}, 8.73
    result = Refiner(ms_model, method="ssl", iters=0).refine(photo)
    b = result.before[0]
    assert result.config.distortion == "ms-ssim" and result.config.lmbda == 8.73
    float_ms_ssim = float(ms_ssim(result.x_hat, photo)[0])
    assert b.loss == pytest.approx(8.73 * (1 - float_ms_ssim) + b.bpp, rel=1e-5)
    assert Refiner(tiny_model, method="ssl").distortion is MSE


def test_another_metric_needs_a_lambda_and_a_known_name(model):
    with pytest.raises(ValueError, match="trained for mse.*give one"):
        Refiner(model, method="ssl", distortion="ms-ssim")
    with pytest.raises(ValueError, match="unknown distortion 'ssim'"):
        Refiner(model, method="ssl", lmbda=1.0, distortion="ssim")
    assert Refiner(model, method="ssl", lmbda=3.0, distortion="ms-ssim").variant(lmbda=6.0).distortion.name == "ms-ssim"
