"""Database of relaxation methods for the generic tests (after torch's ``optim_db``).

A new method is one file in ``src/sgaplus/relax/`` plus one entry here. An entry says
what the tests expect of the method's behaviour; what the method *is* (label, family,
candidate count, normalised) the tests read from its class.
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


METHOD_DB = [
    MethodInfo("ste"),
    MethodInfo("noise", hardens=False, keeps_integers=False),
    MethodInfo("danneal"),
    MethodInfo("atanh"),
    MethodInfo("linear"),
    MethodInfo("cosine"),
    MethodInfo("ssl", {"a": 2.3}, ({"a": 0}, {"a": -1.0}, {"a": float("nan")})),
    MethodInfo("linear3", {"r": 0.98, "n": 1.5}, ({"r": 0},), keeps_integers=False),
    MethodInfo("cosine3", {"r": 0.98, "n": 1.5}, ({"n": -2},), keeps_integers=False),
    MethodInfo("ssl3", {"a": 1.4, "n": 1.4, "r": 0.98}, ({"a": 0},), keeps_integers=False),
]

SGA_PLUS = ["linear", "cosine", "ssl", "linear3", "cosine3", "ssl3"]
