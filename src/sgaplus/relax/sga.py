"""SGA's atanh probability (Yang, Bamler, Mandt, NeurIPS 2020, arXiv 2006.04240, §3.3)
and its noise-free variant, deterministic annealing (the SGA+ paper's baseline).

    p(d) = exp(-atanh(d))

The function is unnormalised and its gradient diverges as d -> 1, which is what
SGA+ replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import TwoClass, register_relaxation


@register_relaxation("atanh")
@dataclass
class Atanh(TwoClass):
    """SGA. Runs with Yang et al.'s published schedule unless told otherwise."""

    label: ClassVar[str] = "atanh / SGA (Yang sched.)"
    about: ClassVar[str] = "SGA (Yang et al. 2020): p(d) = exp(−atanh d)"
    family: ClassVar[str] = "atanh"
    rank: ClassVar[int] = 40
    default_schedule: ClassVar[str] = "yang"

    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        return -torch.atanh(d)


@register_relaxation("danneal")
@dataclass
class DeterministicAnnealing(Atanh):
    """The atanh softmax without Gumbel noise: softmax(log p / tau^2)."""

    label: ClassVar[str] = "det. annealing (danneal sched.)"
    about: ClassVar[str] = "atanh softmax without Gumbel noise (deterministic annealing)"
    rank: ClassVar[int] = 30
    default_schedule: ClassVar[str] = "danneal"
    stochastic: ClassVar[bool] = False
