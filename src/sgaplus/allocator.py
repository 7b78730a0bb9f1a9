"""Keep freed memory in the process for the CPU refinement loop.

Every iteration allocates the same large activations and gradients again (50 MB
each for g_s's last layers at 768x512). glibc serves blocks above its mmap
threshold with fresh mappings and unmaps them at free, so each iteration
page-faults them in anew. With ``M_MMAP_MAX = 0`` such blocks come from the heap
and a high ``M_TRIM_THRESHOLD`` keeps the freed top of the heap, so the next
iteration reuses pages already mapped. Measured by bench/refine_speed.py
(docs/bench/refine_speed.md, kodim01, 1 thread): the reference loop ran 1.33x
faster in a process set up so, and sgaplus's fp32 loop went from 0.69 s/it (the
report before this module) to 0.62 s/it, at about 80-240 MB more peak RSS.

It changes the whole process (memory is kept until exit), so the application
decides: the CLI calls :func:`keep_freed_memory` before it refines on the CPU;
library users may call it themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

#: glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory; False where that is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
