"""SGA+ sigmoid scaled logit, SSL (Perugachi-Diaz et al., NeurIPS 2024, arXiv 2401.17789, §3).

    p(d) = sigmoid(-a * logit(d)) = 1 / (1 + (d / (1 - d))^a)

a = 1 is the linear function, a -> inf is hard rounding; the paper uses a = 2.3.
"""

from __future__ import annotations

import torch

from .. import methods, ops
from .base import TwoClass, register_relaxation


@register_relaxation
class SSL(methods.SSL, TwoClass):
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        return ops.ssl_log_prob(d, self.a)
