"""What the loss's distortion term measures: MSE (spec §2) or MS-SSIM (CompressAI's ms-ssim models).

    L = λ · w · D + bpp_y + bpp_z
    mse:      D = mean((x̂ − x)²),   w = 255²   (the spec's λ·255²·MSE, pixels in [0, 1])
    ms-ssim:  D = 1 − MS-SSIM(x̂, x), w = 1    (CompressAI's ``RateDistortionLoss(metric="ms-ssim")``)

λ is in the units of its distortion: CompressAI's mse models were trained with λ from 0.0018
to 0.18, its ms-ssim models with 2.40 to 220.00. A model's training λ therefore belongs to the
metric it was trained for, which the loader records as ``model.meta["metric"]`` (absent = mse).

MS-SSIM is pytorch-msssim's, the implementation CompressAI trains and evaluates with: an
11-tap Gaussian window of σ 1.5, SSIM constants K = (0.01, 0.03) at data range 1, five
scales with Wang et al.'s weights, 2x2 average pooling between scales. Five scales need
more than 160 px on the shorter side (pytorch-msssim asserts it). A smaller image gets the
scales it allows: L scales need more than 10·2^(L−1) px (L = 3 for 41-80 px), with the first
L weights rescaled to the five weights' total. Such figures compare with other images of
the same number of scales, not with five-scale figures. An image of 10 px or less on a
side has no MS-SSIM: the reported figures are None and refining for it is refused.

Memory: SSIM's maps (five filtered images, their products, the two maps: some 17
copies of the image in float32) are made for bands of rows of about
:data:`BAND_PIXELS` pixels, each with the window's 10 rows of context, and their
means combined by rows; a photo's figures then take a band's memory, not 200
bytes per pixel. An image of one band is measured exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim
from torch import Tensor

from . import ops

#: Wang, Simoncelli, Bovik (2003), finest scale first; pytorch-msssim's defaults.
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW, SIGMA = 11, 1.5

#: Pixels of one band of SSIM's maps (a 1 MP photo, 1152x864, is one band).
BAND_PIXELS = 2**20


def ms_ssim_scales(height: int, width: int) -> int:
    """The number of MS-SSIM scales an image of this size allows (0: none)."""
    side = min(height, width)
    return sum(side > (WINDOW - 1) * 2**i for i in range(len(WEIGHTS)))


def ms_ssim(x_hat: Tensor, x: Tensor) -> Tensor:
    """MS-SSIM per image of (B, 3, H, W) tensors with values in [0, 1] (differentiable).

    With five scales this is ``pytorch_msssim.ms_ssim(x_hat, x, data_range=1,
    size_average=False)`` operation for operation (equal within 1e-7), but in channels_last,
    where oneDNN's depthwise convolution (the Gaussian window) is several times faster on a
    CPU than in NCHW; fewer scales: see the module docstring.

    Raises:
        ValueError: the image is 10 px or less on a side.
    """
    h, w = x.shape[-2:]
    levels = ms_ssim_scales(h, w)
    if not levels:
        raise ValueError(f"MS-SSIM needs images larger than {WINDOW - 1} px on each side, not {w}x{h}")
    weights = x.new_tensor([v * (sum(WEIGHTS) / sum(WEIGHTS[:levels])) for v in WEIGHTS[:levels]])
    win = _fspecial_gauss_1d(WINDOW, SIGMA).repeat([x.size(1), 1, 1, 1])
    a, b = (t.contiguous(memory_format=torch.channels_last) for t in (x_hat, x))
    terms = []
    for level in range(levels):
        ssim, cs = _ssim_by_rows(a, b, win)
        if level < levels - 1:
            terms.append(ops.nonnegative_ssim(cs))
            padding = [s % 2 for s in a.shape[2:]]
            a, b = F.avg_pool2d(a, kernel_size=2, padding=padding), F.avg_pool2d(b, kernel_size=2, padding=padding)
    terms.append(ops.nonnegative_ssim(ssim))
    return torch.prod(torch.stack(terms) ** weights.view(-1, 1, 1), dim=0).mean(1)


def _ssim_by_rows(a: Tensor, b: Tensor, win: Tensor) -> tuple[Tensor, Tensor]:
    """pytorch-msssim's per-channel means of the SSIM and contrast-structure maps, over
    bands of rows (a 'valid' window: a band of n map rows reads n + 10 image rows)."""
    rows = a.size(-2) - (WINDOW - 1)
    step = max(1, BAND_PIXELS // a.size(-1))
    if step >= rows:
        return _ssim(a, b, data_range=1.0, win=win, size_average=False)
    ssim = cs = a.new_zeros(a.shape[:2])
    for r in range(0, rows, step):
        n = min(step, rows - r)
        s, c = _ssim(a[:, :, r:r + n + WINDOW - 1], b[:, :, r:r + n + WINDOW - 1], data_range=1.0,
                     win=win, size_average=False)
        ssim, cs = ssim + s * (n / rows), cs + c * (n / rows)
    return ssim, cs


def mse(x_hat: Tensor, x: Tensor) -> Tensor:
    """Mean squared error per image."""
    return (x_hat.float() - x).pow(2).flatten(1).mean(1)


def one_minus_ms_ssim(x_hat: Tensor, x: Tensor) -> Tensor:
    return 1 - ms_ssim(x_hat.float(), x)


@dataclass(frozen=True)
class Distortion:
    """A distortion D per image and the factor w that the loss ``λ·w·D + bpp`` puts on it."""

    name: str
    weight: float
    measure: Callable[[Tensor, Tensor], Tensor]


MSE = Distortion("mse", 255.0**2, mse)
MS_SSIM = Distortion("ms-ssim", 1.0, one_minus_ms_ssim)
DISTORTIONS = {d.name: d for d in (MSE, MS_SSIM)}


def get_distortion(name: str) -> Distortion:
    try:
        return DISTORTIONS[name]
    except KeyError:
        raise ValueError(f"unknown distortion {name!r} (choose from {', '.join(DISTORTIONS)})") from None


def trained_for(model: Any) -> str:
    """The metric a model was trained for, the units of its λ (``meta["metric"]``, default mse)."""
    return model.meta.get("metric", "mse")
