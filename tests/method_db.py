"""Database of relaxation methods for the generic tests (after torch's ``optim_db``).

A new method is one file in ``src/sgaplus/relax/`` plus one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MethodInfo:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    bad_params: tuple[dict[str, Any], ...] = ()
    #: the rounding sharpens to hard rounding as the temperature goes to 0
    hardens: bool = True
    #: integers map to themselves exactly at any temperature
    keeps_integers: bool = True
    #: two-class function values sum to one
    normalised: bool = False
    three_class: bool = False


METHOD_DB = [
    MethodInfo("ste"),
    MethodInfo("noise", hardens=False, keeps_integers=False),
    MethodInfo("danneal"),
    MethodInfo("atanh"),
    MethodInfo("linear", normalised=True),
    MethodInfo("cosine", normalised=True),
    MethodInfo("ssl", {"a": 2.3}, ({"a": 0}, {"a": -1.0}, {"a": float("nan")}), normalised=True),
    MethodInfo("linear3", {"r": 0.98, "n": 1.5}, ({"r": 0},), keeps_integers=False, three_class=True),
    MethodInfo("cosine3", {"r": 0.98, "n": 1.5}, ({"n": -2},), keeps_integers=False, three_class=True),
    MethodInfo("ssl3", {"a": 1.4, "n": 1.4, "r": 0.98}, ({"a": 0},), keeps_integers=False,
               three_class=True),
]

SGA_PLUS = ["linear", "cosine", "ssl", "linear3", "cosine3", "ssl3"]
