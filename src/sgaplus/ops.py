"""Numerical guards of the relaxations and the distortions, each named and documented once.

Following tensorflow-compression's ``ops/math_ops.py``: every clamp or epsilon
that keeps a formula finite lives here, with what it guards and what it does not.
The relaxations' values are those of the SGA+ reference code (spec §4); MS-SSIM's
are pytorch-msssim's, which CompressAI trains with.
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

#: The error in a dB figure (MSE for PSNR, 1 − MS-SSIM for MS-SSIM dB) is floored so an
#: exact reconstruction reports 120 dB rather than infinity.
ERROR_FLOOR = 1e-12


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


def nonnegative_ssim(s: torch.Tensor) -> torch.Tensor:
    """SSIM or its contrast-structure term clamped at 0 (relu), as pytorch-msssim does.

    Both are negative where x̂ is anti-correlated with x; MS-SSIM raises them to the
    fractional powers of its scale weights, which is NaN for a negative base. The clamp
    does not guard the gradient of s^w at s = 0 (infinite); relu's gradient, 0 there,
    stops it before it reaches x̂.
    """
    return torch.relu(s)


def decibels(error: torch.Tensor) -> torch.Tensor:
    """−10·log10(error), with the error floored at :data:`ERROR_FLOOR`."""
    return 10 * torch.log10(1.0 / error.clamp_min(ERROR_FLOOR))
