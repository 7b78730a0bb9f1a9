"""``sgaplus decompress FILE.sgp -o OUT.png`` (or ``DIR -o OUTDIR``): parse, call
:func:`sgaplus.files.decompress` (the image at its original size and mode), write, print.

Without ``--model`` the model named in the file is loaded when it is a known name
(``mbt2018-mean:3``, ``sgaplus-msh-q2``; never a path: the file may come from anyone),
else the bundled one; either way a file made with other weights is refused by its
fingerprint. A file announcing more than ``--max-pixels`` pixels is refused before the
model is even loaded.

A lossy output format (JPEG, WebP) would re-encode the decoded image and lose more
than the ``.sgp`` file did, at a quality sgaplus would have to make up: it needs an
explicit ``--quality``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .common import add_max_pixels_arg, add_quiet_arg, check_output, print_json, write_atomic
from .errors import CLIError
from .paths import (input_name, is_stdio, output_folder, output_name, print_failures, read_input,
                    single_output, skipped_note)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decompress", help="decode a .sgp file (or a folder of them) into images (PNG, ...)")
    p.add_argument("input", type=Path,
                   help="a .sgp file, '-' for standard input, or a folder of .sgp files")
    p.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="image to write, format from the suffix; '-' for standard output (PNG); or a "
                        "folder (a trailing '/' or an existing folder; created if missing). Default: "
                        "the input's name with .png. A folder input needs an output folder; finished "
                        "images in it are skipped")
    p.add_argument("--quality", type=int, default=None, metavar="1-100",
                   help="quality of a lossy output (.jpg, .webp), which is refused without it: it "
                        "loses more than the .sgp file did")
    p.add_argument("--model", default=None,
                   help="model to decode with (default: the known model named in the file, else the bundled one)")
    p.add_argument("--force", action="store_true",
                   help="overwrite existing output files (in a folder run: redo finished ones)")
    add_max_pixels_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_quiet_arg(p)
    p.set_defaults(func=run)


#: Pillow formats that lose detail on saving, and so need ``--quality``.
LOSSY_FORMATS = {"JPEG", "WEBP", "JPEG2000", "MPO"}


def image_format(out: Path, quality: int | None) -> tuple[str, dict[str, int]]:
    """Pillow's format for ``out``'s suffix (PNG for standard output) and its save options."""
    from ..files import pillow_format

    fmt = "PNG" if is_stdio(out) else pillow_format(out)
    if fmt not in LOSSY_FORMATS:
        if quality is not None:
            raise CLIError(f"--quality is for lossy formats (.jpg, .webp); {fmt} keeps every pixel")
        return fmt, {}
    if quality is None:
        raise CLIError(f"{out} is {fmt}, a lossy format that would lose more than the .sgp file did; "
                       f"give --quality 1-100 to accept that, or write .png")
    if not 1 <= quality <= 100:
        raise CLIError(f"--quality must be between 1 and 100, not {quality}")
    return fmt, {"quality": quality}


def decompress_file(src: Path, out: Path, args: argparse.Namespace, models: dict) -> dict[str, Any]:
    """Decode ``src`` (standard input for ``-``) and write ``out`` atomically; ``models``
    caches models by the name in the file, so that a folder loads each once. Returns the
    report row."""
    from ..files import decompress, max_file_bytes

    fmt, options = image_format(out, args.quality)
    start = time.perf_counter()
    # At most one byte past the limit: a device or a pipe has no size to check first.
    data = read_input(src, max_file_bytes(args.max_pixels))
    result = decompress(data, model=args.model, max_pixels=args.max_pixels, models=models, name=str(src))
    im = result.image
    write_atomic(out, lambda tmp: im.save(tmp, format=fmt, **options), args.force)
    return {"file": str(src), "width": im.width, "height": im.height, "mode": im.mode,
            "seconds": time.perf_counter() - start, "output": str(out)}


def _line(row: dict[str, Any]) -> str:
    return (f"{input_name(row['file'])} -> {output_name(row['output'])}: "
            f"{row['width']}x{row['height']} {row['mode']}, {row['seconds']:.1f} s")


def run(args: argparse.Namespace) -> int:
    from ..bitstream import FormatError

    if args.input.is_dir():
        return _run_folder(args)
    out = single_output(args.input, args.output, ".png")
    check_output(out, args.force)
    image_format(out, args.quality)  # before any work
    try:
        row = decompress_file(args.input, out, args, {})
    except FormatError as exc:  # a batch of files: say which one (a folder's summary does)
        raise CLIError(f"{input_name(args.input)}: {exc}") from None
    report = sys.stderr if is_stdio(out) else sys.stdout  # standard output holds the image
    if args.json:
        print_json({k: v for k, v in row.items() if k != "file"}, report)
    elif not args.quiet:
        print(_line(row), file=report)
    return 0


def _run_folder(args: argparse.Namespace) -> int:
    """Every ``*.sgp`` of the folder (:func:`sgaplus.folders.decompress_folder`): a failure
    is reported and the rest go on, and outputs finished by an earlier run are skipped."""
    from ..folders import decompress_folder

    outdir = output_folder(args.output, args.input)
    if args.quality is not None:  # once, not once per file
        raise CLIError("a folder is decoded into PNG files, which keep every pixel; drop --quality")
    quiet = args.json or args.quiet
    run = decompress_folder(args.input, outdir, model=args.model, max_pixels=args.max_pixels,
                            force=args.force, check=lambda out: check_output(out, args.force),
                            write=lambda out, w: write_atomic(out, w, args.force),
                            progress=None if quiet else lambda row: print(_line(row)))
    if args.json:
        print_json(run.json())
    elif not args.quiet and run.skipped:
        print(skipped_note(len(run.skipped), outdir))
    print_failures(run.failed)
    return 2 if run.failed else 0
