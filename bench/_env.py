"""What every benchmark report states: command, date, hardware, threads, load, memory.

The CPU is shared, so each report records the load average next to its figures,
and peak memory is measured per section by resetting the kernel's high-water mark.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone

import torch


def add_threads_arg(p) -> None:
    """Benchmarks default to one thread: on the shared 2-core CPU (load 6-11 while these
    figures were taken) two OpenMP threads wait on each other at every op and ran the
    same step about 3x slower than one."""
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")


def header(title: str) -> str:
    """Markdown lines: title, command, date, hardware, torch threads, load at start."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo")
                  if line.startswith("flags")), [])
    isa = ", ".join(f for f in ("avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16") if f in flags)
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return "\n".join([
        f"# {title}", "",
        f"- command: `{' '.join(shlex.quote(a) for a in ['python', *sys.argv])}`",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- hardware: {os.cpu_count()} CPU cores ({cpu}; {isa or 'no AVX-512'}); GPU: {dev}",
        f"- torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"- load average at start (1/5/15 min): {load()}", "",
    ])


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def reset_peak_rss() -> None:
    """Reset VmHWM so :func:`peak_rss_mib` measures from here (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Clock:
    """Wall and process-CPU seconds; CPU time is less sensitive to other jobs' load."""

    def __init__(self) -> None:
        sync()
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        sync()
        return time.perf_counter() - self.wall, time.process_time() - self.cpu
