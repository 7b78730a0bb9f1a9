"""SGA+ linear probability (Perugachi-Diaz et al., NeurIPS 2024, arXiv 2401.17789, §3).

    p(d) = 1 - d

Normalised over the two candidates, with a bounded gradient everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import TwoClass, register_relaxation


@register_relaxation("linear")
@dataclass
class Linear(TwoClass):
    label: ClassVar[str] = "linear (SGA+)"
    about: ClassVar[str] = "SGA+: p(d) = 1 − d"
    family: ClassVar[str] = "linear"
    rank: ClassVar[int] = 50
    normalised: ClassVar[bool] = True

    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        return torch.log1p(-d)
