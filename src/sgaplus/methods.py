"""What each relaxation method *is*, without torch: its registry name, its hyperparameters
with their defaults, and what figures, tables, ``sgaplus methods`` and the README say of it.

Kept apart from the arithmetic so that listing the methods (``sgaplus methods``) and
checking a command line's ``--method``/``--param`` (:class:`~sgaplus.refine_config.RefineConfig`)
cost no torch import (about 2 s). Each entry here is subclassed by its implementation in
:mod:`sgaplus.relax` (``class SSL(methods.SSL, TwoClass)``), which adds only the torch code and
inherits all of this, so nothing is stated twice; ``tests/test_relax.py`` holds the two
registries to the same names and each implementation to its entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .registry import Entry, Registry

METHODS: Registry[type["Method"]] = Registry("method")

#: Class decorator: ``@register_method("ssl")`` adds a method's entry under that name.
register_method = METHODS.register


@dataclass
class Method(Entry):
    """Base class. Subclasses are dataclasses whose fields are the hyperparameters, and
    declare what the rest of sgaplus says about them in class attributes.

    Class attributes:
        label: how figures and tables name the method, with the schedule it runs with in
            brackets (``experiments.harness.plotting.short_label`` drops them).
        about: one line on what it is, for ``sgaplus methods`` and the README.
        family: its probability function ("linear", "SSL", ...): a two- and a three-class
            method of one family share the function (the three-class experiment pairs
            them); a baseline is its own family.
        classes: candidate integers per element: 2 (floor, ceil; :class:`TwoClass`), 3
            (round ± 1; :class:`ThreeClass`), 0 for methods without candidates (STE, noise).
        rank: the method's place in tables, figures and listings, ascending: the paper's
            order (baselines, SGA, the SGA+ functions, their three-class forms).
        default_schedule: the temperature schedule this method is run with unless
            the caller names another (spec §5).
        normalised: whether the candidate probabilities of the two-class function
            sum to one by construction (linear, cosine, SSL; not atanh).
    """

    kind: ClassVar[str] = "method"
    label: ClassVar[str] = ""
    about: ClassVar[str] = ""
    family: ClassVar[str] = ""
    classes: ClassVar[int] = 0
    rank: ClassVar[int] = 0
    default_schedule: ClassVar[str] = "sgaplus"
    normalised: ClassVar[bool] = False


def ranked() -> list[type[Method]]:
    """Every method's entry, in the order tables, figures and listings show them (``rank``)."""
    return sorted((METHODS.get(name) for name in METHODS.names()), key=lambda cls: cls.rank)


@register_method("ste")
@dataclass
class STE(Method):
    label: ClassVar[str] = "STE"
    about: ClassVar[str] = "straight-through rounding"
    family: ClassVar[str] = "STE"
    rank: ClassVar[int] = 10
    default_schedule: ClassVar[str] = "constant"


@register_method("noise")
@dataclass
class UniformNoise(Method):
    label: ClassVar[str] = "uniform noise"
    about: ClassVar[str] = "additive uniform noise"
    family: ClassVar[str] = "noise"
    rank: ClassVar[int] = 20
    default_schedule: ClassVar[str] = "constant"


@dataclass
class TwoClass(Method):
    """Gumbel-softmax over ``floor(v)`` and ``ceil(v)`` (SGA)."""

    classes: ClassVar[int] = 2


@register_method("atanh")
@dataclass
class Atanh(TwoClass):
    """SGA. Runs with Yang et al.'s published schedule unless told otherwise."""

    label: ClassVar[str] = "atanh / SGA (Yang sched.)"
    about: ClassVar[str] = "SGA (Yang et al. 2020): p(d) = exp(−atanh d)"
    family: ClassVar[str] = "atanh"
    rank: ClassVar[int] = 40
    default_schedule: ClassVar[str] = "yang"


@register_method("danneal")
@dataclass
class DeterministicAnnealing(Atanh):
    """The atanh softmax without Gumbel noise."""

    label: ClassVar[str] = "det. annealing (danneal sched.)"
    about: ClassVar[str] = "atanh softmax without Gumbel noise (deterministic annealing)"
    rank: ClassVar[int] = 30
    default_schedule: ClassVar[str] = "danneal"


@register_method("linear")
@dataclass
class Linear(TwoClass):
    label: ClassVar[str] = "linear (SGA+)"
    about: ClassVar[str] = "SGA+: p(d) = 1 − d"
    family: ClassVar[str] = "linear"
    rank: ClassVar[int] = 50
    normalised: ClassVar[bool] = True


@register_method("cosine")
@dataclass
class Cosine(TwoClass):
    label: ClassVar[str] = "cosine (SGA+)"
    about: ClassVar[str] = "SGA+: p(d) = cos²(πd/2)"
    family: ClassVar[str] = "cosine"
    rank: ClassVar[int] = 60
    normalised: ClassVar[bool] = True


@register_method("ssl")
@dataclass
class SSL(TwoClass):
    label: ClassVar[str] = "SSL a=2.3 (SGA+)"
    about: ClassVar[str] = "SGA+ sigmoid scaled logit: p(d) = σ(−a·logit d)"
    family: ClassVar[str] = "SSL"
    rank: ClassVar[int] = 70
    normalised: ClassVar[bool] = True

    a: float = 2.3


@dataclass
class ThreeClass(Method):
    """Candidates ``round(v) - 1, round(v), round(v) + 1``; ``r`` stretches the support and
    ``n`` sharpens the function."""

    classes: ClassVar[int] = 3

    r: float = 0.98
    n: float = 1.5


@register_method("linear3")
@dataclass
class Linear3(ThreeClass):
    label: ClassVar[str] = "3-class linear"
    about: ClassVar[str] = "SGA+ three-class rounding, linear: p ∝ max(1 − r|d|, 0)ⁿ"
    family: ClassVar[str] = "linear"
    rank: ClassVar[int] = 80


@register_method("cosine3")
@dataclass
class Cosine3(ThreeClass):
    label: ClassVar[str] = "3-class cosine"
    about: ClassVar[str] = "SGA+ three-class rounding, cosine: p ∝ cos(πrd/2)ⁿ"
    family: ClassVar[str] = "cosine"
    rank: ClassVar[int] = 90


@register_method("ssl3")
@dataclass
class SSL3(ThreeClass):
    label: ClassVar[str] = "3-class SSL"
    about: ClassVar[str] = "SGA+ three-class rounding, SSL: p ∝ σ(−a·logit |rd/1.5|)ⁿ"
    family: ClassVar[str] = "SSL"
    rank: ClassVar[int] = 100

    a: float = 1.4
    n: float = 1.4
