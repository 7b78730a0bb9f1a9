"""Fig. 2: true R-D loss, (method − true) loss gap, PSNR and bpp over the
iterations, averaged over images, for every relaxation on the main model."""

from __future__ import annotations

from ..relax import RELAXATIONS
from .harness.context import Context, Experiment, Section, register
from .harness.plotting import fmt, legend, label, plt, save, table
from .harness.units import Job

PANELS = (("loss_true", "true R-D loss"), ("gap", "method loss − true loss"),
          ("psnr", "PSNR dB (hard latents)"), ("bpp", "bpp (estimated, hard latents)"))


def plan(ctx: Context) -> list[Job]:
    return [Job(ctx.main, s) for s in (ctx.base(), *map(ctx.setting, ctx.protocol.methods_for_curves()))]


def analyse(ctx: Context) -> Section:
    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5))
    rows, data = [], {}
    for method in ctx.protocol.methods_for_curves():
        s = ctx.setting(method)
        for ax, (key, name) in zip(axes.flat, PANELS):
            h = ctx.history(ctx.main, s, key)
            if h is not None:
                ls = "--" if RELAXATIONS.get(method).classes == 3 else "-"
                ax.plot(h[0], h[1], ls, label=label(method))
                ax.set_title(name)
                ax.set_xlabel("iteration")
        losses = [ctx.loss_at(ctx.main, s, c) for c in ctx.protocol.checkpoints]
        rows.append([label(method), *losses])
        data[method] = losses
    legend(axes[0][1], loc="upper left", bbox_to_anchor=(1.02, 1))
    axes[0][1].set_yscale("symlog", linthresh=0.01)
    base = ctx.loss_at(ctx.main, ctx.base())
    md = save(fig, ctx.figures, "curves", "Loss, gap, PSNR and bpp over iterations (Fig. 2)")
    header = ["method", *[f"true loss @ {c}" for c in ctx.protocol.checkpoints]]
    body = (f"Model: {ctx.main.label}; unrefined true loss {fmt(base)}. "
            f"Means over {len(ctx.images)} images. Schedules: SGA+ methods use "
            "min(exp(−1e-3 t), 1); atanh uses Yang et al.'s min(0.5 exp(−1e-3 (t − 700)), 0.5); "
            "danneal min(max(exp(−4e-3 t), 1e-8), 0.2); STE and noise have none.\n\n"
            f"{md}\n\n{table(header, rows, best='min')}\n\nBold: lowest per column.")
    return Section("Refinement curves (Fig. 2)", body, {"true_loss": data, "base_loss": base},
                   complete=ctx.done(plan(ctx)))


EXPERIMENT = register(Experiment("curves", "Fig. 2", plan, analyse))
