"""The y stream of a context model (``mbt2018``, ``cheng2020-anchor``), coded serially.

    encode: ẑ, ŷ ──SerialContext (fp64, raster order)──▶ (σ, μ) per position
            ──▶ ŷ − round(μ) under N(μ − round(μ), max(σ, 0.11)) ──entropy.encode_gaussian
    decode: the same loop, each position's symbols decoded (Decoder.decode_gaussian)
            before the next position's context is computed

ŷ is on the integer grid (``latent_model``'s docstring says why), so the coder needs
the Gaussian with its fractional μ, not CompressAI's zero-mean tables; σ is floored
as CompressAI's likelihood floors it, so the coder prices what the rate estimate prices.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from . import entropy
from .bitstream import FormatError
from .latent_model import HardLatents, LatentModel


def _scale_bound(model: LatentModel) -> float:
    """The σ floor of CompressAI's likelihood (``GaussianConditional.lower_bound_scale``)."""
    return float(model.net.gaussian_conditional.lower_bound_scale.bound)


def _coder_parameters(scales: Tensor, means: Tensor, floor: float) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """round(μ), and the offset mean and floored σ the coder uses, as float64 arrays."""
    centre = torch.round(means)
    return centre, (means - centre).numpy(), scales.clamp_min(floor).numpy()


def encode_y(model: LatentModel, hard: HardLatents) -> bytes:
    """Code one image's ŷ (``hard.y_symbols``, integer grid) into the y stream.

    Raises:
        ValueError: a latent further than ``entropy.GAUSSIAN_RANGE`` from its prediction.
    """
    y = hard.y_symbols[0].double()
    floor = _scale_bound(model)
    symbols: list[Tensor] = []
    offsets: list[np.ndarray] = []
    stds: list[np.ndarray] = []

    def step(i: int, j: int, scales: Tensor, means: Tensor) -> Tensor:
        centre, offset, std = _coder_parameters(scales, means, floor)
        symbols.append(y[:, i, j] - centre)
        offsets.append(offset)
        stds.append(std)
        return y[:, i, j]

    model.serial_context(hard.z_hat, tuple(hard.y_symbols.shape[1:])).run(step)
    return entropy.encode_gaussian(torch.cat(symbols).numpy(), np.concatenate(offsets),
                                   np.concatenate(stds))


def decode_y(model: LatentModel, stream: bytes, z_hat: Tensor,
             y_shape: tuple[int, int, int]) -> HardLatents:
    """Decode the y stream given ẑ.

    Raises:
        FormatError: a stream that is not exactly one image's symbols (length, markers,
            data left over), or whose latents diverge to parameters no coder takes.
    """
    decoder = entropy.Decoder(None, stream)
    floor = _scale_bound(model)
    scales_out = torch.empty(y_shape[1], y_shape[2], y_shape[0], dtype=torch.float64)
    means_out = torch.empty_like(scales_out)

    def step(i: int, j: int, scales: Tensor, means: Tensor) -> Tensor:
        centre, offset, std = _coder_parameters(scales, means, floor)
        if not (np.isfinite(offset).all() and np.isfinite(std).all()):
            raise FormatError("the y stream is corrupted (its latents diverge)")
        scales_out[i, j], means_out[i, j] = scales, means
        return torch.from_numpy(decoder.decode_gaussian(offset, std).astype(np.float64)) + centre

    y_hat = model.serial_context(z_hat, y_shape).run(step)
    decoder.finish()
    back = lambda t: t.permute(2, 0, 1)[None].contiguous()  # noqa: E731
    return HardLatents(z_hat, y_hat.float(), back(means_out), back(scales_out), centred=False)
