"""Numerical guards of the relaxations, each named and documented once.

Following tensorflow-compression's ``ops/math_ops.py``: every clamp or epsilon
that keeps a formula finite lives here, with what it guards and what it does not.
The values are those of the SGA+ reference code (spec §4).
"""

from __future__ import annotations

import torch

#: Distances to a candidate are clamped to [-1 + DIST_EPS, 1 - DIST_EPS]. Guards
#: atanh(d) (infinite at |d| = 1) and log(1 - d) (infinite at d = 1) for latents
#: that sit exactly on an integer. It does not bound the *gradient* of atanh,
#: which still grows like 1 / (1 - d); that is SGA's known weakness.
DIST_EPS = 1e-5

#: The SSL inner clamp keeps logit(d) finite at d in {0, 1}.
SSL_EPS = 1e-5

#: cos^2 is mixed with a floor so log(p) stays finite where cos^2 = 0 (d = 1).
COS_FLOOR = 1e-7

#: Three-class probabilities are floored before the power n so log(p) is finite
#: for candidates outside the support of the extended functions.
PROB_FLOOR = 1e-6

#: Uniform samples feeding logistic/Gumbel noise stay inside (0, 1) so that
#: log(u) and log(1 - u) are finite; float32 rand can return exactly 0.
UNIFORM_EPS = 1e-7


def clamp_distance(d: torch.Tensor) -> torch.Tensor:
    """Clamp a candidate distance into the open interval (-1, 1)."""
    return d.clamp(-1 + DIST_EPS, 1 - DIST_EPS)


def uniform(
    shape: torch.Size, like: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """U(eps, 1 - eps) samples on ``like``'s device and dtype, from ``generator``."""
    u = torch.rand(shape, generator=generator, device=like.device, dtype=torch.float32)
    return u.clamp(UNIFORM_EPS, 1 - UNIFORM_EPS).to(like.dtype)


def gumbel(shape: torch.Size, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard Gumbel noise -log(-log(u))."""
    return -torch.log(-torch.log(uniform(shape, like, generator)))


def logistic(shape: torch.Size, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard logistic noise: the difference of two Gumbel samples, in one draw."""
    u = uniform(shape, like, generator)
    return torch.log(u) - torch.log1p(-u)


def ssl_log_prob(d: torch.Tensor, a: float) -> torch.Tensor:
    """log sigma(-a * logit(d)), the sigmoid-scaled-logit family (spec §4).

    ``logsigmoid`` is used instead of ``log(sigmoid(.))`` so the log-probability
    of a far candidate is exact rather than rounding to log(0).
    """
    d = d.clamp(SSL_EPS, 1 - SSL_EPS)
    return torch.nn.functional.logsigmoid(-a * torch.logit(d))
