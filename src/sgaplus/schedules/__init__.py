"""Temperature schedules (spec §5), one registry entry each."""

from __future__ import annotations

from typing import Any

from ..registry import import_all
from .base import SCHEDULES, Schedule, register_schedule
from .budget import budgeted

import_all(__name__, __path__)  # every module registers its schedules


def get_schedule(name: str, **params: Any) -> Schedule:
    """Build a schedule by name, e.g. ``get_schedule("sgaplus", t_max=0.5)``."""
    return SCHEDULES.create(name, **params)


__all__ = ["SCHEDULES", "Schedule", "budgeted", "get_schedule", "register_schedule"]
