"""What every benchmark report states: command, date, hardware, threads, load, memory.

The CPU is shared, so each report records the load average next to its figures,
and peak memory is measured per section by resetting the kernel's high-water mark.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from sgaplus.util import cpu_model, cpuinfo


def parse_args(doc: str, out: str, quick_help: str,
               flags: dict[str, tuple[str, str]] | None = None,
               extra: Callable[[argparse.ArgumentParser], object] | None = None) -> argparse.Namespace:
    """The options every benchmark takes (``--quick``, ``--out``, ``--threads``) and its own
    switches (``flags``: name -> (help, the default --out it implies); ``extra`` adds any
    other option to the parser); sets torch's thread count.

    Benchmarks default to one thread: on the shared 2-core CPU (load 6-11 while the first
    figures were taken) two OpenMP threads wait on each other at every op and ran the
    same step about 3x slower than one.
    """
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", type=Path, default=None, help=f"report (default {out})")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    for name, (text, _) in (flags or {}).items():
        p.add_argument(f"--{name}", action="store_true", help=text)
    if extra is not None:
        extra(p)
    args = p.parse_args()
    if args.out is None:
        chosen = [o for name, (_, o) in (flags or {}).items() if getattr(args, name.replace("-", "_"))]
        args.out = Path(chosen[0] if chosen else out)
    torch.set_num_threads(args.threads)
    return args


class Report:
    """A markdown report: each line is printed as it comes (a long benchmark shows its
    progress) and the whole is written once at the end by :meth:`write`."""

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)

    def say(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def figure(self, fig, out: Path, alt: str) -> None:
        """Save ``fig`` beside the report ``out`` (same name, .png) and link it."""
        png = out.with_suffix(".png")
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=120)
        self.say(f"![{alt}]({png.name})")
        self.say()

    def write(self, path: Path) -> None:
        write_report(path, self.lines)


def write_report(path: Path, lines: list[str]) -> None:
    """Close the report with the load average and write it."""
    lines += [f"Load average at the end: {load()}.", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


def header(title: str) -> str:
    """Markdown lines: title, command, date, hardware, torch threads, load at start."""
    cpu, flags = cpu_model(), (cpuinfo("flags") or "").split()
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
