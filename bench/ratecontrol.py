"""Rate control across models: the prediction's fit, and targets met vs cost (issue 15).

``--fit``: what refinement adds to each family model's unrefined file, on eight 128x128
crops of photos_train (the centres of 8 of its photos; never Kodak): each model
sgaplus-msh:1..4 refined with the budgeted settings at λ_m/2 and 2·λ_m (k = −1, +1) for
50 and 250 iterations, files encoded and decoded for real. Least squares over models and
images of log2(bpp/bpp₀) and PSNR − PSNR₀ on [1, k] give (A_b, S_b, A_p, S_p) per
iteration count, printed for ``sgaplus.ratecontrol.FIT``, with the residual spread (how
far one image strays from the prediction).

Without ``--fit``: ``sgaplus compress``'s rate control (pipeline.code_image with the
family sgaplus-msh:1..4, effort 5 = 250 budgeted iterations) on 192x192 centre crops of 6
BSDS500 test photos, none used by the fit. Per image, targets relative to its default
file (sgaplus-msh:3 at its own λ, effort 5, which is also the cost reference): bpp ×0.6
and ×1.5, size ×0.85 (bytes), PSNR −1 and +1 dB; plus one target out of reach. A target is
hit when the file is at most the bpp/size target and within 3 % of it, or within 0.1 dB
above the PSNR target. Cost = process CPU seconds of the rate-controlled compression over
those of the default compression of the same image (CPU time: steadier than wall time on
the shared CPU), model loading included; the default compression is timed before and after
the image's targets and their mean taken, since the CPU's speed drifts over minutes. Beside
it, the cost as rate control counts it against its budget (``ratecontrol.BUDGET``): the
iterations of every file made plus ``ratecontrol.FILE`` each, over one compression's. And
what one file costs beside its refinement (``ratecontrol.FILE``, in iterations): the
image's unrefined file (loading a model not loaded yet included) over one iteration of the
default compression's refinement.

``--corrections``: what a correction costs in quality. A correction continues from a
model's latents refined at one λ for a share of the iterations (``ratecontrol.CORRECTION``)
instead of refining anew at the λ it moves to; it may start the schedule (temperature and
lr) over or take it up after a share of it (``Refiner.variant(resume=...)``). On the
fit's crops (photos_train, 128x128), sgaplus-msh:3 refined at its own λ (250 budgeted
iterations), then at λ·2^d, d = ±0.25, ±1, ±2: a whole refinement, and corrections from
the λ-refined latents that start the schedule over, take it up halfway, or take up its
last quarter. The figure is the correction's true loss at λ·2^d over the whole
refinement's (per crop; mean ± its standard error over crops), beside the files' bpp and
PSNR differences: what the file rate control keeps after a correction gives up against
one refined at that λ from the start.

    python bench/ratecontrol.py --fit           ->   docs/bench/ratecontrol_fit.md
    python bench/ratecontrol.py                 ->   docs/bench/ratecontrol.md
    python bench/ratecontrol.py --corrections   ->   docs/bench/ratecontrol_corrections.md
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

import _env
from sgaplus.images import LoadedImage, load_image
from sgaplus.pipeline import CompressResult, RatePlan, code_image, code_images
from sgaplus.ratecontrol import (CORRECTION, FILE, PSNR_WINDOW, SIZE_WINDOW, Candidate, Target,
                                 TargetNotReached, correction_iters)
from sgaplus.refine import Refiner
from sgaplus.schedules import budgeted
from sgaplus.util import data_root
from sgaplus.zoo import load_model, rate_family

FIT_PHOTOS = ("002", "006", "010", "014", "018", "022", "026", "030")
FIT_ITERS = (50, 250)
FIT_K = (-1.0, 1.0)
EVAL_PHOTOS = ("100007", "101027", "103006", "106005", "108004", "109055")
EVAL_ITERS = 250  # compress --effort 5
CORRECTION_D = (-2.0, -1.0, -0.25, 0.25, 1.0, 2.0)
CORRECTION_RESUMES = (0.0, 0.5, 0.75)


def centre(path: Path, size: int) -> LoadedImage:
    image = load_image(path)
    h, w = image.x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return LoadedImage(image.x[..., top:top + size, left:left + size].contiguous(), "RGB")


def files(images: list[LoadedImage], refiner: Refiner) -> list[tuple[float, float]]:
    """(bpp, PSNR) of each image's real file."""
    pixels = images[0].size[0] * images[0].size[1]
    return [(len(c.data) * 8 / pixels, c.psnr) for c in code_images(images, refiner)]


