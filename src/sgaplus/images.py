"""Image files <-> tensors in [0, 1], with one-line errors for what we cannot read."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# Refuse decompression bombs with a clear message rather than a PIL warning.
Image.MAX_IMAGE_PIXELS = 8192 * 8192


class ImageError(ValueError):
    """An input that is not a readable image."""


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


def load_image(path: str | Path) -> LoadedImage:
    """Read PNG/JPEG/WebP/TIFF/BMP/...; honour EXIF orientation; 16-bit is reduced to 8.

    Raises:
        ImageError: missing file, a directory, or not an image.
    """
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path} is a directory, not an image")
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: larger than {Image.MAX_IMAGE_PIXELS} pixels") from None
    return from_pil(im, str(path))


def from_pil(im: Image.Image, label: str = "image") -> LoadedImage:
    alpha = None
    if im.mode.startswith("I") or im.mode == "F":
        # 16-bit grayscale (PNG/TIFF) arrives as I;16 or I: 0..65535 -> 0..255.
        warnings.warn(f"{label}: {im.mode} image converted to 8 bits", stacklevel=2)
        arr = np.asarray(im, dtype=np.float64)
        arr = arr / 257.0 if im.mode != "F" else arr
        im = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        alpha = np.asarray(im)[..., 3].copy()
        if (alpha == 255).all():
            alpha = None
    mode = "L" if im.mode in ("L", "LA", "1") else "RGB"
    rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).contiguous()
    return LoadedImage(x, mode, alpha)


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
    """(1, 3, H, W) float -> (H, W, 3) uint8, clamped and rounded like a PNG writer."""
    return (x.detach().float().cpu().clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
