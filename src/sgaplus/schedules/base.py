"""Temperature schedules: stateless, closed-form ``tau(step)``, selected by name.

Kept apart from the loop that uses them, like ``torch.optim.lr_scheduler`` and
diffusers' schedulers, so a run is reproduced from ``config()`` alone.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

from ..registry import Entry, Registry

SCHEDULES: Registry[type["Schedule"]] = Registry("schedule")

#: Class decorator: ``@register_schedule("yang")`` adds a schedule under that name.
register_schedule = SCHEDULES.register


@dataclass
class Schedule(Entry, abc.ABC):
    """Base class; subclasses are dataclasses whose fields are the parameters (≥ 0)."""

    kind: ClassVar[str] = "schedule"
    allow_zero: ClassVar[bool] = True

    @abc.abstractmethod
    def __call__(self, step: int) -> float:
        """Temperature at iteration ``step`` (0-based)."""

    def spanning(self, iters: int) -> "Schedule":
        """This schedule for a run of ``iters`` iterations: itself, unless it is tied to
        its budget (``budget``)."""
        return self

    def resumed(self, share: float, iters: int) -> "Schedule":
        """The rest of this schedule after ``share`` of its run, over ``iters`` iterations.
        A schedule not tied to its budget has no run to take a share of: it starts over."""
        return self.spanning(iters)
