"""R-D points of our base models and of the codecs users already have (Kodak).

Every figure is a mean over images (bpp, PSNR and MS-SSIM per image, then averaged),
the convention of the published curves we compare with; MS-SSIM dB is that of the
mean MS-SSIM, as CompressAI's plots give it. PSNR and MS-SSIM are of the 8-bit RGB
image each decoder writes. Our models are unrefined: estimated bits from the
likelihoods of the hard-rounded latents (what refinement optimises) and actual
bits, the size of the complete ``.sgp`` file that ``sgaplus.codec.encode`` writes
(header included). The curves and their BD metrics are :mod:`sgaplus.rdcurve`'s.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, features

from .latent_model import LatentModel, pad
from .loss import evaluate, ms_ssim_8bit
from .ops import decibels
from .rdcurve import Curve
from .util import psnr_uint8

#: CompressAI pretrained mbt2018-mean on Kodak, real bitstreams, q1…q8 (spec §7).
MBT2018_MEAN = Curve((0.124, 0.198, 0.307, 0.461, 0.662, 0.914, 1.234, 1.619),
                     (27.70, 29.36, 31.13, 32.95, 34.97, 36.91, 38.84, 40.63),
                     name="mbt2018-mean (CompressAI, published)")

#: Quality sweeps of the Pillow codecs: name -> (format, PIL.features key, qualities, options).
#: Pillow's defaults otherwise (JPEG 4:2:0); AVIF at encoder speed 6 to keep the sweep short.
PILLOW_CODECS: dict[str, tuple[str, str, list[int], dict]] = {
    "JPEG": ("JPEG", "jpg", [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90], {}),
    "WebP": ("WEBP", "webp", [5, 10, 20, 30, 40, 50, 60, 70, 80, 90], {"method": 6}),
    "AVIF": ("AVIF", "avif", [10, 20, 30, 40, 50, 60, 70, 80, 90], {"speed": 6}),
}


def ms_ssim_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM of two (H, W, 3) uint8 images (NaN for images of 10 px or less on a side)."""
    x, y = (torch.from_numpy(np.array(v)).permute(2, 0, 1)[None].float() / 255 for v in (a, b))
    value = ms_ssim_8bit(y, x)
    return math.nan if value is None else float(value[0])


def available_codecs() -> list[str]:
    return [name for name, (_, key, _, _) in PILLOW_CODECS.items() if features.check(key)]


def pillow_point(img: np.ndarray, fmt: str, quality: int, opts: dict) -> tuple[float, float, float]:
    """(bpp, PSNR, MS-SSIM) of one image coded by Pillow at ``quality``."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, quality=quality, **opts)
    buf.seek(0)
    with Image.open(buf) as im:
        dec = np.asarray(im.convert("RGB"))
    return len(buf.getvalue()) * 8 / (img.shape[0] * img.shape[1]), psnr_uint8(img, dec), ms_ssim_uint8(img, dec)


#: (codec, quality, image, Pillow version) -> (bpp, PSNR, MS-SSIM): Pillow points are
#: deterministic, so a rerun after retraining our models need not re-encode ~700 images
#: (AVIF is slow). Points cached before MS-SSIM was reported (no ``ms_ssim`` column) are
#: encoded once more to add it; their bpp and PSNR come out the same.
PointCache = dict[tuple[str, int, str, str], tuple[float, float, float]]


def pillow_curves(images: list[np.ndarray], names: list[str], cache: Path) -> list[Curve]:
    """The curve of every Pillow codec this Pillow was built with, on ``images`` (uint8
    (H, W, 3), called ``names``); the per-image points are kept in the CSV ``cache``
    (``eval-codecs``: ``figures/codecs_kodak.csv``; experiments: ``units/pillow.csv``),
    so only new images, qualities or Pillow versions are encoded."""
    points = _read_cache(cache)
    curves = [pillow_curve(name, images, names, points) for name in available_codecs()]
    _write_cache(cache, points)
    return curves


def pillow_curve(name: str, images: list[np.ndarray], names: list[str], cache: PointCache) -> Curve:
    """One Pillow codec's curve over its quality sweep, a point per quality (mean over images)."""
    import PIL

    fmt, _, qualities, opts = PILLOW_CODECS[name]
    means = []
    for q in qualities:
        pts = []
        for im, n in zip(images, names):
            key = (name, q, n, PIL.__version__)
            if key not in cache or cache[key][2] is None:
                cache[key] = pillow_point(im, fmt, q, opts)
            pts.append(cache[key])
        arr = np.array(pts)
        means.append([float(arr[:, k].mean()) for k in range(3)])
    bpp, psnr, ms_ssim = zip(*means)
    return Curve(bpp, psnr, ms_ssim, name, tuple(f"q{q}" for q in qualities))


def _read_cache(path: Path) -> PointCache:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {(r["codec"], int(r["quality"]), r["image"], r["pillow"]):
                (float(r["bpp"]), float(r["psnr"]), float(r["ms_ssim"]) if r.get("ms_ssim") else None)
                for r in csv.DictReader(f)}


def _write_cache(path: Path, cache: PointCache) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["codec", "quality", "image", "pillow", "bpp", "psnr", "ms_ssim"])
        w.writerows([*key, *value] for key, value in sorted(cache.items()))


#: Per-image figures of a model row in ``figures/rd_kodak.csv``.
MODEL_FIELDS = ("bpp", "bpp_actual", "psnr", "ms_ssim")


@torch.no_grad()
def model_rows(model: LatentModel, images: list[np.ndarray], names: list[str], cache: dict,
               tick: Callable[[], None] = lambda: None) -> list[dict[str, float]]:
    """Per-image bpp (estimated; actual = the whole ``.sgp`` file), PSNR and MS-SSIM
    (NaN for images of 10 px or less on a side) of an unrefined model.

    ``cache`` maps (model fingerprint, image name) to earlier rows: a model is
    deterministic, so only new or retrained models (and rows from before MS-SSIM
    was reported) are run again.
    """
    from .pipeline import actual_bpp

    rows = []
    for img, name in zip(images, names):
        key = (model.fingerprint()[:16], name)
        if key not in cache:
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
            h, w = img.shape[:2]
            hard = model.quantize(*model.analysis(pad(x)))
            m = evaluate(model, x, hard=hard)[0]
            cache[key] = {"bpp": m.bpp, "bpp_actual": actual_bpp(model, hard, w, h)[0],
                          "psnr": m.psnr, "ms_ssim": math.nan if m.ms_ssim is None else m.ms_ssim}
        rows.append(cache[key])
        tick()
    return rows


def read_model_rows(path: Path) -> dict:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {(r["fingerprint"], r["image"]): {k: float(r[k]) for k in MODEL_FIELDS}
                for r in csv.DictReader(f) if r.get("fingerprint") and r.get("ms_ssim")}

