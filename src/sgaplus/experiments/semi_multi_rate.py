"""Fig. 3c: semi-multi-rate. Refining a model with another λ than it was trained
for moves its point along the R-D curve without another model; the question is
how close the traced curve stays to the family of separately trained models."""

from __future__ import annotations

import math

from ..rdcurve import Curve, bd_rate
from .harness.context import Claim, Context, Experiment, Section, register
from .harness.models import ModelRef
from .harness.plotting import legend, fmt, plt, save, table
from ..refine_config import RefineConfig
from .harness.units import Job


def models(ctx: Context) -> list[ModelRef]:
    return ctx.family if ctx.protocol.smr_all_models else [ctx.main]


def settings(ctx: Context, model: ModelRef) -> list[tuple[float, RefineConfig]]:
    """(λ, setting) pairs, the model's own λ included, sorted by λ."""
    lams = sorted({model.lmbda, *ctx.protocol.smr_lambdas})
    return [(lam, ctx.setting("ssl", lmbda=None if lam == model.lmbda else lam)) for lam in lams]


def plan(ctx: Context) -> list[Job]:
    return [Job(m, s) for m in models(ctx) for _, s in settings(ctx, m)]


def analyse(ctx: Context) -> Section:
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for name, s in (("base family (unrefined)", ctx.base()), ("SSL family (own λ)", ctx.setting("ssl"))):
        c = ctx.family_curve(s)
        if c is not None:
            ax.plot(*c.sorted(), "o-", label=name, color="gray" if "base" in name else "black")
    rows, data, claims = [], {}, []
    ssl_family = ctx.family_curve(ctx.setting("ssl"))
    for m in models(ctx):
        pts = [(lam, ctx.point(m, s), ctx.ms_ssim(m, s)) for lam, s in settings(ctx, m)]
        rows += [[m.label, f"{lam:g}", *p, ms] for lam, p, ms in pts if p is not None]
        pts = [(lam, p) for lam, p, _ in pts if p is not None]
        data[m.key] = {f"{lam:g}": p for lam, p in pts}
        if len(pts) > 1:
            ax.plot([p[0] for _, p in pts], [p[1] for _, p in pts], "s--",
                    label=f"semi-multi-rate: {m.label}")
            for lam, (bpp, psnr) in pts:
                ax.annotate(f"λ={lam:g}", (bpp, psnr), fontsize=7, xytext=(3, -8),
                            textcoords="offset points")
        if len(pts) == len(settings(ctx, m)) and len(pts) > 1:
            bpps, psnrs = [p[0] for _, p in pts], [p[1] for _, p in pts]
            monotone = all(b2 > b1 for b1, b2 in zip(bpps, bpps[1:])) and \
                all(q2 > q1 for q1, q2 in zip(psnrs, psnrs[1:]))
            gap = bd_rate(ssl_family, Curve(tuple(bpps), tuple(psnrs))) if ssl_family else math.nan
            data[f"{m.key}:bd_rate_vs_ssl_family"] = gap
            claims.append(Claim(f"Semi-multi-rate moves along the R-D curve ({m.label})", monotone,
                                f"bpp and PSNR {'rise' if monotone else 'do not both rise'} with the "
                                f"refinement λ; BD-rate vs the SSL-refined family {fmt(gap, 2)} %",
                                "figures/semi_multi_rate.png"))
    ax.set_xlabel("bpp (estimated)")
    ax.set_ylabel("PSNR dB")
    legend(ax)
    md = save(fig, ctx.figures, "semi_multi_rate", "Semi-multi-rate curves (Fig. 3c)")
    header = ["model", "refinement λ", "bpp", "PSNR dB", "MS-SSIM"]
    if all(r[-1] is None for r in rows):  # units refined before MS-SSIM was reported
        header, rows = header[:-1], [r[:-1] for r in rows]
    body = (f"{md}\n\nSSL, {ctx.protocol.iters} iterations, refinement λ as listed; the model keeps "
            f"its weights.\n\n{table(header, rows)}")
    return Section("Semi-multi-rate (Fig. 3c)", body, data, claims, complete=ctx.done(plan(ctx)))


EXPERIMENT = register(Experiment("semi-multi-rate", "Fig. 3c", plan, analyse))
