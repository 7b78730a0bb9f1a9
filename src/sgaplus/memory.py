"""How much memory a refinement needs, the budget it must fit, and out-of-memory messages.

A refinement's memory has three parts (measured by bench/refine_memory.py on the
CPU, fp32, kept memory; docs/bench/refine_memory.md):

* a base: the process, torch, the model and the decoder's fixed tiles;
* per image pixel, whatever the tiles: what exists whole. In the loop, per pixel
  (y: 192 channels at 1/16 the resolution, 3 bytes a pixel in float32): x (12
  bytes), y with its gradient and Adam's two moments (12), the relaxation's noise,
  ŷ and g_s's gradient of ŷ (9), h_s's output σ, μ, its last activation and their
  gradients (about 16): some 50 bytes, which the optimisation itself needs (y and z
  are optimised whole). The relaxation and the rate run in bands of rows
  (:func:`sgaplus.tiling.by_rows`) and keep none of their ~25 intermediate copies
  of y. Before and after the loop, one-off passes: the coder's float64 h_s
  (:meth:`LatentModel.quantize`, whole, for bit-exact means; its im2col buffers
  are the largest) and the figures' x̂ and 8-bit copy. They run with glibc's
  default settings, their large blocks unmapped when freed, and the heap goes
  back to the system before and after them (:func:`sgaplus.allocator.one_off_pass`),
  so these passes and the loop do not add up; what glibc's heap keeps of freed
  blocks within the loop (fragmentation) still counts, and varies from run to run;
* per pixel of one piece of g_a or g_s: the activations of g_s forward and
  backward (the loop) or of one no-gradient pass, 128 channels at up to half
  resolution. This is the part that tiles bound.

:func:`tile_size` picks the largest square tile of latents whose estimate fits the
budget, or None when the whole image fits (the fast path: no halo recomputed).
The coefficients are the CPU's; on a GPU the same estimate is used for its memory
(not measured there). :data:`MARGIN` is added on top, so the chooser leaves that
share of the budget free for what the fit does not capture.
"""

from __future__ import annotations

import re

#: Bytes of the process, torch and the model at any image size (fits: 876, 971, 970 and 863
#: MiB in four runs of bench/refine_memory.py; the whole-image term below covers the difference).
BASE = 900 * 2**20

#: Bytes per (padded) image pixel that tiling does not remove (fits: 159, 158, 139 and 124;
#: 273 before the relaxation and rate ran in bands): see the module docstring.
WHOLE_PER_PIXEL = 200

#: Bytes per pixel of one g_a/g_s piece, its halo included (fits: 1187, 789, 816 and 1041): the heaviest
#: pass, the loop's g_s forward and backward.
PIECE_PER_PIXEL = 1_250

#: Bytes per pixel of one window of the decoder's g_s (:func:`sgaplus.codec.synthesize`:
#: fixed tiles whatever the budget, PyTorch's native transposed convolutions with their
#: im2col buffers). ``compress`` decodes every file it writes, after the refinement: a
#: 1600x1200 photo (a 1088x1088-pixel window), ``sgaplus compress --effort 0``, peaked at
#: 2303 MiB (``/usr/bin/time -v``), in that decode; less :data:`BASE` and the whole-image
#: term, about 910 bytes per window pixel.
DECODE_PIECE_PER_PIXEL = 1_000

#: Share added to the estimate, so the chooser leaves it free: peak RSS depends on how
#: glibc's heap fragments (with the tiles' shapes and the order of frees), which a linear
#: fit does not see. bench/refine_memory.py: the least-squares fit to small runs put a 12 MP
#: photo in 109-latent tiles at about 5300 MiB, and it peaked at 6844 while the one-off passes
#: ran in the kept heap (5829 since, docs/bench/refine_memory.md); the constants above, without
#: the margin, at 7391; with it, 8130, in a budget of 8192.
MARGIN = 0.10

#: Smallest tile edge (latents) :func:`tile_size` goes down to: below it the halo
#: dominates the work (a 16-latent tile with a 4-latent halo computes 2.25x its core).
MIN_TILE = 16

