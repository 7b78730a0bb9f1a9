"""Named variants of a method that experiments show as rows of their own.

A variant is a registered relaxation with other parameters or another schedule under one
name, so a protocol lists it like a method and a figure labels it like one: atanh under
the official code's other schedule (spec §5), and three-class cosine with an even power
n, which the official code can run (its cos^n is NaN for a non-even n past |r d| = 1,
where ours clamps; issue 17). Plain methods carry their label on their class
(``Relaxation.label``); a variant declares its own here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    """``method`` with ``params`` over its own and ``schedule`` (None: the method's own)."""

    method: str
    label: str
    params: dict[str, float] = field(default_factory=dict)
    schedule: str | None = None


VARIANTS: dict[str, Variant] = {
    "atanh-danneal": Variant("atanh", "atanh (official min(exp(−4e-3 t), 0.2) sched.)",
                             schedule="danneal"),
    "cosine3-n2": Variant("cosine3", "3-class cosine n=2", params={"n": 2.0}),
}
