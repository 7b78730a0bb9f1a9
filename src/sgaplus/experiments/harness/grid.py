"""Hyperparameter grids on the main model (T_max, SSL a, lr, two vs three
classes): one true-R-D-loss table per checkpoint, best per column in bold, and
the loss curves of every cell. The grid experiments only say which cells."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .context import Claim, Context, Section
from .plotting import legend, fmt, plt, save, table
from ...refine_config import RefineConfig
from .units import Job


@dataclass(frozen=True)
class Cell:
    row: str
    col: str
    setting: RefineConfig


def jobs(ctx: Context, cells: list[Cell]) -> list[Job]:
    return [Job(ctx.main, c.setting) for c in cells]


def losses(ctx: Context, cells: list[Cell], at: int) -> dict[tuple[str, str], float]:
    """Mean true loss per (row, col) after ``at`` iterations; NaN while missing."""
    out = {}
    for c in cells:
        v = ctx.loss_at(ctx.main, c.setting, at)
        out[(c.row, c.col)] = math.nan if v is None else v
    return out


def spread(values: list[float]) -> float:
    """(worst − best) / best in percent: how much a bad setting of the knob costs."""
    vals = [v for v in values if not math.isnan(v)]
    return (max(vals) - min(vals)) / min(vals) * 100 if len(vals) > 1 else math.nan


def wins(data: dict, at: int, test: str, anchor: str) -> tuple[int, int]:
    """In how many rows of the table at ``at`` column ``test`` has a lower loss than ``anchor``."""
    table_ = data.get(str(at), {})
    rows = {k.split("|")[0] for k in table_}
    pairs = [(table_.get(f"{r}|{test}"), table_.get(f"{r}|{anchor}")) for r in rows]
    pairs = [(t, a) for t, a in pairs if t is not None and a is not None
             and not (math.isnan(t) or math.isnan(a))]
    return sum(t < a for t, a in pairs), len(pairs)


def sample_spreads(ctx: Context, cells: list[Cell], col: str, at: int) -> np.ndarray | None:
    """:func:`spread` of column ``col`` per seed and image (seeds, images); None while missing."""
    found = [ctx.values(ctx.main, c.setting, at) for c in cells if c.col == col]
    if len(found) < 2 or any(v is None for v in found):
        return None
    arr = np.stack(found)  # type: ignore[arg-type]
    return (arr.max(0) - arr.min(0)) / arr.min(0) * 100


def sensitivity_claim(ctx: Context, cells: list[Cell], data: dict, at: int, knob: str, ssl: str,
                      atanh: str, figure: str) -> Claim:
    """The paper's "SGA+ is less sensitive to <knob>" checked as a smaller spread per seed
    and image, with how often SSL is simply better at the same setting beside it."""
    a, s = sample_spreads(ctx, cells, atanh, at), sample_spreads(ctx, cells, ssl, at)
    text = f"SGA+ is less sensitive to {knob} than atanh"
    if a is None or s is None:
        return Claim.decide(text, None, f"true-loss spread over {knob} after {at} iterations", figure)
    won, n = wins(data, at, ssl, atanh)
    return Claim.decide(text, a - s,
                        f"true-loss spread over {knob} after {at} iterations, mean over seeds and "
                        f"images: SSL {fmt(float(s.mean()), 2)} %, atanh {fmt(float(a.mean()), 2)} %; SSL "
                        f"has the lower mean loss at {won} of {n} {knob} values; atanh's spread − "
                        "SSL's", figure)


def analyse(ctx: Context, name: str, title: str, cells: list[Cell], intro: str,
            row_name: str) -> Section:
    rows = list(dict.fromkeys(c.row for c in cells))
    cols = list(dict.fromkeys(c.col for c in cells))
    parts, data = [intro], {}
    for at in ctx.protocol.checkpoints:
        found = losses(ctx, cells, at)
        body = [[r, *[found.get((r, c), math.nan) for c in cols]] for r in rows]
        spreads = [spread([found.get((r, c), math.nan) for r in rows]) for c in cols]
        spread_row = "| spread % | " + " | ".join(fmt(v, 2) for v in spreads) + " |"
        parts.append(f"True R-D loss after {at} iterations (mean over {len(ctx.protocol.seeds)} seeds "
                     f"× {len(ctx.images)} images ± sd over seeds; bold = best per column; spread = "
                     f"(worst − best) / best of the means):\n\n"
                     f"{table([row_name, *cols], body, best='min')}\n{spread_row}")
        data[str(at)] = {f"{r}|{c}": v for (r, c), v in found.items()}
        data[f"spread@{at}"] = dict(zip(cols, spreads))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in cells:
        h = ctx.history(ctx.main, c.setting, "loss_true")
        if h is not None:
            ax.plot(h[0], h[1], label=f"{c.col}, {c.row}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("true R-D loss")
    ax.set_title(f"{title}: {ctx.main.label}")
    legend(ax, ncol=2)
    parts.append(save(fig, ctx.figures, name, f"{title}: true loss over iterations"))
    return Section(title, "\n\n".join(parts), data, complete=ctx.done(jobs(ctx, cells)))
