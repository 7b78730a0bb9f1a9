"""The one adapter in front of CompressAI's hyperprior models.

Everything else in sgaplus talks to :class:`LatentModel`; only this file touches
CompressAI internals (``_likelihood``, ``quantiles``, GDN's reparametrised β, Γ).

    x ──g_a──▶ y ──h_a──▶ z ──Q──▶ ẑ ──h_s──▶ (σ, μ)
                                            │
    x̂ ◀──g_s── ŷ = Q(y − μ) + μ ◀───────────┘

Two grids matter for exact bitstreams (spec §3, issue "real bitstreams"):
z is rounded on the plain integer grid and y relative to μ.

Context models (``mbt2018``, ``cheng2020-anchor``: CompressAI's
``JointAutoregressiveHierarchicalPriors`` and its subclasses) add a masked
convolution over ŷ, so μ and σ of a latent depend on the latents decoded before
it. There y is rounded on the plain integer grid (ŷ = round(y), the quantity
CompressAI's own forward pass feeds the context model and g_s), μ and σ follow
from ŷ, and ŷ is coded under the discretised Gaussian N(μ, σ): ŷ never depends on
μ's last bits, and the coder's μ, σ come from :class:`SerialContext`, the one
float64 position-by-position computation that encoder and decoder share. CompressAI's
entropy bottleneck codes ``round(z - median)``; :meth:`LatentModel.prepare`
rounds the medians to integers once, so its grid and the refinement's grid are
the same. μ and σ for coding are computed by a float64 CPU copy of h_s, so the
encoder and a decoder in another process agree on them bit for bit.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from compressai.layers import GDN
from compressai.models import (Cheng2020Anchor, JointAutoregressiveHierarchicalPriors,
                               MeanScaleHyperprior, ScaleHyperprior)
from torch import Tensor, nn

from . import tiling
from .kernels import InverseGDN, SubpixelDeconv

#: Spatial size of y and x must be multiples of 2^6 for g_a + h_a to invert.
PAD_MULTIPLE = 64

#: Transposed convolutions with at most this many outputs run as sub-pixel
#: convolutions in :meth:`LatentModel.loop_synthesis`: oneDNN is slow at 3 outputs
#: (0.056 s vs 0.026 s forward at 768x512) and fast at 128 (sub-pixel about 1.5x slower).
SUBPIXEL_MAX_OUT = 16


#: The CompressAI architectures this adapter drives, by CompressAI's zoo name (exact
#: classes: a subclass such as cheng2020-attn has another g_s and is not supported).
ARCHITECTURES: dict[str, type[ScaleHyperprior]] = {
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressiveHierarchicalPriors,
    "cheng2020-anchor": Cheng2020Anchor,
}


@dataclass
class HardLatents:
    """The transmitted latents of a batch: integer symbols and the decoded values.

    Attributes:
        z_hat: round(z), on the integer grid.
        y_symbols: round(y - μ), integers; for context models (``centred`` False)
            round(y) itself.
        means, scales: μ and σ in float64 (from h_s(ẑ), and for context models
            from the context of ŷ too).
        centred: whether the symbols are relative to μ (ŷ = symbols + μ).
    """

    z_hat: Tensor
    y_symbols: Tensor
    means: Tensor
    scales: Tensor
    centred: bool = True

    @property
    def y_hat(self) -> Tensor:
        if not self.centred:
            return self.y_symbols.float()
        return (self.y_symbols.double() + self.means).float()

    def image(self, i: int) -> "HardLatents":
        """Image ``i`` of the batch, as a batch of one (what the coder takes)."""
        return HardLatents(self.z_hat[i:i + 1], self.y_symbols[i:i + 1], self.means[i:i + 1],
                           self.scales[i:i + 1], self.centred)


@dataclass
class LatentModel:
    """A frozen hyperprior with a name and its training λ.

    Args:
        net: ``compressai.models.ScaleHyperprior``, ``MeanScaleHyperprior`` or a
            context model (``JointAutoregressiveHierarchicalPriors``, ``Cheng2020Anchor``).
        name: identity written into bitstreams and reports.
        lmbda: the λ the model was trained with (loss ``λ·255²·MSE + bpp``).
        meta: free-form metadata (training figures, provenance).
    """

    net: ScaleHyperprior
    name: str
    lmbda: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arch = next((name for name, cls in ARCHITECTURES.items() if type(self.net) is cls), None)
        if arch is None:
            raise ValueError(f"unsupported architecture {type(self.net).__name__}; "
                             f"supported: {', '.join(ARCHITECTURES)}")
        #: CompressAI's zoo name of the architecture (recorded in every file).
        self.arch = arch
        self.net.eval().requires_grad_(False)
        self.has_means = isinstance(self.net, MeanScaleHyperprior)
        self.has_context = isinstance(self.net, JointAutoregressiveHierarchicalPriors)
        if self.has_context:
            # MaskedConv2d multiplies its weight by the mask in every forward; a
            # checkpoint may hold nonzero masked taps, so mask once now, before the
            # fingerprint, which must not change when the model first runs.
            cp = self.net.context_prediction
            cp.weight.data.mul_(cp.mask)
        self._h_s64 = copy.deepcopy(self.net.h_s).cpu().double()
        self._fingerprint: str | None = None
        self._loop_g_s: nn.Module | None = None
        self._tile: int | None = None

    # -- set-up -------------------------------------------------------------
    def prepare(self) -> "LatentModel":
        """Put the entropy bottleneck's medians on the integer grid and build the
        CDF tables, so ``compress`` codes exactly the refined ``round(z)``.

        Called once when a model is loaded without tables; exported models store
        the tables, so decoders never recompute them with other float noise.
        """
        eb = self.net.entropy_bottleneck
        with torch.no_grad():
            eb.quantiles[:, 0, 1] = eb.quantiles[:, 0, 1].round()
        self.net.update(force=True)
        self._fingerprint = None
        return self

    def tables_ready(self) -> bool:
        eb = self.net.entropy_bottleneck
        medians = eb.quantiles[:, 0, 1]
        return eb._offset.numel() > 0 and bool((medians == medians.round()).all())

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device: torch.device | str) -> "LatentModel":
        self.net.to(device)
        return self

    def fingerprint(self) -> str:
        """SHA-256 over every tensor of the state dict (weights and CDF tables)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for key, value in sorted(self.net.state_dict().items()):
                h.update(key.encode())
                h.update(value.detach().cpu().contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def tiled(self, size: int) -> "LatentModel":
        """This model with g_a and g_s run over tiles of ``size`` x ``size`` latents
        (:func:`sgaplus.tiling.map_tiles`), for passes without gradient over images too
        large for one piece; the same results up to float rounding. The halo is
        :attr:`synthesis_halo`, which also covers g_a's reach (±30 pixels for the GDN
        stacks, ±57 for cheng2020-anchor's residual g_a: under 4 latents)."""
        view = copy.copy(self)
        view._tile = size
        return view

    # -- the four transforms --------------------------------------------------
    def analysis(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """y = g_a(x), z = h_a(y) (h_a(|y|) for the scale-only hyperprior)."""
        if self._tile is None:
            y = self.net.g_a(x)
        else:
            grid = (x.size(-2) // tiling.SCALE, x.size(-1) // tiling.SCALE)
            y = tiling.map_tiles(self.net.g_a, x, grid, self._tile, self.synthesis_halo, tiling.SCALE, 1)
        z = self.net.h_a(y if self.has_means else torch.abs(y))
        return y, z

    def _split(self, params: Tensor, y_shape: torch.Size) -> tuple[Tensor, Tensor]:
        if self.has_means:
            scales, means = params.chunk(2, 1)
        else:
            scales, means = params, torch.zeros_like(params)
        h, w = y_shape[-2:]
        return scales[..., :h, :w], means[..., :h, :w]

    def hyper_synthesis(self, z_hat: Tensor, y_shape: torch.Size) -> tuple[Tensor, Tensor]:
        """(σ, μ) = h_s(ẑ), cropped to y's spatial size (models without context)."""
        return self._split(self.net.h_s(z_hat), y_shape)

    def _context_parameters(self, params: Tensor, y_hat: Tensor) -> tuple[Tensor, Tensor]:
        """(σ, μ) of a context model from h_s's output and ŷ, all positions at once."""
        h, w = y_hat.shape[-2:]
        ctx = self.net.context_prediction(y_hat)
        gaussian = self.net.entropy_parameters(torch.cat((params[..., :h, :w], ctx), dim=1))
        return gaussian.chunk(2, 1)

    def latents(self, y: Tensor, z_hat: Tensor,
                rounding: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(ŷ, σ, μ) of latents ``y`` given ẑ, with ``rounding`` hard or relaxed.

        Without context, ŷ = rounding(y − μ) + μ with (σ, μ) = h_s(ẑ); with context,
        ŷ = rounding(y) and (σ, μ) follow from h_s(ẑ) and ŷ through the masked
        convolution, so during refinement the rate sees the *relaxed* ŷ's context.
        """
        params = self.net.h_s(z_hat)
        if not self.has_context:
            scales, means = self._split(params, y.shape)
            return self.round_centred(y, means, rounding), scales, means
        y_hat = rounding(y)
        scales, means = self._context_parameters(params, y_hat)
        return y_hat, scales, means

    @staticmethod
    def round_centred(y: Tensor, means: Tensor, rounding: Callable[[Tensor], Tensor]) -> Tensor:
        """ŷ = rounding(y − μ) + μ: a model without context rounds y on the grid of its means."""
        return rounding(y - means) + means

    def synthesis(self, y_hat: Tensor) -> Tensor:
        if self._tile is None:
            return self.net.g_s(y_hat)
        return tiling.map_tiles(self.net.g_s, y_hat, y_hat.shape[-2:], self._tile, self.synthesis_halo,
                                1, tiling.SCALE)

    @property
    def synthesis_halo(self) -> int:
        """Latents of context g_s needs around a tile for tiled decoding to equal whole
        decoding: 4 for the GDN stacks (< ±2 reached), 8 for cheng2020-anchor's
        residual blocks (±6.5: 3x3 convolutions at every scale)."""
        return 4 if any(isinstance(m, GDN) for m in self.net.g_s) else 8

    def loop_synthesis(self) -> nn.Module:
        """g_s for the refinement loop on the CPU, fp32 channels_last: the same
        function with :mod:`sgaplus.kernels` in place of inverse GDN and of small
        transposed convolutions. Built once from the frozen weights (on the CPU)."""
        if self._loop_g_s is None:
            layers: list[nn.Module] = []
            for m in copy.deepcopy(self.net.g_s).cpu():
                if isinstance(m, GDN) and m.inverse:
                    m = InverseGDN(m.beta_reparam(m.beta), m.gamma_reparam(m.gamma))
                elif (isinstance(m, nn.ConvTranspose2d) and m.out_channels <= SUBPIXEL_MAX_OUT
                      and SubpixelDeconv.fits(m)):
                    m = SubpixelDeconv(m.weight, m.bias)
                layers.append(m)
            self._loop_g_s = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        return self._loop_g_s

    # -- probabilities ------------------------------------------------------
    def likelihoods(
        self, y_hat: Tensor, z_hat: Tensor, scales: Tensor, means: Tensor
    ) -> tuple[Tensor, Tensor]:
        """p(ŷ|ẑ) and p(ẑ) per element, lower-bounded at 1e-9 (spec §2)."""
        return self.y_likelihoods(y_hat, scales, means), self.z_likelihoods(z_hat)

    def y_likelihoods(self, y_hat: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        """p(ŷ|ẑ) per element: elementwise, so any slice of ŷ, σ, μ gives that slice."""
        gc = self.net.gaussian_conditional
        lik_y = gc._likelihood(y_hat, scales, means)
        return gc.likelihood_lower_bound(lik_y) if gc.use_likelihood_bound else lik_y

    def z_likelihoods(self, z_hat: Tensor) -> Tensor:
        """p(ẑ) per element."""
        eb = self.net.entropy_bottleneck
        # The bottleneck wants (C, 1, -1); its _likelihood returns a tuple since 1.2.5.
        c = z_hat.size(1)
        values = z_hat.transpose(0, 1).reshape(c, 1, -1)
        lik_z = eb._likelihood(values)[0].reshape(c, z_hat.size(0), *z_hat.shape[2:])
        lik_z = lik_z.transpose(0, 1)
        return eb.likelihood_lower_bound(lik_z) if eb.use_likelihood_bound else lik_z

    # -- the coder's tables ---------------------------------------------------
    def cdf_tables(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """CompressAI's integer CDFs, ``{"z": ..., "y": ...}``, each ``(cdf, cdf_length, offset)``
        for :class:`sgaplus.entropy.Tables`.

        z has one table per channel; its offsets include the (integer, see :meth:`prepare`)
        medians, so the symbols coded are ẑ itself. y has one table per scale-table entry
        (:meth:`scale_indexes` picks them) and codes round(y − μ).
        """
        eb, gc = self.net.entropy_bottleneck, self.net.gaussian_conditional
        medians = eb.quantiles[:, 0, 1].detach().cpu().round().long()
        return {name: (em._quantized_cdf.cpu().numpy(), em._cdf_length.cpu().numpy(),
                       (em._offset.cpu().long() + extra).numpy())
                for name, em, extra in (("z", eb, medians), ("y", gc, 0))}

    def scale_indexes(self, scales: Tensor) -> np.ndarray:
        """The y table of each element (CompressAI's ``build_indexes``: σ rounded up to the table)."""
        gc = self.net.gaussian_conditional
        return gc.build_indexes(scales.to(self.device)).cpu().numpy()

    # -- the transmitted latents ----------------------------------------------
    @torch.no_grad()
    def quantize(self, y: Tensor, z: Tensor) -> HardLatents:
        """Hard-round (y, z) exactly as the bitstream carries them.

        Runs h_s in float64 on the CPU: the scale indexes and means then do not
        depend on the device, the thread count or the refinement's precision.
        For context models ŷ = round(y); its (σ, μ) here come from one float64 pass
        over all positions (for the figures; the coder recomputes them with
        :class:`SerialContext`, and ŷ itself does not depend on them).
        """
        z_hat = torch.round(z.detach().float().cpu())
        if self.has_context:
            y_hat = torch.round(y.detach().double().cpu())
            params = self._hyper_params64(z_hat)
            with _one_thread():
                scales, means = _Float64Context(self)(params, y_hat)
            return HardLatents(z_hat, y_hat.float(), means, scales, centred=False)
        scales, means = self.hyper_decode(z_hat, y.shape)
        y_symbols = torch.round(y.detach().double().cpu() - means)
        return HardLatents(z_hat, y_symbols.float(), means, scales)

    @torch.no_grad()
    def hyper_decode(self, z_hat: Tensor, y_shape: torch.Size) -> tuple[Tensor, Tensor]:
        """(σ, μ) in float64 on the CPU, as :meth:`quantize` computes them.

        The summation order of a CPU convolution, and so the last bits of μ, depends on
        the memory layout (refined z arrives channels-last, a decoded one contiguous:
        5e-15 measured), on the thread count and, with several threads, on the batch
        (128 px crops: 1 vs 2 threads, and a batch of 2 vs one image, differed). The
        decoder sees one image with whatever threads it has, so h_s runs here on one
        contiguous image at a time on one thread.
        """
        return self._split(self._hyper_params64(z_hat), y_shape)

    def _hyper_params64(self, z_hat: Tensor) -> Tensor:
        """h_s(ẑ) in float64, one contiguous image at a time on one thread (see above)."""
        z = z_hat.double().cpu().contiguous()
        with _one_thread():
            return torch.cat([self._h_s64(z[i:i + 1]) for i in range(z.size(0))])

    def serial_context(self, z_hat: Tensor, y_shape: tuple[int, int, int]) -> "SerialContext":
        """The coder's position-by-position (σ, μ) for one image of a context model."""
        if not self.has_context:
            raise ValueError(f"{self.name} has no context model")
        return SerialContext(self, self._hyper_params64(z_hat[:1]), y_shape)


@contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _Float64Context:
    """A context model's masked convolution and entropy-parameters network as float64
    matrices: the 12 causal taps of the 5x5 mask gathered into one (2M, 12·M) matrix,
    the 1x1 convolutions as (out, in) matrices, LeakyReLU slopes kept."""

    def __init__(self, model: LatentModel) -> None:
        cp = model.net.context_prediction
        if cp.kernel_size != (5, 5) or cp.stride != (1, 1) or cp.padding != (2, 2):
            raise ValueError("unsupported context model: expected a 5x5 masked convolution")
        self.taps = [(dy, dx) for dy in range(5) for dx in range(5) if cp.mask[0, 0, dy, dx]]
        w = cp.weight.detach().double().cpu()
        self.w_ctx = torch.cat([w[:, :, dy, dx] for dy, dx in self.taps], dim=1)  # (2M, 12M)
        self.b_ctx = cp.bias.detach().double().cpu()
        self.layers: list[tuple[Tensor, Tensor] | float] = []
        for m in model.net.entropy_parameters:
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1):
                self.layers.append((m.weight.detach().double().cpu()[:, :, 0, 0],
                                    m.bias.detach().double().cpu()))
            elif isinstance(m, nn.LeakyReLU):
                self.layers.append(float(m.negative_slope))
            else:
                raise ValueError(f"unsupported entropy-parameters layer {type(m).__name__}")
        if not self.layers or isinstance(self.layers[0], float):
            raise ValueError("unsupported entropy-parameters network: it must start with a 1x1 convolution")

    def head(self, h: Tensor, layers: list | None = None) -> tuple[Tensor, Tensor]:
        """(σ, μ) from rows ``h`` = [h_s params, context] of shape (P, 4M), or from the
        output of an earlier layer with the remaining ``layers``."""
        for layer in self.layers if layers is None else layers:
            if isinstance(layer, float):
                h = torch.where(h >= 0, h, h * layer)
            else:
                h = torch.addmm(layer[1], h, layer[0].t())
        return h.chunk(2, 1)

    def __call__(self, params: Tensor, y_hat: Tensor) -> tuple[Tensor, Tensor]:
        """(σ, μ) of every position of a batch at once (the figures' path)."""
        b, m, h, w = y_hat.shape
        padded = F.pad(y_hat, (2, 2, 2, 2))
        window = torch.cat([padded[:, :, dy:dy + h, dx:dx + w] for dy, dx in self.taps], dim=1)
        ctx = torch.addmm(self.b_ctx, window.permute(0, 2, 3, 1).reshape(-1, window.size(1)),
                          self.w_ctx.t())
        rows = torch.cat((params[..., :h, :w].permute(0, 2, 3, 1).reshape(b * h * w, -1), ctx), 1)
        scales, means = self.head(rows)
        back = lambda t: t.reshape(b, h, w, m).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        return back(scales), back(means)


class SerialContext:
    """(σ, μ) of one image's latents position by position, in raster order, as a
    decoder must compute them: each position's context is the ŷ set before it.

    Encoder and decoder both run :meth:`run`, float64 on one thread, so their σ and μ
    agree bit for bit (a whole-image convolution sums in another order). The cost is
    one chain of small matrix-vector products per position.
    """

    def __init__(self, model: LatentModel, params: Tensor, y_shape: tuple[int, int, int]) -> None:
        m, self.h, self.w = y_shape
        self.f = _Float64Context(model)
        self.params = params[0, :, :self.h, :self.w].permute(1, 2, 0).contiguous()  # (h, w, 2M)
        self.y_hat = torch.zeros(self.h + 2, self.w + 4, m, dtype=torch.float64)  # zero border

    def run(self, step: Callable[[int, int, Tensor, Tensor], Tensor]) -> Tensor:
        """Visit every position in raster order: ``step(i, j, σ, μ)`` returns that
        position's ŷ (M,), which the later positions' context then sees. Returns ŷ
        as (1, M, H, W) float64.

        The first entropy-parameters layer is split: its h_s half is one matrix
        product over all positions before the loop (h_s's output is known up front,
        and both sides run the same product on the same tensor), its context half
        runs per position (about 18 % of the work saved at M = 192).
        """
        f, m2 = self.f, self.params.size(-1)
        (w0, b0), rest = f.layers[0], f.layers[1:]
        known = torch.addmm(b0, self.params.reshape(-1, m2), w0[:, :m2].t()).reshape(self.h, self.w, -1)
        w0_ctx = w0[:, m2:].contiguous()
        with _one_thread():
            for i in range(self.h):
                for j in range(self.w):
                    window = torch.cat([self.y_hat[i + dy, j + dx] for dy, dx in f.taps])
                    ctx = torch.addmv(f.b_ctx, f.w_ctx, window)
                    hidden = torch.addmv(known[i, j], w0_ctx, ctx)[None]
                    scales, means = f.head(hidden, rest)
                    self.y_hat[i + 2, j + 2] = step(i, j, scales[0], means[0])
        return self.y_hat[2:, 2:self.w + 2].permute(2, 0, 1)[None].contiguous()


def pad(x: Tensor) -> Tensor:
    """Replicate-pad H and W up to multiples of 64 (bottom/right), so any size codes."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % PAD_MULTIPLE, (-w) % PAD_MULTIPLE
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")
