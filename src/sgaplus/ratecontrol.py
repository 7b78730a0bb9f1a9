"""Rate control: one model, a target file size (bpp) or quality (PSNR).

Refining with a λ other than the model's own moves the result along the R-D curve
(semi-multi-rate, the paper's Fig. 3c; spec §6): the file's bpp and PSNR both grow with λ. So a
bisection on log λ finds the λ whose refined file meets a target, the way cwebp's
``-size``/``-psnr`` search its quality setting. Each probe is a whole refinement and
encode, judged on the *file* (real bits, PSNR of what decodes), so a probe costs
as much as one compression; ``probes`` bounds the cost.

Bisection assumes bpp and PSNR rise with λ. Refinement noise can break that by a
hair between close λ; the search then still returns a probe that meets the target,
only perhaps not the closest one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

#: Refinements rate control may spend on one image (:func:`search`'s ``probes`` in the CLI).
PROBES = 6

#: How far the search may move λ from the model's own, as a factor either way. Our
#: family's λ are about 2x apart, so 4x reaches two neighbours; much further the
#: model works far from what it was trained for and a neighbour model does better.
SPAN = 4.0

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """``bpp``: the file at most this many bits per pixel; ``psnr``: at least this many dB."""

    metric: str
    value: float

    def __post_init__(self) -> None:
        if self.metric not in ("bpp", "psnr"):
            raise ValueError(f"unknown rate-control metric {self.metric!r} (bpp or psnr)")
        if not (self.value > 0 and math.isfinite(self.value)):
            raise ValueError(f"target {self.metric} must be a positive number, not {self.value}")

    def met(self, bpp: float, psnr: float) -> bool:
        return bpp <= self.value if self.metric == "bpp" else psnr >= self.value

    def close(self, bpp: float, psnr: float, tol: float) -> bool:
        """A met target within ``tol`` (relative bpp, or dB) of the file: good enough to stop."""
        return bpp >= self.value * (1 - tol) if self.metric == "bpp" else psnr <= self.value + tol


@dataclass
class Probe(Generic[T]):
    """One λ tried: the file's figures and whatever the caller needs to keep (its bytes)."""

    lmbda: float
    bpp: float
    psnr: float
    payload: T


class TargetNotReached(ValueError):
    """No λ in the search range meets the target; the message names the nearest probe."""


def search(encode_at: Callable[[float], Probe[T]], lmbda: float, target: Target, *,
           probes: int = 6, tol: float | None = None, span: float = SPAN) -> tuple[Probe[T], list[Probe[T]]]:
    """Bisection on log λ in [λ/span, λ·span], starting at the model's ``lmbda``.

    A bpp target is met by every λ up to some λ*, a PSNR target by every λ from some
    λ*: the search closes in on λ* from its side and returns the met probe nearest it
    (the most bits within the budget, or the fewest bits at the quality), with every
    probe in order. It stops early at a probe within ``tol`` of the target (default
    2 % of the bpp, or 0.1 dB); when no probe has met the target by the last one, the
    last tries the end of the range.

    Raises:
        TargetNotReached: not even the end of the range meets the target.
    """
    if probes < 2:
        raise ValueError("rate control needs at least 2 probes")
    tol = (0.02 if target.metric == "bpp" else 0.1) if tol is None else tol
    below = target.metric == "bpp"  # met below λ* (bpp) or above it (psnr)
    lo, hi = math.log(lmbda / span), math.log(lmbda * span)
    tried: list[Probe[T]] = []
    best: Probe[T] | None = None
    at = math.log(lmbda)
    for i in range(probes):
        if i == probes - 1 and best is None:
            at = lo if below else hi
        probe = encode_at(lmbda if i == 0 else math.exp(at))  # the model's λ exactly
        tried.append(probe)
        met = target.met(probe.bpp, probe.psnr)
        if met and (best is None or (probe.lmbda > best.lmbda) == below):
            best = probe
        if met and target.close(probe.bpp, probe.psnr, tol):
            break
        if met == below:
            lo = at
        else:
            hi = at
        at = (lo + hi) / 2
    if best is None:
        near = min(tried, key=lambda p: abs(p.bpp / target.value - 1) if below
                   else abs(p.psnr - target.value))
        raise TargetNotReached(
            f"target {target.value:g} {target.metric} not reached with λ from {lmbda / span:.4g} "
            f"to {lmbda * span:.4g}: nearest {near.bpp:.4f} bpp, {near.psnr:.2f} dB at λ "
            f"{near.lmbda:.4g}; try a model of another rate")
    return best, tried
