"""One image (or a batch of same-size images) to ``.sgp`` bytes: refine, encode, decode-check.

    image ─▶ model.analysis ─▶ latents ─▶ Refiner (relaxation, loss, Adam) ─▶ hard latents
          ─▶ codec.encode ─▶ bytes ─▶ codec.decode ─▶ PSNR / MS-SSIM of what a decoder writes

The one per-image function behind :func:`sgaplus.compress` and ``sgaplus compress``: a
single process and the Ray tasks of :mod:`sgaplus.distributed` both call :func:`code_image`
/ :func:`code_images`, so a file made either way has the same bytes. Nothing here writes
files; the caller writes the returned bytes (atomically, :meth:`CompressResult.save`).

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
from .allocator import one_off_pass
from .bitstream import FormatError, unpack
from .images import LoadedImage, psnr_as_written
from .latent_model import HardLatents, LatentModel
from .loss import ms_ssim_8bit
from .ops import decibels
from .ratecontrol import Candidate, Target, control
from .refine import ProgressFn, Refiner
from .refine_config import RefineConfig
from .util import atomic_write

#: Pixels a folder run refines together on a GPU (8 Kodak images; see :func:`batch_size`).
GPU_BATCH_PIXELS = 8 * 768 * 512


@dataclass
class CompressResult:
    """One image refined, encoded and decoded back: the ``.sgp`` file and its figures.

    ``bpp`` is the real file size (header included) over the original pixels;
    ``bpp_estimated`` the refinement's −log2 p figure for the same latents; ``psnr`` and
    ``ms_ssim`` (``ms_ssim_db`` = −10·log10(1 − MS-SSIM); None for images of 10 px or
    less on a side) are measured on what a decoder writes. ``config``: the refinement's,
    resolved (:attr:`Refiner.config <sgaplus.refine.Refiner>`; the last one's with rate
    control, where a correction continues from earlier latents, which ``iters`` counts in):
    ``sgaplus.compress(image, config=result.config)`` re-runs it. ``target`` and
    ``probes``: with rate control, the target and every file it made (model, λ or None for
    unrefined, its own iterations (``runs``) and the file's (``iters``, a correction's with
    those it continued), bpp, PSNR), in order; None without it. ``latents``: the refined
    latents before rounding, where a correction continues (rate control; None unrefined).
    """

    data: bytes
    width: int
    height: int
    model: str
    bpp_estimated: float
    psnr: float
    ms_ssim: float | None
    ms_ssim_db: float | None
    iters: int
    method: str
    lmbda: float
    distortion: str
    config: RefineConfig = field(repr=False)
    seconds: float = 0.0
    target: dict[str, float] | None = None
    probes: list[dict[str, object]] | None = None
    latents: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def bpp(self) -> float:
        return len(self.data) * 8 / (self.width * self.height)

    def row(self) -> dict[str, object]:
        """The figures as ``sgaplus compress --json`` prints them (without the file names)."""
        extra = {} if self.target is None else {"target": self.target, "probes": self.probes}
        return {"width": self.width, "height": self.height, "bytes": len(self.data), "bpp": self.bpp,
                "bpp_estimated": self.bpp_estimated, "psnr": self.psnr, "ms_ssim": self.ms_ssim,
                "ms_ssim_db": self.ms_ssim_db, "iters": self.iters, "seconds": self.seconds,
                "method": self.method, "lmbda": self.lmbda, "distortion": self.distortion,
                "model": self.model, "config": self.config.to_dict(), **extra}

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Write the file atomically; an existing file raises ``FileExistsError`` unless
        ``overwrite``."""
        atomic_write(Path(path), lambda tmp: tmp.write_bytes(self.data), exclusive=not overwrite)


@dataclass(frozen=True)
class RatePlan:
    """What rate control needs besides the image: the target, the models it may choose
    from by rate (:mod:`sgaplus.ratecontrol`), and which of them the Refiner was built for
    (where its cheap probes start; that one is not loaded again)."""

    target: Target
    candidates: tuple[Candidate, ...]
    start: int


def code_images(images: list[LoadedImage], refiner: Refiner, progress: ProgressFn | None = None,
                start: CompressResult | None = None) -> list[CompressResult]:
    """Refine images of one size together with ``refiner`` (and its model), then encode each
    and decode its bytes the way ``sgaplus decompress`` will. ``start``: one image's earlier
    file to continue refining from (its latents; the iterations recorded are then the sum).

    Raises:
        memory.OutOfMemory: an allocation failed; the message says how much and which
            flag lowers the need.
    """
    w, h = images[0].size
    model = refiner.model
    # Decoding (below) tiles g_s by a fixed split, not by the budget: a budget it exceeds
    # is refused here, unless the refinement's own smallest tiles need more (then its message).
    floor = memory.decode_need(h, w, codec.decode_window(model))
    if (refiner.device.type == "cpu" and floor > refiner.max_memory
            and floor >= memory.need(len(images), h, w, memory.MIN_TILE, model.synthesis_halo)):
        raise ValueError(f"coding {len(images)} image(s) of {w}x{h} needs about {memory.format_size(floor)} "
                         f"to decode the file as `sgaplus decompress` will, more than --max-memory "
                         f"{memory.format_size(refiner.max_memory)}; raise --max-memory")
    try:
        result = refiner.refine(torch.cat([im.x for im in images]), progress=progress,
                                start=None if start is None else start.latents)
        model.to("cpu")  # decode the way `sgaplus decompress` will
        iters = result.iters + (0 if start is None else start.iters)
        method = refiner.method.name if iters else "none"
        coded = []
        # The loop kept its heap for speed; the coding and the decode's fixed g_s tiles run
        # after it in the memory it hands back, not beside it (sgaplus.allocator).
        with one_off_pass():
            for i, image in enumerate(images):
                data = codec.encode(model, result.hard.image(i), w, h, image.mode, image.alpha,
                                    method=method, lmbda=refiner.lmbda, iters=iters,
                                    distortion=refiner.distortion.name)
                decoded = codec.decode(model, data, max_pixels=w * h)
                psnr = psnr_as_written(decoded.x_hat, image.x, image.mode)
                ssim = ms_ssim_8bit(decoded.x_hat, image.x)
                ssim_figures = (None, None) if ssim is None else (float(ssim[0]), float(decibels(1 - ssim)[0]))
                latents = (result.latents[0][i:i + 1], result.latents[1][i:i + 1]) if result.iters else None
                coded.append(CompressResult(data, w, h, model.name, result.after[i].bpp, psnr, *ssim_figures,
                                            iters, method, refiner.lmbda, refiner.distortion.name,
                                            refiner.config, latents=latents))
    except (MemoryError, RuntimeError) as exc:
        if not memory.is_out_of_memory(exc):
            raise
        raise memory.OutOfMemory(exc, f"coding {len(images)} image(s) of {w}x{h}",
                                 refiner.max_memory) from None
    return coded


