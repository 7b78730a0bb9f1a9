"""R-D points of our base models and of the codecs users already have (Kodak).

Every figure is a mean over images (bpp, PSNR and MS-SSIM per image, then averaged),
the convention of the published curves we compare with; MS-SSIM dB is that of the
mean MS-SSIM, as CompressAI's plots give it. PSNR and MS-SSIM are of the 8-bit RGB
image each decoder writes. Our models are unrefined: estimated bits from the
likelihoods of the hard-rounded latents (what refinement optimises) and actual
bits, the size of the complete ``.sgp`` file that ``sgaplus.codec.encode`` writes
(header included).
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, features

from .latent_model import LatentModel, pad
from .loss import ms_ssim_8bit
from .ops import decibels
from .util import psnr_uint8

#: CompressAI pretrained mbt2018-mean on Kodak, real bitstreams, q1…q8 (spec §7).
MBT2018_MEAN = {
    "bpp": [0.124, 0.198, 0.307, 0.461, 0.662, 0.914, 1.234, 1.619],
    "psnr": [27.70, 29.36, 31.13, 32.95, 34.97, 36.91, 38.84, 40.63],
}

#: Quality sweeps of the Pillow codecs: name -> (format, PIL.features key, qualities, options).
#: Pillow's defaults otherwise (JPEG 4:2:0); AVIF at encoder speed 6 to keep the sweep short.
PILLOW_CODECS: dict[str, tuple[str, str, list[int], dict]] = {
    "JPEG": ("JPEG", "jpg", [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90], {}),
    "WebP": ("WEBP", "webp", [5, 10, 20, 30, 40, 50, 60, 70, 80, 90], {"method": 6}),
    "AVIF": ("AVIF", "avif", [10, 20, 30, 40, 50, 60, 70, 80, 90], {"speed": 6}),
}


@dataclass
class Curve:
    """One codec's R-D curve: a point per setting, each a mean over images."""

    name: str
    bpp: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    bpp_actual: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ms_ssim: list[float] = field(default_factory=list)

    @property
    def ms_ssim_db(self) -> list[float]:
        """−10·log10(1 − MS-SSIM) of each point's mean MS-SSIM (NaN where it has none)."""
        return [ms_ssim_db(v) for v in self.ms_ssim]


def ms_ssim_db(value: float) -> float:
    return math.nan if math.isnan(value) else float(decibels(torch.tensor(1 - value, dtype=torch.float64)))


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


def pillow_curve(name: str, images: list[np.ndarray], names: list[str], cache: PointCache) -> Curve:
    import PIL

    fmt, _, qualities, opts = PILLOW_CODECS[name]
    curve = Curve(name)
    for q in qualities:
        pts = []
        for im, n in zip(images, names):
            key = (name, q, n, PIL.__version__)
            if key not in cache or cache[key][2] is None:
                cache[key] = pillow_point(im, fmt, q, opts)
            pts.append(cache[key])
        arr = np.array(pts)
        curve.bpp.append(float(arr[:, 0].mean()))
        curve.psnr.append(float(arr[:, 1].mean()))
        curve.ms_ssim.append(float(arr[:, 2].mean()))
        curve.labels.append(f"q{q}")
    return curve


def read_cache(path: Path) -> PointCache:
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {(r["codec"], int(r["quality"]), r["image"], r["pillow"]):
                (float(r["bpp"]), float(r["psnr"]), float(r["ms_ssim"]) if r.get("ms_ssim") else None)
                for r in csv.DictReader(f)}


def write_cache(path: Path, cache: PointCache) -> None:
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
    from .train import evaluate

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


def bd_rate(anchor: tuple[list[float], list[float]], test: tuple[list[float], list[float]]) -> tuple[float, float]:
    """BD-rate in % of a test curve (bpp, quality) vs ``anchor`` (pchip over the common
    quality range, quality in dB: PSNR or MS-SSIM dB) and that range's length in dB; NaN
    when the curves do not overlap or have < 2 points."""
    import bjontegaard as bd

    if len(test[0]) < 2 or any(math.isnan(v) for v in [*anchor[1], *test[1]]):
        return math.nan, 0.0
    lo = max(min(anchor[1]), min(test[1]))
    hi = min(max(anchor[1]), max(test[1]))
    if hi <= lo:
        return math.nan, 0.0
    a = sorted(zip(*anchor))
    t = sorted(zip(*test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = bd.bd_rate([p[0] for p in a], [p[1] for p in a], [p[0] for p in t],
                           [p[1] for p in t], method="pchip", require_matching_points=False)
    return float(value), hi - lo
