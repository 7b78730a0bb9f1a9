"""Fig. 3c: semi-multi-rate. Refining a model with another λ than it was trained
for moves its point along the R-D curve without another model; the question is
how close the traced curve stays to the family of separately trained models. Both SSL
and atanh (Yang et al.'s schedule) trace one (Fig. 3c has both)."""

from __future__ import annotations

import math

import numpy as np

from ..rdcurve import Curve, bd_rate
from ..refine_config import RefineConfig
from .harness.context import Claim, Context, Experiment, Section, register
from .harness.models import ModelRef
from .harness.plotting import label, legend, fmt, plt, save, table
from .harness.units import Job


def models(ctx: Context) -> list[ModelRef]:
    return ctx.family if ctx.protocol.smr_all_models else [ctx.main]


METHODS = ("ssl", "atanh")


def settings(ctx: Context, model: ModelRef, method: str) -> list[tuple[float, RefineConfig]]:
    """(λ, setting) pairs, the model's own λ included, sorted by λ."""
    lams = sorted({model.lmbda, *ctx.protocol.smr_lambdas})
    return [(lam, ctx.setting(method, lmbda=None if lam == model.lmbda else lam)) for lam in lams]


def plan(ctx: Context) -> list[Job]:
    return [Job(m, s) for m in models(ctx) for method in METHODS for _, s in settings(ctx, m, method)]


def smallest_rise(ctx: Context, model: ModelRef, method: str) -> np.ndarray | None:
    """Per seed and image, the smallest relative rise (%) of bpp or PSNR from one refinement
    λ to the next: positive when the point moves up the curve at every step."""
    steps = [(ctx.values(model, s, None, "bpp"), ctx.values(model, s, None, "psnr"))
             for _, s in settings(ctx, model, method)]
    if any(b is None or q is None for b, q in steps):
        return None
    rises = [np.minimum((b2 - b1) / b1, (q2 - q1) / q1) * 100
             for (b1, q1), (b2, q2) in zip(steps, steps[1:])]
    return np.min(rises, axis=0)


def analyse(ctx: Context) -> Section:
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for name, s in (("base family (unrefined)", ctx.base()), ("SSL family (own λ)", ctx.setting("ssl"))):
        c = ctx.family_curve(s)
        if c is not None:
            ax.plot(*c.sorted(), "o-", label=name, color="gray" if "base" in name else "black")
    rows, data, claims = [], {}, []
    ssl_family = ctx.family_curve(ctx.setting("ssl"))
    for m in models(ctx):
        for method in METHODS:
            pts = [(lam, ctx.point(m, s), ctx.ms_ssim(m, s)) for lam, s in settings(ctx, m, method)]
            rows += [[m.label, label(method), f"{lam:g}", *p, ms] for lam, p, ms in pts if p is not None]
            pts = [(lam, p) for lam, p, _ in pts if p is not None]
            data[f"{m.key}:{method}"] = {f"{lam:g}": p for lam, p in pts}
            if len(pts) > 1:
                ax.plot([p[0] for _, p in pts], [p[1] for _, p in pts], "s--",
                        label=f"semi-multi-rate {label(method)}: {m.label}")
                for lam, (bpp, psnr) in pts:
                    ax.annotate(f"λ={lam:g}", (bpp, psnr), fontsize=7, xytext=(3, -8),
                                textcoords="offset points")
            if len(settings(ctx, m, method)) < 2:  # one λ (the model's own): nothing traced
                continue
            rise = smallest_rise(ctx, m, method)
            traced = Curve(tuple(p[0] for _, p in pts), tuple(p[1] for _, p in pts))
            gap = bd_rate(ssl_family, traced) if ssl_family and len(pts) > 1 else math.nan
            data[f"{m.key}:{method}:bd_rate_vs_ssl_family"] = gap
            claims.append(Claim.decide(
                f"Semi-multi-rate moves along the R-D curve ({label(method)}, {m.label})", rise,
                f"BD-rate of the traced curve vs the SSL-refined family {fmt(gap, 2)} %; smallest "
                "relative rise of bpp or PSNR from one refinement λ to the next", "figures/semi_multi_rate.png"))
    ax.set_xlabel("bpp (estimated)")
    ax.set_ylabel("PSNR dB")
    legend(ax)
    md = save(fig, ctx.figures, "semi_multi_rate", "Semi-multi-rate curves (Fig. 3c)")
    header = ["model", "method", "refinement λ", "bpp", "PSNR dB", "MS-SSIM"]
    if all(r[-1] is None for r in rows):  # units refined before MS-SSIM was reported
        header, rows = header[:-1], [r[:-1] for r in rows]
    body = (f"{md}\n\nSSL and atanh, {ctx.protocol.iters} iterations, refinement λ as listed; the model keeps "
            f"its weights.\n\n{table(header, rows)}")
    return Section("Semi-multi-rate (Fig. 3c)", body, data, claims, complete=ctx.done(plan(ctx)))


EXPERIMENT = register(Experiment("semi-multi-rate", "Fig. 3c", plan, analyse))
