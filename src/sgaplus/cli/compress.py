"""``sgaplus compress IMAGE -o FILE.sgp`` (or ``DIR -o OUTDIR``): refine, entropy-code, write.

The reported ``psnr`` and ``ms_ssim`` (with ``ms_ssim_db`` = −10·log10(1 − MS-SSIM))
are measured on what ``sgaplus decompress`` will produce: the bytes are decoded
in-process (CPU, portable convolutions) before the file is moved into place, and
compared in the mode written back (gray for a grayscale input). ``bpp`` is the real file size (header
included) over the original pixels; ``bpp_estimated`` is the refinement's
−log2 p figure for the same latents.

The CLI default is 500 iterations, not the spec's 2000: the paper reports both,
most of the gain comes in the first 500, and 2000 takes minutes per image on
a CPU. ``--iters 2000`` reproduces the spec; ``--no-refine`` (= ``--iters 0``)
codes the amortized encoder's latents.
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
from .main import CLIError
from .paths import is_stdio, output_folder, print_failures, single_output, skipped_note

if TYPE_CHECKING:
    from ..images import LoadedImage
    from ..latent_model import LatentModel
    from ..pipeline import Coded
    from ..ratecontrol import Target
    from ..refine import Refiner

#: Iterations when ``--iters`` is not given (see the module docstring).
CLI_ITERS = 500

#: Pixels a folder run refines together on a GPU (8 Kodak images; see ``batch_size``).
GPU_BATCH_PIXELS = 8 * 768 * 512

#: Files a folder run picks up; anything else in the folder is left alone.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".ppm",
                  ".pgm", ".pnm"}


def register(sub: argparse._SubParsersAction) -> None:
    from ..ratecontrol import PROBES

    p = sub.add_parser("compress", help="refine and entropy-code an image (or a folder) into .sgp files")
    p.add_argument("input", type=Path,
                   help="an image (PNG, JPEG, WebP, TIFF, ...), '-' for standard input, or a folder "
                        "of images")
    p.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="FILE.sgp, '-' for standard output, or a folder (a trailing '/' or an "
                        "existing folder; created if missing); default: the input's name with .sgp. "
                        "A folder input needs an output folder; finished files in it are skipped")
    add_model_args(p)
    add_refine_args(p, iters=CLI_ITERS)
    p.add_argument("--no-refine", action="store_true",
                   help="code the encoder's latents without refinement (same as --iters 0)")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--target-bpp", type=float, metavar="BPP",
                      help="rate control: the largest file of at most BPP bits per pixel (searches λ "
                           f"from the model's, or from --lambda with --distortion; each of up to {PROBES} "
                           "tries is a whole refinement)")
    rate.add_argument("--target-psnr", type=float, metavar="DB",
                      help="rate control: the smallest file with at least DB dB PSNR (searches λ)")
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


def write_coded(coded: Coded, image: LoadedImage, out: Path, force: bool, model: LatentModel,
                seconds: float, target: Target | None = None) -> dict[str, Any]:
    """Write one file atomically; returns its report row."""
    w, h = image.size
    write_atomic(out, lambda tmp: tmp.write_bytes(coded.data), force)
    extra = {} if target is None else {"target": {target.metric: target.value}, "probes": coded.probes}
    return {
        "output": str(out), "width": w, "height": h, "bytes": len(coded.data),
        "bpp": len(coded.data) * 8 / (w * h), "bpp_estimated": coded.bpp_estimated,
        "psnr": coded.psnr, "ms_ssim": coded.ms_ssim, "ms_ssim_db": coded.ms_ssim_db,
        "iters": coded.iters, "seconds": seconds, "method": coded.method, "lmbda": coded.lmbda,
        "distortion": coded.distortion, "model": model.name, **extra,
    }


def compress_image(image: LoadedImage, out: Path, force: bool, model: LatentModel,
                   refiner: Refiner, quiet: bool, target: Target | None = None) -> dict[str, Any]:
    """Refine, encode, decode-check and atomically write one image (at the λ that meets
    ``target``, when given); returns its report row."""
    from ..pipeline import code_image

    start = time.perf_counter()
    iters = refiner.stop_args["max_iters"]
    log = None if quiet else (lambda line: print(f"sgaplus: {line}", file=sys.stderr))
    with progress_bar(iters, refiner.method.name, disable=quiet or not iters or target is not None) as bar:
        coded = code_image(image, model, refiner, target, progress=lambda t, tau, loss: bar.update(1),
                           log=log)
    return write_coded(coded, image, out, force, model, time.perf_counter() - start, target)


def batch_size(refiner: Refiner, target: Target | None, image: LoadedImage) -> int:
    """How many same-size images a folder run refines together.

    On a GPU one Kodak-sized image leaves it waiting on kernel launches: a batch of 8
    ran 7.1-7.8x faster per image on an H200 (docs/bench/refine_speed_gpu.md). Each
    image still follows its own loop (the loss is a per-image sum, Adam elementwise);
    only the noise draws depend on its batch-mates. Not with a time budget, a plateau
    rule or rate control, which decide per image. On a CPU batching gained 6-11 %
    (docs/bench/refine_scaling.md): not worth the memory.
    """
    if (refiner.device.type != "cuda" or target is not None
            or refiner.stop_args["time_budget"] is not None or refiner.stop_args["patience"] is not None):
        return 1
    w, h = image.size
    return max(1, GPU_BATCH_PIXELS // (w * h))


def compress_refiner(args: argparse.Namespace, model: LatentModel) -> Refiner:
    """The command's Refiner without a loss history: a file needs only the final latents,
    and the history's true loss is a no-grad forward pass every 10 iterations (``--iters
    auto`` still checks its plateau)."""
    return build_refiner(args, model, log_every=0)


def rate_target(args: argparse.Namespace) -> Target | None:
    """The rate-control target of the arguments, refused where it cannot work.

    The search starts from the model's λ, which is only a λ of the model's own metric:
    with ``--distortion`` (perhaps another metric) ``--lambda`` gives the start instead.
    """
    from ..ratecontrol import Target

    if args.target_bpp is None and args.target_psnr is None:
        return None
    flag = "--target-bpp" if args.target_bpp is not None else "--target-psnr"
    if args.lmbda is not None and args.distortion is None:
        raise CLIError(f"{flag} chooses λ itself; drop --lambda (with --distortion, --lambda is "
                       "where its search starts)")
    if args.iters == 0:
        raise CLIError(f"{flag} works by refining at other λ; it needs --iters > 0, not --no-refine")
    try:
        return Target("bpp", args.target_bpp) if args.target_bpp is not None else Target("psnr", args.target_psnr)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    if args.no_refine:
        args.iters = 0
    method_and_schedule(args)  # unknown method or parameter: fail before any work
    target = rate_target(args)
    if args.input.is_dir():
        return _run_folder(args, target)
    if args.ray is not None:
        raise CLIError("--ray distributes the images of a folder; give a folder as input")
    out = single_output(args.input, args.output, ".sgp")
    check_output(out, args.force)
    image = load_input(args.input, args.max_pixels)
    model = load_model_arg(args)
    row = compress_image(image, out, args.force, model, compress_refiner(args, model),
                         quiet=args.json or args.quiet, target=target)
    row["file"] = str(args.input)
    report = sys.stderr if is_stdio(out) else sys.stdout  # standard output holds the file
    if args.json:
        print_json(row, report)
    elif not args.quiet:
        chosen = f", λ {row['lmbda']:.4g} ({row['probes']} tries)" if target else ""
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
    model = load_model_arg(args)
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
            rows.extend({"file": str(path), **write_coded(c, image, out, args.force, model, seconds,
                                                           target)}
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
                            or len(pending) >= batch_size(refiner, target, pending[0][1])):
                yield pending
                pending = []
            pending.append(((path, out), image))
        if pending:
            yield pending

    with progress_bar(len(files), "images", disable=args.json or args.quiet) as bar:
        if args.ray is None:
            refiner = compress_refiner(args, model)
            for batch in batches(refiner):
                finish(batch, code_batch(refiner, [image for _, image in batch], target))
        else:
            from .. import distributed

            with distributed.runtime(args.ray or None):
                args.device = "cuda" if distributed.use_gpus(args.device) else "cpu"
                refiner = compress_refiner(args, model)
                distributed.code_batches(batches(refiner), refiner, target, finish)
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