def fit(args: argparse.Namespace) -> None:
    report = _env.Report(_env.header("Rate control: what refinement adds (the prediction's fit)"),
                         __doc__.split("\n\n")[1], "")
    say = report.say
    size, photos = (64, FIT_PHOTOS[:2]) if args.quick else (128, FIT_PHOTOS)
    iters_list = (10, 20) if args.quick else FIT_ITERS
    images = [centre(data_root() / "photos_train" / f"{p}.png", size) for p in photos]
    rows: list[tuple[str, int, float, float, float]] = []  # model, iters, k, dlog2 bpp, dPSNR
    for spec, lmbda in rate_family("default") or []:
        model = load_model(spec)
        base = files(images, Refiner(model, iters=0, device="cpu"))
        for iters in iters_list:
            for k in FIT_K:
                clock = _env.Clock()
                refiner = Refiner(model, method="ssl", lmbda=lmbda * 2 ** k, log_every=0, device="cpu",
                                  **budgeted(iters))
                for (b0, p0), (b, p) in zip(base, files(images, refiner)):
                    rows.append((spec, iters, k, math.log2(b / b0), p - p0))
                print(f"{spec} {iters} it k {k:+g}: {clock.lap()[0]:.0f} s (load {_env.load()})", flush=True)
    say(f"{len(images)} crops {size}x{size}; models {', '.join(s for s, _ in rate_family('default') or [])}.")
    say()
    say("| iterations | A_b | S_b | resid. log2 bpp (sd) | A_p dB | S_p dB | resid. PSNR dB (sd) |")
    say("|---:|---:|---:|---:|---:|---:|---:|")
    fitted = {}
    for iters in iters_list:
        sel = [r for r in rows if r[1] == iters]
        coefs, spreads = [], []
        for col in (3, 4):
            k = torch.tensor([r[2] for r in sel], dtype=torch.float64)
            v = torch.tensor([r[col] for r in sel], dtype=torch.float64)
            design = torch.stack([torch.ones_like(k), k], 1)
            sol = torch.linalg.lstsq(design, v[:, None]).solution[:, 0]
            coefs += sol.tolist()
            spreads.append(float((v - design @ sol).std()))
        fitted[iters] = tuple(round(c, 3) for c in coefs)
        say(f"| {iters} | {coefs[0]:.3f} | {coefs[1]:.3f} | {spreads[0]:.3f} | {coefs[2]:.3f} | "
            f"{coefs[3]:.3f} | {spreads[1]:.3f} |")
    say()
    say("Per model at the largest iteration count (mean log2 bpp ratio, mean PSNR change, at k = -1 / +1):")
    say()
    say("| model | k = -1 | k = +1 |")
    say("|---|---|---|")
    for spec, _ in rate_family("default") or []:
        cells = []
        for k in FIT_K:
            sel = [r for r in rows if r[0] == spec and r[1] == iters_list[-1] and r[2] == k]
            cells.append(f"{statistics.mean(r[3] for r in sel):+.3f}, "
                         f"{statistics.mean(r[4] for r in sel):+.2f} dB")
        say(f"| {spec} | " + " | ".join(cells) + " |")
    say()
    say(f"For `sgaplus.ratecontrol.FIT`: `{fitted}`")
    say()
    report.write(args.out)


