"""The one rule every claim of the report is decided by.

A claim compares two sides on the same images ("SSL has a lower loss than atanh",
"SGA+'s spread over T_max is smaller"). Each seed and image gives one sample of the
difference, signed so that positive means the claimed side is better. The claim

- **holds** when the mean difference exceeds twice its standard error,
- **does not hold** when it is below minus twice its standard error,
- is **within noise** otherwise,

with the standard error sd / √n over all n = seeds × images samples. A verdict needs
at least :data:`MIN_SEEDS` seeds: with fewer, the seed-to-seed noise (0.25-0.35 % of the
true loss on 64x64 crops at 200 iterations, issue 17) is not measured, and the claim
gets **no verdict**. Two standard errors is about a 95 % interval under a normal law;
with six samples it is a lenient test (a t-interval would use 2.57), which the report says.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Seeds a verdict needs (fewer: "no verdict").
MIN_SEEDS = 3

#: A difference counts when it exceeds this many standard errors.
SE_FACTOR = 2.0

#: How the report spells each outcome.
HOLDS, FAILS, NOISE, NO_VERDICT = "holds", "does not hold", "within noise", "no verdict"

RULE = (f"A claim **holds** when the claimed side is better by more than {SE_FACTOR:g} standard "
        f"errors of the difference, **does not hold** when it is worse by more than that, and is "
        f"**within noise** otherwise. The difference is taken per seed and image (positive = the "
        f"claimed side is better); its standard error is sd/√n over all n = seeds × images samples. "
        f"A claim measured on fewer than {MIN_SEEDS} seeds gets **no verdict**.")


@dataclass(frozen=True)
class Estimate:
    """Mean and standard error of samples of a difference (one per seed and image)."""

    mean: float
    se: float
    n: int
    seeds: int

    @classmethod
    def of(cls, samples: Any) -> "Estimate":
        """From an array of shape (seeds, images); NaN samples (e.g. a BD-rate of curves
        without a common range) are left out."""
        arr = np.asarray(samples, dtype=float)
        if arr.ndim != 2:
            raise ValueError(f"samples must be (seeds, images), got shape {arr.shape}")
        ok = ~np.isnan(arr)
        vals = arr[ok]
        n = int(vals.size)
        seeds = int(ok.any(axis=1).sum())
        mean = float(vals.mean()) if n else math.nan
        se = float(vals.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        return cls(mean, se, n, seeds)

    @property
    def outcome(self) -> str:
        """The rule applied: one of HOLDS, FAILS, NOISE, NO_VERDICT."""
        if self.seeds < MIN_SEEDS or math.isnan(self.se):
            return NO_VERDICT
        if self.mean > SE_FACTOR * self.se:
            return HOLDS
        if self.mean < -SE_FACTOR * self.se:
            return FAILS
        return NOISE

    @property
    def holds(self) -> bool | None:
        return {HOLDS: True, FAILS: False}.get(self.outcome)

    def describe(self, unit: str = "", digits: int = 2) -> str:
        """``+1.23 ± 0.40 % (SE; margin 0.43 beyond 2 SE; n = 6 over 3 seeds)``."""
        if math.isnan(self.mean):
            return "not measured"
        se = "no SE" if math.isnan(self.se) else f"± {self.se:.{digits}f}{unit} SE"
        margin = "" if math.isnan(self.se) else \
            f"; margin {abs(self.mean) - SE_FACTOR * self.se:+.{digits}f}{unit} beyond {SE_FACTOR:g} SE"
        return (f"{self.mean:+.{digits}f}{unit} {se}{margin}; "
                f"n = {self.n} over {self.seeds} seed{'s' if self.seeds != 1 else ''}")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome}
