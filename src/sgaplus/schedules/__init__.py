"""Temperature schedules (spec §5), one registry entry each."""

from __future__ import annotations

from typing import Any

from . import budget, exponential  # noqa: F401  (registers)
from .base import SCHEDULES, Schedule, register_schedule
from .budget import budgeted


def get_schedule(name: str, **params: Any) -> Schedule:
    """Build a schedule by name, e.g. ``get_schedule("sgaplus", t_max=0.5)``."""
    return SCHEDULES.create(name, **params)


__all__ = ["SCHEDULES", "Schedule", "budgeted", "get_schedule", "register_schedule"]
