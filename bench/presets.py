"""What ``compress -q`` and ``--effort`` give: bpp/PSNR per quality, gain and time per effort.

Quality: six 192x192 Kodak crops (the centres of kodim01, 05, 08, 13, 20, 23), each quality's
model and λ (sgaplus.presets.QUALITIES) refined at effort 5 (the default: 250 budgeted
iterations) as one batch; files encoded and decoded for real. bpp is the file's (header
included, which on a 192x192 crop is a few hundredths of a bit per pixel more than on a
whole photo) and PSNR the decoded 8-bit one, both averaged over the crops; the unrefined
figures of the same model are beside them.

Effort: four 128x128 Kodak crops (centres of kodim03, 07, 15, 19) refined together by the
default model at every effort; gain kept = (L_before − L_e) / (L_before − L_9) on the true
loss, mean (min-max) over the crops, effort 9 being the paper's 2000 iterations. Seconds:
wall time of the batch divided by the crops, and for a whole 768x512 photo the iterations
times one iteration's wall time measured on kodim01 (1 thread, shared CPU: the load
average is in the header).

    python bench/presets.py [--quick]   ->   docs/bench/presets.md
"""

from __future__ import annotations

import statistics
import time

import torch

import _env
from sgaplus.crops import kodak_dir
from sgaplus.images import LoadedImage, load_image
from sgaplus.pipeline import code_images
from sgaplus.presets import EFFORT_ITERS, QUALITIES, effort, quality
from sgaplus.refine import Refiner
from sgaplus.zoo import load_model

QUALITY_IMAGES = ("kodim01", "kodim05", "kodim08", "kodim13", "kodim20", "kodim23")
EFFORT_IMAGES = ("kodim03", "kodim07", "kodim15", "kodim19")
DEFAULT_EFFORT_FOR_TABLE = 5


def centre(name: str, size: int) -> torch.Tensor:
    x = load_image(kodak_dir() / f"{name}.png").x
    top, left = (x.size(-2) - size) // 2, (x.size(-1) - size) // 2
    return x[..., top:top + size, left:left + size].contiguous()


def qualities(say, size: int, names: tuple[str, ...], level: int) -> None:
    images = [LoadedImage(centre(n, size), "RGB") for n in names]
    pixels = size * size
    say(f"### Quality (-q): {len(images)} crops {size}x{size}, effort {level} "
        f"({EFFORT_ITERS[level]} iterations)")
    say()
    say("| -q | model | λ | bpp | PSNR dB | unrefined bpp | unrefined PSNR dB |")
    say("|---:|---|---:|---:|---:|---:|---:|")
    for q in sorted(QUALITIES):
        spec, lmbda = quality(q)
        model = load_model(spec)
        rows = {}
        for label, kw in (("refined", effort(level)), ("unrefined", effort(0))):
            coded = code_images(images, Refiner(model, method="ssl", lmbda=lmbda, log_every=0, device="cpu",
                                                **kw))
            rows[label] = (statistics.mean(len(c.data) * 8 / pixels for c in coded),
                           statistics.mean(c.psnr for c in coded))
        say(f"| {q} | {spec} | {lmbda:g} | {rows['refined'][0]:.4f} | {rows['refined'][1]:.2f} | "
            f"{rows['unrefined'][0]:.4f} | {rows['unrefined'][1]:.2f} |")
    say()


def efforts(say, size: int, names: tuple[str, ...], levels: range) -> None:
    model = load_model("default")
    x = torch.cat([centre(n, size) for n in names])
    results = {}
    for e in levels:
        clock = _env.Clock()
        results[e] = (Refiner(model, method="ssl", log_every=0, device="cpu", **effort(e)).refine(x),
                      clock.lap()[0])
        print(f"effort {e}: {results[e][1]:.0f} s (load {_env.load()})", flush=True)
    full = load_image(kodak_dir() / "kodim01.png").x
    window = 5
    stamps: list[float] = []
    Refiner(model, method="ssl", iters=1 + window, log_every=0, device="cpu").refine(
        full, lambda t, tau, loss: stamps.append(time.perf_counter()) if t in (1, 1 + window) else None)
    per_iter = (stamps[1] - stamps[0]) / window
    top = max(levels)
    say(f"### Effort (--effort): {len(names)} crops {size}x{size} ({', '.join(names)}), the default "
        f"model; gain kept relative to effort {top}")
    say()
    say("| effort | settings | iterations | gain kept | s per crop | s for a 768x512 photo (est.) |")
    say("|---:|---|---:|---|---:|---:|")
    last = results[top][0]
    for e in levels:
        result, seconds = results[e]
        kept = [(b.loss - a.loss) / (b.loss - r.loss)
                for b, a, r in zip(result.before, result.after, last.after)]
        settings = ("none" if e == 0 else "paper (lr 0.005, `sgaplus` τ)" if e == 9
                    else "budgeted")
        say(f"| {e} | {settings} | {EFFORT_ITERS[e]} | {100 * statistics.mean(kept):.1f} % "
            f"({100 * min(kept):.1f}-{100 * max(kept):.1f}) | {seconds / len(names):.1f} | "
            f"{EFFORT_ITERS[e] * per_iter:.0f} |")
    say()
    say(f"One iteration on kodim01 (768x512): {per_iter:.2f} s wall.")
    say()


def main() -> None:
    args = _env.parse_args(__doc__, "docs/bench/presets.md", "tiny crops, efforts 0-3 (a smoke run)")
    report = _env.Report(_env.header("Presets: quality and effort"), __doc__.split("\n\n")[1],
                         "", __doc__.split("\n\n")[2], "")
    if args.quick:
        qualities(report.say, 64, QUALITY_IMAGES[:2], 1)
        efforts(report.say, 64, EFFORT_IMAGES[:2], range(0, 4))
    else:
        qualities(report.say, 192, QUALITY_IMAGES, DEFAULT_EFFORT_FOR_TABLE)
        efforts(report.say, 128, EFFORT_IMAGES, range(len(EFFORT_ITERS)))
    report.write(args.out)


if __name__ == "__main__":
    main()
