"""Two- vs three-class rounding (paper §3.2): same function families, three
candidate integers instead of two; the paper finds three classes converge faster."""

from __future__ import annotations

from ..relax import method_classes
from .harness import grid
from .harness.context import Claim, Context, Experiment, Section, register

#: (family, its two-class Gumbel method, its three-class method) for every three-class method.
FAMILIES = tuple((three.family, two.name, three.name) for three in method_classes() if three.classes == 3
                 for two in method_classes()
                 if two.classes == 2 and two.stochastic and two.family == three.family)


def cells(ctx: Context) -> list[grid.Cell]:
    return [grid.Cell(family, col, ctx.setting(m))
            for family, two, three in FAMILIES
            for col, m in (("2-class", two), ("3-class", three))]


def plan(ctx: Context):
    return grid.jobs(ctx, cells(ctx))


def analyse(ctx: Context) -> Section:
    sec = grid.analyse(ctx, "three_class", "Two- vs three-class", cells(ctx),
                       "Defaults: SSL a=2.3; three-class r=0.98, n=1.5 (SSL3 a=1.4, n=1.4); "
                       "all with the SGA+ schedule.", "function")
    early = ctx.protocol.checkpoints[0]
    won, n = grid.wins(sec.data, early, "3-class", "2-class")
    if n:
        sec.claims.append(Claim(f"Three-class converges faster early (after {early} iterations)",
                                won * 2 > n, f"3-class has the lower true loss in {won} of {n} "
                                "function families (linear, cosine, SSL)", "figures/three_class.png"))
    return sec


EXPERIMENT = register(Experiment("three-class", "2 vs 3 classes", plan, analyse))
