"""SGA's atanh probability (Yang, Bamler, Mandt, NeurIPS 2020, arXiv 2006.04240, §3.3)
and its noise-free variant, deterministic annealing (the SGA+ paper's baseline).

    p(d) = exp(-atanh(d))

The function is unnormalised and its gradient diverges as d -> 1, which is what
SGA+ replaces.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from .. import methods
from .base import TwoClass, register_relaxation


@register_relaxation
class Atanh(methods.Atanh, TwoClass):
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        return -torch.atanh(d)


@register_relaxation
class DeterministicAnnealing(methods.DeterministicAnnealing, Atanh):
    """The atanh softmax without Gumbel noise: softmax(log p / tau^2)."""

    stochastic: ClassVar[bool] = False
