"""A memory-safe entropy coder over CompressAI's quantized CDF tables (``constriction``'s ANS).

CompressAI's own rANS decoder does not bounds-check its input: a crafted ``.sgp``
file made it read past its buffer, crash, or decode differently in every process
(issue 16). This module codes the same symbols with the same tables through
``constriction`` (Rust), whose decoder copies the stream into its own buffer and
can only ever see those words; decoding past the end yields symbols, never reads
outside the buffer, and :meth:`Decoder.finish` then refuses the stream.

Models. A :class:`Tables` holds one categorical distribution per table index, built
from an entropy model's integer CDFs (``LatentModel.cdf_tables``): the weights are
the 16-bit CDF's integer steps, which constriction rescales to its 24-bit precision
with IEEE multiplications and additions only (``perfect=False``; no library calls),
so encoder and decoder derive bit-identical models from the same tables. The scale
table of a Gaussian conditional and the per-channel CDFs of an entropy bottleneck
are both just tables.

Escape. As in CompressAI, a symbol outside its table's range is coded as the
table's last ("tail mass") entry followed by its value: the bit length ``k`` of
``raw`` (``2(v - max)`` above, ``-2v - 1`` below) uniformly over 0..24, then its
``k - 1`` bits below the leading one uniformly. Every escape decodes to a value
outside the range, so one set of latents has one coding. Symbols whose ``raw``
needs more than 24 bits (|symbol| ≳ 2^23) are refused at encode: float32 latents
of an image never come near, and bounding them bounds what a hostile stream can
decode to.

Order. Symbols are supplied and decoded in *chunks*: a context model asks for one
spatial position at a time, having computed its coding parameters from the symbols
decoded before; today's models use one chunk for the whole latent. Within a chunk
the coder visits elements grouped by table index (stable), so that each group is one
call into constriction (the cost per chunk is a few microseconds per distinct index,
not per element). The decoder must therefore ask for exactly the chunks the encoder
was given, in the same order. ANS decodes in the reverse order of encoding, so
:func:`encode` takes all chunks first and codes them last to first.

Markers. ANS from its empty state has a fixed point: decoding from an empty coder
yields each table's first symbol forever and leaves it empty, so an empty stream
would be a "valid" coding of such latents, and a stream too short for its latents
would decode the rest that way unnoticed. Every stream therefore starts and ends (in
decode order) with the 32-bit :data:`MARKER`: :class:`Decoder` checks the first
before decoding anything, which also turns away nearly every garbage stream at once,
and :meth:`Decoder.finish` the last, then that the coder is empty.

Gaussians. Context models code ŷ on the integer grid under N(μ, σ) with a fractional
μ, which zero-mean tables indexed by σ cannot express; :func:`encode_gaussian` and
:meth:`Decoder.decode_gaussian` code ŷ − round(μ) under constriction's
``QuantizedGaussian`` (N(μ − round(μ), σ) integrated over the integer bins, in float64
on both sides) within ±:data:`GAUSSIAN_RANGE`, framed by the same markers.

Work. Each element costs O(1) (one categorical decode, for an escape two uniform
ones), whatever the stream holds; no loop depends on the stream's content.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import constriction
import numpy as np

from .bitstream import FormatError

_ans = constriction.stream.stack
_models = constriction.stream.model

#: Largest bit length of an escaped ``raw`` value; mantissas of up to 23 bits stay
#: below constriction's 24-bit model precision.
ESCAPE_BITS = 24

#: The 32 bits every stream decodes first and last, as two 16-bit halves ("SG", "P+").
MARKER = (0x5347, 0x502B)

#: A stream of n elements needs at most 24 bits per categorical symbol (constriction's
#: smallest probability is 2^-24), plus an escape of ~4.6 + 23 bits, plus the marker and
#: the final 64-bit ANS state: 8 bytes per element and 16 more bound every valid stream.
BYTES_PER_ELEMENT = 8
FIXED_BYTES = 16

#: Largest |ŷ − round(μ)| a Gaussian stream carries. Every symbol in range keeps a nonzero
#: probability (constriction's leaky quantisation spends (2R+1)/2^24 of the mass on that,
#: about 2e-4 bits per latent at R = 1024); trained models' latents stay within tens of μ.
GAUSSIAN_RANGE = 1024

_GAUSSIAN = _models.QuantizedGaussian(-GAUSSIAN_RANGE, GAUSSIAN_RANGE)
_UNIFORM_K = _models.Uniform(ESCAPE_BITS + 1)
_UNIFORM_16 = _models.Uniform(1 << 16)
_UNIFORM = _models.Uniform()


def max_stream_bytes(elements: int) -> int:
    """An upper bound on the length of any stream that codes ``elements`` symbols."""
    return BYTES_PER_ELEMENT * elements + FIXED_BYTES


@dataclass(frozen=True, eq=False)
class Tables:
    """One categorical model per table index; the last symbol of each is the escape.

    Attributes:
        models: constriction models, one per table.
        escape: per table, the value coded for an out-of-range symbol (= its range size).
        offset: per table, the symbol coded as value 0 (CompressAI's ``_offset``).
    """

    models: tuple
    escape: np.ndarray
    offset: np.ndarray

    @classmethod
    def from_cdfs(cls, cdf: np.ndarray, cdf_length: np.ndarray, offset: np.ndarray) -> Tables:
        """Tables from CompressAI's integer CDFs.

        Raises:
            ValueError: a table that is not a valid CDF (a damaged model, not a bad file).
        """
        cdf, cdf_length = np.asarray(cdf, np.int64), np.asarray(cdf_length, np.int64).reshape(-1)
        models = []
        for row, n in zip(cdf, cdf_length):
            steps = np.diff(row[:n])
            if not (3 <= n <= row.size and row[0] == 0 and (steps > 0).all()):
                raise ValueError("the model's CDF tables are invalid; rebuild them (LatentModel.prepare)")
            models.append(_models.Categorical(steps.astype(np.float64), perfect=False))
        return cls(tuple(models), cdf_length - 2, np.asarray(offset, np.int64).reshape(-1))

    def __len__(self) -> int:
        return len(self.models)


def _groups(indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, table of each group, group boundaries): the chunk's elements by table index."""
    order = np.argsort(indexes, kind="stable")
    tables, starts = np.unique(indexes[order], return_index=True)
    return order, tables, np.append(starts, order.size)


def _escape_split(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """raw -> (bit lengths k, which have a mantissa, the mantissas' alphabet sizes)."""
    k = np.frexp(raw.astype(np.float64))[1].astype(np.int32)  # the bit length; 0 for 0
    has_mantissa = k >= 2
    return k, has_mantissa, (1 << (k[has_mantissa] - 1)).astype(np.int32)


def _check_chunk(tables: Tables, indexes: np.ndarray) -> np.ndarray:
    flat = np.asarray(indexes).reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= len(tables)):
        raise ValueError(f"table indexes must lie in 0..{len(tables) - 1}")
    return flat.astype(np.int64, copy=False)


def _encode_chunk(coder, tables: Tables, symbols: np.ndarray, indexes: np.ndarray) -> None:
    """Push one chunk onto the ANS stack in reverse, so it decodes in forward order."""
    idx = _check_chunk(tables, indexes)
    sym = np.asarray(symbols).reshape(-1)
    if sym.shape != idx.shape:
        raise ValueError(f"{sym.size} symbols but {idx.size} table indexes")
    if sym.size and not (np.isfinite(sym).all() and (sym == np.round(sym)).all()
                         and np.abs(sym).max() < 2**31):
        raise ValueError("symbols must be integers of magnitude below 2^31")
    values = sym.astype(np.int64) - tables.offset[idx]
    top = tables.escape[idx]
    raw = np.where(values < 0, -2 * values - 1, 2 * (values - top))
    escaped = (values < 0) | (values >= top)
    raw = raw[escaped]
    if raw.size and raw.max() >= 1 << ESCAPE_BITS:
        raise ValueError(f"a latent of magnitude {int(np.abs(sym).max())} is beyond the coder's "
                         f"range (about ±2^{ESCAPE_BITS - 1})")
    values[escaped] = top[escaped]
    k, has_mantissa, sizes = _escape_split(raw)
    if sizes.size:
        mantissa = raw[has_mantissa] - sizes
        coder.encode_reverse(mantissa.astype(np.int32), _UNIFORM, sizes)
    if k.size:
        coder.encode_reverse(k, _UNIFORM_K)
    order, group_tables, bounds = _groups(idx)
    ordered = values[order].astype(np.int32)
    for g in range(len(group_tables) - 1, -1, -1):
        coder.encode_reverse(ordered[bounds[g]:bounds[g + 1]], tables.models[group_tables[g]])


def encode(tables: Tables, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Code ``(symbols, table indexes)`` chunks, given in decode order, into one stream.

    Symbols are integers (any integer dtype, or floats holding integers); indexes pick
    each element's table. A :class:`Decoder` must ask for the same chunks in the same order.

    Raises:
        ValueError: mismatched shapes, an index outside the tables, a non-integer or
            out-of-range symbol.
    """
    chunks = list(chunks)
    coder = _open()
    for symbols, indexes in reversed(chunks):
        _encode_chunk(coder, tables, symbols, indexes)
    return _close(coder)


def encode_gaussian(symbols: np.ndarray, means: np.ndarray, stds: np.ndarray) -> bytes:
    """Code integer ``symbols`` under N(means, stds) over the integer bins, in decode order.

    Raises:
        ValueError: a symbol outside ±:data:`GAUSSIAN_RANGE`, or non-finite parameters.
    """
    symbols = np.asarray(symbols).reshape(-1)
    if symbols.size and np.abs(symbols).max() > GAUSSIAN_RANGE:
        raise ValueError(f"a latent lies {int(np.abs(symbols).max())} steps from its prediction; "
                         f"the coder carries at most {GAUSSIAN_RANGE}")
    coder = _open()
    coder.encode_reverse(symbols.astype(np.int32), _GAUSSIAN, np.asarray(means, np.float64),
                         np.asarray(stds, np.float64))
    return _close(coder)


def _open():
    """A coder holding the end marker (pushed first: ANS decodes in reverse)."""
    coder = _ans.AnsCoder()
    coder.encode_reverse(np.array(MARKER, np.int32), _UNIFORM_16)
    return coder


def _close(coder) -> bytes:
    coder.encode_reverse(np.array(MARKER, np.int32), _UNIFORM_16)
    return coder.get_compressed().astype("<u4").tobytes()


class Decoder:
    """Decodes a stream chunk by chunk; :meth:`finish` proves it was consumed exactly.

    Raises:
        FormatError: a stream that is not a whole number of 32-bit words, whose last
            word is zero (no encoder writes one), or that does not start with the marker.
    """

    def __init__(self, tables: Tables | None, stream: bytes) -> None:
        if len(stream) % 4:
            raise FormatError(f"a coded stream of {len(stream)} bytes is not a whole number of words")
        try:
            self._coder = _ans.AnsCoder(np.frombuffer(stream, "<u4").astype(np.uint32))
        except ValueError:
            raise FormatError("a coded stream ends in a zero word (corrupted)") from None
        if not self._marker():
            raise FormatError("a coded stream does not start with its marker (corrupted)")
        self._tables = tables

    def _marker(self) -> bool:
        return tuple(self._coder.decode(_UNIFORM_16, 2)) == MARKER

    def decode(self, indexes: np.ndarray) -> np.ndarray:
        """The next chunk's symbols (int64, shaped like ``indexes``), given its table indexes.

        Never fails on a bad stream: garbage decodes to some symbols (O(1) work each,
        within the escape range), and :meth:`finish` refuses it.
        """
        idx = _check_chunk(self._tables, indexes)
        values = np.empty(idx.size, np.int64)
        order, group_tables, bounds = _groups(idx)
        for g, table in enumerate(group_tables):
            lo, hi = bounds[g], bounds[g + 1]
            values[order[lo:hi]] = self._coder.decode(self._tables.models[table], int(hi - lo))
        top = self._tables.escape[idx]
        escaped = values == top
        n_escaped = int(escaped.sum())
        if n_escaped:
            k = self._coder.decode(_UNIFORM_K, n_escaped).astype(np.int64)
            raw = np.where(k >= 1, 1, 0).astype(np.int64) << np.maximum(k - 1, 0)
            has_mantissa = k >= 2
            if has_mantissa.any():
                sizes = (1 << (k[has_mantissa] - 1)).astype(np.int32)
                raw[has_mantissa] += self._coder.decode(_UNIFORM, sizes)
            values[escaped] = np.where(raw % 2 == 1, -(raw + 1) // 2, top[escaped] + raw // 2)
        return (values + self._tables.offset[idx]).reshape(np.shape(indexes))

    def decode_gaussian(self, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
        """The next ``len(means)`` symbols of a Gaussian stream (int64).

        Raises:
            FormatError: parameters constriction refuses (non-finite μ, σ ≤ 0): only a
                corrupt stream's decoded latents lead there.
        """
        try:
            return self._coder.decode(_GAUSSIAN, np.asarray(means, np.float64),
                                      np.asarray(stds, np.float64)).astype(np.int64)
        except (ValueError, OverflowError) as exc:
            raise FormatError(f"a coded stream is corrupted ({exc})") from None

    def finish(self) -> None:
        """Refuse a stream that does not end with the marker right where the chunks decoded
        end, with the coder back in its initial state.

        Raises:
            FormatError: the stream was not consumed exactly by the chunks decoded.
        """
        if not (self._marker() and self._coder.is_empty()):
            raise FormatError("a coded stream does not end where its latents do (corrupted)")
