"""Table 2: sensitivity to the schedule's T_max. Every method runs the SGA+
schedule min(exp(−1e-3 t), T_max), so only T_max differs between cells (atanh
at T_max = 0.5 is then close to Yang et al.'s schedule)."""

from __future__ import annotations

from .harness import grid
from .harness.context import Context, Experiment, Section, register
from .harness.plotting import short_label


def cells(ctx: Context) -> list[grid.Cell]:
    p = ctx.protocol
    return [grid.Cell(f"T_max={t:g}", short_label(m),
                      ctx.setting(m, schedule="sgaplus", schedule_params={"t_max": t}))
            for t in p.tmax_grid for m in p.tmax_methods]


def plan(ctx: Context):
    return grid.jobs(ctx, cells(ctx))


def analyse(ctx: Context) -> Section:
    sec = grid.analyse(ctx, "tmax", "T_max sensitivity (Table 2)", cells(ctx),
                       "Schedule for every method: SGA+ min(exp(−1e-3 t), T_max).", "T_max")
    sec.claims.append(grid.sensitivity_claim(ctx, cells(ctx), sec.data, ctx.protocol.iters, "T_max",
                                               short_label("ssl"), short_label("atanh"), "figures/tmax.png"))
    return sec


EXPERIMENT = register(Experiment("tmax", "Table 2", plan, analyse))
