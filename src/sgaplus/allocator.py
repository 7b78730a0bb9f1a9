"""Keep freed memory in the process for the CPU refinement loop, and give it back
after the passes over the whole image.

Every iteration allocates the same large activations and gradients again (50 MB
each for g_s's last layers at 768x512). glibc serves blocks above its mmap
threshold with fresh mappings and unmaps them at free, so each iteration
page-faults them in anew. With ``M_MMAP_MAX = 0`` such blocks come from the heap
and a high ``M_TRIM_THRESHOLD`` keeps the freed top of the heap, so the next
iteration reuses pages already mapped. Measured by bench/refine_speed.py
(kodim01, 1 thread): the reference loop ran 1.33x faster in a process set up so, and
sgaplus's fp32 loop went from 0.69 s/it (the report before this module) to 0.62 s/it, at
about 80-240 MB more peak RSS; in the current docs/bench/refine_speed.md, on another
Xeon, the reference runs 1.41x faster so (ssl; 1.13x for atanh, with another job
beside it).

The passes before and after the loop (g_a, the coder's float64 h_s, the figures'
x̂) run once. With memory kept, what they free stays in the process, and a later
block that does not fit the holes is allocated beside it, within a pass too (the
border's tiles after full ones, the 8-bit copy after x̂), so the pass's peak is more
than its live tensors and the loop then allocates around what is left. The refiner
runs them in :func:`one_off_pass`: the heap's free pages go back to the system
before and after (:func:`release_freed_memory`, glibc's ``malloc_trim(0)``, which
also releases free pages in the middle of the heap, not only its top), and inside
it glibc's default settings hold, so a large block is mapped on its own and unmapped
when freed. The loop then takes its pages anew once (a page fault each), not per
iteration. Measured by bench/refine_memory.py (64-latent tiles, 3 iterations, one run
per row, its ``--before`` rows in the same run): peak RSS 2909 and 3869 MiB at 4 and 24 MP
against 3174 and 5207 when the passes only released the heap between them (the report's
version of 2026-12-02 06:38 UTC in git; the current report, two runs per row: 2424-2630
and 4103-4164 MiB).

Keeping memory changes the whole process (memory is kept until exit), so the
application decides: the CLI calls :func:`keep_freed_memory` before it refines on
the CPU; library users may call it themselves. :func:`one_off_pass` is harmless
anywhere (where memory is not kept it only releases), so the refiner always uses it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

#: glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

#: glibc's defaults for the one-off passes (:func:`one_off_pass`): blocks from 128 KiB up
#: get mappings of their own, at most 65536 of them, and the heap's free top above 128 KiB
#: is given back.
DEFAULT_MMAP_THRESHOLD = 128 * 2**10
DEFAULT_MMAP_MAX = 65_536
DEFAULT_TRIM_THRESHOLD = 128 * 2**10

#: Whether :func:`keep_freed_memory` set this process to keep memory.
_kept = False


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (whose mallopt and malloc_trim these are), else None."""
    if platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(ctypes.util.find_library("c"))


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory; False where that is not glibc."""
    global _kept
    libc = _glibc()
    _kept = libc is not None and bool(libc.mallopt(M_MMAP_MAX, 0)) \
        and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _kept


def release_freed_memory() -> bool:
    """Give the heap's free pages back to the system (glibc's ``malloc_trim(0)``).

    Returns whether glibc released any. Elsewhere (macOS, musl, Windows) a no-op that
    returns False: those allocators are not set to keep memory by
    :func:`keep_freed_memory` (untested here, Linux only).
    """
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


@contextmanager
def one_off_pass() -> Iterator[None]:
    """A pass over the whole image that runs once (g_a, the coder's h_s, the figures):
    the heap's free pages are given back before and after it, and inside it, where
    memory is kept, glibc's defaults hold again, so its large blocks are mapped on
    their own and unmapped when freed.

    Kept memory serves a block from the heap's free space only where it fits, so a pass
    whose blocks differ in size (a tile of the border after a full one, the 8-bit copy
    after x̂) leaves the earlier ones resident beside the later (module docstring). The
    arithmetic does not change: torch aligns every block the same way (64 bytes)
    wherever it comes from (tests/test_allocator.py compares the figures).
    """
    libc = _glibc()
    defaults = libc is not None and _kept
    release_freed_memory()
    if defaults:
        libc.mallopt(M_MMAP_THRESHOLD, DEFAULT_MMAP_THRESHOLD)
        libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
    try:
        yield
    finally:
        release_freed_memory()
        if defaults:
            keep_freed_memory()
