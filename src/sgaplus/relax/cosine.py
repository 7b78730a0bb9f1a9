"""SGA+ cosine probability (Perugachi-Diaz et al., NeurIPS 2024, arXiv 2401.17789, §3).

    p(d) = cos^2(pi d / 2)

Normalised over the two candidates (cos^2 + sin^2 = 1); floored by ``ops.COS_FLOOR``
so that log p is finite at d = 1.
"""

from __future__ import annotations

import math

import torch

from .. import methods, ops
from .base import TwoClass, register_relaxation


@register_relaxation
class Cosine(methods.Cosine, TwoClass):
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        c2 = torch.cos(math.pi * d / 2) ** 2
        return torch.log((1 - ops.COS_FLOOR) * c2 + ops.COS_FLOOR)
