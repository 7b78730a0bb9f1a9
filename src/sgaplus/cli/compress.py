"""``sgaplus compress IMAGE -o FILE.sgp`` (or ``DIR -o OUTDIR``): parse, call
:func:`sgaplus.files.compress` (a folder: :func:`sgaplus.folders.compress_folder`), write, print.

The figures are :class:`sgaplus.pipeline.CompressResult`'s, measured on what ``sgaplus
decompress`` will produce. How much to refine is ``--effort`` (default 5: 250 iterations of
the budgeted settings), ``--no-refine`` = ``--effort 0``; the expert flags ``--iters``,
``--lr``, ``--lr-decay`` and ``--schedule`` replace the preset by RefineConfig's defaults
(:func:`sgaplus.files.compress_config`). ``--json`` records the refinement's config
(:class:`~sgaplus.refine_config.RefineConfig`), which re-runs it. What to spend is ``-q`` (a
model and λ of the family) or a rate-control target.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..util import check_image_path, image_files
from .common import (add_max_pixels_arg, add_model_args, add_quiet_arg, add_refine_args, check_output,
                     flag, print_json, progress_bar, refine_fields, write_atomic)
from .errors import CLIError
from .paths import (input_name, is_stdio, output_folder, output_name, print_failures, single_output,
                    skipped_note)

if TYPE_CHECKING:
    from ..pipeline import CompressResult
    from ..ratecontrol import Target
    from ..refine_config import RefineConfig

def register(sub: argparse._SubParsersAction) -> None:
    from ..presets import DEFAULT_EFFORT, EFFORT_ITERS, EXPERT_ITERS, QUALITIES

    p = sub.add_parser("compress", help="refine and entropy-code an image (or a folder) into .sgp files")
    p.add_argument("input", type=Path,
                   help="an image (PNG, JPEG, WebP, TIFF, ...), '-' for standard input, or a folder "
                        "of images")
    p.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="FILE.sgp, '-' for standard output, or a folder (a trailing '/' or an "
                        "existing folder; created if missing); default: the input's name with .sgp. "
                        "A folder input needs an output folder; finished files in it are skipped")
    add_model_args(p)
    p.add_argument("--effort", type=int, choices=range(len(EFFORT_ITERS)), default=None, metavar="0-9",
                   help=f"how hard to refine (default {DEFAULT_EFFORT}): 0 none, 1-8 "
                        f"{', '.join(map(str, EFFORT_ITERS[1:-1]))} iterations of the budgeted settings, "
                        f"9 the paper's {EFFORT_ITERS[-1]} (docs/bench/presets.md)")
    add_refine_args(p, iters=EXPERT_ITERS, expert=" (replaces --effort)")
    # None = not given: any of these replaces the effort preset (files.EXPERT_FIELDS).
    p.set_defaults(iters=None, lr=None, lr_decay=None)
    p.add_argument("--no-refine", action="store_true",
                   help="code the encoder's latents without refinement (same as --effort 0)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("-q", "--quality", type=int, choices=sorted(QUALITIES), metavar="1-9",
                      help="a model of sgaplus-msh and a λ on a fixed scale, 1 smallest to 9 best "
                           "(default: the default model at its own λ, quality 6; docs/bench/presets.md)")
    rate.add_argument("--target-bpp", type=float, metavar="BPP",
                      help="rate control: the best file of at most BPP bits per pixel, choosing the model "
                           "(of the family: sgaplus-msh, or --model ARCHITECTURE without a quality) "
                           "and λ; costs at most two compressions (one refinement, then up to four corrections "
                           "of a fifth of its iterations or a move to another model; docs/bench/ratecontrol.md)")
    rate.add_argument("--target-size", type=float, metavar="BYTES",
                      help="rate control: the best file of at most BYTES bytes (as --target-bpp)")
    rate.add_argument("--target-psnr", type=float, metavar="DB",
                      help="rate control: the smallest file with at least DB dB PSNR (as --target-bpp)")
    p.add_argument("--force", action="store_true",
                   help="overwrite existing output files (in a folder run: redo finished ones)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="a folder as Ray tasks, one per image: on a local Ray runtime, or on the cluster "
                        "at ADDRESS (host:port of `ray start --head`); put it last or write --ray=ADDRESS")
    add_max_pixels_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_quiet_arg(p)
    p.set_defaults(func=run)


def warn(message: str) -> None:
    """An image's warning (16-bit reduced to 8): one stderr line."""
    print(f"sgaplus: warning: {message}", file=sys.stderr)


def check_flags(args: argparse.Namespace) -> tuple[RefineConfig, Target | None]:
    """Refuse flags that contradict each other, in the flags' own words, and fill in
    ``-q``'s model and λ; returns the refinement's config (:func:`sgaplus.files.compress_config`:
    an unknown method or parameter fails here, before any work) and the rate-control
    target. Nothing is loaded yet."""
    from ..files import EffortConflict, compress_config
    from ..presets import quality
    from ..ratecontrol import Target

    if args.no_refine:
        if args.effort not in (None, 0):
            raise CLIError("--no-refine is effort 0; drop --effort")
        args.effort = 0
    if args.quality is not None:
        if args.model != "default" or args.lmbda is not None:
            raise CLIError("-q picks a model of sgaplus-msh and its λ; drop "
                           f"{'--model' if args.model != 'default' else '--lambda'} (or -q)")
        args.model, args.lmbda = quality(args.quality)
    try:  # the library's check (files.EXPERT_FIELDS), in the flags' words
        config = compress_config(args.effort, **refine_fields(args))
    except EffortConflict as exc:
        raise CLIError(f"--no-refine is effort 0; drop {flag(exc.field)}" if args.no_refine else
                       f"--effort sets the iterations, lr and schedule; drop {flag(exc.field)} "
                       "(or --effort)") from None
    given = [(option, metric, getattr(args, dest)) for option, metric, dest in
             (("--target-bpp", "bpp", "target_bpp"), ("--target-size", "size", "target_size"),
              ("--target-psnr", "psnr", "target_psnr")) if getattr(args, dest) is not None]
    if not given:
        return config, None
    option, metric, value = given[0]
    if args.distortion is not None and args.lmbda is None:
        raise CLIError(f"{option} with --distortion needs --lambda (in that distortion's units) to "
                       "start from")
    if args.distortion is None and args.lmbda is not None:
        raise CLIError(f"{option} chooses the model and λ itself; drop --lambda (with --distortion, "
                       "--lambda is where it starts)")
    try:
        return config, Target(metric, value)
    except ValueError as exc:
        raise CLIError(f"{option}: {exc}") from None


