"""The ``.sgp`` container: header, length-prefixed coded streams, CRC-32 trailer.

Byte layout and versioning policy: ``docs/format.md``. This module knows bytes
only, not models: :func:`pack` / :func:`unpack` turn a :class:`Header` plus the
coded streams into a file and back. Every malformed input (empty, truncated,
wrong magic, unknown version, bad checksum, inconsistent fields, trailing
bytes) raises :class:`FormatError` with one readable line; nothing else
escapes, because all reads go through :class:`_Reader`, which checks lengths
before ``struct`` sees the bytes.

Invariant kept by every future version: bytes 0-3 are :data:`MAGIC`, byte 4
the version, and the last 4 bytes a CRC-32 of everything before them. The
checksum is therefore verified before the version is interpreted, so a flipped
version byte reads as "corrupted", not as "made by a newer sgaplus".
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\x89SGP"
#: 2: streams coded by :mod:`sgaplus.entropy` (constriction's ANS); 1 (CompressAI's
#: rANS, whose decoder could be crashed by a crafted file) is no longer read.
VERSION = 2

#: Flag bits of byte 5; the others are reserved and must be 0.
FLAG_ALPHA = 0x01
FLAG_GRAY = 0x02

#: Bytes of the model fingerprint kept in the header (a SHA-256 prefix, 128 bits).
FINGERPRINT_BYTES = 16

#: Largest image the format can describe; a decoder's own limit is lower
#: (:data:`sgaplus.limits.MAX_PIXELS`, checked by ``codec.check_size``).
MAX_PIXELS = 1 << 28

_FIXED = struct.Struct(">4sBBII16s")  # magic, version, flags, width, height, fingerprint
_PARAMS = struct.Struct(">fI")  # λ, iterations
_SHAPE = struct.Struct(">HHH")  # C, H, W
_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")
_CRC = struct.Struct(">I")


class FormatError(ValueError):
    """A file that is not a valid ``.sgp`` file for this reader; the message says why."""


@dataclass(frozen=True)
class Header:
    """What a decoder needs besides the streams, and what ``sgaplus info`` shows.

    Attributes:
        width, height: the original image size in pixels (the decoder crops to it).
        mode: ``RGB`` or ``L``, the PIL mode written back.
        has_alpha: whether an alpha stream follows the y stream.
        model_name: the encoder's model name (for messages only).
        arch: the architecture's CompressAI zoo name (``mbt2018-mean``, ``mbt2018``, ...):
            it decides how the y stream is coded (serially for context models).
        fingerprint: the first 16 bytes of ``LatentModel.fingerprint()``; decoding
            with any other model is refused.
        method, lmbda, iters, distortion: how the latents were refined (informational;
            ``method`` is ``none`` without refinement; λ is in the distortion's units).
        z_shape, y_shape: (C, H, W) of the hyper-latents and latents.
    """

    width: int
    height: int
    mode: str
    has_alpha: bool
    model_name: str
    arch: str
    fingerprint: bytes
    method: str
    distortion: str
    lmbda: float
    iters: int
    z_shape: tuple[int, int, int]
    y_shape: tuple[int, int, int]


@dataclass(frozen=True)
class Container:
    """A parsed file: the header and the raw coded streams."""

    header: Header
    z: bytes
    y: bytes
    alpha: bytes | None = None


def _short_string(text: str) -> bytes:
    """UTF-8, cut to 255 bytes on a character boundary (one length byte)."""
    raw = text.encode("utf-8")[:255]
    return raw.decode("utf-8", "ignore").encode("utf-8")


def write_header(h: Header) -> bytes:
    """Serialise ``h`` (everything before the streams)."""
    if h.mode not in ("RGB", "L"):
        raise ValueError(f"unsupported mode {h.mode!r}")
    if len(h.fingerprint) != FINGERPRINT_BYTES:
        raise ValueError("fingerprint must be 16 bytes")
    flags = (FLAG_ALPHA if h.has_alpha else 0) | (FLAG_GRAY if h.mode == "L" else 0)
    strings = [_short_string(t) for t in (h.model_name, h.arch, h.method, h.distortion)]
    return b"".join([
        _FIXED.pack(MAGIC, VERSION, flags, h.width, h.height, h.fingerprint),
        *(_U8.pack(len(t)) + t for t in strings),
        _PARAMS.pack(h.lmbda, h.iters),
        _SHAPE.pack(*h.z_shape), _SHAPE.pack(*h.y_shape),
    ])


def pack(c: Container) -> bytes:
    """The whole file: header, streams (each with a 4-byte length), CRC-32."""
    if c.header.has_alpha != (c.alpha is not None):
        raise ValueError("has_alpha and the alpha stream disagree")
    streams = [c.z, c.y] + ([c.alpha] if c.alpha is not None else [])
    body = write_header(c.header) + b"".join(_U32.pack(len(s)) + s for s in streams)
    return body + _CRC.pack(zlib.crc32(body))


class _Reader:
    """Sequential reads that raise :class:`FormatError` instead of running short."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise FormatError(f"truncated file: {what} runs past the end")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, s: struct.Struct, what: str) -> tuple:
        return s.unpack(self.take(s.size, what))

    def string(self, what: str) -> str:
        (n,) = self.unpack(_U8, what)
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{what} is not UTF-8") from None

    def stream(self, what: str) -> bytes:
        (n,) = self.unpack(_U32, f"{what} length")
        return self.take(n, f"{what} stream")


def check_envelope(data: bytes) -> None:
    """Magic, checksum and version, in that order (see the module docstring)."""
    if len(data) == 0:
        raise FormatError("empty file")
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise FormatError("truncated file: shorter than the magic bytes")
        raise FormatError("not an sgaplus file (bad magic bytes)")
    if len(data) < _FIXED.size + _CRC.size:
        raise FormatError("truncated file: shorter than the fixed header")
    (crc,) = _CRC.unpack(data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise FormatError("checksum mismatch: the file is truncated or corrupted")
    if data[4] < VERSION:
        raise FormatError(f"format version {data[4]} is no longer read (its coder could be crashed "
                          f"by a crafted file); compress the image again with this sgaplus")
    if data[4] != VERSION:
        raise FormatError(f"format version {data[4]} is not supported (this sgaplus reads "
                          f"version {VERSION}); a newer sgaplus may read it")


def parse_header(r: _Reader) -> Header:
    """Read and validate the header fields (syntax only; the codec checks them against the model)."""
    _, _, flags, width, height, fingerprint = r.unpack(_FIXED, "header")
    if flags & ~(FLAG_ALPHA | FLAG_GRAY):
        raise FormatError(f"reserved flag bits set (0x{flags:02x})")
    if not (width >= 1 and height >= 1 and width * height <= MAX_PIXELS):
        raise FormatError(f"invalid image size {width}x{height}")
    model_name = r.string("model name")
    arch = r.string("architecture")
    method = r.string("method name")
    distortion = r.string("distortion")
    lmbda, iters = r.unpack(_PARAMS, "refinement parameters")
    z_shape, y_shape = r.unpack(_SHAPE, "z shape"), r.unpack(_SHAPE, "y shape")
    if min(z_shape + y_shape) < 1:
        raise FormatError("invalid latent shape")
    return Header(width=width, height=height, mode="L" if flags & FLAG_GRAY else "RGB",
                  has_alpha=bool(flags & FLAG_ALPHA), model_name=model_name, arch=arch,
                  fingerprint=fingerprint, method=method, distortion=distortion,
                  lmbda=lmbda, iters=iters,
                  z_shape=z_shape, y_shape=y_shape)


def unpack(data: bytes) -> Container:
    """Parse a whole file; raises :class:`FormatError` for anything malformed."""
    data = bytes(data)
    check_envelope(data)
    r = _Reader(data[:-4])
    header = parse_header(r)
    z = r.stream("z")
    y = r.stream("y")
    alpha = r.stream("alpha") if header.has_alpha else None
    if r.pos != len(r.data):
        raise FormatError(f"{len(r.data) - r.pos} unexpected bytes after the last stream")
    return Container(header, z, y, alpha)


def compress_alpha(alpha: bytes) -> bytes:
    """Alpha is carried losslessly: zlib at its best ratio."""
    return zlib.compress(alpha, 9)


def decompress_alpha(stream: bytes, size: int) -> bytes:
    """Inflate exactly ``size`` bytes, refusing short, long or broken streams (no zip bombs)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(stream, size + 1)  # +1: runs on to the end-of-stream marker
    except zlib.error:
        raise FormatError("alpha stream is corrupted") from None
    if len(out) != size or not d.eof or d.unconsumed_tail or d.unused_data:
        raise FormatError("alpha stream has the wrong size")
    return out
