"""Relaxed rounding methods, one small file each, selected by registry name."""

from __future__ import annotations

from typing import Any

from . import baselines, cosine, linear, sga, ssl, three_class  # noqa: F401  (registers)
from .base import RELAXATIONS, Relaxation, TwoClass, register_relaxation


def get_relaxation(name: str, **params: Any) -> Relaxation:
    """Build a method by name, e.g. ``get_relaxation("ssl", a=2.3)``.

    Raises:
        ValueError: unknown name or parameter, or an invalid value.
    """
    return RELAXATIONS.create(name, **params)


__all__ = ["RELAXATIONS", "Relaxation", "TwoClass", "get_relaxation", "register_relaxation"]
