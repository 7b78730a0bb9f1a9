"""Hard latents <-> ``.sgp`` bytes with the memory-safe coder of :mod:`sgaplus.entropy`.

    encode:  ẑ ──per-channel tables──▶ z stream
             σ (fp64, from HardLatents) ──scale_indexes──▶ indexes
             round(y − μ) ──scale tables──▶ y stream
    decode:  z stream ──▶ ẑ ──LatentModel.hyper_decode (fp64, CPU)──▶ (σ, μ)
             ──▶ indexes ──▶ symbols ──▶ ŷ = symbols + μ ──g_s, in tiles──▶ x̂, cropped

Why this is exact: the z tables are the bottleneck's, offset by its medians, which
``LatentModel.prepare`` put on the integer grid, so they code ẑ itself; y is coded
as the integer symbols the refinement rounded, relative to μ, so the coder never
re-rounds. The decoder recomputes σ and μ with the same float64 CPU h_s as
:meth:`LatentModel.quantize`, so its table indexes equal the encoder's.
:func:`encode` re-decodes the streams before returning and refuses to hand out a
file whose latents would differ.

Why this is safe on hostile files: the header's size is checked against a pixel
limit and each stream's length against what its latents can need before anything
is allocated; the coder never reads outside its stream, costs O(1) per element,
and refuses a stream it did not consume exactly (see ``docs/format.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import context_codec, entropy
from .bitstream import (FINGERPRINT_BYTES, Container, FormatError, Header, compress_alpha,
                        decompress_alpha, pack, unpack)
from .latent_model import PAD_MULTIPLE, HardLatents, LatentModel
from .limits import MAX_PIXELS, too_many_pixels

#: g_s upsamples ŷ 16x (four stride-2 transposed convolutions).
SYNTHESIS_SCALE = 16

#: The decoder runs g_s on tiles of TILE x TILE latents (1024 x 1024 pixels), so its
#: memory stays bounded for any image size: PyTorch's native transposed convolution
#: builds an im2col buffer, 13 GB for one layer of a 4096 x 4096 image in one piece.
#: A fixed split, so every decoder performs the same arithmetic.
TILE = 64

#: Latents of context added around each tile and cut off after g_s. Each 5x5
#: stride-2 layer reaches ±1 input position, so a GDN g_s reaches < ±2 latents;
#: cheng2020-anchor's residual g_s reaches about ±6.5 (``LatentModel.synthesis_halo``).
HALO = 4


@dataclass
class Decoded:
    """A decoded file: its header, the transmitted latents and the image.

    Attributes:
        x_hat: the reconstruction (1, 3, H, W) at the original size, unclamped.
        alpha: the alpha channel (H, W) uint8, or None.
    """

    header: Header
    hard: HardLatents
    x_hat: Tensor
    alpha: np.ndarray | None


def fingerprint_bytes(model: LatentModel) -> bytes:
    return bytes.fromhex(model.fingerprint())[:FINGERPRINT_BYTES]


def latent_shapes(model: LatentModel, width: int, height: int) -> tuple[tuple[int, ...], ...]:
    """(C, H, W) of z and y for an image: g_a downsamples 16x, h_a 4x more, after padding."""
    hp, wp = -(-height // PAD_MULTIPLE), -(-width // PAD_MULTIPLE)
    return (model.net.N, hp, wp), (model.net.M, hp * 4, wp * 4)


def encode(model: LatentModel, hard: HardLatents, width: int, height: int, mode: str = "RGB",
           alpha: np.ndarray | None = None, *, method: str = "none",
           lmbda: float | None = None, iters: int = 0, distortion: str = "mse") -> bytes:
    """Entropy-code one image's hard latents into a complete ``.sgp`` file.

    Args:
        hard: latents of a batch of one, from ``LatentModel.quantize`` or a refinement.
        width, height, mode, alpha: the original image (``images.LoadedImage``).
        method, lmbda, iters, distortion: recorded in the header for ``sgaplus info``
            (the refinement's; λ is in the distortion's units).

    Raises:
        RuntimeError: the file would not decode to ``hard`` (ẑ, symbols and μ are
            compared), so ŷ would differ: a bug, never a bad input.
    """
    if hard.z_hat.size(0) != 1:
        raise ValueError("encode codes one image at a time")
    z_shape, y_shape = latent_shapes(model, width, height)
    if tuple(hard.z_hat.shape[1:]) != z_shape or tuple(hard.y_symbols.shape[1:]) != y_shape:
        raise ValueError(f"latents {tuple(hard.y_symbols.shape)} do not belong to a "
                         f"{width}x{height} image for this model")
    z_tables, y_tables = coder_tables(model)
    z_stream = entropy.encode(z_tables, [(hard.z_hat.cpu().numpy(), z_indexes(z_shape))])
    if model.has_context:
        y_stream = context_codec.encode_y(model, hard)
    else:
        y_stream = entropy.encode(y_tables, [(hard.y_symbols.cpu().numpy(),
                                              model.scale_indexes(hard.scales))])
    alpha_stream = None if alpha is None else compress_alpha(np.ascontiguousarray(alpha, np.uint8).tobytes())
    header = Header(width=width, height=height, mode=mode, has_alpha=alpha is not None,
                    model_name=model.name, arch=model.arch, fingerprint=fingerprint_bytes(model),
                    method=method, distortion=distortion,
                    lmbda=model.lmbda if lmbda is None else lmbda, iters=iters,
                    z_shape=z_shape, y_shape=y_shape)
    data = pack(Container(header, z_stream, y_stream, alpha_stream))
    check = decode_latents(model, unpack(data))
    if not (torch.equal(check.z_hat, hard.z_hat.cpu().float())
            and torch.equal(check.y_symbols, hard.y_symbols.cpu().float())
            and (model.has_context or torch.equal(check.means, hard.means.cpu()))):
        raise RuntimeError("internal error: the coded latents do not decode to the refined ones")
    return data


def coder_tables(model: LatentModel) -> tuple[entropy.Tables, entropy.Tables]:
    """The coder's (z, y) tables, built from the model's CDFs (milliseconds)."""
    tables = model.cdf_tables()
    return entropy.Tables.from_cdfs(*tables["z"]), entropy.Tables.from_cdfs(*tables["y"])


def z_indexes(z_shape: tuple[int, ...]) -> np.ndarray:
    """z's table is its channel (the bottleneck has one CDF per channel)."""
    c, h, w = z_shape
    return np.broadcast_to(np.arange(c).reshape(1, c, 1, 1), (1, c, h, w))


