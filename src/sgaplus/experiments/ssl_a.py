"""Table 4: SSL's slope a (a = 1 is linear, a → ∞ hard rounding; the paper picks 2.3)."""

from __future__ import annotations

from .harness import grid
from .harness.context import Context, Experiment, Section, register


def cells(ctx: Context) -> list[grid.Cell]:
    return [grid.Cell(f"a={a:g}", "SSL", ctx.setting("ssl", params={"a": a}))
            for a in ctx.protocol.ssl_a_grid]


def plan(ctx: Context):
    return grid.jobs(ctx, cells(ctx))


def analyse(ctx: Context) -> Section:
    return grid.analyse(ctx, "ssl_a", "SSL slope a (Table 4)", cells(ctx),
                        "SSL with the SGA+ schedule (T_max = 1); only a differs.", "a")


EXPERIMENT = register(Experiment("ssl-a", "Table 4", plan, analyse))
