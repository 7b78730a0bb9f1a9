"""The rate-distortion loss of the spec (§2) and the figures reported beside it.

    L = λ · 255² · mean((x̂ − x)²) + bpp_y + bpp_z,   bpp = −Σ log2 p / (H·W)

H·W are the pixels of the *original* image, so padding to a multiple of 64 is
paid for in bits, never hidden.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .latent_model import HardLatents, LatentModel


@dataclass
class RDTerms:
    """Per-image tensors of one forward pass (shape (B,))."""

    mse: Tensor
    bpp_y: Tensor
    bpp_z: Tensor

    @property
    def bpp(self) -> Tensor:
        return self.bpp_y + self.bpp_z

    def loss(self, lmbda: float) -> Tensor:
        return lmbda * 255.0**2 * self.mse + self.bpp


@dataclass
class Metrics:
    """One image's figures for a set of hard-rounded latents.

    ``psnr`` is measured on the clamped 8-bit reconstruction, i.e. the image a
    decoder writes; ``loss`` is the spec's true R-D loss (float reconstruction).
    """

    loss: float
    bpp: float
    bpp_y: float
    bpp_z: float
    psnr: float
    mse: float

    def as_dict(self) -> dict[str, float]:
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
) -> tuple[RDTerms, Tensor]:
    """Decode ``y_hat`` and price (ŷ, ẑ); returns the terms and x̂ cropped to x's size."""
    h, w = x.shape[-2:]
    x_hat = model.synthesis(y_hat)[..., :h, :w]
    return price(model, x, x_hat, y_hat, z_hat, scales, means), x_hat


def price(
    model: LatentModel,
    x: Tensor,
    x_hat: Tensor,
    y_hat: Tensor,
    z_hat: Tensor,
    scales: Tensor,
    means: Tensor,
) -> RDTerms:
    """The loss terms of an already decoded ``x_hat`` (cropped to x's size).

    Split from :func:`rd_terms` so the refiner can run g_s alone in bf16 while the
    rates (and the grid μ they depend on) stay in fp32.
    """
    lik_y, lik_z = model.likelihoods(y_hat, z_hat, scales, means)
    pixels = x.shape[-2] * x.shape[-1]
    mse = (x_hat.float() - x).pow(2).flatten(1).mean(1)
    return RDTerms(mse, bits(lik_y.float()) / pixels, bits(lik_z.float()) / pixels)


@torch.no_grad()
def hard_metrics(
    model: LatentModel, x: Tensor, hard: HardLatents, lmbda: float
) -> tuple[list[Metrics], Tensor]:
    """Per-image figures of transmitted latents, in fp32 on the model's device.

    The single definition of "what these latents give": the refiner's before and
    after, training validation and the model evaluations all report through it.
    Returns the metrics and x̂ (cropped, unclamped).
    """
    dev = model.device
    x = x.to(dev)
    terms, x_hat = rd_terms(model, x, hard.y_hat.to(dev), hard.z_hat.to(dev),
                            hard.scales.float().to(dev), hard.means.float().to(dev))
    psnr, loss = psnr_8bit(x_hat, x), terms.loss(lmbda)
    rows = [Metrics(loss=float(loss[i]), bpp=float(terms.bpp[i]), bpp_y=float(terms.bpp_y[i]),
                    bpp_z=float(terms.bpp_z[i]), psnr=float(psnr[i]), mse=float(terms.mse[i]))
            for i in range(x.size(0))]
    return rows, x_hat


def psnr_8bit(x_hat: Tensor, x: Tensor) -> Tensor:
    """PSNR in dB per image of the clamped, 8-bit-rounded reconstruction."""
    q = (x_hat.float().clamp(0, 1) * 255).round() / 255
    mse = (q - x).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def psnr_from_mse(mse: float) -> float:
    return 10 * math.log10(1.0 / max(mse, 1e-12))
