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
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import codec, memory
from .bitstream import FormatError, unpack
from .images import LoadedImage, psnr_as_written
from .latent_model import LatentModel
from .loss import ms_ssim_8bit
from .ops import decibels
from .ratecontrol import CORRECTION, Candidate, Target, control
from .refine import ProgressFn, Refiner
from .refine_config import RefineConfig


@dataclass
class Coded:
    """One image refined, encoded and decoded back: the file and what it decodes to.

    ``config``: the refinement's (the last one's with rate control; a correction continues
    from earlier latents, which ``iters`` counts in). ``probes``: with rate control, every
    file it made (model, λ or None for unrefined, iterations, bpp, PSNR), in order; None
    without it. ``latents``: the refined latents before rounding, where a correction
    continues (rate control; None unrefined).
    """

    data: bytes
    model: str
    bpp_estimated: float
    psnr: float
    ms_ssim: float | None
    ms_ssim_db: float | None
    iters: int
    method: str
    lmbda: float
    distortion: str
    config: RefineConfig
    probes: list[dict[str, object]] | None = None
    latents: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RatePlan:
    """What rate control needs besides the image: the target, the models it may choose
    from by rate (:mod:`sgaplus.ratecontrol`), and which of them the Refiner was built for
    (where its cheap probes start; that one is not loaded again)."""

    target: Target
    candidates: tuple[Candidate, ...]
    start: int


def code_images(images: list[LoadedImage], model: LatentModel, refiner: Refiner,
                progress: ProgressFn | None = None, start: Coded | None = None) -> list[Coded]:
    """Refine images of one size together, then encode each and decode its bytes the way
    ``sgaplus decompress`` will. ``start``: one image's earlier file to continue refining
    from (its latents; the iterations recorded are then the sum).

    Raises:
        memory.OutOfMemory: an allocation failed; the message says how much and which
            flag lowers the need.
    """
    w, h = images[0].size
    try:
        result = refiner.refine(torch.cat([im.x for im in images]), progress=progress,
                                start=None if start is None else start.latents)
        model.to("cpu")  # decode the way `sgaplus decompress` will
        iters = result.iters + (0 if start is None else start.iters)
        method = refiner.method.name if iters else "none"
        coded = []
        for i, image in enumerate(images):
            data = codec.encode(model, result.hard.image(i), w, h, image.mode, image.alpha,
                                method=method, lmbda=refiner.lmbda, iters=iters,
                                distortion=refiner.distortion.name)
            decoded = codec.decode(model, data, max_pixels=w * h)
            psnr = psnr_as_written(decoded.x_hat, image.x, image.mode)
            ssim = ms_ssim_8bit(decoded.x_hat, image.x)
            ssim_figures = (None, None) if ssim is None else (float(ssim[0]), float(decibels(1 - ssim)[0]))
            latents = (result.latents[0][i:i + 1], result.latents[1][i:i + 1]) if result.iters else None
            coded.append(Coded(data, model.name, result.after[i].bpp, psnr, *ssim_figures, iters, method,
                               refiner.lmbda, refiner.distortion.name, refiner.config, latents=latents))
    except (MemoryError, RuntimeError) as exc:
        if not memory.is_out_of_memory(exc):
            raise
        raise memory.OutOfMemory(exc, f"coding {len(images)} image(s) of {w}x{h}",
                                 refiner.max_memory) from None
    return coded


def code_image(image: LoadedImage, model: LatentModel, refiner: Refiner, plan: RatePlan | None = None,
               progress: ProgressFn | None = None, log: Callable[[str], None] | None = None) -> Coded:
    """One image's file: with the refiner as it is or, with ``plan``, with the model and λ
    that meet its target (:mod:`sgaplus.ratecontrol`: cheap unrefined files, then one to
    three refinements like ``refiner``, each judged on the real file; ``log`` hears one line
    per file made). ``model`` is ``refiner``'s, ``plan.candidates[plan.start]``.

    Raises:
        ratecontrol.TargetNotReached: no model and λ within reach meet the target.
    """
    if plan is None:
        return code_images([image], model, refiner, progress)[0]
    from .zoo import load_model

    w, h = image.size
    models = {plan.candidates[plan.start].spec: model}
    iters = refiner.stop_args["max_iters"]

    def code(candidate: Candidate, lmbda: float | None, start: Coded | None) -> tuple[float, float, Coded]:
        if candidate.spec not in models:
            models[candidate.spec] = load_model(candidate.spec)
        m = models[candidate.spec]
        if lmbda is None:
            variant = refiner.variant(model=m, lmbda=candidate.lmbda, iters=0)
        else:
            runs = iters if start is None else max(1, round(iters * CORRECTION))
            variant = refiner.variant(model=m, lmbda=lmbda, iters=runs)
        coded = code_images([image], m, variant, progress, start)[0]
        bpp = len(coded.data) * 8 / (w * h)
        if log is not None:
            how = "unrefined" if lmbda is None else f"λ {lmbda:.4g}, {coded.iters} iterations"
            log(f"{candidate.spec} {how}: {bpp:.4f} bpp, {coded.psnr:.2f} dB")
        return bpp, coded.psnr, coded

    best, tried = control(code, list(plan.candidates), plan.target, w * h, iters, plan.start)
    best.payload.probes = [{**p.row(), "iters": p.payload.iters} for p in tried]
    return best.payload


def code_batch(refiner: Refiner, images: list[LoadedImage],
               plan: RatePlan | None = None) -> tuple[list[Coded], float] | str:
    """A folder run's unit of work, here or in a Ray task: one image (rate control
    allowed) or a batch of same-size images refined together. Returns the files and the
    seconds per image, or one line saying why these images failed."""
    from .allocator import keep_freed_memory

    if refiner.device.type == "cpu":
        keep_freed_memory()  # the loop reuses its large buffers (sgaplus.allocator)
    start = time.perf_counter()
    try:
        if len(images) == 1:
            coded = [code_image(images[0], refiner.model, refiner, plan)]
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
