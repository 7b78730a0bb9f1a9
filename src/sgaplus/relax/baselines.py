"""Baselines without an annealed rounding distribution (SGA+ paper, §4).

STE: hard rounding forward, identity gradient (``compressai.ops.quantize_ste``, written out
here: importing CompressAI costs seconds, which ``sgaplus methods`` should not pay).
Uniform noise: ``v + U(-1/2, 1/2)``, fresh each iteration (Ballé et al. 2017).
Both ignore the temperature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .. import ops
from .base import Relaxation, register_relaxation


@register_relaxation("ste")
@dataclass
class STE(Relaxation):
    label: ClassVar[str] = "STE"
    about: ClassVar[str] = "straight-through rounding"
    family: ClassVar[str] = "STE"
    rank: ClassVar[int] = 10
    default_schedule: ClassVar[str] = "constant"

    def apply(self, v: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
        return (torch.round(v) - v).detach() + v


@register_relaxation("noise")
@dataclass
class UniformNoise(Relaxation):
    label: ClassVar[str] = "uniform noise"
    about: ClassVar[str] = "additive uniform noise"
    family: ClassVar[str] = "noise"
    rank: ClassVar[int] = 20
    default_schedule: ClassVar[str] = "constant"

    def draw(self, v: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return ops.uniform(v.shape, v, generator)

    def apply(self, v: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
        assert noise is not None  # draw's
        return v + noise - 0.5