def check_size(header: Header, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an image larger than ``max_pixels`` before anything of its size is allocated."""
    message = too_many_pixels(header.width, header.height, max_pixels)
    if message:
        raise FormatError(f"the file announces {message}")


def check_model(header: Header, model: LatentModel) -> None:
    """Refuse a file made for another model, and shapes this model cannot have made."""
    if header.arch != model.arch:
        raise FormatError(f"this file was made with a {header.arch!r} model ({header.model_name!r}), "
                          f"not with a {model.arch!r} one like {model.name!r}; pass the right --model")
    mine = fingerprint_bytes(model)
    if header.fingerprint != mine:
        theirs = (f"other weights of {header.model_name!r}" if header.model_name == model.name
                  else f"model {header.model_name!r}")
        raise FormatError(f"this file was made with {theirs} (fingerprint "
                          f"{header.fingerprint.hex()[:12]}), not with the loaded model "
                          f"{model.name!r} ({mine.hex()[:12]}); pass the right --model")
    expected = latent_shapes(model, header.width, header.height)
    if (header.z_shape, header.y_shape) != expected:
        raise FormatError(f"latent shapes {header.z_shape}, {header.y_shape} do not match a "
                          f"{header.width}x{header.height} image")


def check_streams(c: Container) -> None:
    """Refuse a stream longer than any coding of its latents can be (before decoding it)."""
    for name, stream, shape in (("z", c.z, c.header.z_shape), ("y", c.y, c.header.y_shape)):
        bound = entropy.max_stream_bytes(int(np.prod(shape)))
        if len(stream) > bound:
            raise FormatError(f"the {name} stream has {len(stream)} bytes, more than the "
                              f"{bound} its {'x'.join(map(str, shape))} latents can need")


def _decode_stream(tables: entropy.Tables, stream: bytes, indexes: np.ndarray) -> Tensor:
    decoder = entropy.Decoder(tables, stream)
    symbols = decoder.decode(indexes)
    decoder.finish()
    return torch.from_numpy(symbols.astype(np.float32))


def decode_latents(model: LatentModel, c: Container) -> HardLatents:
    """Entropy-decode the streams of a parsed file into the transmitted latents."""
    h = c.header
    check_model(h, model)
    check_streams(c)
    z_tables, y_tables = coder_tables(model)
    z_hat = _decode_stream(z_tables, c.z, z_indexes(h.z_shape))
    if model.has_context:
        return context_codec.decode_y(model, c.y, z_hat, h.y_shape)
    scales, means = model.hyper_decode(z_hat, torch.Size((1, *h.y_shape)))
    y_symbols = _decode_stream(y_tables, c.y, model.scale_indexes(scales))
    return HardLatents(z_hat, y_symbols, means, scales)


@contextmanager
def portable_convolutions() -> Iterator[None]:
    """Run CPU convolutions without oneDNN, whose float32 results change with the
    thread count (measured: 12 pixels of kodim01 differ by one 8-bit level between
    1 and 2 threads); PyTorch's native convolutions gave identical bits for 1-8 threads."""
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def decode_window(model: LatentModel) -> int:
    """The edge in pixels of the decoder's largest g_s window: a tile and its halo."""
    return (TILE + 2 * max(HALO, model.synthesis_halo)) * SYNTHESIS_SCALE


@torch.no_grad()
def synthesize(model: LatentModel, y_hat: Tensor) -> Tensor:
    """x̂ = g_s(ŷ) tile by tile with portable convolutions: bounded memory, same bits everywhere."""
    b, _, h, w = y_hat.shape
    s, halo = SYNTHESIS_SCALE, max(HALO, model.synthesis_halo)
    out = torch.empty(b, 3, h * s, w * s)
    with portable_convolutions():
        for r in range(0, h, TILE):
            for c in range(0, w, TILE):
                r0, c0 = max(r - halo, 0), max(c - halo, 0)
                r1, c1 = min(r + TILE + halo, h), min(c + TILE + halo, w)
                piece = model.synthesis(y_hat[..., r0:r1, c0:c1].contiguous().to(model.device)).cpu()
                th, tw = min(TILE, h - r), min(TILE, w - c)
                out[..., r * s:(r + th) * s, c * s:(c + tw) * s] = \
                    piece[..., (r - r0) * s:(r - r0 + th) * s, (c - c0) * s:(c - c0 + tw) * s]
    return out


@torch.no_grad()
def decode(model: LatentModel, data: bytes, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode a whole file: header checks, latents, g_s, crop, alpha.

    Raises:
        FormatError: malformed file, one made for another model, or one announcing
            more than ``max_pixels`` pixels.
    """
    c = unpack(data)
    h = c.header
    check_size(h, max_pixels)
    hard = decode_latents(model, c)
    x_hat = synthesize(model, hard.y_hat)[..., :h.height, :h.width]
    alpha = None
    if c.alpha is not None:
        raw = decompress_alpha(c.alpha, h.width * h.height)
        alpha = np.frombuffer(raw, np.uint8).reshape(h.height, h.width).copy()
    return Decoded(h, hard, x_hat, alpha)
