"""The relaxation contract: a soft, annealed stand-in for rounding.

A relaxation maps a tensor ``v`` (an element of y - mu, or of z) to ``v_hat``,
a differentiable surrogate of ``round(v)`` whose sharpness is set by the
temperature ``tau``. The refiner calls ``relax(v, tau, generator)`` once per
latent tensor and iteration and never branches on the method's name.

A call is two steps: :meth:`~Relaxation.draw` the random numbers (logistic or
Gumbel noise, indexed like ``v`` along its dimensions), then
:meth:`~Relaxation.apply` the function, elementwise given the noise. Kept apart so
that a large tensor can be relaxed in pieces, and a piece recomputed for its
gradient (:func:`sgaplus.tiling.by_rows`), with the very numbers a whole call draws.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import torch

from .. import ops
from ..methods import METHODS, Method
from ..registry import Registry

RELAXATIONS: Registry[type["Relaxation"]] = Registry("method")
R = TypeVar("R", bound=type["Relaxation"])


def register_relaxation(cls: R) -> R:
    """Class decorator: registers an implementation under the name of the
    :mod:`sgaplus.methods` entry it subclasses (``class SSL(methods.SSL, TwoClass)``), whose
    fields and metadata it inherits."""
    entry = METHODS.get(cls.name) if cls.name in METHODS else None
    if entry is None or not issubclass(cls, entry):
        raise TypeError(f"{cls.__name__} must subclass its registered entry in sgaplus.methods")
    return RELAXATIONS.register(cls.name)(cls)


@dataclass
class Relaxation(Method, abc.ABC):
    """Base class of the implementations: a method's entry in :mod:`sgaplus.methods` (its
    name, hyperparameters and metadata, torch-free) plus this torch code; nothing restates
    the entry."""

    def __call__(
        self, v: torch.Tensor, tau: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Relaxed rounding of ``v`` at temperature ``tau`` (same shape as ``v``)."""
        return self.apply(v, tau, self.draw(v, generator))

    def draw(self, v: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor | None:
        """The random numbers of one call on ``v`` (None: the method draws none); their
        leading dimensions are ``v``'s, so a slice of ``v`` takes the same slice of them."""
        return None

    @abc.abstractmethod
    def apply(self, v: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
        """The relaxation of ``v`` given :meth:`draw`'s numbers: elementwise in ``v``."""

    def hard(self, v: torch.Tensor) -> torch.Tensor:
        """What is transmitted: plain rounding."""
        return torch.round(v)

    def candidates(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidate integers and their probability-function values, shape ``v.shape + (K,)``.

        For two-class functions these are the raw p(d) of the spec's table (so
        atanh does not sum to one); for three-class functions they are normalised.
        Methods without candidates (STE, uniform noise) raise ``NotImplementedError``.
        """
        raise NotImplementedError(f"method {self.name!r} has no candidate probabilities")


class TwoClass(Relaxation):
    """Gumbel-softmax over ``floor(v)`` and ``ceil(v)`` (SGA, Yang et al. 2020, §3.3).

    With logits ``log p(d_k) / tau`` and ``F.gumbel_softmax(logits, tau)`` the
    weight of the ceiling candidate is, in closed form,

        w_c = sigmoid((log p(d_c) - log p(d_f)) / tau^2 + L / tau),

    because the difference of two independent Gumbel samples is one logistic
    sample L. This is the same distribution as the stacked softmax but needs one
    random number and no (..., 2) intermediate per element. ``v_hat`` is
    ``floor + w_c * (ceil - floor)``, so an integer ``v`` stays put.

    The smaller of the two weights is the one computed (``w_c = 1 - sigmoid(-x)`` for
    x > 0): in fp32 ``sigmoid(x)`` is exactly 1 above x ≈ 17 and autograd's derivative
    ``w (1 - w)`` then exactly 0, while the reference's softmax keeps the small weight and
    its gradient. Adam scales such gradients (around its eps, 1e-8) up to steps of about
    its lr, so a loop that dropped them froze every latent leaning hard towards its ceiling
    but moved those leaning towards their floor, and left the reference's trajectory
    (docs/bench/refine_early.md).
    """

    #: Whether Gumbel (logistic) noise is added; deterministic annealing sets False.
    stochastic: ClassVar[bool] = True

    @abc.abstractmethod
    def log_prob(self, d: torch.Tensor) -> torch.Tensor:
        """log p(d) for a candidate at (clamped) distance ``d`` in (0, 1)."""

    def _distances(self, floor: torch.Tensor, ceil: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        d_f = ops.clamp_distance(v - floor)
        d_c = ops.clamp_distance(ceil - v)
        return torch.stack([d_f, d_c], dim=-1)

    def candidates(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # floor + 1 rather than ceil, so an integer has two distinct candidates.
        floor = torch.floor(v)
        ceil = floor + 1
        return torch.stack([floor, ceil], dim=-1), self.log_prob(self._distances(floor, ceil, v)).exp()

    def draw(self, v: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor | None:
        return ops.logistic(v.shape, v, generator) if self.stochastic else None

    def apply(self, v: torch.Tensor, tau: float, noise: torch.Tensor | None) -> torch.Tensor:
        # ceil (not floor + 1): for an integer both candidates coincide and v stays put.
        floor, ceil = torch.floor(v), torch.ceil(v)
        log_p = self.log_prob(self._distances(floor, ceil, v))
        z = (log_p[..., 1] - log_p[..., 0]) / (tau * tau)
        if noise is not None:
            z = z + noise / tau
        up = z > 0
        small = torch.sigmoid(torch.where(up, -z, z))  # the smaller weight, exact in its tail
        return torch.where(up, ceil - small * (ceil - floor), floor + small * (ceil - floor))