def row(result: CompressResult, out: Path, file: Path) -> dict[str, Any]:
    """What ``--json`` prints for one image."""
    return {"file": str(file), "output": str(out), **result.row()}


def run(args: argparse.Namespace) -> int:
    from ..files import compress
    from ..folders import load
    from ..ratecontrol import TargetNotReached

    config, target = check_flags(args)
    if args.input.is_dir():
        return _run_folder(args, config, target)
    if args.ray is not None:
        raise CLIError("--ray distributes the images of a folder; give a folder as input")
    out = single_output(args.input, args.output, ".sgp")
    check_output(out, args.force)
    if not is_stdio(args.input):
        check_image_path(args.input)  # a mistyped name: before importing torch
    image = load(args.input, args.max_pixels, warn)
    quiet = args.json or args.quiet
    log = None if quiet else (lambda line: print(f"sgaplus: {line}", file=sys.stderr))
    iters = config.max_iters
    with progress_bar(iters, config.method, disable=quiet or not iters or target is not None) as bar:
        try:
            result = compress(image, model=args.model, target=target, config=config,
                              train_lmbda=args.train_lmbda, progress=lambda t, tau, loss: bar.update(1),
                              log=log)
        except TargetNotReached as exc:
            raise CLIError(str(exc)) from None
    write_atomic(out, lambda tmp: tmp.write_bytes(result.data), args.force)
    r = row(result, out, args.input)
    report = sys.stderr if is_stdio(out) else sys.stdout  # standard output holds the file
    if args.json:
        print_json(r, report)
    elif not args.quiet:
        refinements = sum(p["lmbda"] is not None for p in r.get("probes", []))
        unrefined = len(r.get("probes", [])) - refinements
        chosen = (f", {r['model']} at λ {r['lmbda']:.4g} ({unrefined} unrefined "
                  f"file{'s' * (unrefined != 1)}, {refinements} refinement{'s' * (refinements != 1)})"
                  ) if target else ""
        ssim = "" if r["ms_ssim"] is None else \
            f", MS-SSIM {r['ms_ssim']:.4f} ({r['ms_ssim_db']:.2f} dB)"
        print(f"{input_name(args.input)} -> {output_name(out)}: {r['bytes']} bytes, {r['bpp']:.4f} bpp "
              f"(estimated {r['bpp_estimated']:.4f}), PSNR {r['psnr']:.2f} dB{ssim}, "
              f"{r['iters']} iterations{chosen}, {r['seconds']:.1f} s", file=report)
    return 0


def _run_folder(args: argparse.Namespace, config: RefineConfig, target: Target | None) -> int:
    """Every image of a folder (:func:`sgaplus.folders.compress_folder`), here or (``--ray``)
    as Ray tasks: the same table, exit status and files."""
    from ..folders import compress_folder

    outdir = output_folder(args.output, args.input)
    with progress_bar(len(image_files(args.input)), "images", disable=args.json or args.quiet) as bar:
        run = compress_folder(args.input, outdir, model=args.model, target=target, config=config,
                              train_lmbda=args.train_lmbda, max_pixels=args.max_pixels, force=args.force,
                              ray=args.ray, check=lambda out: check_output(out, args.force),
                              write=lambda out, w: write_atomic(out, w, args.force), warn=warn,
                              progress=bar.update)
    if args.json:
        print_json(run.json())
    elif not args.quiet:
        if run.rows:
            _print_table(run.rows)
        if run.skipped:
            print(skipped_note(len(run.skipped), outdir))
    print_failures(run.failed)
    return 2 if run.failed else 0


def _print_table(rows: list[dict[str, Any]]) -> None:
    def db(value: float | None) -> str:
        return f"{value:11.2f}" if value is not None else f"{'n/a':>11}"

    print(f"{'image':24}{'size':>11}{'bytes':>9}{'bpp':>8}{'bpp est':>9}{'PSNR':>8}{'MS-SSIM dB':>11}"
          f"{'iters':>7}{'s':>7}")
    for r in rows:
        size = f"{r['width']}x{r['height']}"
        print(f"{Path(r['file']).name[:23]:24}{size:>11}{r['bytes']:>9}{r['bpp']:8.4f}"
              f"{r['bpp_estimated']:9.4f}{r['psnr']:8.2f}{db(r['ms_ssim_db'])}{r['iters']:>7}"
              f"{r['seconds']:7.1f}")
    if rows:
        n = len(rows)
        mean = {k: sum(r[k] for r in rows) / n for k in ("bpp", "bpp_estimated", "psnr", "seconds")}
        ssim = [r["ms_ssim_db"] for r in rows]
        print(f"{f'mean of {n}':24}{'':11}{'':9}{mean['bpp']:8.4f}{mean['bpp_estimated']:9.4f}"
              f"{mean['psnr']:8.2f}{db(None if None in ssim else sum(ssim) / n)}{'':7}{mean['seconds']:7.1f}")