def code_image(image: LoadedImage, refiner: Refiner, plan: RatePlan | None = None,
               progress: ProgressFn | None = None,
               log: Callable[[str], None] | None = None) -> CompressResult:
    """One image's file: with the refiner as it is or, with ``plan``, with the model and λ
    that meet its target (:mod:`sgaplus.ratecontrol`: cheap unrefined files, then one to
    three refinements like ``refiner``, each judged on the real file; ``log`` hears one line
    per file made). ``refiner``'s model is ``plan.candidates[plan.start]``'s.

    Raises:
        ratecontrol.TargetNotReached: no model and λ within reach meet the target.
    """
    if plan is None:
        return code_images([image], refiner, progress)[0]
    from .zoo import load_model

    w, h = image.size
    models = {plan.candidates[plan.start].spec: refiner.model}
    iters = refiner.stop_args["max_iters"]

    def code(candidate: Candidate, lmbda: float | None, start: CompressResult | None,
             runs: int) -> tuple[float, float, CompressResult]:
        if candidate.spec not in models:
            models[candidate.spec] = load_model(candidate.spec)
        m = models[candidate.spec]
        variant = refiner.variant(model=m, lmbda=candidate.lmbda if lmbda is None else lmbda, iters=runs)
        coded = code_images([image], variant, progress, start)[0]
        bpp = coded.bpp
        if log is not None:
            how = "unrefined" if lmbda is None else f"λ {lmbda:.4g}, {coded.iters} iterations"
            log(f"{candidate.spec} {how}: {bpp:.4f} bpp, {coded.psnr:.2f} dB")
        return bpp, coded.psnr, coded

    best, tried = control(code, list(plan.candidates), plan.target, w * h, iters, plan.start)
    best.payload.model = best.candidate.spec  # as the probes name it, what --model takes
    best.payload.target = {plan.target.metric: plan.target.value}
    best.payload.probes = [{**p.row(), "iters": p.payload.iters} for p in tried]
    return best.payload


def batch_size(refiner: Refiner, plan: RatePlan | None, image: LoadedImage) -> int:
    """How many same-size images a folder run refines together.

    On a GPU one Kodak-sized image leaves it waiting on kernel launches: a batch of 8
    ran 7.1-7.8x faster per image on an H200 (docs/bench/refine_speed_gpu.md). Each
    image still follows its own loop (the loss is a per-image sum, Adam elementwise);
    only the noise draws depend on its batch-mates. Not with a time budget, a plateau
    rule or rate control, which decide per image. On a CPU batching gained 6-11 %
    (docs/bench/refine_scaling.md): not worth the memory.
    """
    if (refiner.device.type != "cuda" or plan is not None
            or refiner.stop_args["time_budget"] is not None or refiner.stop_args["patience"] is not None):
        return 1
    w, h = image.size
    return max(1, GPU_BATCH_PIXELS // (w * h))


def code_batch(refiner: Refiner, images: list[LoadedImage],
               plan: RatePlan | None = None) -> list[CompressResult] | str:
    """A folder run's unit of work, here or in a Ray task: one image (rate control
    allowed) or a batch of same-size images refined together. Returns the files (their
    ``seconds``: the batch's time per image), or one line saying why these images failed."""
    from .allocator import keep_freed_memory

    if refiner.device.type == "cpu":
        keep_freed_memory()  # the loop reuses its large buffers (sgaplus.allocator)
    start = time.perf_counter()
    try:
        if len(images) == 1:
            coded = [code_image(images[0], refiner, plan)]
        else:
            coded = code_images(images, refiner)
    except (ValueError, OSError, RuntimeError) as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    seconds = (time.perf_counter() - start) / len(images)
    for c in coded:
        c.seconds = seconds
    return coded


def actual_bpp(model: LatentModel, hard: HardLatents, width: int, height: int) -> list[float]:
    """Each image's real bits per pixel for a batch of hard latents: the size of the
    complete ``.sgp`` file :func:`codec.encode` writes (header included), what an
    evaluation reports beside the estimated bits."""
    return [len(codec.encode(model, hard.image(i), width, height)) * 8 / (width * height)
            for i in range(hard.z_hat.size(0))]


def finished(path: Path, model: LatentModel) -> bool:
    """Whether ``path`` is a complete ``.sgp`` file made with ``model``: what a folder run
    skips (files are written atomically, so a file that parses is one that was finished)."""
    try:
        codec.check_model(unpack(path.read_bytes()).header, model)
    except (FormatError, OSError):
        return False
    return True
