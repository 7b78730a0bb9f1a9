"""Temperature schedules: stateless, closed-form ``tau(step)``, selected by name.

Kept apart from the loop that uses them, like ``torch.optim.lr_scheduler`` and
diffusers' schedulers, so a run is reproduced from ``config()`` alone.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from ..registry import Registry

SCHEDULES: Registry[type["Schedule"]] = Registry("schedule")


def register_schedule(name: str):
    def decorator(cls: type[Schedule]) -> type[Schedule]:
        cls.name = name
        return SCHEDULES.register(name)(cls)

    return decorator


@dataclass
class Schedule(abc.ABC):
    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or value != value or value < 0:
                raise ValueError(f"Invalid {f.name} for schedule {self.name!r}: {value}")

    @abc.abstractmethod
    def __call__(self, step: int) -> float:
        """Temperature at iteration ``step`` (0-based)."""

    def config(self) -> dict[str, Any]:
        return {"schedule": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}
