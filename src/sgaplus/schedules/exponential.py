"""The three exponential schedules of the spec (§5)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .base import Schedule, register_schedule


@register_schedule("sgaplus")
@dataclass
class SGAPlus(Schedule):
    """SGA+: tau(t) = min(exp(-r t), t_max); 0.61 at t = 500, 0.14 at t = 2000."""

    r: float = 1e-3
    t_max: float = 1.0

    def __call__(self, step: int) -> float:
        return min(math.exp(-self.r * step), self.t_max)


@register_schedule("yang")
@dataclass
class Yang(Schedule):
    """SGA as published (Yang et al. 2020): min(t_max exp(-r (t - t0)), t_max)."""

    r: float = 1e-3
    t_max: float = 0.5
    t0: float = 700

    def __call__(self, step: int) -> float:
        return min(self.t_max * math.exp(-self.r * (step - self.t0)), self.t_max)


@register_schedule("danneal")
@dataclass
class DeterministicAnnealing(Schedule):
    """The reference code's annealing: min(max(exp(-r t), t_min), t_max)."""

    r: float = 4e-3
    t_max: float = 0.2
    t_min: float = 1e-8

    def __call__(self, step: int) -> float:
        return min(max(math.exp(-self.r * step), self.t_min), self.t_max)


@register_schedule("constant")
@dataclass
class Constant(Schedule):
    """A fixed temperature; for STE and uniform noise it is ignored anyway."""

    value: float = 0.5

    def __call__(self, step: int) -> float:
        return self.value
