"""Two- vs three-class rounding (paper §3.2): same function families, three
candidate integers instead of two; the paper finds three classes converge faster.

Cosine runs twice in three classes: with the project's n = 1.5 (its cos^n clamped at 0,
since cos goes negative past |r d| = 1) and with n = 2, an even power the official code
can run unclamped (its n = 1.5 gives NaN there)."""

from __future__ import annotations

from ..relax import method_classes
from .harness import grid
from .harness.context import Claim, Context, Experiment, Section, register
from .harness.variants import VARIANTS

def _families():
    """(row, its two-class Gumbel method, a three-class setting) for every three-class method
    and each of its variants (:mod:`.harness.variants`; the row names the variant's parameters)."""
    for three in method_classes():
        for two in method_classes():
            if three.classes == 3 and two.classes == 2 and two.stochastic and two.family == three.family:
                yield three.family, two.name, three.name
                for name, var in VARIANTS.items():
                    if var.method == three.name:
                        params = "".join(f" {k}={v:g}" for k, v in var.params.items())
                        yield three.family + params, two.name, name


FAMILIES = tuple(_families())


def cells(ctx: Context) -> list[grid.Cell]:
    return [grid.Cell(row, col, ctx.setting(m))
            for row, two, three in FAMILIES
            for col, m in (("2-class", two), ("3-class", three))]


def plan(ctx: Context):
    return grid.jobs(ctx, cells(ctx))


def analyse(ctx: Context) -> Section:
    sec = grid.analyse(ctx, "three_class", "Two- vs three-class", cells(ctx),
                       "Defaults: SSL a=2.3; three-class r=0.98, n=1.5 (SSL3 a=1.4, n=1.4; the "
                       "row 'cosine n=2' is three-class cosine with n=2 against the same "
                       "two-class cosine); all with the SGA+ schedule.", "function")
    early = ctx.protocol.checkpoints[0]
    for row, two, three in FAMILIES:
        a = ctx.values(ctx.main, ctx.setting(two), early)
        b = ctx.values(ctx.main, ctx.setting(three), early)
        missing = a is None or b is None
        sec.claims.append(Claim.decide(
            f"Three-class converges faster early ({row}, after {early} iterations)",
            None if missing else (a - b) / a * 100,
            "true loss after {} iterations{}; (2-class − 3-class) / 2-class".format(
                early, "" if missing else f": 2-class {float(a.mean()):.4f}, 3-class {float(b.mean()):.4f}"),
            "figures/three_class.png"))
    return sec


EXPERIMENT = register(Experiment("three-class", "2 vs 3 classes", plan, analyse))
