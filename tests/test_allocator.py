"""sgaplus.allocator: freed large blocks stay mapped, so the loop does not fault them in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

SCRIPT = """
import sys, torch
from sgaplus.allocator import keep_freed_memory

def rss_mib():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS')) / 1024

kept = keep_freed_memory() if sys.argv[1] == 'keep' else False
before = rss_mib()
block = torch.ones(64 * 2**20)  # 256 MiB, far above glibc's mmap threshold
del block
print(kept, rss_mib() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_blocks_stay_with_the_process():
    def run(mode: str) -> tuple[str, float]:
        out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                             check=True, timeout=120).stdout.split()
        return out[0], float(out[1])

    kept, kept_mib = run("keep")
    default, default_mib = run("default")
    assert kept == "True" and kept_mib > 200  # the freed 256 MiB is still mapped
    assert default == "False" and default_mib < 50  # glibc unmapped it at free
