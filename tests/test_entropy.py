"""The memory-safe coder (sgaplus.entropy): exact round trips in chunks, escapes, and
streams it must refuse without reading outside them."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sgaplus import entropy
from sgaplus.bitstream import FormatError
from sgaplus.codec import coder_tables


@pytest.fixture(scope="module")
def y_tables(model) -> entropy.Tables:
    """The bundled model's 64 scale-table CDFs."""
    return coder_tables(model)[1]


def latents(tables: entropy.Tables, shape=(192, 8, 12), seed: int = 0):
    """Random symbols around each table's centre, some far outside its range, and indexes."""
    rng = np.random.default_rng(seed)
    indexes = rng.integers(0, len(tables), shape)
    spread = np.maximum(tables.escape[indexes] // 2, 1)
    symbols = np.round(rng.normal(0, 1, shape) * spread / 3)
    far = rng.random(shape) < 0.02
    symbols[far] = rng.choice([-1, 1], far.sum()) * rng.integers(1, 5_000_000, far.sum())
    return symbols.astype(np.float32), indexes


def test_one_chunk_round_trip_with_escapes(y_tables):
    symbols, indexes = latents(y_tables)
    assert (np.abs(symbols) > 1000).sum() > 10  # escapes on both sides of the range
    stream = entropy.encode(y_tables, [(symbols, indexes)])
    decoder = entropy.Decoder(y_tables, stream)
    assert np.array_equal(decoder.decode(indexes), symbols)
    decoder.finish()
    assert len(stream) <= entropy.max_stream_bytes(symbols.size)


def test_chunk_per_position_like_a_context_model(y_tables):
    """Chunks of 192 channels, one per position, decoded one at a time."""
    symbols, indexes = latents(y_tables, seed=1)
    positions = [(symbols[:, i, j], indexes[:, i, j]) for i in range(8) for j in range(12)]
    stream = entropy.encode(y_tables, iter(positions))
    decoder = entropy.Decoder(y_tables, stream)
    for s, ix in positions:
        assert np.array_equal(decoder.decode(ix), s)
    decoder.finish()


def test_thousands_of_small_chunks_cost_well_under_a_second(y_tables):
    """1536 chunks of 192 elements (one per latent position of a 768x512 image): the per-chunk
    overhead stays small. CPU time of this process, so other jobs on the machine do not count."""
    symbols, indexes = latents(y_tables, shape=(192, 32, 48), seed=2)
    chunks = [(symbols[:, i, j], indexes[:, i, j]) for i in range(32) for j in range(48)]
    start = time.process_time()
    stream = entropy.encode(y_tables, chunks)
    encode_s = time.process_time() - start
    start = time.process_time()
    decoder = entropy.Decoder(y_tables, stream)
    decoded = [decoder.decode(ix) for _, ix in chunks]
    decoder.finish()
    decode_s = time.process_time() - start
    assert all(np.array_equal(d, s) for d, (s, _) in zip(decoded, chunks))
    assert encode_s < 1.0 and decode_s < 1.0, (encode_s, decode_s)


@pytest.mark.parametrize("symbols, indexes, message", [
    (np.array([0.5]), np.array([0]), "integers"),
    (np.array([np.nan]), np.array([0]), "integers"),
    (np.array([2.0**40]), np.array([0]), "integers"),
    (np.array([2.0**24]), np.array([0]), "beyond the coder's range"),
    (np.array([1.0, 2.0]), np.array([0]), "2 symbols but 1"),
    (np.array([1.0]), np.array([64]), "table indexes"),
    (np.array([1.0]), np.array([-1]), "table indexes"),
])
def test_encode_refuses_what_it_cannot_code(y_tables, symbols, indexes, message):
    with pytest.raises(ValueError, match=message):
        entropy.encode(y_tables, [(symbols, indexes)])


def test_largest_escapes_round_trip(y_tables):
    """The escape codes every symbol whose raw value has up to 24 bits."""
    top = int(y_tables.escape[0] + y_tables.offset[0])
    symbols = np.array([top + (1 << 23) - 1, y_tables.offset[0] - (1 << 23), top, -top, 0])
    indexes = np.zeros(symbols.size, np.int64)
    decoder = entropy.Decoder(y_tables, entropy.encode(y_tables, [(symbols, indexes)]))
    assert np.array_equal(decoder.decode(indexes), symbols)
    decoder.finish()


@pytest.mark.parametrize("stream, message", [
    (b"", "marker"),
    (b"\xff" * 8, "marker"),
    (b"\x01\x02\x03", "whole number of words"),
    (b"\x01\x00\x00\x00\x00\x00\x00\x00", "zero word"),
])
def test_streams_refused_before_decoding(y_tables, stream, message):
    with pytest.raises(FormatError, match=message):
        entropy.Decoder(y_tables, stream)


def test_leftover_or_missing_data_is_refused_at_finish(y_tables):
    symbols, indexes = latents(y_tables, seed=3)
    stream = entropy.encode(y_tables, [(symbols[:96], indexes[:96]), (symbols[96:], indexes[96:])])
    decoder = entropy.Decoder(y_tables, stream)
    decoder.decode(indexes[:96])
    with pytest.raises(FormatError, match="does not end"):
        decoder.finish()  # a chunk left undecoded
    short = entropy.encode(y_tables, [(symbols[:96], indexes[:96])])
    decoder = entropy.Decoder(y_tables, short)
    decoder.decode(indexes[:96])
    decoder.decode(indexes[96:])  # past the end: some symbols, no reads outside the stream
    with pytest.raises(FormatError, match="does not end"):
        decoder.finish()


def test_garbage_after_a_valid_marker_decodes_the_same_twice_and_is_refused(y_tables):
    """16 MiB of 0xFF behind a real stream's marker: bounded work, same symbols each time."""
    symbols, indexes = latents(y_tables, shape=(192, 16, 16), seed=4)
    real = entropy.encode(y_tables, [(symbols, indexes)])
    hostile = b"\xff" * (1 << 24) + real[-8:]  # the marker sits in the final state words
    runs = []
    for _ in range(2):
        decoder = entropy.Decoder(y_tables, hostile)
        runs.append(decoder.decode(indexes))
        with pytest.raises(FormatError):
            decoder.finish()
    assert np.array_equal(runs[0], runs[1])
    assert np.abs(runs[0]).max() < 1 << 24  # what an escape can reach


def test_tables_refuse_an_invalid_cdf():
    cdf = np.array([[0, 10, 10, 65536]])
    with pytest.raises(ValueError, match="CDF tables are invalid"):
        entropy.Tables.from_cdfs(cdf, np.array([4]), np.array([0]))
