"""``sgaplus compress IMAGE -o FILE.sgp`` (or ``DIR -o OUTDIR``): refine, entropy-code, write.

The reported ``psnr`` and ``ms_ssim`` (with ``ms_ssim_db`` = −10·log10(1 − MS-SSIM))
are measured on what ``sgaplus decompress`` will produce: the bytes are decoded
in-process (CPU, portable convolutions) before the file is moved into place, and
compared in the mode written back (gray for a grayscale input). ``bpp`` is the real file size (header
included) over the original pixels; ``bpp_estimated`` is the refinement's
−log2 p figure for the same latents.

How much to refine is ``--effort`` (:mod:`sgaplus.presets`; default 5: 250 iterations
of the budgeted settings, about 95 % of the paper's 2000-iteration gain); ``--effort 9``
is the paper's settings, ``--no-refine`` = ``--effort 0``. The expert flags ``--iters``,
``--lr``, ``--lr-decay`` and ``--schedule`` replace the preset by the Refiner's own
settings (the paper's unless changed; ``--iters`` alone: the paper's for that many).
What to spend is ``-q`` (a model and λ of the family) or a rate-control target
(:mod:`sgaplus.ratecontrol`, which chooses both).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .common import (add_max_pixels_arg, add_model_args, add_quiet_arg, add_refine_args,
                     build_refiner, check_output, load_model_arg, method_and_schedule, print_json,
                     progress_bar, write_atomic)
from .errors import CLIError
from .paths import is_stdio, output_folder, print_failures, single_output, skipped_note

if TYPE_CHECKING:
    from ..images import LoadedImage
    from ..latent_model import LatentModel
    from ..pipeline import Coded, RatePlan
    from ..ratecontrol import Target
    from ..refine import Refiner

#: Iterations of the expert flags (e.g. ``--lr``) without ``--iters``: the paper's settings for 500.
CLI_ITERS = 500

#: Flags that replace the effort preset by the Refiner's own settings: (flag, dest).
EXPERT_FLAGS = (("--iters", "iters"), ("--lr", "lr"), ("--lr-decay", "lr_decay"),
                ("--schedule", "schedule"), ("--schedule-param", "schedule_param"))

#: Pixels a folder run refines together on a GPU (8 Kodak images; see ``batch_size``).
GPU_BATCH_PIXELS = 8 * 768 * 512

#: Files a folder run picks up; anything else in the folder is left alone.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm",
                  ".pgm", ".pnm"}


def register(sub: argparse._SubParsersAction) -> None:
    from ..presets import DEFAULT_EFFORT, EFFORT_ITERS, QUALITIES

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
    add_refine_args(p, iters=CLI_ITERS, expert=" (replaces --effort)")
    # None = not given: any of these replaces the effort preset (EXPERT_FLAGS).
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
                           "and λ; costs one to three refinements")
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


def load_input(path: Path, max_pixels: int) -> LoadedImage:
    """Load an image; its warnings (16-bit reduced to 8) become one stderr line each."""
    from ..images import load_image

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = load_image(path, max_pixels)
    for w in caught:
        print(f"sgaplus: warning: {w.message}", file=sys.stderr)
    return image


def write_coded(coded: Coded, image: LoadedImage, out: Path, force: bool, seconds: float,
                plan: RatePlan | None = None) -> dict[str, Any]:
    """Write one file atomically; returns its report row."""
    w, h = image.size
    write_atomic(out, lambda tmp: tmp.write_bytes(coded.data), force)
    extra = {} if plan is None else {"target": {plan.target.metric: plan.target.value},
                                     "probes": coded.probes}
    return {
        "output": str(out), "width": w, "height": h, "bytes": len(coded.data),
        "bpp": len(coded.data) * 8 / (w * h), "bpp_estimated": coded.bpp_estimated,
        "psnr": coded.psnr, "ms_ssim": coded.ms_ssim, "ms_ssim_db": coded.ms_ssim_db,
        "iters": coded.iters, "seconds": seconds, "method": coded.method, "lmbda": coded.lmbda,
        "distortion": coded.distortion, "model": coded.model, **extra,
    }


def compress_image(image: LoadedImage, out: Path, force: bool, model: LatentModel,
                   refiner: Refiner, quiet: bool, plan: RatePlan | None = None) -> dict[str, Any]:
    """Refine, encode, decode-check and atomically write one image (with the model and λ
    that meet ``plan``'s target, when given); returns its report row."""
    from ..pipeline import code_image
    from ..ratecontrol import TargetNotReached

    start = time.perf_counter()
    iters = refiner.stop_args["max_iters"]
    log = None if quiet else (lambda line: print(f"sgaplus: {line}", file=sys.stderr))
    with progress_bar(iters, refiner.method.name, disable=quiet or not iters or plan is not None) as bar:
        try:
            coded = code_image(image, model, refiner, plan, progress=lambda t, tau, loss: bar.update(1),
                               log=log)
        except TargetNotReached as exc:
            raise CLIError(str(exc)) from None
    return write_coded(coded, image, out, force, time.perf_counter() - start, plan)


def batch_size(refiner: Refiner, plan: RatePlan | None, image: LoadedImage) -> int:
    """How many same-size images a folder run refines together.

    On a GPU one Kodak-sized image leaves it waiting on kernel launches: a batch of 8
    ran 7.1-7.8x faster per image on an H200 (docs/bench/refine_speed_gpu.md). Each
    image still follows its own loop (the loss is a per-image sum, Adam elementwise);
    only the noise draws depend on its batch-mates. Not with a time budget, a plateau
    rule or rate control, which decide per image. On a CPU batching gained 6-11 %
    (docs/bench/refine_scaling.md): not worth the memory.
    """
    if (refiner.device.type != "cuda" or plan is not None
            or refiner.stop_args["time_budget"] is not None or refiner.stop_args["patience"] is not None):
        return 1
    w, h = image.size
    return max(1, GPU_BATCH_PIXELS // (w * h))


def compress_refiner(args: argparse.Namespace, model: LatentModel) -> Refiner:
    """The command's Refiner without a loss history: a file needs only the final latents,
    and the history's true loss is a no-grad forward pass every 10 iterations (``--iters
    auto`` still checks its plateau)."""
    return build_refiner(args, model, log_every=0)


def refine_settings(args: argparse.Namespace) -> None:
    """Fill ``args.iters``/``lr``/``lr_decay``/``schedule`` from ``--effort`` (default
    :data:`~sgaplus.presets.DEFAULT_EFFORT`), or from the Refiner's own defaults where an
    expert flag replaces the preset (see the module docstring)."""
    from ..presets import DEFAULT_EFFORT, effort

    expert = [flag for flag, dest in EXPERT_FLAGS if getattr(args, dest) is not None]
    if args.no_refine:
        if args.effort not in (None, 0) or expert:
            raise CLIError(f"--no-refine is effort 0; drop {'--effort' if not expert else expert[0]}")
        args.effort = 0
    if expert and args.effort is not None:
        raise CLIError(f"--effort sets the iterations, lr and schedule; drop {expert[0]} (or --effort)")
    if expert:
        args.iters = CLI_ITERS if args.iters is None else args.iters
        args.lr = 0.005 if args.lr is None else args.lr
        args.lr_decay = args.lr_decay or "constant"
        return
    settings = effort(DEFAULT_EFFORT if args.effort is None else args.effort)
    args.iters, args.lr, args.lr_decay = settings["iters"], settings["lr"], settings["lr_decay"]
    args.schedule = settings["schedule"].name if settings["schedule"] is not None else None


def apply_quality(args: argparse.Namespace) -> None:
    """``-q``: the model and refinement λ of the quality scale (:mod:`sgaplus.presets`)."""
    from ..presets import quality

    if args.quality is None:
        return
    if args.model != "default" or args.lmbda is not None:
        raise CLIError("-q picks a model of sgaplus-msh and its λ; drop "
                       f"{'--model' if args.model != 'default' else '--lambda'} (or -q)")
    args.model, args.lmbda = quality(args.quality)


def rate_target(args: argparse.Namespace) -> Target | None:
    """The rate-control target of the arguments, refused where it cannot work (before
    anything is loaded)."""
    from ..ratecontrol import Target

    given = [(flag, metric, getattr(args, dest)) for flag, metric, dest in
             (("--target-bpp", "bpp", "target_bpp"), ("--target-size", "size", "target_size"),
              ("--target-psnr", "psnr", "target_psnr")) if getattr(args, dest) is not None]
    if not given:
        return None
    flag, metric, value = given[0]
    if args.distortion is not None and args.lmbda is None:
        raise CLIError(f"{flag} with --distortion needs --lambda (in that distortion's units) to "
                       "start from")
    if args.distortion is None and args.lmbda is not None:
        raise CLIError(f"{flag} chooses the model and λ itself; drop --lambda (with --distortion, "
                       "--lambda is where it starts)")
    try:
        return Target(metric, value)
    except ValueError as exc:
        raise CLIError(f"{flag}: {exc}") from None


def target_model(args: argparse.Namespace, target: Target | None) -> LatentModel:
    """The model the Refiner is built for: ``--model``, or with a target the middle of its
    family (:func:`sgaplus.zoo.family`), where rate control starts."""
    from ..zoo import load_model

    members = family_of(args, target)
    if members:
        return load_model(members[(len(members) - 1) // 2][0])
    return load_model_arg(args)


def family_of(args: argparse.Namespace, target: Target | None) -> list[tuple[str, float]] | None:
    """The models a target chooses among: ``--model``'s family (none with ``--distortion``,
    whose λ is in other units)."""
    from ..zoo import rate_family

    return rate_family(args.model) if target is not None and args.distortion is None else None


def rate_plan(args: argparse.Namespace, target: Target | None, model: LatentModel) -> RatePlan | None:
    """The models rate control may choose, each from its own λ: ``--model``'s family
    (starting in its middle, the model loaded), or that one model; with ``--distortion``
    (perhaps another metric than the model's) the one model from ``--lambda``."""
    from ..pipeline import RatePlan
    from ..ratecontrol import Candidate

    if target is None:
        return None
    members = family_of(args, target)
    if members:
        return RatePlan(target, tuple(Candidate(spec, lmbda) for spec, lmbda in members),
                        start=(len(members) - 1) // 2)
    return RatePlan(target, (Candidate(args.model, args.lmbda if args.distortion else model.lmbda),), 0)


def run(args: argparse.Namespace) -> int:
    refine_settings(args)
    apply_quality(args)
    method_and_schedule(args)  # unknown method or parameter: fail before any work
    target = rate_target(args)
    if args.input.is_dir():
        return _run_folder(args, target)
    if args.ray is not None:
        raise CLIError("--ray distributes the images of a folder; give a folder as input")
    out = single_output(args.input, args.output, ".sgp")
    check_output(out, args.force)
    image = load_input(args.input, args.max_pixels)
    model = target_model(args, target)
    plan = rate_plan(args, target, model)
    row = compress_image(image, out, args.force, model, compress_refiner(args, model),
                         quiet=args.json or args.quiet, plan=plan)
    row["file"] = str(args.input)
    report = sys.stderr if is_stdio(out) else sys.stdout  # standard output holds the file
    if args.json:
        print_json(row, report)
    elif not args.quiet:
        refinements = sum(p["lmbda"] is not None for p in row.get("probes", []))
        chosen = (f", {row['model']} at λ {row['lmbda']:.4g} ({len(row['probes']) - refinements} "
                  f"unrefined files, {refinements} refinements)") if plan else ""
        ssim = "" if row["ms_ssim"] is None else \
            f", MS-SSIM {row['ms_ssim']:.4f} ({row['ms_ssim_db']:.2f} dB)"
        print(f"{args.input} -> {row['output']}: {row['bytes']} bytes, {row['bpp']:.4f} bpp "
              f"(estimated {row['bpp_estimated']:.4f}), PSNR {row['psnr']:.2f} dB{ssim}, "
              f"{row['iters']} iterations{chosen}, {row['seconds']:.1f} s", file=report)
    return 0


def _outputs(files: list[Path], outdir: Path) -> dict[Path, Path | str]:
    """Output path per input, or why there is none (two inputs with one stem)."""
    out: dict[Path, Path | str] = {}
    seen: dict[Path, Path] = {}
    for f in files:
        target = outdir / f"{f.stem}.sgp"
        out[f] = f"same output name as {seen[target].name}" if target in seen else target
        seen.setdefault(target, f)
    return out


def _run_folder(args: argparse.Namespace, target: Target | None) -> int:
    """Every image of a folder, here or (``--ray``) as Ray tasks: the same table, exit
    status and files. Finished outputs are skipped, so a re-run continues a stopped one."""
    from ..images import ImageError
    from ..pipeline import code_batch, finished

    files = sorted(p for p in args.input.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise CLIError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {args.input}")
    outdir = output_folder(args.output, args.input)
    model = target_model(args, target)
    plan = rate_plan(args, target, model)
    rows: list[dict[str, Any]] = []
    failed: list[tuple[Path, str]] = []
    skipped: list[Path] = []
    errors = (CLIError, ImageError, ValueError, OSError, RuntimeError)

    def fail(paths: list[Path], exc: Exception | str) -> None:
        text = str(exc).strip()
        failed.extend((p, text.splitlines()[0] if text else type(exc).__name__) for p in paths)
        bar.update(len(paths))

    def finish(batch: list[tuple[tuple[Path, Path], LoadedImage]],
               result: tuple[list[Coded], float] | str) -> None:
        """Write a batch's files (pipeline.code_batch's result), or note why it failed."""
        paths = [path for (path, _), _ in batch]
        if isinstance(result, str):
            return fail(paths, result)
        coded, seconds = result
        try:
            rows.extend({"file": str(path), **write_coded(c, image, out, args.force, seconds, plan)}
                        for ((path, out), image), c in zip(batch, coded))
        except errors as exc:
            return fail(paths, exc)
        bar.update(len(batch))

    def batches(refiner: Refiner) -> Iterator[list[tuple[tuple[Path, Path], LoadedImage]]]:
        """The images to code, loaded in order; consecutive same-size ones grouped (batch_size)."""
        pending: list[tuple[tuple[Path, Path], LoadedImage]] = []
        for path, out in _outputs(files, outdir).items():
            try:
                if isinstance(out, str):
                    raise CLIError(out)
                if not args.force and finished(out, model):
                    skipped.append(path)
                    bar.update(1)
                    continue
                check_output(out, args.force)
                image = load_input(path, args.max_pixels)
            except errors as exc:
                fail([path], exc)
                continue
            if pending and (image.size != pending[0][1].size
                            or len(pending) >= batch_size(refiner, plan, pending[0][1])):
                yield pending
                pending = []
            pending.append(((path, out), image))
        if pending:
            yield pending

    with progress_bar(len(files), "images", disable=args.json or args.quiet) as bar:
        if args.ray is None:
            refiner = compress_refiner(args, model)
            for batch in batches(refiner):
                finish(batch, code_batch(refiner, [image for _, image in batch], plan))
        else:
            from .. import distributed

            with distributed.runtime(args.ray or None):
                args.device = "cuda" if distributed.use_gpus(args.device) else "cpu"
                refiner = compress_refiner(args, model)
                distributed.code_batches(batches(refiner), refiner, plan, finish)
    rows.sort(key=lambda r: r["file"])
    failed.sort()  # a load failure is noted before the batch of earlier files is done
    if args.json:
        print_json({"images": rows, "failed": [{"file": str(p), "error": e} for p, e in failed],
                    "skipped": [str(p) for p in skipped]})
    elif not args.quiet:
        if rows:
            _print_table(rows)
        if skipped:
            print(skipped_note(len(skipped), outdir))
    print_failures(failed)
    return 2 if failed else 0


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
