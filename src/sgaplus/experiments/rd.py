"""Fig. 3 and Table 1: R-D curves of base / STE / uniform noise / atanh (under both of the
official code's schedules) / SSL over the λ family and their Bjøntegaard deltas, at every
checkpoint, with estimated and actual bits. Claims are decided on the BD-rate per seed and
image (each image's curve over the family), the table shows the BD of the mean curves."""

from __future__ import annotations

import math

import numpy as np

from ..rdcurve import Curve, bd_psnr, bd_rate
from .harness.context import Claim, Context, Experiment, Section, register
from .harness.plotting import legend, fmt, label, plt, save, table
from .harness.units import Job
from .harness.verdict import Estimate

PAIRS = (("ssl", "atanh"), ("ssl", "atanh-danneal"), ("ssl", "base"), ("atanh", "base"),
         ("atanh-danneal", "base"), ("noise", "base"), ("ste", "base"))
#: The curves drawn from the first checkpoint too (how far they are after fewer iterations).
EARLY = ("atanh", "ssl")


def plan(ctx: Context) -> list[Job]:
    return [Job(m, s) for m in ctx.family for s in (ctx.base(), *map(ctx.setting, ctx.protocol.rd_methods))]


def curves(ctx: Context, at: int | None, bits: str) -> dict[str, Curve | None]:
    """base / atanh / ssl family curves after ``at`` iterations (base: unrefined)."""
    out = {"base": ctx.family_curve(ctx.base(), None, bits)}
    for m in ctx.protocol.rd_methods:
        out[m] = ctx.family_curve(ctx.setting(m), at, bits)
    return out


def bd_samples(anchor: np.ndarray, test: np.ndarray) -> np.ndarray:
    """BD-rate (%) of ``test`` vs ``anchor`` per seed and image, from two
    :meth:`Context.family_samples` arrays (2, models, seeds, images); a base model's one
    seed is paired with every seed of the other."""
    seeds = max(anchor.shape[2], test.shape[2])
    shape = (2, anchor.shape[1], seeds, anchor.shape[3])
    a, t = np.broadcast_to(anchor, shape), np.broadcast_to(test, shape)
    return np.array([[bd_rate(Curve(tuple(a[0, :, s, i]), tuple(a[1, :, s, i])),
                              Curve(tuple(t[0, :, s, i]), tuple(t[1, :, s, i])))
                      for i in range(shape[3])] for s in range(seeds)])


def per_sample(ctx: Context, pair: str, at: int) -> Estimate | None:
    """BD-rate of ``pair`` ("test vs anchor") per seed and image after ``at`` iterations."""
    test, anchor = pair.split(" vs ")
    a = ctx.family_samples(setting(ctx, anchor), None if anchor == "base" else at)
    t = ctx.family_samples(setting(ctx, test), at)
    return None if a is None or t is None else Estimate.of(bd_samples(a, t))


def setting(ctx: Context, name: str):
    return ctx.base() if name == "base" else ctx.setting(name)


def bd_rows(found: dict[str, Curve | None]) -> list[tuple[str, float, float]]:
    rows = []
    for test, anchor in PAIRS:
        if anchor not in found or test not in found:
            continue
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
        for m in (m for m in EARLY if m in p.rd_methods):
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
                per = per_sample(ctx, pair, at) if bits == "estimated" else None
                table_rows.append([f"{at}", bits, pair, rate, psnr,
                                   "–" if per is None else f"{per.mean:.2f} ± {per.se:.2f}"])
                data[f"{bits}@{at}:{pair}"] = {"bd_rate_pct": rate, "bd_psnr_db": psnr,
                                               "per_sample": None if per is None else per.as_dict()}
    bd_table = table(["iterations", "bits", "comparison", "BD-rate %", "BD-PSNR dB",
                      "BD-rate % per seed × image (mean ± SE)"], table_rows, digits=2)
    point_rows, with_ms_ssim = [], False
    for m in ctx.family:
        row = [m.label]
        for s in (ctx.base(), *map(ctx.setting, p.rd_methods)):
            pt, ms = ctx.point(m, s), ctx.ms_ssim(m, s)
            with_ms_ssim |= ms is not None
            row.append("–" if pt is None else f"{pt[0]:.3f} / {pt[1]:.2f}" + ("" if ms is None else f" / {ms:.4f}"))
        point_rows.append(row)
    quality = "PSNR / MS-SSIM" if with_ms_ssim else "PSNR"
    points = table(["model", f"base bpp / {quality}", *map(label, p.rd_methods)], point_rows)
    bits_note = ("Actual bits = the size of the .sgp file (header included) that `sgaplus.codec` "
                 "writes, final latents only.")
    body = (f"{md}\n\nMean over images per model; BD over the {len(ctx.family)} models of the λ "
            f"family (pchip). Negative BD-rate = fewer bits at equal PSNR. {bits_note}\n\n"
            f"{bd_table}\n\nPoints after {p.iters} iterations (estimated bpp / PSNR dB"
            f"{' / MS-SSIM where its units have it' if with_ms_ssim else ''}):\n\n{points}")
    claims = []
    for test, anchor, text in (("ssl", "atanh", "SGA+ (SSL) beats atanh (SGA, Yang et al.'s schedule) in R-D"),
                               ("ssl", "atanh-danneal", "SGA+ (SSL) beats atanh (the official code's "
                                "min(exp(−4e-3 t), 0.2) schedule) in R-D"),
                               ("ssl", "base", "Refinement improves on the base model")):
        if test not in p.rd_methods or anchor not in ("base", *p.rd_methods):
            continue
        a = ctx.family_samples(setting(ctx, anchor), None if anchor == "base" else p.iters)
        t = ctx.family_samples(setting(ctx, test), p.iters)
        mean_bd = data.get(f"estimated@{p.iters}:{test} vs {anchor}", {}).get("bd_rate_pct", math.nan)
        claims.append(Claim.decide(text, None if a is None or t is None else -bd_samples(a, t),
                                   f"BD-rate {test} vs {anchor} after {p.iters} iterations "
                                   f"{fmt(mean_bd, 2)} % of the mean curves; −BD-rate per seed "
                                   "and image", "figures/rd.png"))
    return Section("R-D curves and BD metrics (Fig. 3, Table 1)", body, data, claims,
                   complete=ctx.done(plan(ctx)))


EXPERIMENT = register(Experiment("rd", "Fig. 3 / Table 1", plan, analyse))
