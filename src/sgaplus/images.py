"""Image files <-> tensors in [0, 1], with one-line errors for what we cannot read."""

from __future__ import annotations

import io
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .limits import MAX_PIXELS
from .util import ImageError, check_image_path, psnr_uint8


#: Bytes per pixel an image read from standard input may take: 16-bit RGBA uncompressed.
STDIN_BYTES_PER_PIXEL = 8


@dataclass
class LoadedImage:
    """An RGB tensor (1, 3, H, W) in [0, 1] plus what is needed to write it back.

    Attributes:
        mode: the PIL mode written on decode: ``RGB`` or ``L`` (grayscale is coded
            as three equal channels and converted back).
        alpha: the alpha channel as uint8 (H, W), or None; carried losslessly.
    """

    x: torch.Tensor
    mode: str
    alpha: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.x.shape[-1], self.x.shape[-2]


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read PNG/JPEG/WebP/TIFF/BMP/...; honour EXIF orientation; 16-bit is reduced to 8
    (with a warning). ``-`` reads standard input (at most :data:`STDIN_BYTES_PER_PIXEL`
    bytes per allowed pixel: a pipe has no size to check first).

    Raises:
        ImageError: missing file, a directory, not an image, or one of more than
            ``max_pixels`` pixels: refused from its header, before its pixels are decoded
            (Pillow's decompression-bomb check, at the same limit, is an error here).
    """
    path = Path(path)
    source: Path | io.BytesIO = path
    if str(path) == "-":
        limit = STDIN_BYTES_PER_PIXEL * max_pixels + (1 << 20)
        source = io.BytesIO(sys.stdin.buffer.read(limit + 1))
        if len(source.getbuffer()) > limit:
            raise ImageError(f"standard input: larger than an image of at most {max_pixels:,} pixels "
                             f"can be (--max-pixels raises the limit)")
        path = Path("standard input")
    else:
        check_image_path(path)
    previous = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = max_pixels
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:  # checks the size from the header
                bits = _source_format(im)
                im = ImageOps.exif_transpose(im)
                im.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageError(f"{path}: more than the limit of {max_pixels:,} pixels "
                         f"(--max-pixels raises it)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return from_pil(im, str(path), *bits)


def _source_format(im: Image.Image) -> tuple[bool, bool]:
    """(16 bits per sample, grayscale) of the file, from the raw modes of its tiles.

    Pillow opens 16-bit RGB(A) as 8-bit RGB(A) (raw mode ``RGB;16B``), and 16-bit
    gray + alpha as RGBA (``LA;16B``); only the raw mode tells. (``BGR;16`` is a 5-6-5
    BMP: 16 bits per pixel, not per sample.)
    """
    raw = [a for tile in im.tile for a in (tile.args if isinstance(tile.args, tuple) else (tile.args,))
           if isinstance(a, str)]
    return (any(re.match(r"(RGBA?|RGBX|LA|L|I);16", r) for r in raw),
            any(r.startswith("LA") for r in raw))


def from_pil(im: Image.Image, label: str = "image", sixteen_bit: bool = False,
             gray: bool = False) -> LoadedImage:
    """A loaded PIL image as a tensor; ``sixteen_bit`` / ``gray`` describe the file when
    Pillow's mode does not (see :func:`_source_format`)."""
    alpha = None
    gray = gray or im.mode in ("L", "LA", "1", "F") or im.mode.startswith("I")
    if im.mode.startswith("I") or im.mode == "F":
        # 16-bit grayscale (PNG/TIFF) arrives as I;16 or I: 0..65535 -> 0..255.
        sixteen_bit = True
        arr = np.asarray(im, dtype=np.float64)
        arr = arr / 257.0 if im.mode != "F" else arr
        im = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")
    if sixteen_bit:
        warnings.warn(f"{label}: samples of more than 8 bits converted to 8 bits", stacklevel=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        alpha = np.asarray(im)[..., 3].copy()
        if (alpha == 255).all():
            alpha = None
    rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).contiguous()
    return LoadedImage(x, "L" if gray else "RGB", alpha)


def to_pil(x: torch.Tensor, mode: str = "RGB", alpha: np.ndarray | None = None) -> Image.Image:
    """(1, 3, H, W) in [0, 1] -> 8-bit PIL image in ``mode`` (with ``alpha`` if given)."""
    arr = to_uint8(x)
    im = Image.fromarray(arr, "RGB")
    if mode == "L":
        im = im.convert("L")
    if alpha is not None:
        im = im.convert("LA" if mode == "L" else "RGBA")
        im.putalpha(Image.fromarray(alpha, "L"))
    return im


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float -> (H, W, 3) uint8, clamped and rounded like a PNG writer.

    NaN becomes 0 first: casting it is undefined, and a crafted file's extreme latents
    can make g_s overflow (every decode must give the same bytes).
    """
    x = torch.nan_to_num(x.detach().float().cpu(), nan=0.0)
    return (x.clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def psnr_as_written(x_hat: torch.Tensor, original: torch.Tensor, mode: str) -> float:
    """PSNR in dB of the 8-bit image a decoder writes in ``mode`` (``L`` is measured on the
    gray channel written, not on the RGB reconstruction) against the original."""
    return psnr_uint8(np.asarray(to_pil(x_hat, mode)), np.asarray(to_pil(original, mode)))