def evaluate(args: argparse.Namespace) -> None:
    report = _env.Report(_env.header("Rate control: targets met and what it costs"),
                         __doc__.split("\n\n")[2], "")
    say = report.say
    size, photos, iters = (64, EVAL_PHOTOS[:2], 20) if args.quick else (192, EVAL_PHOTOS, EVAL_ITERS)
    members = rate_family("default") or []
    plan_models = tuple(Candidate(spec, lmbda) for spec, lmbda in members)
    start = (len(members) - 1) // 2  # where compress starts, the model it loads first
    default = load_model(members[2][0])
    first = load_model(members[start][0])
    refiner = Refiner(default, method="ssl", log_every=0, device="cpu", **budgeted(iters))
    say(f"{len(photos)} crops {size}x{size} of BSDS500 test ({', '.join(photos)}); {iters} "
        f"budgeted iterations per refinement; family {members[0][0]} .. {members[-1][0]}.")
    say()
    say("| image | target | file bpp | PSNR dB | model, λ | refinements (+ corrections), unrefined files | "
        "hit | cost: CPU | counted |")
    say("|---|---|---:|---:|---|---|---|---:|---:|")
    results: dict[str, list[tuple[bool, float, float]]] = {"bpp": [], "size": [], "psnr": []}
    above, file_iters = 0, []
    for n, photo in enumerate(photos):
        image = centre(data_root() / "bsds500" / "test" / f"{photo}.jpg", size)
        pixels = size * size
        cpu = time.process_time()
        ref = code_image(image, refiner)
        ref_cpu = [time.process_time() - cpu]
        ref_bpp = len(ref.data) * 8 / pixels
        cpu = time.process_time()
        code_image(image, refiner.variant(model=load_model(members[-1][0]), iters=0))
        file_cpu = time.process_time() - cpu
        file_iters.append(file_cpu / ((ref_cpu[0] - file_cpu) / iters))
        targets = [Target("bpp", round(ref_bpp * 0.6, 4)), Target("bpp", round(ref_bpp * 1.5, 4)),
                   Target("size", round(len(ref.data) * 0.85)), Target("psnr", round(ref.psnr - 1, 2)),
                   Target("psnr", round(ref.psnr + 1, 2))]
        if n == 0:
            targets.append(Target("bpp", 0.02))
        runs: list[tuple[Target, CompressResult | TargetNotReached, float]] = []
        for target in targets:
            cpu = time.process_time()
            try:
                coded: CompressResult | TargetNotReached = code_image(image, refiner.variant(model=first),
                                                                      RatePlan(target, plan_models, start))
            except TargetNotReached as exc:
                coded = exc
            runs.append((target, coded, time.process_time() - cpu))
        cpu = time.process_time()
        code_image(image, refiner)  # the reference again: the CPU's speed drifts over minutes
        ref_cpu.append(time.process_time() - cpu)
        one = statistics.mean(ref_cpu)
        say(f"| {photo} | (default: sgaplus-msh:3, λ 0.013) | {ref_bpp:.4f} | {ref.psnr:.2f} | | 1; unrefined "
            f"file {file_cpu:.2f} s = {file_iters[-1]:.1f} iterations | | {ref_cpu[0]:.1f} s, after: "
            f"{ref_cpu[1]:.1f} s | |")
        for target, coded, spent in runs:
            if isinstance(coded, TargetNotReached):
                say(f"| {photo} | {target.describe()} | | | error after {spent:.1f} s: {coded} | | | "
                    f"{spent / one:.2f}x | |")
                continue
            cost = spent / one
            bpp = len(coded.data) * 8 / pixels
            limit = target.value if target.metric == "bpp" else target.value * 8 / pixels
            if target.kind == "size":
                hit = limit * (1 - SIZE_WINDOW) <= bpp <= limit
                above += bpp > limit
            else:
                hit = target.value <= coded.psnr <= target.value + PSNR_WINDOW
            probes = coded.probes or []
            counted = sum(p["runs"] + FILE for p in probes) / (iters + FILE)
            results[target.metric].append((hit, cost, counted))
            refined = [p for p in probes if p["lmbda"] is not None]
            say(f"| {photo} | {target.describe()} | {bpp:.4f} | {coded.psnr:.2f} | {coded.model}, "
                f"{coded.lmbda:.4g} | 1 + {len(refined) - 1}, {len(probes) - len(refined)} | "
                f"{'yes' if hit else 'no'} | {cost:.2f}x | {counted:.2f}x |")
    say()
    say("| target | hit | cost, CPU: mean | max | counted: max |")
    say("|---|---|---:|---:|---:|")
    for metric, rows in results.items():
        if rows:
            say(f"| {metric} | {sum(h for h, _, _ in rows)} of {len(rows)} | "
                f"{statistics.mean(c for _, c, _ in rows):.2f}x | {max(c for _, c, _ in rows):.2f}x | "
                f"{max(c for _, _, c in rows):.2f}x |")
    say()
    say(f"Files above their bpp/size target: {above}.")
    say()
    say(f"One file beside its refinement: {min(file_iters):.1f} .. {max(file_iters):.1f} iterations "
        f"(mean {statistics.mean(file_iters):.1f}; `ratecontrol.FILE` = {FILE}).")
    say()
    report.write(args.out)


