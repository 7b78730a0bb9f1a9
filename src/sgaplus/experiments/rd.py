"""Fig. 3 and Table 1: R-D curves of base / atanh / SSL over the λ family and
their Bjøntegaard deltas, at every checkpoint, with estimated and actual bits."""

from __future__ import annotations

import math

from ..rdcurve import Curve, bd_psnr, bd_rate
from .harness.context import Claim, Context, Experiment, Section, register, verdict
from .harness.plotting import legend, fmt, label, plt, save, table
from .harness.units import Job

METHODS = ("atanh", "ssl")
PAIRS = (("ssl", "atanh"), ("ssl", "base"), ("atanh", "base"))


def plan(ctx: Context) -> list[Job]:
    return [Job(m, s) for m in ctx.family for s in (ctx.base(), *map(ctx.setting, METHODS))]


def curves(ctx: Context, at: int | None, bits: str) -> dict[str, Curve | None]:
    """base / atanh / ssl family curves after ``at`` iterations (base: unrefined)."""
    out = {"base": ctx.family_curve(ctx.base(), None, bits)}
    for m in METHODS:
        out[m] = ctx.family_curve(ctx.setting(m), at, bits)
    return out


def bd_rows(found: dict[str, Curve | None]) -> list[tuple[str, float, float]]:
    rows = []
    for test, anchor in PAIRS:
        a, t = found[anchor], found[test]
        ok = a is not None and t is not None
        rows.append((f"{test} vs {anchor}", bd_rate(a, t) if ok else math.nan,
                     bd_psnr(a, t) if ok else math.nan))
    return rows


def analyse(ctx: Context) -> Section:
    p = ctx.protocol
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    final = curves(ctx, None, "estimated")
    for name, c in final.items():
        if c is not None:
            bpp, psnr = c.sorted()
            ax.plot(bpp, psnr, "o-", label=label(name) if name != "base" else "base (unrefined)")
    if len(p.checkpoints) > 1:
        for m in METHODS:
            c = curves(ctx, p.checkpoints[0], "estimated")[m]
            if c is not None:
                bpp, psnr = c.sorted()
                ax.plot(bpp, psnr, "x:", label=f"{label(m)} @ {p.checkpoints[0]} it")
    ax.set_xlabel("bpp (estimated)")
    ax.set_ylabel("PSNR dB")
    crops = {c.size for c in p.images if c.size}
    what = f"{len(ctx.images)} crops of {'/'.join(map(str, crops))} px" if crops else f"{len(ctx.images)} images"
    ax.set_title(f"Kodak ({what}), λ family")
    legend(ax)
    md = save(fig, ctx.figures, "rd", "R-D curves base / atanh / SSL (Fig. 3)")

    table_rows, data = [], {}
    for bits in ("estimated", "actual"):
        for at in p.checkpoints:
            if bits == "actual" and at != p.iters:
                continue
            for pair, rate, psnr in bd_rows(curves(ctx, at, bits)):
                table_rows.append([f"{at}", bits, pair, rate, psnr])
                data[f"{bits}@{at}:{pair}"] = {"bd_rate_pct": rate, "bd_psnr_db": psnr}
    bd_table = table(["iterations", "bits", "comparison", "BD-rate %", "BD-PSNR dB"], table_rows,
                     digits=2)
    point_rows, with_ms_ssim = [], False
    for m in ctx.family:
        row = [m.label]
        for s in (ctx.base(), *map(ctx.setting, METHODS)):
            pt, ms = ctx.point(m, s), ctx.ms_ssim(m, s)
            with_ms_ssim |= ms is not None
            row.append("–" if pt is None else f"{pt[0]:.3f} / {pt[1]:.2f}" + ("" if ms is None else f" / {ms:.4f}"))
        point_rows.append(row)
    quality = "PSNR / MS-SSIM" if with_ms_ssim else "PSNR"
    points = table(["model", f"base bpp / {quality}", "atanh", "SSL"], point_rows)
    bits_note = ("Actual bits = the size of the .sgp file (header included) that `sgaplus.codec` "
                 "writes, final latents only.")
    body = (f"{md}\n\nMean over images per model; BD over the {len(ctx.family)} models of the λ "
            f"family (pchip). Negative BD-rate = fewer bits at equal PSNR. {bits_note}\n\n"
            f"{bd_table}\n\nPoints after {p.iters} iterations (estimated bpp / PSNR dB"
            f"{' / MS-SSIM where its units have it' if with_ms_ssim else ''}):\n\n{points}")
    claims = []
    key = f"estimated@{p.iters}:"
    sa = data.get(f"{key}ssl vs atanh", {}).get("bd_rate_pct", math.nan)
    sb = data.get(f"{key}ssl vs base", {}).get("bd_rate_pct", math.nan)
    if not math.isnan(sa):
        claims.append(Claim("SGA+ (SSL) beats atanh (SGA) in R-D", verdict(-sa),
                            f"BD-rate SSL vs atanh {fmt(sa, 2)} % after {p.iters} iterations",
                            "figures/rd.png"))
    if not math.isnan(sb):
        claims.append(Claim("Refinement improves on the base model", verdict(-sb),
                            f"BD-rate SSL vs base {fmt(sb, 2)} % after {p.iters} iterations",
                            "figures/rd.png"))
    return Section("R-D curves and BD metrics (Fig. 3, Table 1)", body, data, claims,
                   complete=ctx.done(plan(ctx)))


EXPERIMENT = register(Experiment("rd", "Fig. 3 / Table 1", plan, analyse))
