"""Per-image latent refinement with a relaxed rounding (spec §3).

    x ─pad─▶ g_a, h_a ─▶ (y, z) leaf tensors, a fresh Adam per batch
      for t in 0..T-1:
        ẑ = Q_t(z);  (σ, μ) = h_s(ẑ);  ŷ = Q_t(y − μ) + μ
          (context models: ŷ = Q_t(y), (σ, μ) from h_s(ẑ) and the context of ŷ)
        L = λ·D(g_s(ŷ), x) + bpp(ŷ | σ, μ) + bpp(ẑ);  Adam step on (y, z)
    ─▶ hard latents: ẑ = round(z), ŷ = round(y − μ) + μ   (what the bitstream carries)

D is 255²·MSE or 1 − MS-SSIM (:mod:`sgaplus.distortion`), by default what the model
was trained for.

An image whose estimated memory exceeds ``max_memory`` runs g_a and g_s in tiles
of the latent grid (:mod:`sgaplus.tiling`; the MSE's gradient tile by tile), the
same function up to float rounding; y and z stay whole, and the relaxation and
rate of y run in bands of rows recomputed for the gradient (:func:`sgaplus.tiling.by_rows`),
so that only a few copies of y exist whole. One that fits runs as
one piece, the fast path below. MS-SSIM is not a sum over pixels, so an image that
needs tiles is refused with ``--distortion ms-ssim``.

The network is frozen; only y and z move. Images of one batch share nothing but
the forward pass: the loss is a sum of per-image losses and Adam is elementwise,
so a batch gives the same result as refining each image alone.

Speed (issue 7, figures in docs/bench/refine_speed.md): g_s dominates an
iteration. On CPU the loop runs the network and latents in channels_last, where
oneDNN's transposed convolutions are faster than in NCHW, and g_s with the
kernels of :mod:`sgaplus.kernels` (inverse GDN as blocked matrix products, the
last layer as a sub-pixel convolution; :meth:`LatentModel.loop_synthesis`).
``precision="bf16"`` runs CompressAI's g_s in bf16; h_s and the rates stay fp32,
because μ is the rounding grid and a bf16 μ (8 bits of mantissa, steps of 0.06 at
|μ| = 8) would move the grid the latents are optimised against. The true loss is a no-grad forward every
``log_every`` iterations, not after every iteration as the reference code does; a history row
adds a second no-grad forward, the method's loss at the same latents, for the gap.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from . import memory, tiling
from .allocator import one_off_pass
from .distortion import MS_SSIM, MSE, get_distortion, trained_for
from .latent_model import HardLatents, LatentModel, pad
from .loss import Metrics, RDTerms, bits, hard_metrics, price, psnr_8bit, rates
from .refine_config import RefineConfig
from .relax import Relaxation
from .schedules import Schedule

#: Called after each iteration with (iteration, temperature, mean method loss).
ProgressFn = Callable[[int, float, float], None]

#: Interval of the true loss that ``patience`` watches when no history is kept.
AUTO_CHECK_EVERY = 10

#: Offset of the history's noise stream from ``seed``: the method loss a history row reports
#: is drawn from a generator of its own, so the trajectory does not depend on ``log_every``.
PROBE_SEED_OFFSET = 2**31


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class RefineResult:
    """What one refinement produced, for a batch of B images.

    Attributes:
        hard: the transmitted latents (CPU; ``y_hat`` decodes them).
        before / after: per-image figures of the unrefined and refined hard latents.
        history: rows ``iter, image, tau, loss_method, loss_true, gap, psnr, bpp``
            every ``log_every`` iterations, all of the latents after ``iter`` steps:
            ``loss_true`` with hard rounding, ``loss_method`` with the method's relaxed
            rounding at ``tau`` (one draw of its noise), ``gap`` their difference (the
            paper's Fig. 2b: how far the objective the method descends is from the loss
            it is judged by; exactly 0 for STE, whose forward pass is hard rounding); an ms-ssim
            refinement adds ``ms_ssim``, the true loss's own (of the float
            reconstruction; ``after`` reports the 8-bit one).
        iters: iterations run (may be below the cap with a budget or ``auto``).
        x_hat: the decoded reconstruction of ``hard`` (B, 3, H, W), unclamped.
        latents: the refined latents (y, z) before rounding (CPU): where another
            refinement may continue (``refine(start=...)``, rate control's corrections).
        config: the Refiner's resolved config, which rebuilds it (``Refiner(model, config)``).
    """

    hard: HardLatents
    before: list[Metrics]
    after: list[Metrics]
    history: list[dict[str, float]]
    iters: int
    seconds: float
    x_hat: Tensor
    latents: tuple[Tensor, Tensor]
    config: RefineConfig


class Refiner:
    """Refines the latents of images for a frozen model.

    Args:
        model: the frozen hyperprior.
        config: how to refine (:class:`~sgaplus.refine_config.RefineConfig`; default the
            paper's settings).
        changes: fields of ``config`` replaced, e.g. ``Refiner(model, method="ssl", iters=500)``.

    ``config`` (the attribute) is the config resolved against ``model``: every parameter
    spelled out, λ, distortion, device and memory budget filled in. It is what a result
    records, and ``Refiner(model, config)`` rebuilds this Refiner.

    Precision ``"bf16"`` is for GPUs (untested here): on the project's CPU (AVX-512 bf16,
    no AMX) oneDNN's bf16 convolutions run at about 60 % of its fp32 rate, and bf16 skips
    the fp32 kernels, so it is the slower choice there. The final hard latents and figures
    are always computed in fp32/fp64. An ms-ssim λ: CompressAI's ms-ssim models use
    2.40-220, so a model's mse training λ (0.013) would be a λ of almost pure rate.
    """

    def __init__(self, model: LatentModel, config: RefineConfig | None = None, **changes: Any) -> None:
        config = replace(config or RefineConfig(), **changes)
        self.method: Relaxation = config.relaxation()
        self.schedule: Schedule = config.temperature()
        self.lmbda = model.lmbda if config.lmbda is None else config.lmbda
        if not self.lmbda > 0:
            raise ValueError(f"Invalid lambda: {self.lmbda}")
        self.distortion = get_distortion(config.distortion or trained_for(model))
        if config.lmbda is None and self.distortion.name != trained_for(model):
            raise ValueError(
                f"{model.name} was trained for {trained_for(model)}, so its λ {model.lmbda:g} is no λ "
                f"for {self.distortion.name}: give one (--lambda)")
        self.model = model
        self.device = torch.device(config.device) if config.device is not None else default_device()
        self.max_memory = memory.DEFAULT_BUDGET if config.max_memory is None else config.max_memory
        self.stop_args = config.stop_args
        self.config = replace(
            config, method=self.method.name, params=self.method.params(),
            schedule=self.schedule.name, schedule_params=self.schedule.params(),
            iters=self.stop_args["max_iters"], patience=self.stop_args["patience"], lmbda=self.lmbda,
            distortion=self.distortion.name, device=str(self.device), max_memory=self.max_memory)
        # A plateau rule needs true losses even when no history is kept.
        self.check_every = config.log_every or (AUTO_CHECK_EVERY if self.stop_args["patience"] is not None else 0)

    @property
    def precision(self) -> str:
        return self.config.precision

    def variant(self, *, lmbda: float | None = None, model: LatentModel | None = None,
                iters: int | None = None, resume: float = 0.0) -> "Refiner":
        """This refinement at another λ (semi-multi-rate), for another model of the same
        metric or with another iteration cap (a budgeted schedule spanning it): what rate
        control varies. ``resume``: the rest of this refinement after that share of its
        iterations (temperature and lr where they were then), run over ``iters``: a
        continuation of latents it made at a nearby λ that does not scatter them again as
        the first step's temperature and lr do (docs/bench/ratecontrol_corrections.md
        measures both; rate control's corrections restart)."""
        changes: dict[str, Any] = {}
        if lmbda is not None:
            changes["lmbda"] = lmbda
        if iters is not None:
            changes.update(iters=iters, schedule_params=self.schedule.resumed(resume, iters).params())
            if self.config.lr_decay == "linear":
                changes["lr"] = self.config.lr * (1 - resume)
        return Refiner(model or self.model, self.config, **changes)

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    @property
    def uses_kernels(self) -> bool:
        """Whether the loop's g_s is :meth:`LatentModel.loop_synthesis`: the kernels are
        CPU fp32 code; bf16 autocast and CUDA run CompressAI's g_s."""
        return self.device.type == "cpu" and self.precision == "fp32"

    @property
    def memory_format(self) -> torch.memory_format:
        """channels_last on CPU (measured) and for bf16 on CUDA (tensor-core layout;
        untested here); NCHW for fp32 on CUDA, as before (untested here)."""
        if self.device.type == "cpu" or self.precision == "bf16":
            return torch.channels_last
        return torch.contiguous_format

    @contextmanager
    def _loop_format(self) -> Iterator[None]:
        """The network in the loop's memory format, restored afterwards: the codec
        and :meth:`evaluate` then see the weights exactly as loaded."""
        if self.memory_format == torch.contiguous_format:
            yield
            return
        self.model.net.to(memory_format=self.memory_format)
        try:
            yield
        finally:
            self.model.net.to(memory_format=torch.contiguous_format)

    def tile_size(self, shape: torch.Size | tuple[int, ...]) -> int | None:
        """Tile edge (latents) for a batch of ``shape`` (B, 3, H, W) under the memory
        budget, or None: the whole image fits, and runs as one piece."""
        b, _, h, w = shape
        return memory.tile_size(b, h, w, self.max_memory, self.model.synthesis_halo)

    def _loop_g_s(self, tiled: bool = False) -> Callable[[Tensor], Tensor]:
        """The loop's g_s (kernels on CPU fp32); ``tiled``: fed a tile (a strided window of
        ŷ) copied into the loop's memory format."""
        g_s = self.model.loop_synthesis() if self.uses_kernels else self.model.synthesis
        if not tiled:
            return g_s
        return lambda window: g_s(window.contiguous(memory_format=self.memory_format))

    def _terms(self, x: Tensor, y_hat: Tensor, z_hat: Tensor, scales: Tensor,
               means: Tensor, tile: int | None = None) -> tuple[RDTerms, Tensor]:
        """:func:`rd_terms` with only g_s in the loop's precision and kernels; by tiles of
        ``tile`` latents when given (without gradient)."""
        g_s = self._loop_g_s(tiled=tile is not None)
        with self._autocast():
            if tile is None:
                x_hat = g_s(y_hat)
            else:
                x_hat = tiling.map_tiles(g_s, y_hat, y_hat.shape[-2:], tile, self.model.synthesis_halo,
                                         1, tiling.SCALE)
            x_hat = x_hat[..., :x.size(-2), :x.size(-1)]
        return price(self.model, x, x_hat, y_hat, z_hat, scales, means, self.distortion), x_hat

    def _tiled_terms(self, x: Tensor, y: Tensor, z: Tensor, tau: float, gen: torch.Generator,
                     tile: int) -> RDTerms:
        """The loop's terms in memory bounded by the tile: g_s forward and backward one
        tile at a time (:func:`sgaplus.tiling.mse`; MSE only), the relaxation of y and its
        rate in bands of about a tile's latents (:func:`sgaplus.tiling.by_rows`), with the
        noise a whole call draws. A context model's rate sees ŷ across bands (its masked
        convolution), so there they run whole, as in one piece."""
        model = self.model
        z_tilde = self.method(z, tau, gen)
        if model.has_context:
            y_tilde, scales, means = model.latents(y, z_tilde, lambda v: self.method(v, tau, gen))
            bpp_y, bpp_z = rates(model, x, y_tilde, z_tilde, scales, means)
        else:
            scales, means = model.hyper_synthesis(z_tilde, y.shape)

            def band(y: Tensor, scales: Tensor, means: Tensor, noise: Tensor | None) -> tuple[Tensor, Tensor]:
                y_tilde = model.round_centred(y, means, lambda v: self.method.apply(v, tau, noise))
                return y_tilde, bits(model.y_likelihoods(y_tilde, scales, means).float())

            rows = -(-tile * tile // y.size(-1))
            y_tilde, bits_y = tiling.by_rows(band, rows, y, scales, means, self.method.draw(y, gen))
            pixels = x.size(-2) * x.size(-1)
            bpp_y, bpp_z = bits_y / pixels, bits(model.z_likelihoods(z_tilde).float()) / pixels
        mse = tiling.mse(self._loop_g_s(tiled=True), y_tilde, x, tile, model.synthesis_halo, self._autocast)
        return RDTerms(mse, bpp_y, bpp_z, MSE.weight)

    @torch.no_grad()
    def evaluate(self, x: Tensor, hard: HardLatents,
                 tile: int | None = None) -> tuple[list[Metrics], Tensor]:
        """Figures of hard latents for images ``x`` (B, 3, H, W), in fp32, at this λ
        (g_s by tiles of ``tile`` latents when given)."""
        model = self.model if tile is None else self.model.tiled(tile)
        return hard_metrics(model, x, hard, self.lmbda, self.distortion)

    def _true_losses(self, x: Tensor, y: Tensor, z: Tensor,
                     tile: int | None) -> tuple[Tensor, Tensor, RDTerms]:
        """Hard-rounded loss, PSNR and loss terms on the device (for the history only)."""
        with torch.no_grad():
            z_hat = torch.round(z)
            y_hat, scales, means = self.model.latents(y, z_hat, torch.round)
            terms, x_hat = self._terms(x, y_hat, z_hat, scales, means, tile)
        return terms.loss(self.lmbda), psnr_8bit(x_hat, x), terms

    def _method_losses(self, x: Tensor, y: Tensor, z: Tensor, tau: float,
                       gen: torch.Generator, tile: int | None) -> Tensor:
        """The method's relaxed loss at latents (y, z) (for the history's gap only): the
        same forward as a loop iteration, without gradient, through the same g_s as
        :meth:`_true_losses`, so the two differ by the rounding alone."""
        with torch.no_grad():
            return self._relaxed_terms(x, y, z, tau, gen, tile).loss(self.lmbda)

    def _relaxed_terms(self, x: Tensor, y: Tensor, z: Tensor, tau: float, gen: torch.Generator,
                       tile: int | None = None) -> RDTerms:
        """The method's terms at (y, z): both relaxed at ``tau`` with noise from ``gen``,
        g_s whole or by tiles as :meth:`_terms` does."""
        z_tilde = self.method(z, tau, gen)
        y_tilde, scales, means = self.model.latents(y, z_tilde, lambda v: self.method(v, tau, gen))
        return self._terms(x, y_tilde, z_tilde, scales, means, tile)[0]

    def _step(self, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, z: Tensor, tau: float,
              gen: torch.Generator, tile: int | None) -> Tensor:
        """One Adam step of the method's loss on (y, z), in one piece or by tiles of ``tile``
        latents; returns the per-image losses. What the step made is gone when it returns."""
        terms = (self._relaxed_terms(x, y, z, tau, gen) if tile is None
                 else self._tiled_terms(x, y, z, tau, gen, tile))
        losses = terms.loss(self.lmbda)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
        return losses.detach()

    def refine(self, x: Tensor, progress: ProgressFn | None = None,
               start: tuple[Tensor, Tensor] | None = None) -> RefineResult:
        """Refine a batch ``x`` (B, 3, H, W) in [0, 1] of one size; any H, W. ``start``: the
        latents (y, z) to start from (another refinement's ``latents``), not the encoder's."""
        if x.dim() != 4 or x.size(1) != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        began = time.perf_counter()
        x = x.float()
        model, dev = self.model.to(self.device), self.device
        tile = self.tile_size(x.shape)  # None: the fast path, one piece
        if tile is not None and self.distortion is not MSE:
            raise ValueError(f"a {x.size(-1)}x{x.size(-2)} image needs tiles under --max-memory, and "
                             f"{self.distortion.name} cannot be split into tiles; raise --max-memory "
                             f"or refine for mse")
        xd = x.to(dev)
        with one_off_pass():  # the passes over the whole image (sgaplus.allocator)
            if start is not None:
                y0, z0 = (v.to(dev, torch.float32) for v in start)
            else:
                with torch.no_grad():
                    y0, z0 = (model if tile is None else model.tiled(tile)).analysis(pad(xd))
            hard = model.quantize(y0, z0)
            before, x_hat = self.evaluate(x, hard, tile)
            if tile is not None:  # in tiles memory is short: the unrefined result is not kept
                del hard, x_hat

        y = y0.clone(memory_format=self.memory_format).requires_grad_(True)
        z = z0.clone(memory_format=self.memory_format).requires_grad_(True)
        del y0, z0
        lr, log_every = self.config.lr, self.config.log_every
        opt = torch.optim.Adam([y, z], lr=lr)
        gen = torch.Generator(dev).manual_seed(self.config.seed)
        probe = torch.Generator(dev).manual_seed(self.config.seed + PROBE_SEED_OFFSET)
        stop = self.config.stop_rule()
        history: list[dict[str, float]] = []
        t = 0
        with self._loop_format():
            while not stop.done(t, time.perf_counter() - began):
                tau = self.schedule(t)
                if self.config.lr_decay == "linear":
                    opt.param_groups[0]["lr"] = lr * (1 - t / self.stop_args["max_iters"])
                losses = self._step(opt, xd, y, z, tau, gen, tile)
                t += 1
                if self.check_every and (t % self.check_every == 0 or stop.done(t, 0.0)):
                    true, psnr, hard_terms = self._true_losses(xd, y.detach(), z.detach(), tile)
                    stop.observe(t, float(true.mean()))
                    if log_every:
                        relaxed = self._method_losses(xd, y.detach(), z.detach(), tau, probe, tile)
                    for i in range(x.size(0) if log_every else 0):
                        history.append({
                            "iter": t, "image": i, "tau": tau,
                            "loss_method": float(relaxed[i]), "loss_true": float(true[i]),
                            "gap": float(relaxed[i] - true[i]), "psnr": float(psnr[i]),
                            "bpp": float(hard_terms.bpp[i]),
                        })
                        if self.distortion is MS_SSIM:
                            history[-1]["ms_ssim"] = float(1 - hard_terms.distortion[i])
                if progress is not None:
                    progress(t, tau, float(losses.mean()))

        after = before
        del opt  # Adam's moments
        y.grad = z.grad = None
        if t or tile is not None:  # with no iteration in one piece the base result stands
            with one_off_pass():
                # NCHW again, so the figures and the symbols do not depend on the loop's layout.
                hard = model.quantize(y.contiguous(), z.contiguous())
                after, x_hat = self.evaluate(x, hard, tile)
        return RefineResult(hard=hard, before=before, after=after, history=history, iters=t,
                            seconds=time.perf_counter() - began, x_hat=x_hat.cpu(),
                            latents=(y.detach().contiguous().cpu(), z.detach().contiguous().cpu()),
                            config=self.config)
