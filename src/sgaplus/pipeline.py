"""One image (or a batch of same-size images) to ``.sgp`` bytes: refine, encode, decode-check.

The one per-image function behind ``sgaplus compress``: the single-process CLI and
the Ray tasks of :mod:`sgaplus.distributed` both call :func:`code_image` /
:func:`code_images`, so a file made either way has the same bytes. Nothing here
writes files; the caller writes the returned bytes (atomically).

The reported ``psnr`` and ``ms_ssim`` are measured on what ``sgaplus decompress`` will
produce: the bytes are decoded in-process (CPU, portable convolutions, tiled g_s), and
PSNR is compared in the mode written back (gray for a grayscale input).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from . import codec, memory
from .bitstream import FormatError, unpack
from .images import LoadedImage, psnr_as_written
from .latent_model import LatentModel
from .loss import ms_ssim_8bit
from .ops import decibels
from .ratecontrol import PROBES, Probe, Target, search
from .refine import ProgressFn, Refiner


@dataclass
class Coded:
    """One image refined, encoded and decoded back: the file and what it decodes to.

    ``probes`` is the number of refinements rate control tried (None without it).
    """

    data: bytes
    bpp_estimated: float
    psnr: float
    ms_ssim: float | None
    ms_ssim_db: float | None
    iters: int
    method: str
    lmbda: float
    distortion: str
    probes: int | None = None


def code_images(images: list[LoadedImage], model: LatentModel, refiner: Refiner,
                progress: ProgressFn | None = None) -> list[Coded]:
    """Refine images of one size together, then encode each and decode its bytes the way
    ``sgaplus decompress`` will.

    Raises:
        memory.OutOfMemory: an allocation failed; the message says how much and which
            flag lowers the need.
    """
    w, h = images[0].size
    try:
        result = refiner.refine(torch.cat([im.x for im in images]), progress=progress)
        model.to("cpu")  # decode the way `sgaplus decompress` will
        method = refiner.method.name if result.iters else "none"
        coded = []
        for i, image in enumerate(images):
            data = codec.encode(model, result.hard.image(i), w, h, image.mode, image.alpha,
                                method=method, lmbda=refiner.lmbda, iters=result.iters,
                                distortion=refiner.distortion.name)
            decoded = codec.decode(model, data, max_pixels=w * h)
            psnr = psnr_as_written(decoded.x_hat, image.x, image.mode)
            ssim = ms_ssim_8bit(decoded.x_hat, image.x)
            ssim_figures = (None, None) if ssim is None else (float(ssim[0]), float(decibels(1 - ssim)[0]))
            coded.append(Coded(data, result.after[i].bpp, psnr, *ssim_figures, result.iters, method,
                               refiner.lmbda, refiner.distortion.name))
    except (MemoryError, RuntimeError) as exc:
        if not memory.is_out_of_memory(exc):
            raise
        raise memory.OutOfMemory(exc, f"coding {len(images)} image(s) of {w}x{h}",
                                 refiner.max_memory) from None
    return coded


def code_image(image: LoadedImage, model: LatentModel, refiner: Refiner, target: Target | None = None,
               progress: ProgressFn | None = None, log: Callable[[str], None] | None = None) -> Coded:
    """One image's file, at the refiner's λ or, with ``target``, at the λ that meets it
    (:mod:`sgaplus.ratecontrol`: up to :data:`PROBES` whole refinements, each judged
    on the real file; ``log`` hears one line per try).

    Raises:
        ratecontrol.TargetNotReached: no λ within reach meets ``target``.
    """
    if target is None:
        return code_images([image], model, refiner, progress)[0]
    pixels = image.size[0] * image.size[1]

    def encode_at(lmbda: float) -> Probe[Coded]:
        coded = code_images([image], model, refiner.with_lambda(lmbda))[0]
        probe = Probe(lmbda, len(coded.data) * 8 / pixels, coded.psnr, coded)
        if log is not None:
            log(f"λ {lmbda:.4g}: {probe.bpp:.4f} bpp, {probe.psnr:.2f} dB")
        return probe

    best, tried = search(encode_at, refiner.lmbda, target, probes=PROBES)
    best.payload.probes = len(tried)
    return best.payload


def code_batch(refiner: Refiner, images: list[LoadedImage],
               target: Target | None = None) -> tuple[list[Coded], float] | str:
    """A folder run's unit of work, here or in a Ray task: one image (rate control
    allowed) or a batch of same-size images refined together. Returns the files and the
    seconds per image, or one line saying why these images failed."""
    from .allocator import keep_freed_memory

    if refiner.device.type == "cpu":
        keep_freed_memory()  # the loop reuses its large buffers (sgaplus.allocator)
    start = time.perf_counter()
    try:
        if len(images) == 1:
            coded = [code_image(images[0], refiner.model, refiner, target)]
        else:
            coded = code_images(images, refiner.model, refiner)
    except (ValueError, OSError, RuntimeError) as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return coded, (time.perf_counter() - start) / len(images)


def finished(path: Path, model: LatentModel) -> bool:
    """Whether ``path`` is a complete ``.sgp`` file made with ``model``: what a folder run
    skips (files are written atomically, so a file that parses is one that was finished)."""
    try:
        codec.check_model(unpack(path.read_bytes()).header, model)
    except (FormatError, OSError):
        return False
    return True
