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
                ls = "--" if RELAXATIONS.get(s.method).classes == 3 else "-"
                ax.plot(h[0], h[1], ls, label=label(method))
                ax.set_title(name)
                ax.set_xlabel("iteration")
        losses = [ctx.loss_at(ctx.main, s, c) for c in ctx.protocol.checkpoints]
        secs = ctx.seconds_per_image(ctx.main, s)
        rows.append([label(method), *losses, secs])
        data[method] = losses
        data.setdefault("seconds_per_image", {})[method] = secs
    legend(axes[0][1], loc="upper left", bbox_to_anchor=(1.02, 1))
    axes[0][1].set_yscale("symlog", linthresh=0.01)
    base = ctx.loss_at(ctx.main, ctx.base())
    md = save(fig, ctx.figures, "curves", "Loss, gap, PSNR and bpp over iterations (Fig. 2)")
    header = ["method", *[f"true loss @ {c}" for c in ctx.protocol.checkpoints], "s / image"]
    units = ctx.units(ctx.main, ctx.setting("ssl")) or []
    hw = units[0]["hardware"] if units else {}
    runtime = (f"s / image: the refinement time of one image ({ctx.protocol.iters} iterations, "
               f"{units[0]['height']}x{units[0]['width']} px, batches of {units[0]['batch_size']}, "
               f"the true loss every {ctx.protocol.log_every}) on {hw.get('cpu', hw.get('device'))} "
               f"with {hw.get('torch_threads')} torch thread(s), other jobs sharing the machine; "
               "mean ± sd over seeds." if units else "")
    body = (f"Model: {ctx.main.label}; unrefined true loss {fmt(base)}. "
            f"Means over {len(ctx.protocol.seeds)} seeds × {len(ctx.images)} images (± sd over seeds). "
            "Schedules: SGA+ methods use "
            "min(exp(−1e-3 t), 1); atanh uses Yang et al.'s min(0.5 exp(−1e-3 (t − 700)), 0.5) (flat "
            "for 700 iterations) or the official code's min(exp(−4e-3 t), 0.2) (its row says so); "
            "danneal min(max(exp(−4e-3 t), 1e-8), 0.2); STE and noise have none.\n\n"
            f"{md}\n\n{table(header, rows, best='min')}\n\nBold: lowest per column. {runtime}\n\n"
            "Gap panel: the method's loss (one draw of its noise at the row's temperature) minus "
            "the true loss, both at the same latents after each logged iteration: how far the "
            "objective a method descends is from the loss it is judged by. It is exactly 0 for "
            "STE, whose forward pass is hard rounding.")
    return Section("Refinement curves (Fig. 2)", body, {"true_loss": data, "base_loss": base},
                   complete=ctx.done(plan(ctx)))


EXPERIMENT = register(Experiment("curves", "Fig. 2", plan, analyse))
