"""R-D curves and their Bjøntegaard deltas: the one definition that ``sgaplus
eval-codecs`` and ``sgaplus experiment`` both report with.

BD-rate: the average rate difference (%) at equal quality over the quality range
both curves cover; BD-PSNR: the average PSNR difference (dB) at equal rate over
the common rate range. Negative BD-rate / positive BD-PSNR = the test curve is
better. The ``bjontegaard`` package with piecewise cubic (pchip) interpolation,
which needs no more than the 4 points of a λ family.

One NaN rule for every figure: a delta is NaN when a curve has fewer than two
points, a value it needs is NaN (an MS-SSIM that images of 10 px or less do not
have), the curves share no range on the integration axis, or ``bjontegaard``
rejects the points. A table then shows "no figure" rather than an extrapolation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import bjontegaard as bjd

#: The quality axes a BD-rate can be taken over: the fields and property of :class:`Curve`.
QUALITIES = ("psnr", "ms_ssim_db")


@dataclass(frozen=True)
class Curve:
    """One codec's or method's R-D points, each a mean over the same images, any order.

    Attributes:
        bpp: bits per pixel of each point.
        psnr: PSNR dB of the 8-bit output.
        ms_ssim: mean MS-SSIM of each point (NaN where an image has none); empty when
            not measured.
        name: how tables and legends call the curve.
        labels: what each point is (a quality setting, a model).
    """

    bpp: tuple[float, ...]
    psnr: tuple[float, ...]
    ms_ssim: tuple[float, ...] = ()
    name: str = ""
    labels: tuple[str, ...] = ()

    @property
    def ms_ssim_db(self) -> tuple[float, ...]:
        """−10·log10(1 − MS-SSIM) of each point's mean MS-SSIM (NaN where it has none)."""
        return tuple(ms_ssim_db(v) for v in self.ms_ssim)

    def sorted(self, quality: str = "psnr") -> tuple[list[float], list[float]]:
        """(rates, qualities) in increasing rate."""
        pts = sorted(zip(self.bpp, getattr(self, quality)))
        return [p[0] for p in pts], [p[1] for p in pts]


def ms_ssim_db(value: float) -> float:
    """MS-SSIM in dB, as CompressAI's plots give it (of the mean MS-SSIM)."""
    import torch

    from .ops import decibels

    return math.nan if math.isnan(value) else float(decibels(torch.tensor(1 - value, dtype=torch.float64)))


def common_range(anchor: Curve, test: Curve, axis: str) -> float:
    """Length of the range both curves cover on ``axis`` ('bpp' or a quality), 0 without one."""
    a, t = getattr(anchor, axis), getattr(test, axis)
    if not a or not t or any(math.isnan(v) for v in (*a, *t)):
        return 0.0
    return max(min(max(a), max(t)) - max(min(a), min(t)), 0.0)


def _delta(fn: Callable, anchor: Curve, test: Curve, quality: str, axis: str) -> float:
    if len(anchor.bpp) < 2 or len(test.bpp) < 2 or common_range(anchor, test, axis) <= 0:
        return math.nan
    ra, da = anchor.sorted(quality)
    rt, dt = test.sorted(quality)
    if any(math.isnan(v) for v in (*ra, *rt)):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bjontegaard's overlap warnings: the NaN rule above decides
        try:
            return float(fn(ra, da, rt, dt, method="pchip", require_matching_points=False,
                            min_overlap=0))
        except ValueError:
            return math.nan


def bd_rate(anchor: Curve, test: Curve, quality: str = "psnr") -> float:
    """BD-rate of ``test`` vs ``anchor`` in percent at equal ``quality`` (one of QUALITIES)."""
    return _delta(bjd.bd_rate, anchor, test, quality, quality)


def bd_psnr(anchor: Curve, test: Curve) -> float:
    """BD-PSNR of ``test`` vs ``anchor`` in dB at equal rate."""
    return _delta(bjd.bd_psnr, anchor, test, "psnr", "bpp")
