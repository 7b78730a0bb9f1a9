"""The y stream of a context model (``mbt2018``, ``cheng2020-anchor``), coded serially.

    encode: ẑ, ŷ ──SerialContext (fp64, raster order)──▶ (σ, μ) per position
            ──▶ ŷ − round(μ) under N(μ − round(μ), max(σ, 0.11)), rANS (constriction)
    decode: the same loop, each position's symbols decoded before the next
            position's context is computed

Why constriction and not CompressAI's tables: CompressAI's coder codes symbols
under zero-mean tables indexed by σ, so coding ŷ on the integer grid under a
fractional μ would lose the offset (up to half a bin: many bits at small σ).
constriction's ``QuantizedGaussian`` integrates N(μ, σ) over the integer bins
itself, from the same float64 μ, σ on both sides; it never reads past its input,
so a hostile stream can only give wrong symbols or an error, never memory
outside the stream.

Symbols are coded relative to round(μ) within ±:data:`SYMBOL_RANGE`: every symbol in
that range keeps a nonzero probability (constriction's leaky quantisation costs
(2R+1)/2^24 of the mass, about 2e-4 bits per latent at R = 1024), and a latent
further from its prediction than R is refused at encode time (one clear line;
trained models' latents stay within tens of their μ).
"""

from __future__ import annotations

import constriction
import numpy as np
import torch
from torch import Tensor

from .bitstream import FormatError
from .latent_model import HardLatents, LatentModel

#: Largest |ŷ − round(μ)| the coder carries.
SYMBOL_RANGE = 1024

_FAMILY = constriction.stream.model.QuantizedGaussian(-SYMBOL_RANGE, SYMBOL_RANGE)


def _scale_bound(model: LatentModel) -> float:
    """The σ floor CompressAI's likelihood applies (``GaussianConditional.lower_bound_scale``),
    so the coder's distribution is the one the rate estimate prices."""
    return float(model.net.gaussian_conditional.lower_bound_scale.bound)


def _model_params(scales: Tensor, means: Tensor, floor: float) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """round(μ), and the offset mean and floored σ the coder uses, as float64 arrays."""
    centre = torch.round(means)
    return centre, (means - centre).numpy(), scales.clamp_min(floor).numpy()


def encode_y(model: LatentModel, hard: HardLatents) -> bytes:
    """Code one image's ŷ (``hard.y_symbols``, integer grid) into the y stream."""
    y = hard.y_symbols[0].double()
    floor = _scale_bound(model)
    offsets: list[np.ndarray] = []
    stds: list[np.ndarray] = []
    symbols: list[Tensor] = []

    def step(i: int, j: int, scales: Tensor, means: Tensor) -> Tensor:
        centre, offset, std = _model_params(scales, means, floor)
        offsets.append(offset)
        stds.append(std)
        symbols.append(y[:, i, j] - centre)
        return y[:, i, j]

    model.serial_context(hard.z_hat, tuple(hard.y_symbols.shape[1:])).run(step)
    flat = torch.cat(symbols)
    if flat.abs().max() > SYMBOL_RANGE:
        raise ValueError(f"a latent lies {int(flat.abs().max())} steps from its prediction; "
                         f"the coder carries at most {SYMBOL_RANGE}")
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(flat.numpy().astype(np.int32), _FAMILY, np.concatenate(offsets),
                         np.concatenate(stds))
    return coder.get_compressed().astype("<u4").tobytes()


def decode_y(model: LatentModel, stream: bytes, z_hat: Tensor,
             y_shape: tuple[int, int, int]) -> HardLatents:
    """Decode the y stream given ẑ; raises :class:`FormatError` for a stream that is not
    exactly one image's symbols (wrong length, left-over data, impossible parameters)."""
    if len(stream) % 4:
        raise FormatError("y stream length is not a whole number of 32-bit words")
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(stream, "<u4").astype(np.uint32))
    except Exception as exc:  # constriction raises ValueError/AssertionError for bad data
        raise FormatError(f"y stream is corrupted ({exc})") from None
    floor = _scale_bound(model)
    scales_out = torch.empty(y_shape[1], y_shape[2], y_shape[0], dtype=torch.float64)
    means_out = torch.empty_like(scales_out)

    def step(i: int, j: int, scales: Tensor, means: Tensor) -> Tensor:
        centre, offset, std = _model_params(scales, means, floor)
        if not (np.isfinite(offset).all() and np.isfinite(std).all()):
            raise FormatError("y stream is corrupted (the latents diverge)")
        try:
            values = coder.decode(_FAMILY, offset, std)
        except Exception as exc:
            raise FormatError(f"y stream is corrupted ({exc})") from None
        scales_out[i, j], means_out[i, j] = scales, means
        return torch.from_numpy(values.astype(np.float64)) + centre

    y_hat = model.serial_context(z_hat, y_shape).run(step)
    if not coder.is_empty():
        raise FormatError("y stream has data after the last latent")
    back = lambda t: t.permute(2, 0, 1)[None].contiguous()  # noqa: E731
    return HardLatents(z_hat, y_hat.float(), back(means_out), back(scales_out), centred=False)
