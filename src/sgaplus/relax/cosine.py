"""SGA+ cosine probability (Perugachi-Diaz et al., NeurIPS 2024, arXiv 2401.17789, §3).

    p(d) = cos^2(pi d / 2)

Normalised over the two candidates (cos^2 + sin^2 = 1); floored by ``ops.COS_FLOOR``
so that log p is finite at d = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from .. import ops
from .base import TwoClass, register_relaxation


@register_relaxation("cosine")
@dataclass
class Cosine(TwoClass):
    label: ClassVar[str] = "cosine (SGA+)"
    about: ClassVar[str] = "SGA+: p(d) = cos²(πd/2)"
    family: ClassVar[str] = "cosine"
    rank: ClassVar[int] = 60
    normalised: ClassVar[bool] = True

    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        c2 = torch.cos(math.pi * d / 2) ** 2
        return torch.log((1 - ops.COS_FLOOR) * c2 + ops.COS_FLOOR)
