"""Keep freed memory in the process for the CPU refinement loop, and give it back
after the passes over the whole image.

Every iteration allocates the same large activations and gradients again (50 MB
each for g_s's last layers at 768x512). glibc serves blocks above its mmap
threshold with fresh mappings and unmaps them at free, so each iteration
page-faults them in anew. With ``M_MMAP_MAX = 0`` such blocks come from the heap
and a high ``M_TRIM_THRESHOLD`` keeps the freed top of the heap, so the next
iteration reuses pages already mapped. Measured by bench/refine_speed.py
(docs/bench/refine_speed.md, kodim01, 1 thread): the reference loop ran 1.33x
faster in a process set up so, and sgaplus's fp32 loop went from 0.69 s/it (the
report before this module) to 0.62 s/it, at about 80-240 MB more peak RSS.

The passes before and after the loop (g_a, the coder's float64 h_s, the figures'
x̂) run once and free what they allocated; kept, those pages count in the
process's memory while the loop allocates its own around them, whose blocks do
not fit the holes they left. :func:`release_freed_memory` hands every free page
of the heap back (glibc's ``malloc_trim(0)``, which also releases free pages
in the middle of the heap, not only its top); the refiner calls it between the
passes, which costs one page fault per page the loop then takes anew (once, not
per iteration). Measured by bench/refine_memory.py (docs/bench/refine_memory.md, 64-latent
tiles, 3 iterations): peak RSS 2735, 3932 and 5566 MiB at 4, 12 and 24 MP against 2791,
4075 and 6727 without it in the same run.

Keeping memory changes the whole process (memory is kept until exit), so the
application decides: the CLI calls :func:`keep_freed_memory` before it refines on
the CPU; library users may call it themselves. Releasing is harmless anywhere,
so the refiner always does it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from functools import cache

#: glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (whose mallopt and malloc_trim these are), else None."""
    if platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(ctypes.util.find_library("c"))


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory; False where that is not glibc."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_MAX, 0)) \
        and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def release_freed_memory() -> bool:
    """Give the heap's free pages back to the system (glibc's ``malloc_trim(0)``).

    Returns whether glibc released any. Elsewhere (macOS, musl, Windows) a no-op that
    returns False: those allocators are not set to keep memory by
    :func:`keep_freed_memory` (untested here, Linux only).
    """
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
