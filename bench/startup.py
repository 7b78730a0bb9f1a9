"""Start-up time of the CLI: median wall time of commands that need no model, each in a fresh
interpreter, and what ``import sgaplus`` pulls in (``python -X importtime``). ``info`` reads a
real file, made first by ``sgaplus compress --effort 0`` of a 64x48 gradient (not timed).

    PYTHONPATH=src OMP_NUM_THREADS=1 python bench/startup.py [--repeat 5]

Prints a Markdown table and the load average (the CPU may be shared) for docs/bench/startup.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: ``{sgp}``: the real file.
COMMANDS = (["--help"], ["methods"], ["methods", "--markdown"], ["info", "{sgp}"], ["info", "missing.sgp"],
            ["compress", "x.png", "--bogus"], ["compress", "--effort", "12", "x.png"],
            ["compress", "x.png", "--method", "nope"], ["decompress", "--help"])


def sgaplus(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sgaplus.cli", *argv], capture_output=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def wall(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sgaplus(*argv)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_sgp(folder: Path) -> Path:
    """A real .sgp file, for ``info`` to read."""
    from PIL import Image

    png, sgp = folder / "g.png", folder / "g.sgp"
    Image.frombytes("RGB", (64, 48), bytes((x * 4 + y) % 256 for y in range(48) for x in range(64)
                                           for _ in range(3))).save(png)
    done = sgaplus("compress", str(png), "-o", str(sgp), "--effort", "0", "--quiet")
    if done.returncode:
        sys.exit(done.stderr.decode())
    return sgp


def import_seconds(module: str, repeat: int) -> float | None:
    """Median cumulative import time of ``module`` as ``-X importtime`` reports it (None: the
    checkout has no such module)."""
    times = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                              capture_output=True, text=True)
        if done.returncode:
            return None
        rows = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:")]
        found = [int(r[1]) for r in rows if r[2].strip() == module]
        times.append(max(found) / 1e6)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sgp = make_sgp(Path(folder))
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("| command | median wall s |\n|---|---|")
        for argv in COMMANDS:
            shown = " ".join(argv).replace("{sgp}", "FILE.sgp")
            print(f"| `sgaplus {shown}` | {wall([a.format(sgp=sgp) for a in argv], args.repeat):.2f} |")
    for module in ("sgaplus", "sgaplus.cli.main", "sgaplus.methods", "torch"):
        seconds = import_seconds(module, args.repeat)
        print(f"| `import {module}` (-X importtime, cumulative) | "
              f"{'—' if seconds is None else f'{seconds:.2f}'} |")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
