"""Refinement settings for an iteration budget (issue 15): the paper's gain in 8x fewer steps.

The paper's settings (Adam at a constant lr 0.005, τ(t) = min(exp(−10⁻³ t), 1), 2000
iterations) spend most of their steps creeping: cut to 250 iterations they keep about
73 % of their 2000-iteration gain in the true loss (docs/bench/refine_budget.md).
Tied to the budget instead, the same method keeps about as much at 250 as the paper's
at 1000-2000:

- the temperature falls geometrically from ``t_max`` to ``t_end`` over the budget. The
  paper's schedule is this one at ``iters=2000, t_max=1, t_end=e^-2`` (0.135). Compressed
  to a short budget, an end that cold starves the last steps (at low τ SSL's sigmoid
  saturates, and the latents stop exploring while the lr is still large): 0.3 kept more
  than 0.2 or 0.4. A start hotter than the paper's cap of 1 explores more in the few
  early steps: on photos_train crops at 250 iterations τ from 1.25 kept about 97-98 % where
  1.0 kept 95 %, and 0.6 only 80 % (1.75 and 2 fell back to 95 %);
- Adam's lr starts 12x higher (0.06; 0.05 and 0.08 kept less) and decays linearly to 0 at
  the budget (``Refiner(lr_decay="linear")``), so the latents can travel as far as in 2000
  steps at 0.005 and still settle at the end.

:func:`budgeted` gives the whole configuration; ``sgaplus compress --effort`` uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .base import Schedule, register_schedule

#: Adam's lr at the first step of a budgeted refinement (the paper's: 0.005, constant).
BUDGET_LR = 0.06


@register_schedule("budget")
@dataclass
class Budget(Schedule):
    """τ(t) = t_max·(t_end / t_max)^(t / iters): from t_max to t_end over ``iters`` steps
    (and on, at the same rate, past them)."""

    iters: float = 250
    t_end: float = 0.3
    t_max: float = 1.25

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (0 < self.t_end <= self.t_max and self.iters > 0):
            raise ValueError(f"Invalid budget schedule: it needs 0 < t_end <= t_max and iters > 0, "
                             f"not t_end {self.t_end}, t_max {self.t_max}, iters {self.iters}")

    def __call__(self, step: int) -> float:
        return self.t_max * (self.t_end / self.t_max) ** (step / self.iters)

    def spanning(self, iters: int) -> "Budget":
        return replace(self, iters=max(iters, 1))

    def resumed(self, share: float, iters: int) -> "Budget":
        return replace(self, t_max=self(share * self.iters), iters=max(iters, 1))


def budgeted(iters: int) -> dict[str, Any]:
    """The :class:`~sgaplus.refine_config.RefineConfig` fields of the budgeted settings of
    ``iters`` iterations (``Refiner(model, method="ssl", **budgeted(250))``); the schedule
    spans the iterations."""
    return {"iters": iters, "schedule": "budget", "lr": BUDGET_LR, "lr_decay": "linear"}
