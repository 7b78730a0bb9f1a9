"""``sgaplus decompress FILE.sgp -o OUT.png``: the image at its original size and mode.

Decoding always runs on the CPU with portable convolutions (see
``codec.portable_convolutions``), so the same file gives the same pixels in
any process on this machine. Without ``--model`` the model named in the file
is loaded when it is a known name (``mbt2018-mean:3``, ``sgaplus-msh-q2``; never a
path: the file may come from anyone), else the bundled one; either way a file made
with other weights is refused by its fingerprint. A file announcing more than
``--max-pixels`` pixels is refused before the model is even loaded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from .common import add_max_pixels_arg, check_output, print_json, write_atomic
from .main import CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decompress", help="decode a .sgp file into an image (PNG, ...)")
    p.add_argument("input", type=Path, help="a .sgp file")
    p.add_argument("-o", "--output", type=Path, required=True, help="image to write; format from the suffix")
    p.add_argument("--model", default=None,
                   help="model to decode with (default: the known model named in the file, else the bundled one)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_max_pixels_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def model_for(model_name: str, spec: str | None):
    """``--model``, else the known model the file names (``zoo.load_named``), else the
    bundled one (whose fingerprint then decides).

    A known model missing from this machine raises ``ModelNotFound``, whose message
    says where to put its weights.
    """
    from ..zoo import ModelNotFound, load_model, load_named

    if spec is not None:
        return load_model(spec, require_lambda=False)  # decoding needs no λ
    try:
        return load_named(model_name)
    except ModelNotFound:
        raise
    except ValueError:  # not a name we know
        return load_named("default")


#: Bytes per pixel no file within the pixel limit can exceed: y takes at most 8 bytes per
#: element (``entropy.max_stream_bytes``) and 1.25 elements per pixel (M = 320, the
#: largest CompressAI hyperprior), alpha zlib's ~1 byte per pixel, z far less.
FILE_BYTES_PER_PIXEL = 16


def read_limited(path: Path, max_pixels: int) -> bytes:
    """The file's bytes, refusing before reading them all one larger than ``max_pixels``
    allows (a device or a pipe has no size to check first)."""
    bound = FILE_BYTES_PER_PIXEL * max_pixels + (1 << 16)
    with open(path, "rb") as f:
        data = f.read(bound + 1)
    if len(data) > bound:
        raise CLIError(f"{path} is larger than a file of at most {max_pixels:,} pixels can be "
                       f"(--max-pixels raises the limit)")
    return data


def run(args: argparse.Namespace) -> int:
    from .. import bitstream, codec
    from ..images import to_pil

    check_output(args.output, args.force)
    fmt = Image.registered_extensions().get(args.output.suffix.lower())
    if fmt is None:
        raise CLIError(f"unknown image format {args.output.suffix!r} for {args.output}; use .png")
    start = time.perf_counter()
    data = read_limited(args.input, args.max_pixels)
    header = bitstream.unpack(data).header  # reject a bad file before loading a model
    codec.check_size(header, args.max_pixels)
    decoded = codec.decode(model_for(header.model_name, args.model), data, args.max_pixels)
    im = to_pil(decoded.x_hat, header.mode, decoded.alpha)
    write_atomic(args.output, lambda tmp: im.save(tmp, format=fmt), args.force)
    seconds = time.perf_counter() - start
    if args.json:
        print_json({"width": header.width, "height": header.height, "mode": im.mode,
                    "seconds": seconds, "output": str(args.output)})
    else:
        print(f"{args.input} -> {args.output}: {header.width}x{header.height} {im.mode}, {seconds:.1f} s")
    return 0
