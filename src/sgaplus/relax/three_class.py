"""SGA+ three-class rounding (Perugachi-Diaz et al., NeurIPS 2024, arXiv 2401.17789, §3.2).

Candidates ``round(v) - 1, round(v), round(v) + 1`` with signed distances
``d_k = v - c_k``; the same Gumbel-softmax as the two-class methods
(``softmax((log p / tau + g) / tau)``). ``r`` stretches the support and ``n``
sharpens the function:

    linear3:  p ∝ max(1 - r|d|, 1e-6)^n
    cosine3:  p ∝ cos(pi/2 * clamp(r d, -1, 1))^n + 1e-7
    ssl3:     p ∝ max(sigmoid(-a logit(clamp(|r d / 1.5|, 1e-6, 1 - 1e-6))), 1e-6)^n

Unlike the two-class methods, an integer ``v`` is only kept in expectation: the
outer candidates are symmetric around it but the Gumbel noise is not.
"""

from __future__ import annotations

import abc
import math
import torch

from .. import methods, ops
from .base import Relaxation, register_relaxation

_OFFSETS = (-1.0, 0.0, 1.0)


class ThreeClass(Relaxation):
    """The arithmetic of :class:`sgaplus.methods.ThreeClass` (its ``r`` and ``n``)."""

    @abc.abstractmethod
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        """Unnormalised log p for signed distances ``d`` (any real value)."""

    def _candidates(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        offsets = torch.tensor(_OFFSETS, device=v.device, dtype=v.dtype)
        c = torch.round(v).unsqueeze(-1) + offsets
        return c, v.unsqueeze(-1) - c

    def candidates(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c, d = self._candidates(v)
        return c, torch.softmax(self.log_prob(d), dim=-1)

    def draw(self, v: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Gumbel noise per candidate: shape ``v.shape + (3,)``."""
        return ops.gumbel((*v.shape, len(_OFFSETS)), v, generator)

    def apply(self, v: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
        assert noise is not None  # draw's
        c, d = self._candidates(v)
        w = torch.softmax((self.log_prob(d) / tau + noise) / tau, dim=-1)
        return (w * c).sum(-1)


@register_relaxation
class Linear3(methods.Linear3, ThreeClass):
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        return self.n * torch.log((1 - self.r * d.abs()).clamp_min(ops.PROB_FLOOR))


@register_relaxation
class Cosine3(methods.Cosine3, ThreeClass):
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        # cos(pi/2) is -4e-8 in float32: clamp at 0 so the power n stays real.
        c = torch.cos(math.pi / 2 * (self.r * d).clamp(-1, 1)).clamp_min(0)
        return torch.log(c**self.n + ops.COS_FLOOR)


@register_relaxation
class SSL3(methods.SSL3, ThreeClass):
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        x = (self.r * d / 1.5).abs().clamp(ops.PROB_FLOOR, 1 - ops.PROB_FLOOR)
        p = torch.sigmoid(-self.a * torch.logit(x))
        return self.n * torch.log(p.clamp_min(ops.PROB_FLOOR))
