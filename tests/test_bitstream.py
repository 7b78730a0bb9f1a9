"""The .sgp container: round trip, every malformed case, and seeded fuzzing.

Fuzzing uses the tiny model so a file that survives parsing decodes in
milliseconds; the only outcomes allowed are FormatError or a decode whose
latents equal the encoded ones.
"""

from __future__ import annotations

import random
import struct
import time
import zlib

import numpy as np
import pytest
import torch

from sgaplus import bitstream as bs
from sgaplus import codec
from sgaplus.latent_model import pad


def header(**kw) -> bs.Header:
    base = dict(width=70, height=40, mode="RGB", has_alpha=False, model_name="tiny", arch="mbt2018-mean",
                fingerprint=bytes(range(16)), method="ssl", distortion="mse", lmbda=0.01, iters=7,
                z_shape=(8, 1, 2), y_shape=(12, 4, 8))
    return bs.Header(**{**base, **kw})


def refit_crc(data: bytes | bytearray) -> bytes:
    """A file with its checksum recomputed: what a deliberately edited file looks like."""
    body = bytes(data[:-4])
    return body + struct.pack(">I", zlib.crc32(body))


def test_pack_unpack_round_trip():
    c = bs.Container(header(has_alpha=True, mode="L", model_name="ü" * 200), b"zz", b"yyy", b"a")
    out = bs.unpack(bs.pack(c))
    assert out.z == b"zz" and out.y == b"yyy" and out.alpha == b"a"
    assert out.header.mode == "L" and out.header.has_alpha
    assert out.header.model_name == "ü" * 127  # cut to 255 bytes on a character boundary
    assert out.header.iters == 7 and out.header.lmbda == pytest.approx(0.01)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"", "empty file"),
    (lambda d: d[:2], "truncated"),
    (lambda d: b"GIF89a" + d[6:], "not an sgaplus file"),
    (lambda d: d[:20], "truncated"),
    (lambda d: d[:-1], "checksum"),
    (lambda d: d[:30] + bytes([d[30] ^ 0x10]) + d[31:], "checksum"),
    (lambda d: d + b"\0", "checksum"),
    (lambda d: refit_crc(d[:4] + b"\x07" + d[5:]), "format version 7 is not supported"),
    (lambda d: refit_crc(d[:4] + b"\x01" + d[5:]), "format version 1 is no longer read"),
    (lambda d: refit_crc(d[:5] + b"\x80" + d[6:]), "reserved flag"),
    (lambda d: refit_crc(d[:6] + b"\0\0\0\0" + d[10:]), "invalid image size"),
    (lambda d: refit_crc(d[:-4] + b"\0" + d[-4:]), "unexpected bytes"),
    (lambda d: refit_crc(d[:-5] + d[-4:]), "truncated"),
    (lambda d: refit_crc(d[:5] + b"\x01" + d[6:]), "truncated"),  # alpha flag, no alpha stream
])
def test_malformed_files_raise_format_error(mutate, message):
    data = bs.pack(bs.Container(header(), b"zz", b"yyy"))
    with pytest.raises(bs.FormatError, match=message):
        bs.unpack(mutate(data))


def test_alpha_stream_checks():
    raw = bytes(range(256)) * 4
    assert bs.decompress_alpha(bs.compress_alpha(raw), len(raw)) == raw
    for bad, size in [(b"junk", len(raw)), (bs.compress_alpha(raw), len(raw) - 1),
                      (bs.compress_alpha(raw), len(raw) + 1), (bs.compress_alpha(raw)[:-3], len(raw)),
                      (bs.compress_alpha(b"\0" * 10**7), 100)]:
        with pytest.raises(bs.FormatError):
            bs.decompress_alpha(bad, size)


@pytest.fixture(scope="module")
def tiny_file(tiny_model, photo):
    """A 40x70 RGBA file of the tiny model and its latents."""
    x = photo[..., :40, :70]
    y, z = tiny_model.analysis(pad(x))
    hard = tiny_model.quantize(y, z)
    alpha = np.arange(40 * 70, dtype=np.uint8).reshape(40, 70)
    return codec.encode(tiny_model, hard, 70, 40, "RGB", alpha), hard


def _mutate(data: bytes, rng: random.Random, limit: int | None = None) -> bytes:
    """One random truncation, byte change, insertion or deletion (within ``limit`` if given)."""
    d = bytearray(data)
    end = limit or len(d)
    kind = rng.randrange(4)
    i = rng.randrange(end)
    if kind == 0:
        return bytes(d[:i])
    if kind == 1:
        for _ in range(rng.randint(1, 4)):
            d[rng.randrange(end)] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randrange(1, 256)
    elif kind == 2:
        d[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
    else:
        del d[i:i + rng.randint(1, 3)]
    return bytes(d)


def _decode_or_format_error(model, data: bytes, hard) -> str:
    try:
        dec = codec.decode(model, data)
    except bs.FormatError:
        return "error"
    assert torch.equal(dec.hard.z_hat, hard.z_hat) and torch.equal(dec.hard.y_symbols, hard.y_symbols)
    return "decoded"


@pytest.mark.timeout(120)
def test_fuzz_corrupted_files(tiny_model, tiny_file):
    """3000 seeded corruptions of a whole file: the checksum turns each into a FormatError."""
    data, hard = tiny_file
    rng = random.Random(1234)
    start = time.perf_counter()
    outcomes = [_decode_or_format_error(tiny_model, _mutate(data, rng), hard) for _ in range(3000)]
    assert outcomes.count("error") + outcomes.count("decoded") == 3000
    assert time.perf_counter() - start < 60


@pytest.mark.timeout(120)
def test_fuzz_edited_headers(tiny_model, tiny_file):
    """1000 header edits with a valid checksum reach the field checks and the model
    checks: a clean FormatError, or a decode of the very same latents."""
    data, hard = tiny_file
    c = bs.unpack(data)
    header_len = len(bs.write_header(c.header)) + 4  # + the z length field
    rng = random.Random(99)
    outcomes = [_decode_or_format_error(tiny_model, refit_crc(_mutate(data[:-4], rng, header_len) + b"\0" * 4), hard)
                for _ in range(1000)]
    assert outcomes.count("error") > 700  # most edits break a check; the rest decode exactly
