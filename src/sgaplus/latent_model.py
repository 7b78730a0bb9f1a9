"""The one adapter in front of CompressAI's hyperprior models.

Everything else in sgaplus talks to :class:`LatentModel`; only this file touches
CompressAI internals (``_likelihood``, ``quantiles``, GDN's reparametrised β, Γ).

    x ──g_a──▶ y ──h_a──▶ z ──Q──▶ ẑ ──h_s──▶ (σ, μ)
                                            │
    x̂ ◀──g_s── ŷ = Q(y − μ) + μ ◀───────────┘

Two grids matter for exact bitstreams (spec §3, issue "real bitstreams"):
z is rounded on the plain integer grid and y relative to μ. CompressAI's
entropy bottleneck codes ``round(z - median)``; :meth:`LatentModel.prepare`
rounds the medians to integers once, so its grid and the refinement's grid are
the same. μ and σ for coding are computed by a float64 CPU copy of h_s, so the
encoder and a decoder in another process agree on them bit for bit.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from compressai.layers import GDN
from compressai.models import MeanScaleHyperprior, ScaleHyperprior
from torch import Tensor, nn

from .kernels import InverseGDN, SubpixelDeconv

#: Spatial size of y and x must be multiples of 2^6 for g_a + h_a to invert.
PAD_MULTIPLE = 64

#: Transposed convolutions with at most this many outputs run as sub-pixel
#: convolutions in :meth:`LatentModel.loop_synthesis`: oneDNN is slow at 3 outputs
#: (0.056 s vs 0.026 s forward at 768x512) and fast at 128 (sub-pixel about 1.5x slower).
SUBPIXEL_MAX_OUT = 16


@dataclass
class HardLatents:
    """The transmitted latents of a batch: integer symbols and the decoded values.

    Attributes:
        z_hat: round(z), on the integer grid.
        y_symbols: round(y - μ), integers.
        means, scales: μ and σ from h_s(ẑ) in float64 (the coder's parameters).
    """

    z_hat: Tensor
    y_symbols: Tensor
    means: Tensor
    scales: Tensor

    @property
    def y_hat(self) -> Tensor:
        return (self.y_symbols.double() + self.means).float()

    def image(self, i: int) -> "HardLatents":
        """Image ``i`` of the batch, as a batch of one (what the coder takes)."""
        return HardLatents(self.z_hat[i:i + 1], self.y_symbols[i:i + 1], self.means[i:i + 1],
                           self.scales[i:i + 1])


@dataclass
class LatentModel:
    """A frozen hyperprior with a name and its training λ.

    Args:
        net: ``compressai.models.MeanScaleHyperprior`` or ``ScaleHyperprior``.
        name: identity written into bitstreams and reports.
        lmbda: the λ the model was trained with (loss ``λ·255²·MSE + bpp``).
        meta: free-form metadata (training figures, provenance).
    """

    net: ScaleHyperprior
    name: str
    lmbda: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.net, ScaleHyperprior):
            raise ValueError(f"unsupported architecture {type(self.net).__name__}")
        self.net.eval().requires_grad_(False)
        self.has_means = isinstance(self.net, MeanScaleHyperprior)
        self._h_s64 = copy.deepcopy(self.net.h_s).cpu().double()
        self._fingerprint: str | None = None
        self._loop_g_s: nn.Module | None = None

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

    # -- the four transforms --------------------------------------------------
    def analysis(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """y = g_a(x), z = h_a(y) (h_a(|y|) for the scale-only hyperprior)."""
        y = self.net.g_a(x)
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
        """(σ, μ) = h_s(ẑ), cropped to y's spatial size."""
        return self._split(self.net.h_s(z_hat), y_shape)

    def synthesis(self, y_hat: Tensor) -> Tensor:
        return self.net.g_s(y_hat)

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
        gc, eb = self.net.gaussian_conditional, self.net.entropy_bottleneck
        lik_y = gc._likelihood(y_hat, scales, means)
        # The bottleneck wants (C, 1, -1); its _likelihood returns a tuple since 1.2.5.
        c = z_hat.size(1)
        values = z_hat.transpose(0, 1).reshape(c, 1, -1)
        lik_z = eb._likelihood(values)[0].reshape(c, z_hat.size(0), *z_hat.shape[2:])
        lik_z = lik_z.transpose(0, 1)
        if gc.use_likelihood_bound:
            lik_y = gc.likelihood_lower_bound(lik_y)
        if eb.use_likelihood_bound:
            lik_z = eb.likelihood_lower_bound(lik_z)
        return lik_y, lik_z

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
        """
        z_hat = torch.round(z.detach().float().cpu())
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
        z = z_hat.double().cpu().contiguous()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            params = torch.cat([self._h_s64(z[i:i + 1]) for i in range(z.size(0))])
        finally:
            torch.set_num_threads(threads)
        return self._split(params, y_shape)


def pad(x: Tensor) -> Tensor:
    """Replicate-pad H and W up to multiples of 64 (bottom/right), so any size codes."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % PAD_MULTIPLE, (-w) % PAD_MULTIPLE
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")
