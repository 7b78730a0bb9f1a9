"""sgaplus.allocator: freed large blocks stay mapped, so the loop does not fault them in
again, until release_freed_memory hands them back."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

SCRIPT = """
import sys, torch
from sgaplus.allocator import keep_freed_memory, release_freed_memory

def rss_mib():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) / 1024

kept = keep_freed_memory() if sys.argv[1] == 'keep' else False
before = rss_mib()
block = torch.ones(64 * 2**20)  # 256 MiB, far above glibc's mmap threshold
pin = torch.ones(2**20)  # 4 MiB allocated after it: the freed block is a hole below the heap's top
del block
freed = rss_mib() - before
released = release_freed_memory()
print(kept, freed, released, rss_mib() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt and malloc_trim")
def test_freed_blocks_stay_with_the_process_until_released():
    def run(mode: str) -> tuple[str, float, str, float]:
        out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                             check=True, timeout=120).stdout.split()
        return out[0], float(out[1]), out[2], float(out[3])

    kept, freed_mib, released, released_mib = run("keep")
    assert kept == "True" and freed_mib > 200  # the freed 256 MiB is still mapped
    assert released == "True" and released_mib < 50  # until released, hole and all
    kept, freed_mib, _, _ = run("default")
    assert kept == "False" and freed_mib < 50  # glibc unmapped it at free
