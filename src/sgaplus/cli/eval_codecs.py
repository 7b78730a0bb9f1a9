"""``sgaplus eval-codecs``: Kodak R-D of our models vs JPEG/WebP/AVIF and mbt2018-mean.

Writes the whole of ``docs/models.md`` (provenance of each model read from its
own metadata, so a warm start is never passed off as our training), a per-image
CSV and an R-D plot, in PSNR and in MS-SSIM dB (the published mbt2018-mean
points have PSNR only). Also writes the default model's figures on scikit-image's
astronaut, so the test suite can check the document without Kodak.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CLIError

if TYPE_CHECKING:
    from ..rdcurve import Curve

CHECK_IMAGE = "astronaut"
OURS = "sgaplus-msh (ours)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-codecs", help="Kodak R-D of our models vs JPEG, WebP, AVIF, mbt2018-mean; "
                                          "writes docs/models.md")
    p.add_argument("--kodak", type=Path, help="image folder (default ../shared/data/kodak24)")
    p.add_argument("--images", type=int, help="use only the first N images (quick runs)")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="models to evaluate: names, NAME:LOW..HIGH ranges (mbt2018-mean:1..8) or files "
                        "(default: every sgaplus-msh quality that is built); a file that records no "
                        "training λ gets no R-D loss")
    p.add_argument("--compare", nargs="+", default=[],
                   help="further models (e.g. a warm start) listed and plotted, but not part of the family's curve")
    p.add_argument("--out", type=Path, default=Path("docs/models.md"), help="markdown report")
    p.add_argument("--figures", type=Path, help="folder for the plot and CSV (default: OUT's figures/)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=run)


def pct(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:+.1f} %"


def num(v: float, digits: int) -> str:
    return "n/a" if math.isnan(v) else f"{v:.{digits}f}"


def default_models() -> list[str]:
    from ..zoo import SGAPLUS_FAMILY, SGAPLUS_LAMBDAS

    return [f"{SGAPLUS_FAMILY}:{q}" for q in range(1, len(SGAPLUS_LAMBDAS) + 1)]


def check_line(model) -> str | None:
    """The default model's figures on scikit-image's astronaut (None without scikit-image)."""
    try:
        import skimage.data
    except ImportError:
        return None
    import torch

    from ..loss import evaluate

    x = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1)[None].float() / 255
    m = evaluate(model, x)[0]
    return (f"`default` on scikit-image `{CHECK_IMAGE}` (512x512): bpp {m.bpp:.4f}, PSNR {m.psnr:.3f} dB, "
            f"MS-SSIM {m.ms_ssim:.5f}")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from .. import codecs_eval as ce
    from ..crops import kodak_dir, list_images, read_rgb
    from ..util import hardware
    from ..zoo import expand_specs, load_model
    from .common import progress_bar

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.images is not None and args.images < 1:
        raise CLIError("--images must be at least 1")
    kodak = args.kodak or kodak_dir()
    if not kodak.is_dir():
        raise CLIError(f"image folder not found: {kodak} (use --kodak)")
    files = list_images([kodak])[: args.images]
    if not files:
        raise CLIError(f"no images in {kodak}")
    figures = args.figures or args.out.parent / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    specs = expand_specs(args.models or default_models())
    args.compare = expand_specs(args.compare)
    models = [load_model(s, require_lambda=False) for s in specs + args.compare]
    images = [read_rgb(p).permute(1, 2, 0).numpy() for p in files]
    names = [f.name for f in files]
    start = time.monotonic()

    curves = ce.pillow_curves(images, names, figures / "codecs_kodak.csv")
    per_image: list[dict] = []
    points: list[dict] = []  # one per model: its means over the images and its R-D loss
    model_cache = ce.read_model_rows(figures / "rd_kodak.csv")
    with progress_bar(len(models) * len(images), "models") as bar:
        for spec, model in zip(specs + args.compare, models):
            rows = ce.model_rows(model, images, names, model_cache, tick=lambda: bar.update(1))
            for name, r in zip(names, rows):
                per_image.append({"model": spec, "fingerprint": model.fingerprint()[:16], "image": name, **r})
            points.append({"model": spec, "family": spec in specs,
                           **{k: float(np.mean([r[k] for r in rows])) for k in ce.MODEL_FIELDS},
                           "loss": float(np.mean([rd_loss(model, r) for r in rows]))})
    seconds = time.monotonic() - start

    with open(figures / "rd_kodak.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["model", "fingerprint", "image", *ce.MODEL_FIELDS])
        w.writeheader()
        w.writerows(per_image)
    family = [p for p in points if p["family"]]
    ours, ours_file = model_curve(family, "bpp"), model_curve(family, "bpp_actual")
    others = model_curve([p for p in points if not p["family"]], "bpp", "comparison")
    plot(figures / "rd_kodak.png", [*curves, ce.MBT2018_MEAN], ours, ours_file, others, len(files))

    lines = report(args, files, kodak, specs + args.compare, models, curves, points, ours, ours_file,
                   seconds, hardware(torch.device("cpu")))
    default = next((m for s, m in zip(specs, models) if s == "default"), None) or load_model("default")
    line = check_line(default)
    if line:
        lines += ["", "## Check figure (used by the tests)", "", line]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}, {figures / 'rd_kodak.png'}, {figures / 'rd_kodak.csv'} ({seconds:.0f} s)",
          file=sys.stderr)
    return 0


def rd_loss(model, row: dict[str, float]) -> float:
    """The R-D loss of one image's row at the model's own λ, in the metric it was trained for."""
    from ..distortion import trained_for

    if trained_for(model) == "ms-ssim":
        return model.lmbda * (1 - row["ms_ssim"]) + row["bpp"]
    return model.lmbda * 255**2 * 10 ** (-row["psnr"] / 10) + row["bpp"]


def model_curve(points: list[dict], bits: str, name: str = OURS) -> Curve:
    """The curve through models' ``points`` with ``bits`` ('bpp': estimated, 'bpp_actual':
    the .sgp file) as their rate."""
    from ..rdcurve import Curve

    return Curve(tuple(p[bits] for p in points), tuple(p["psnr"] for p in points),
                 tuple(p["ms_ssim"] for p in points), name, tuple(p["model"] for p in points))


def plot(path: Path, curves: list[Curve], ours: Curve, ours_file: Curve, others: Curve,
         n_images: int) -> None:
    """PSNR (left) and MS-SSIM dB (right) against bpp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, quality, ylabel in ((axes[0], "psnr", "PSNR (dB, RGB)"),
                                (axes[1], "ms_ssim_db", "MS-SSIM dB, −10·log10(1 − MS-SSIM)")):
        for c in curves:
            if c.ms_ssim or quality == "psnr":  # the published mbt2018-mean points have PSNR only
                ax.plot(c.bpp, getattr(c, quality), "--" if "published" in c.name else "-", marker=".",
                        label=c.name)
        ax.plot(ours.bpp, getattr(ours, quality), "-o", color="k", label=f"{ours.name}, estimated bits")
        ax.plot(ours_file.bpp, getattr(ours_file, quality), ":s", color="k", mfc="none",
                label=f"{ours.name}, .sgp file bits")
        for label, b, q in zip(others.labels, others.bpp, getattr(others, quality)):
            ax.plot([b], [q], "x", color="tab:red", label=f"{Path(label).stem} (comparison, estimated bits)")
        ax.set(xlabel="bits per pixel", ylabel=ylabel, xlim=(0, 1.7))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Kodak ({n_images} images), unrefined base models")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(args, files, kodak, specs, models, curves: list[Curve], points: list[dict], ours: Curve,
           ours_file: Curve, seconds: float, hw: str) -> list[str]:
    """The markdown of docs/models.md."""
    from .. import codecs_eval as ce
    from ..rdcurve import bd_rate, common_range, ms_ssim_db

    cmd = "sgaplus " + " ".join(sys.argv[1:]) if sys.argv[1:] else "sgaplus eval-codecs"
    out = [
        "# Base models", "",
        f"Generated by `{cmd}` on {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} ({hw}); "
        f"{len(files)} images of `{kodak}`; the run took {seconds:.0f} s (figures of unchanged models and "
        "codecs are reused from `figures/*.csv`). Do not edit by hand: rerun the command.", "",
        "## Models and how long *we* trained them", "",
        "From each file's own metadata. *Our steps* are the steps sgaplus trained; *warm-start steps* "
        "were done before, by the checkpoints in `../shared/models` (batch 16, 256 px crops, "
        "H100; see their README). The paper's models trained 2,000,000 steps of batch 32.", "",
        "| model | λ | N, M | our steps | batch x crop | our training time | hardware | date | "
        "warm start (its steps) | validation (Kodak crops) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for spec, m in zip(specs, models):
        meta = m.meta
        val = meta.get("validation", {})
        val_s = f"{val['val_bpp']:.3f} bpp / {val['val_psnr']:.2f} dB" if "val_psnr" in val else "n/a"
        batch_s = f"{meta.get('batch', '?')} x {meta.get('crop', '?')}"
        if "init_steps" in meta:  # written by sgaplus train
            ours_s, secs = str(meta["steps"]), meta.get("seconds")
            time_s = "n/a" if secs is None else f"{secs / 60:.0f} min"
            hw_s, warm = meta.get("hardware", "?"), f"{meta.get('init') or 'none'} ({meta['init_steps']})"
            if meta["steps"] == 0:
                batch_s = time_s = hw_s = "—"
        else:  # a checkpoint sgaplus did not train, e.g. a warm start itself
            ours_s, time_s, hw_s = "0 (not trained by sgaplus)", "0", "n/a"
            warm = f"this file ({meta.get('steps', 'unknown')} steps, {meta.get('device', '?')})"
        out.append(f"| `{spec}` | {'unknown' if math.isnan(m.lmbda) else f'{m.lmbda:g}'} | {m.net.N}, {m.net.M} | {ours_s} | "
                   f"{batch_s} | {time_s} | {hw_s} | "
                   f"{meta.get('date', '?')} | {warm} | {val_s} |")
    out += ["", f"## Kodak, unrefined ({len(files)} images, means per image)", "",
            "Estimated bits: −log2 of the likelihoods of the hard-rounded latents. Actual bits: the size "
            "of the complete `.sgp` file (`sgaplus.codec.encode`, header included). PSNR of the 8-bit output.", "",
            "MS-SSIM: pytorch-msssim's, as CompressAI trains and evaluates with, of the 8-bit output "
            "(images above 160 px: five scales); MS-SSIM dB = −10·log10(1 − MS-SSIM) of the mean.", "",
            "R-D loss: λ·255²·MSE + bpp at the model's own λ (8-bit MSE, estimated bits; "
            "λ·(1 − MS-SSIM) + bpp for a model trained for MS-SSIM), "
            "mean over images; lower is better, comparable only between models of one λ.", "",
            "| model | bpp (estimated) | bpp (.sgp file) | PSNR dB | MS-SSIM | MS-SSIM dB | R-D loss |",
            "|---|---|---|---|---|---|---|"]
    for family, note in ((True, ""), (False, " (comparison, not in the family curve)")):
        for p in (p for p in points if p["family"] == family):
            lo = p["loss"]
            out.append(f"| `{p['model']}`{note} | {p['bpp']:.4f} | {p['bpp_actual']:.4f} | {p['psnr']:.3f} | "
                       f"{num(p['ms_ssim'], 5)} | {num(ms_ssim_db(p['ms_ssim']), 3)} | "
                       f"{'n/a' if math.isnan(lo) else f'{lo:.4f}'} |")
    out += ["", "Pillow codecs (same images; one point per quality setting: bpp, PSNR dB, MS-SSIM dB):", ""]
    for c in curves:
        pts = ", ".join(f"{lab} ({b:.3f}, {p:.2f}, {num(m, 2)})"
                        for lab, b, p, m in zip(c.labels, c.bpp, c.psnr, c.ms_ssim_db))
        out.append(f"- {c.name} {ce.PILLOW_CODECS[c.name][3] or ''}: {pts}")
    mbt = ce.MBT2018_MEAN
    pts = ", ".join(f"({b:.3f}, {p:.2f})" for b, p in zip(mbt.bpp, mbt.psnr))
    out += [f"- {mbt.name}, q1–q8, all 24 images, real bitstreams (spec §7), bpp and PSNR dB: {pts}", "",
            "## BD-rate of our family (negative = fewer bits than the anchor at equal quality)", "",
            "`bjontegaard` package, pchip interpolation, over the quality range both curves cover "
            "(its length is given; a short overlap makes the figure fragile). At equal PSNR, and "
            "at equal MS-SSIM dB where the anchor has MS-SSIM.", "",
            "| anchor | quality | BD-rate, estimated bits | BD-rate, .sgp file bits | common range |",
            "|---|---|---|---|---|"]
    for quality, label in (("psnr", "PSNR"), ("ms_ssim_db", "MS-SSIM dB")):
        for anchor in curves + ([mbt] if quality == "psnr" else []):
            est, act = bd_rate(anchor, ours, quality), bd_rate(anchor, ours_file, quality)
            span = 0.0 if math.isnan(est) else common_range(anchor, ours, quality)
            out.append(f"| {anchor.name} | {label} | {pct(est)} | {pct(act)} | {span:.2f} dB |")
    out += ["", "![R-D on Kodak](figures/rd_kodak.png)", "",
            "Per-image figures: [figures/rd_kodak.csv](figures/rd_kodak.csv) (our models), "
            "[figures/codecs_kodak.csv](figures/codecs_kodak.csv) (Pillow codecs, reused by reruns). "
            "How the models were trained: [training.md](training.md)."]
    return out
