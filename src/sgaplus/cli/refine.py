"""``sgaplus refine IMAGE``: refine one image's latents and report what it gained."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from .common import (add_model_args, add_quiet_arg, add_refine_args, check_output, load_model_arg,
                     positive, print_json, progress_bar, refine_config, write_atomic)
from .paths import is_stdio


def register(sub: argparse._SubParsersAction) -> None:
    from ..refine_config import RefineConfig

    p = sub.add_parser("refine", help="refine one image's latents; print bpp, PSNR, MS-SSIM and loss "
                                      "before/after")
    p.add_argument("image", type=Path, help="the image to refine (PNG, JPEG, WebP, TIFF, ...), or '-' for "
                                             "standard input")
    add_model_args(p)
    add_refine_args(p)
    p.add_argument("--out", type=Path, help="write the refined reconstruction (PNG)")
    p.add_argument("--history", type=Path, help="write the per-iteration history (CSV)")
    every = RefineConfig.log_every
    p.add_argument("--log-every", type=positive("the history interval", integer=True), default=every,
                   help=f"history interval (default {every})")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_quiet_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..files import build_refiner
    from ..util import check_image_path

    for out in (args.out, args.history):
        if out is not None:
            check_output(out, args.force)
    config = refine_config(args, log_every=args.log_every)  # an unknown method or parameter: before any work
    if not is_stdio(args.image):
        check_image_path(args.image)  # a mistyped name: before importing torch
    from ..images import load_image, to_pil
    image = load_image(args.image)
    model = load_model_arg(args)
    refiner = build_refiner(model, config)
    with progress_bar(refiner.config.iters, f"{refiner.method.name}", disable=args.json or args.quiet) as bar:
        result = refiner.refine(image.x, progress=lambda t, tau, loss: (
            bar.update(1), bar.set_postfix(loss=f"{loss:.4f}", T=f"{tau:.3f}")))
    b, a = result.before[0], result.after[0]
    if args.out is not None:
        im = to_pil(result.x_hat, image.mode, image.alpha)
        write_atomic(args.out, lambda tmp: im.save(tmp, format="PNG"), args.force)
    if args.history is not None:
        def write_csv(tmp: Path) -> None:
            with open(tmp, "w", newline="") as f:
                fields = ["iter", "image", "tau", "loss_method", "loss_true", "gap", "psnr", "bpp"]
                fields += ["ms_ssim"] if refiner.distortion.name == "ms-ssim" else []
                w = csv.DictWriter(f, fieldnames=fields)
                w.writeheader()
                w.writerows(result.history)
        write_atomic(args.history, write_csv, args.force)
    if args.json:
        print_json({
            "bpp_before": b.bpp, "bpp_after": a.bpp, "psnr_before": b.psnr, "psnr_after": a.psnr,
            "ms_ssim_before": b.ms_ssim, "ms_ssim_after": a.ms_ssim,
            "ms_ssim_db_before": b.ms_ssim_db, "ms_ssim_db_after": a.ms_ssim_db,
            "loss_before": b.loss, "loss_after": a.loss, "distortion": refiner.distortion.name,
            "iters": result.iters,
            "seconds": result.seconds, "method": refiner.method.name,
            "schedule": refiner.schedule.name, "model": model.name, "lmbda": refiner.lmbda,
            "width": image.size[0], "height": image.size[1], "config": result.config.to_dict(),
        })
        return 0
    if args.quiet:
        return 0
    w, h = image.size
    print(f"{args.image} ({w}x{h})  model {model.name}  λ={refiner.lmbda:g} ({refiner.distortion.name})  "
          f"method {refiner.method.name}  schedule {refiner.schedule.name}  "
          f"{result.iters} iterations in {result.seconds:.1f} s")
    print(f"{'':8}{'bpp (est.)':>12}{'PSNR dB':>10}{'MS-SSIM':>10}{'MS-SSIM dB':>12}{'true loss':>12}")
    for name, m in (("before", b), ("after", a)):
        ssim = ("n/a", "n/a") if m.ms_ssim is None else (f"{m.ms_ssim:.5f}", f"{m.ms_ssim_db:.3f}")
        print(f"{name:8}{m.bpp:12.4f}{m.psnr:10.3f}{ssim[0]:>10}{ssim[1]:>12}{m.loss:12.4f}")
    ssim = ("", "") if a.ms_ssim is None else (f"{a.ms_ssim - b.ms_ssim:+.5f}",
                                              f"{a.ms_ssim_db - b.ms_ssim_db:+.3f}")
    print(f"{'change':8}{(a.bpp / b.bpp - 1) * 100:11.2f}%{a.psnr - b.psnr:+10.3f}{ssim[0]:>10}"
          f"{ssim[1]:>12}{(a.loss / b.loss - 1) * 100:11.2f}%")
    if a.ms_ssim is None:
        print("MS-SSIM: n/a, the image is 10 px or less on a side")
    return 0