#: Default ``--max-memory``: a 12-megapixel photo then refines in tiles within 8 GiB,
#: half of a 16 GB machine, and so does a 24-megapixel one; images up to about 4.7
#: megapixels still run in one piece.
DEFAULT_BUDGET = 8 * 2**30

_UNITS = {"": 2**30, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """``"8G"``, ``"1500M"``, ``"8GiB"`` or ``"8"`` (GiB) -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"invalid memory size {text!r}; write e.g. 8G or 1500M")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(n: float) -> str:
    """Bytes as ``"1.5 GiB"`` / ``"300 MiB"``."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def padded(n: int) -> int:
    """An image side padded to the codec's multiple of 64."""
    return -(-n // 64) * 64


def need(batch: int, height: int, width: int, tile: int | None = None, halo: int = 0) -> int:
    """Estimated bytes to refine a batch of ``height`` x ``width`` images in one piece
    (``tile`` None) or by tiles of ``tile`` latents with ``halo``, :data:`MARGIN` included."""
    h, w = padded(height), padded(width)
    piece = pixels = batch * h * w
    if tile is not None:
        window = (tile + 2 * halo) * 16
        piece = batch * min(window, h) * min(window, w)
    return int((BASE + WHOLE_PER_PIXEL * pixels + PIECE_PER_PIXEL * piece) * (1 + MARGIN))


def decode_need(height: int, width: int, window: int) -> int:
    """Estimated bytes to decode one ``height`` x ``width`` image the way ``sgaplus
    decompress`` does, its g_s in fixed tiles of ``window`` pixels a side (halo included),
    :data:`MARGIN` included. The tiles do not follow the budget (every decoder must do the
    same arithmetic), so this is the least ``--max-memory`` a compression can keep to."""
    h, w = padded(height), padded(width)
    piece = min(window, h) * min(window, w)
    return int((BASE + WHOLE_PER_PIXEL * h * w + DECODE_PIECE_PER_PIXEL * piece) * (1 + MARGIN))


def tile_size(batch: int, height: int, width: int, budget: int, halo: int) -> int | None:
    """The largest tile edge (latents) whose estimate fits ``budget``; None when the whole
    image fits. Never below :data:`MIN_TILE`: a budget too small for that is refused.

    Raises:
        ValueError: not even the smallest tile fits; the message says how much is needed.
    """
    if need(batch, height, width) <= budget:
        return None
    lo, hi = MIN_TILE, max(padded(height), padded(width)) // 16
    if need(batch, height, width, lo, halo) > budget:
        raise ValueError(
            f"refining {batch} image(s) of {width}x{height} needs about "
            f"{format_size(need(batch, height, width, lo, halo))}, more than --max-memory "
            f"{format_size(budget)}; raise --max-memory")
    while lo < hi:  # the largest fitting edge
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if need(batch, height, width, mid, halo) <= budget else (lo, mid - 1)
    return lo


#: How torch reports a failed allocation: its CPU allocator (a RuntimeError), CUDA's
#: caching allocator (``torch.OutOfMemoryError``, also a RuntimeError).
_OOM_TEXT = ("DefaultCPUAllocator: can't allocate memory", "out of memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed allocation (Python's, torch's CPU allocator, CUDA's)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc) for t in _OOM_TEXT)


def requested(exc: BaseException) -> int | None:
    """Bytes of the allocation that failed, when the message says (torch's both do)."""
    text = str(exc)
    m = re.search(r"tried to allocate (\d+) bytes", text)
    if m:
        return int(m.group(1))
    m = re.search(r"Tried to allocate (\d+(?:\.\d+)?) ([KMGT])iB", text)
    return int(float(m.group(1)) * _UNITS[m.group(2)]) if m else None


class OutOfMemory(RuntimeError):
    """An allocation failed: one line saying what was being done, how much was asked
    for, and the flag that lowers the need (``--max-memory`` tiles g_a and g_s)."""

    def __init__(self, exc: BaseException, doing: str, budget: int | None = None) -> None:
        size = requested(exc)
        asked = f": an allocation of {format_size(size)} failed" if size else ""
        flag = "" if budget is None else f"; lower --max-memory (now {format_size(budget)}) to work in smaller tiles"
        super().__init__(f"out of memory {doing}{asked}{flag}")