def corrections(args: argparse.Namespace) -> None:
    report = _env.Report(_env.header("Rate control: what a correction costs in quality"),
                         __doc__.split("\n\n")[3], "")
    say = report.say
    size, photos, iters = (64, FIT_PHOTOS[:2], 20) if args.quick else (128, FIT_PHOTOS, EVAL_ITERS)
    spec, lmbda = (rate_family("default") or [])[2]
    model = load_model(spec)
    x = torch.cat([centre(data_root() / "photos_train" / f"{p}.png", size).x for p in photos])
    refiner = Refiner(model, method="ssl", log_every=0, device="cpu", **budgeted(iters))
    base = refiner.refine(x)
    runs = correction_iters(iters)
    say(f"{len(photos)} crops {size}x{size} of photos_train ({', '.join(photos)}), refined together; "
        f"{spec} (λ {lmbda:g}), {iters} budgeted iterations; corrections of {runs} iterations "
        f"(`ratecontrol.CORRECTION` = {CORRECTION:g}) continue from its latents refined at λ {lmbda:g}, "
        f"taking up the schedule after {', '.join(f'{r:g}' for r in CORRECTION_RESUMES)} of it "
        f"(rate control's corrections: 0, a restart).")
    say()
    say("| d (λ·2^d) | refinement | schedule from | true loss vs whole: mean ± SE | min .. max | "
        "bpp vs whole | PSNR vs whole |")
    say("|---:|---|---:|---:|---:|---:|---:|")
    for d in CORRECTION_D:
        at = refiner.variant(lmbda=lmbda * 2 ** d)
        whole = at.refine(x)
        say(f"| {d:+g} | whole | | (loss {statistics.mean(m.loss for m in whole.after):.4f}) "
            f"| | | |")
        for resume in CORRECTION_RESUMES:
            corr = refiner.variant(lmbda=lmbda * 2 ** d, iters=runs, resume=resume).refine(x, start=base.latents)
            excess = [100 * (c.loss / w.loss - 1) for c, w in zip(corr.after, whole.after)]
            bpp = statistics.mean(100 * (c.bpp / w.bpp - 1) for c, w in zip(corr.after, whole.after))
            psnr = statistics.mean(c.psnr - w.psnr for c, w in zip(corr.after, whole.after))
            se = statistics.stdev(excess) / math.sqrt(len(excess))
            say(f"| {d:+g} | correction | {resume:g} | {statistics.mean(excess):+.2f} % ± "
                f"{se:.2f} % | {min(excess):+.2f} .. {max(excess):+.2f} % | {bpp:+.2f} % | "
                f"{psnr:+.3f} dB |")
        print(f"d {d:+g} done (load {_env.load()})", flush=True)
    say()
    report.write(args.out)


def main() -> None:
    args = _env.parse_args(__doc__, "docs/bench/ratecontrol.md", "tiny crops and iterations (a smoke run)",
                           {"fit": ("fit the prediction instead", "docs/bench/ratecontrol_fit.md"),
                            "corrections": ("measure what a correction costs in quality instead",
                                            "docs/bench/ratecontrol_corrections.md")})
    (fit if args.fit else corrections if args.corrections else evaluate)(args)


if __name__ == "__main__":
    main()
