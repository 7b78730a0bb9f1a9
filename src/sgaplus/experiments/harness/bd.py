"""Bjøntegaard deltas with the ``bjontegaard`` package, on mean R-D points.

BD-rate: the average rate difference (%) at equal PSNR over the PSNR range both
curves cover; BD-PSNR: the average PSNR difference (dB) at equal rate. Negative
BD-rate / positive BD-PSNR = the test curve is better. Piecewise cubic (pchip)
interpolation, which needs no more than the 4 points our λ family gives.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import bjontegaard as bjd


@dataclass(frozen=True)
class Curve:
    """Mean (bpp, PSNR) points of one codec / method, any order."""

    bpp: tuple[float, ...]
    psnr: tuple[float, ...]

    def sorted(self) -> tuple[list[float], list[float]]:
        pts = sorted(zip(self.bpp, self.psnr))
        return [p[0] for p in pts], [p[1] for p in pts]


def _delta(fn, anchor: Curve, test: Curve) -> float:
    if len(anchor.bpp) < 2 or len(test.bpp) < 2:
        return math.nan
    ra, da = anchor.sorted()
    rt, dt = test.sorted()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the overlap warning: reported as NaN below instead
        try:
            return float(fn(ra, da, rt, dt, method="pchip", require_matching_points=False,
                            min_overlap=0))
        except ValueError:
            return math.nan


def overlap(anchor: Curve, test: Curve, axis: str) -> bool:
    """Whether the curves share a range on ``axis`` ('psnr' for BD-rate, 'bpp' for BD-PSNR)."""
    a, t = getattr(anchor, axis), getattr(test, axis)
    return min(max(a), max(t)) > max(min(a), min(t))


def bd_rate(anchor: Curve, test: Curve) -> float:
    """BD-rate of ``test`` vs ``anchor`` in percent (NaN without a common PSNR range)."""
    return _delta(bjd.bd_rate, anchor, test) if overlap(anchor, test, "psnr") else math.nan


def bd_psnr(anchor: Curve, test: Curve) -> float:
    """BD-PSNR of ``test`` vs ``anchor`` in dB (NaN without a common rate range)."""
    return _delta(bjd.bd_psnr, anchor, test) if overlap(anchor, test, "bpp") else math.nan
