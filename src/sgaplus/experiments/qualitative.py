"""Fig. 4: one image, original / base / atanh / SSL, with bpp and PSNR (and MS-SSIM
where the unit has it) on each panel and a zoomed crop underneath."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..images import to_uint8
from .harness.context import Context, Experiment, Section, register
from .harness.plotting import label, plt, save
from .harness.units import Job

METHODS = ("atanh", "ssl")


def plan(ctx: Context) -> list[Job]:
    return [Job(ctx.main, s) for s in (ctx.base(), *map(ctx.setting, METHODS))]


def analyse(ctx: Context) -> Section:
    image_id = ctx.protocol.qualitative_image
    image = next((im for im in ctx.images if im.id == image_id), ctx.images[0])
    panels = [("original", to_uint8(image.x), None)]
    for name, s in (("base", ctx.base()), *((m, ctx.setting(m)) for m in METHODS)):
        unit = ctx.store.load(ctx.main, s, image.id)
        path = ctx.store.recon_path(ctx.main, s, image.id)
        if unit is not None and path.is_file():
            a = unit["after"]
            ms = "" if a.get("ms_ssim") is None else f", MS-SSIM {a['ms_ssim']:.4f}"
            title = f"{label(name) if name != 'base' else 'base (unrefined)'}\n" \
                    f"{a['bpp']:.3f} bpp, {a['psnr']:.2f} dB{ms}"
            panels.append((title, np.asarray(Image.open(path).convert("RGB")), a))
    h, w = panels[0][1].shape[:2]
    zh, zw = max(h // 3, 16), max(w // 3, 16)
    top, left = (h - zh) // 2, (w - zw) // 2
    fig, axes = plt.subplots(2, len(panels), figsize=(3.2 * len(panels), 6.6), squeeze=False)
    for j, (title, arr, _) in enumerate(panels):
        axes[0][j].imshow(arr)
        axes[0][j].add_patch(plt.Rectangle((left, top), zw, zh, fill=False, color="yellow"))
        axes[0][j].set_title(title)
        axes[1][j].imshow(arr[top:top + zh, left:left + zw], interpolation="nearest")
        axes[1][j].set_title("zoom (yellow box)")
        for ax in axes[:, j]:
            ax.axis("off")
    md = save(fig, ctx.figures, "qualitative", f"{image.id}: original, base, atanh, SSL (Fig. 4)")
    body = (f"{md}\n\nImage {image.id}, model {ctx.main.label}, {ctx.protocol.iters} iterations; "
            "bpp estimated from the likelihoods, PSNR of the 8-bit reconstruction.")
    data = {"image": image.id, "panels": [p[2] for p in panels[1:]]}
    return Section("Qualitative example (Fig. 4)", body, data, complete=ctx.done(plan(ctx)))


EXPERIMENT = register(Experiment("qualitative", "Fig. 4", plan, analyse))
