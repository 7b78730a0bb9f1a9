"""Baselines without an annealed rounding distribution (SGA+ paper, §4).

STE: hard rounding forward, identity gradient (``compressai.ops.quantize_ste``, written out
here: importing CompressAI costs seconds, which a relaxation should not add).
Uniform noise: ``v + U(-1/2, 1/2)``, fresh each iteration (Ballé et al. 2017).
Both ignore the temperature.
"""

from __future__ import annotations

import torch

from .. import methods, ops
from .base import Relaxation, register_relaxation


@register_relaxation
class STE(methods.STE, Relaxation):
    def apply(self, v: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
        return (torch.round(v) - v).detach() + v


@register_relaxation
class UniformNoise(methods.UniformNoise, Relaxation):
    def draw(self, v: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return ops.uniform(v.shape, v, generator)

    def apply(self, v: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
        assert noise is not None  # draw's
        return v + noise - 0.5
