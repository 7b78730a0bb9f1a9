"""SGA+ linear probability (Perugachi-Diaz et al., NeurIPS 2024, arXiv 2401.17789, §3).

    p(d) = 1 - d

Normalised over the two candidates, with a bounded gradient everywhere.
"""

from __future__ import annotations

import torch

from .. import methods
from .base import TwoClass, register_relaxation


@register_relaxation
class Linear(methods.Linear, TwoClass):
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        return torch.log1p(-d)
