"""Learning-rate grid for atanh and SSL (each with its own default schedule)."""

from __future__ import annotations

from .harness import grid
from .harness.context import Context, Experiment, Section, register
from .harness.plotting import label


def cells(ctx: Context) -> list[grid.Cell]:
    p = ctx.protocol
    return [grid.Cell(f"lr={lr:g}", label(m), ctx.setting(m, lr=lr))
            for lr in p.lr_grid for m in p.lr_methods]


def plan(ctx: Context):
    return grid.jobs(ctx, cells(ctx))


def analyse(ctx: Context) -> Section:
    sec = grid.analyse(ctx, "lr", "Learning rate", cells(ctx),
                       "Adam learning rate; atanh with Yang et al.'s schedule, SSL with SGA+'s.",
                       "lr")
    sec.claims.append(grid.sensitivity_claim(ctx, cells(ctx), sec.data, ctx.protocol.iters, "lr",
                                               label("ssl"), label("atanh"), "figures/lr.png"))
    return sec


EXPERIMENT = register(Experiment("lr", "lr grid", plan, analyse))
