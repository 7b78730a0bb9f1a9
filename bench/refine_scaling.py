"""Refinement time per iteration vs image size and vs batch size (issue 7).

The default Refiner (fp32, channels_last on CPU), iterations only (``log_every=0``:
no true-loss forwards), timed after one warm-up iteration. Sizes are kodim01
resized (bilinear) to each square size, since no Kodak image is 2048 pixels wide;
content does not change the cost of a convolution. Batches are 256x256 crops of
different Kodak images, refined together. Peak RSS is the process's high-water
mark from the start of each run, so it includes what the allocator kept from the
larger runs before it (hence ~2 GB for the small batches after 2048x2048).

    python bench/refine_scaling.py [--quick]
        ->   docs/bench/refine_scaling.md, docs/bench/refine_scaling.png
"""

from __future__ import annotations


import matplotlib
import torch
import torch.nn.functional as F

import _env
from sgaplus.crops import kodak_dir
from sgaplus.images import load_image
from sgaplus.latent_model import LatentModel
from sgaplus.refine import Refiner, default_device
from sgaplus.zoo import load_model

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KODAK = kodak_dir()


def s_per_iter(model: LatentModel, x: torch.Tensor, window: int) -> tuple[float, float, float]:
    """(wall and CPU seconds per iteration over ``window`` after one warm-up, peak RSS MiB).
    On the shared CPU the CPU seconds are the steadier measure of the work."""
    marks: list[_env.Clock] = []
    laps: list[tuple[float, float]] = []

    def progress(t: int, tau: float, loss: float) -> None:
        if t == 1:
            marks.append(_env.Clock())
        elif t == 1 + window:
            laps.append(marks[0].lap())

    _env.reset_peak_rss()
    Refiner(model, iters=1 + window, log_every=0, device=default_device()).refine(x, progress)
    return laps[0][0] / window, laps[0][1] / window, _env.peak_rss_mib()


def main() -> None:
    args = _env.parse_args(__doc__, "docs/bench/refine_scaling.md", "small sizes and batches (a smoke run)")
    sizes = (128, 256) if args.quick else (256, 512, 1024, 1536, 2048)
    batches = (1, 2) if args.quick else (1, 2, 4, 8)
    model = load_model("default")
    src = load_image(KODAK / "kodim01.png").x
    report = _env.Report(_env.header("Refinement time vs image size and batch size"),
                         __doc__.split("\n\n")[1], "")
    say = report.say

    say("## Image size (batch 1)")
    say()
    say("| size | Mpixel | iterations timed | s/it (wall) | CPU s/it | CPU s/it per Mpixel | "
        "peak RSS MiB | load |")
    say("|---|---:|---:|---:|---:|---:|---:|---|")
    by_size: list[tuple[float, float]] = []
    for n in sizes:
        x = F.interpolate(src, size=(n, n), mode="bilinear", align_corners=False).clamp(0, 1)
        window = 2 if n >= 2048 else 3
        s, cpu, rss = s_per_iter(model, x, window)
        mpx = n * n / 1e6
        by_size.append((mpx, s, cpu))
        say(f"| {n}x{n} | {mpx:.2f} | {window} | {s:.3f} | {cpu:.3f} | {cpu / mpx:.2f} | "
            f"{rss:.0f} | {_env.load()} |")
    say()
    say("## Batch size (256x256 crops of kodim01..)")
    say()
    say("| batch | s/it (wall) | CPU s/it | CPU s/it per image | per image vs batch 1 (CPU) | "
        "peak RSS MiB | load |")
    say("|---:|---:|---:|---:|---:|---:|---|")
    crops = torch.cat([load_image(KODAK / f"kodim{i:02d}.png").x[..., :256, :256]
                       for i in range(1, max(batches) + 1)])
    by_batch: list[tuple[int, float, float]] = []
    for b in batches:
        s, cpu, rss = s_per_iter(model, crops[:b], 3)
        by_batch.append((b, s / b, cpu / b))
        say(f"| {b} | {s:.3f} | {cpu:.3f} | {cpu / b:.3f} | {by_batch[0][2] / (cpu / b):.2f}x | "
            f"{rss:.0f} | {_env.load()} |")
    say()

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    mpx, wall, cpu = zip(*by_size)
    a.loglog(mpx, cpu, "o-", label="CPU s")
    a.loglog(mpx, wall, "s:", label="wall s (shared CPU)")
    a.loglog(mpx, [cpu[-1] * m / mpx[-1] for m in mpx], "k--", lw=0.8, label="linear in pixels")
    a.set(xlabel="Mpixel", ylabel="s / iteration", title="vs image size (batch 1)")
    a.legend()
    bs, wall_b, cpu_b = zip(*by_batch)
    b.plot(bs, cpu_b, "o-", label="CPU s")
    b.plot(bs, wall_b, "s:", label="wall s (shared CPU)")
    b.legend()
    b.set(xlabel="batch size (256x256)", ylabel="s / iteration / image", title="vs batch size",
          xscale="log", xticks=bs, xticklabels=[str(v) for v in bs], ylim=(0, None))
    fig.suptitle(f"sgaplus Refiner, {default_device()}, {torch.get_num_threads()} thread(s)")
    fig.tight_layout()
    report.figure(fig, args.out, "scaling")
    report.write(args.out)


if __name__ == "__main__":
    main()
