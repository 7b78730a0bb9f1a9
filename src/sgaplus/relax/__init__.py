"""Relaxed rounding methods, one small file each, selected by registry name.

Every module of this package is imported here, so a new method is one file with a
class decorated ``@register_relaxation("name")`` (its metadata in class attributes,
see :class:`Relaxation`) and one entry in ``tests/method_db.py``.
"""

from __future__ import annotations

from typing import Any

from ..registry import import_all
from .base import RELAXATIONS, Relaxation, TwoClass, register_relaxation

import_all(__name__, __path__)


def get_relaxation(name: str, **params: Any) -> Relaxation:
    """Build a method by name, e.g. ``get_relaxation("ssl", a=2.3)``.

    Raises:
        ValueError: unknown name or parameter, or an invalid value.
    """
    return RELAXATIONS.create(name, **params)


def method_classes() -> list[type[Relaxation]]:
    """Every registered method, in the order tables, figures and listings show them
    (``Relaxation.rank``)."""
    return sorted((RELAXATIONS.get(name) for name in RELAXATIONS.names()), key=lambda cls: cls.rank)


__all__ = ["RELAXATIONS", "Relaxation", "TwoClass", "get_relaxation", "method_classes",
           "register_relaxation"]
