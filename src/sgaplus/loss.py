"""The rate-distortion loss of the spec (§2) and the figures reported beside it.

    L = λ · w · D + bpp_y + bpp_z,   bpp = −Σ log2 p / (H·W)

with D, w of :mod:`sgaplus.distortion`: the spec's λ·255²·MSE, or CompressAI's
λ·(1 − MS-SSIM). H·W are the pixels of the *original* image, so padding to a
multiple of 64 is paid for in bits, never hidden.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from . import ops
from .distortion import MSE, Distortion, ms_ssim, ms_ssim_scales, mse
from .latent_model import HardLatents, LatentModel, pad


@dataclass
class RDTerms:
    """Per-image tensors of one forward pass (shape (B,)); ``weight`` is the loss's w."""

    distortion: Tensor
    bpp_y: Tensor
    bpp_z: Tensor
    weight: float

    @property
    def bpp(self) -> Tensor:
        return self.bpp_y + self.bpp_z

    def loss(self, lmbda: float) -> Tensor:
        return lmbda * self.weight * self.distortion + self.bpp


@dataclass
class Metrics:
    """One image's figures for a set of hard-rounded latents.

    ``psnr`` and ``ms_ssim`` are measured on the clamped 8-bit reconstruction, i.e.
    the image a decoder writes (``ms_ssim`` None for images of 10 px or less on a
    side, see :mod:`sgaplus.distortion`); ``loss`` is the true R-D loss of the
    refinement's distortion (float reconstruction); ``mse`` is of the float one.
    """

    loss: float
    bpp: float
    bpp_y: float
    bpp_z: float
    psnr: float
    mse: float
    ms_ssim: float | None
    ms_ssim_db: float | None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def bits(likelihoods: Tensor) -> Tensor:
    """−Σ log2 p per image, for a (B, ...) tensor."""
    return -torch.log2(likelihoods).flatten(1).sum(1)


def rd_terms(
    model: LatentModel,
    x: Tensor,
    y_hat: Tensor,
    z_hat: Tensor,
    scales: Tensor,
    means: Tensor,
    distortion: Distortion = MSE,
) -> tuple[RDTerms, Tensor]:
    """Decode ``y_hat`` and price (ŷ, ẑ); returns the terms and x̂ cropped to x's size."""
    h, w = x.shape[-2:]
    x_hat = model.synthesis(y_hat)[..., :h, :w]
    return price(model, x, x_hat, y_hat, z_hat, scales, means, distortion), x_hat


def price(
    model: LatentModel,
    x: Tensor,
    x_hat: Tensor,
    y_hat: Tensor,
    z_hat: Tensor,
    scales: Tensor,
    means: Tensor,
    distortion: Distortion = MSE,
) -> RDTerms:
    """The loss terms of an already decoded ``x_hat`` (cropped to x's size).

    Split from :func:`rd_terms` so the refiner can run g_s alone in bf16 while the
    rates (and the grid μ they depend on) stay in fp32.
    """
    return RDTerms(distortion.measure(x_hat, x), *rates(model, x, y_hat, z_hat, scales, means),
                   distortion.weight)


def rates(model: LatentModel, x: Tensor, y_hat: Tensor, z_hat: Tensor, scales: Tensor,
          means: Tensor) -> tuple[Tensor, Tensor]:
    """(bpp_y, bpp_z) per image, over the pixels of the original image ``x``."""
    lik_y, lik_z = model.likelihoods(y_hat, z_hat, scales, means)
    pixels = x.shape[-2] * x.shape[-1]
    return bits(lik_y.float()) / pixels, bits(lik_z.float()) / pixels


@torch.no_grad()
def hard_metrics(
    model: LatentModel, x: Tensor, hard: HardLatents, lmbda: float, distortion: Distortion = MSE
) -> tuple[list[Metrics], Tensor]:
    """Per-image figures of transmitted latents, in fp32 on the model's device.

    The single definition of "what these latents give": the refiner's before and
    after, training validation and the model evaluations all report through it.
    Returns the metrics and x̂ (cropped, unclamped).
    """
    dev = model.device
    x = x.to(dev)
    terms, x_hat = rd_terms(model, x, hard.y_hat.to(dev), hard.z_hat.to(dev),
                            hard.scales.float().to(dev), hard.means.float().to(dev), distortion)
    psnr, loss, err = psnr_8bit(x_hat, x), terms.loss(lmbda), mse(x_hat, x)
    ssim = ms_ssim_8bit(x_hat, x)
    ssim_db = None if ssim is None else ops.decibels(1 - ssim)
    rows = [Metrics(loss=float(loss[i]), bpp=float(terms.bpp[i]), bpp_y=float(terms.bpp_y[i]),
                    bpp_z=float(terms.bpp_z[i]), psnr=float(psnr[i]), mse=float(err[i]),
                    ms_ssim=None if ssim is None else float(ssim[i]),
                    ms_ssim_db=None if ssim_db is None else float(ssim_db[i]))
            for i in range(x.size(0))]
    return rows, x_hat


@torch.no_grad()
def evaluate(model: LatentModel, x: Tensor, lmbda: float | None = None,
             hard: HardLatents | None = None) -> list[Metrics]:
    """Unrefined figures of images ``x`` (B, 3, H, W): hard rounding, estimated bits.

    The same path as the refinement's "before": pad, analyse, round z on the
    integer grid and y relative to μ, decode, PSNR of the 8-bit output.
    ``hard`` skips the analysis when the caller already has the latents.
    """
    if hard is None:
        hard = model.quantize(*model.analysis(pad(x.to(model.device))))
    return hard_metrics(model, x, hard, model.lmbda if lmbda is None else lmbda)[0]


def to_8bit(x_hat: Tensor) -> Tensor:
    """The reconstruction a decoder writes: clamped to [0, 1] and rounded to 8 bits (fp32)."""
    out = x_hat.float().clamp(0, 1)  # a new tensor; the rest in place: one copy of a photo
    return out.mul_(255).round_().div_(255)


def psnr_8bit(x_hat: Tensor, x: Tensor) -> Tensor:
    """PSNR in dB per image of the clamped, 8-bit-rounded reconstruction."""
    return ops.decibels(mse(to_8bit(x_hat), x))


def ms_ssim_8bit(x_hat: Tensor, x: Tensor) -> Tensor | None:
    """MS-SSIM per image of the clamped, 8-bit-rounded reconstruction; None where the
    image is too small to have one (:mod:`sgaplus.distortion`)."""
    return ms_ssim(to_8bit(x_hat), x) if ms_ssim_scales(*x.shape[-2:]) else None
