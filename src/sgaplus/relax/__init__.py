"""Relaxed rounding methods, one small file each, selected by registry name.

What a method is (its name, hyperparameters, label, family, ...) is its entry in
:mod:`sgaplus.methods`, which imports no torch; its class here subclasses that entry and
adds the arithmetic. Every module of this package is imported here, so a new method is one
entry there, one file here with ``@register_relaxation class X(methods.X, TwoClass)``, and
one entry in ``tests/method_db.py``.
"""

from __future__ import annotations

from typing import Any

from ..methods import ranked
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
    return [RELAXATIONS.get(entry.name) for entry in ranked()]


__all__ = ["RELAXATIONS", "Relaxation", "TwoClass", "get_relaxation", "method_classes",
           "register_relaxation"]
