"""The refined family against the unrefined family and the codecs people
already have (JPEG, WebP, AVIF through Pillow) on the same images."""

from __future__ import annotations

import math

from .. import codecs_eval
from ..images import to_uint8
from ..rdcurve import Curve, bd_psnr, bd_rate
from .harness.context import Context, Experiment, Section, register
from .harness.plotting import legend, plt, save, table
from .harness.units import Job


def plan(ctx: Context) -> list[Job]:
    return [Job(m, s) for m in ctx.family for s in (ctx.base(), ctx.setting("ssl"))]


def pillow_curves(ctx: Context) -> dict[str, Curve]:
    """Each Pillow codec's curve (means per quality) on the protocol's images; the
    per-image points are cached in ``units/pillow.csv``, as eval-codecs caches its own."""
    curves = codecs_eval.pillow_curves([to_uint8(im.x) for im in ctx.images], [im.id for im in ctx.images],
                                       ctx.out / "units" / "pillow.csv")
    return {c.name: c for c in curves}


def analyse(ctx: Context) -> Section:
    ours: dict[str, Curve | None] = {}
    for b in ("estimated", "actual"):
        ours[f"unrefined ({b} bits)"] = ctx.family_curve(ctx.base(), bits=b)
        ours[f"SSL-refined ({b} bits)"] = ctx.family_curve(ctx.setting("ssl"), bits=b)
    allc = {**{k: v for k, v in ours.items() if v is not None}, **pillow_curves(ctx)}
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for name, c in allc.items():
        style = "o-" if "bits" in name else ".--"
        ax.plot(*c.sorted(), style, label=name)
    lo, hi = min(min(c.bpp) for c in allc.values()), max(max(c.bpp) for c in allc.values())
    ours_bpp = [b for k, c in ours.items() if c for b in c.bpp]
    if ours_bpp:
        lo, hi = max(lo, min(ours_bpp) / 2), min(hi, max(ours_bpp) * 2)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("bpp")
    ax.set_ylabel("PSNR dB (8-bit RGB)")
    legend(ax)
    md = save(fig, ctx.figures, "codecs", "Refined and unrefined family vs JPEG / WebP / AVIF")
    anchors = [k for k in ("unrefined (estimated bits)", "JPEG") if k in allc]
    rows, data = [], {}
    for name, c in allc.items():
        row: list = [name]
        for a in anchors:
            r = bd_rate(allc[a], c) if a != name else math.nan
            p = bd_psnr(allc[a], c) if a != name else math.nan
            row += [r, p]
            data[f"{name} vs {a}"] = {"bd_rate_pct": r, "bd_psnr_db": p}
        rows.append(row)
    header = ["codec"] + [f"{h} vs {a}" for a in anchors for h in ("BD-rate %", "BD-PSNR dB")]
    body = (f"{md}\n\nSame {len(ctx.images)} images for every codec; Pillow codecs at their quality "
            f"sweeps (JPEG 4:2:0, WebP method 6, AVIF speed 6), bits = file size. BD over the "
            f"common range only (– = no overlap).\n\n{table(header, rows, digits=2)}")
    return Section("Against standard codecs", body, data, complete=ctx.done(plan(ctx)))


EXPERIMENT = register(Experiment("codecs", "codecs", plan, analyse))
