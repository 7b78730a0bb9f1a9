"""``sgaplus info FILE.sgp [--json]``: what a file holds, read from its header alone (no model)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import print_json
from .errors import CLIError
from .paths import input_name, is_stdio


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show the header of a .sgp file")
    p.add_argument("input", type=Path, help="a .sgp file, or '-' for standard input")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe(data: bytes) -> dict[str, Any]:
    """The header's fields plus sizes: payload per stream and the container overhead."""
    from .. import bitstream

    c = bitstream.unpack(data)
    h = c.header
    streams = {"z": len(c.z), "y": len(c.y), **({"alpha": len(c.alpha)} if c.alpha is not None else {})}
    return {
        "version": data[4], "bytes": len(data), "width": h.width, "height": h.height,
        "mode": h.mode, "alpha": h.has_alpha, "bpp": len(data) * 8 / (h.width * h.height),
        "model": h.model_name, "arch": h.arch, "fingerprint": h.fingerprint.hex(),
        "method": h.method, "distortion": h.distortion,
        "iters": h.iters, "lmbda": float(f"{h.lmbda:.7g}"),  # stored as float32: 0.0067, not 0.0066999997
        "z_shape": list(h.z_shape), "y_shape": list(h.y_shape),
        "stream_bytes": streams, "overhead_bytes": len(data) - sum(streams.values()),
    }


def run(args: argparse.Namespace) -> int:
    from ..bitstream import FormatError

    name = input_name(args.input)
    try:
        d = describe(sys.stdin.buffer.read() if is_stdio(args.input) else args.input.read_bytes())
    except FormatError as exc:  # a batch of files: say which one
        raise CLIError(f"{name}: {exc}") from None
    if args.json:
        print_json(d)
        return 0
    refined = (f"{d['method']}, {d['iters']} iterations, λ={d['lmbda']:.4g} ({d['distortion']})"
               if d["iters"]
               else f"not refined (model λ={d['lmbda']:.4g})")
    streams = ", ".join(f"{k} {v} B" for k, v in d["stream_bytes"].items())
    print(f"{name}: sgaplus format {d['version']}, {d['bytes']} bytes, {d['bpp']:.4f} bpp")
    print(f"  image     {d['width']}x{d['height']} {d['mode']}{' + alpha' if d['alpha'] else ''}")
    print(f"  model     {d['model']}, {d['arch']} (fingerprint {d['fingerprint']})")
    print(f"  latents   {refined}")
    print(f"  shapes    z {'x'.join(map(str, d['z_shape']))}, y {'x'.join(map(str, d['y_shape']))}")
    print(f"  streams   {streams}; header and lengths {d['overhead_bytes']} B")
    return 0
