"""SGA+ sigmoid scaled logit, SSL (Perugachi-Diaz et al., NeurIPS 2024, arXiv 2401.17789, §3).

    p(d) = sigmoid(-a * logit(d)) = 1 / (1 + (d / (1 - d))^a)

a = 1 is the linear function, a -> inf is hard rounding; the paper uses a = 2.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .. import ops
from .base import TwoClass, register_relaxation


@register_relaxation("ssl")
@dataclass
class SSL(TwoClass):
    label: ClassVar[str] = "SSL a=2.3 (SGA+)"
    about: ClassVar[str] = "SGA+ sigmoid scaled logit: p(d) = σ(−a·logit d)"
    family: ClassVar[str] = "SSL"
    rank: ClassVar[int] = 70
    normalised: ClassVar[bool] = True

    a: float = 2.3

    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        return ops.ssl_log_prob(d, self.a)
