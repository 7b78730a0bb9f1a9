"""Start-up time of the CLI: median wall time of commands that need no model, each in a fresh
interpreter, and what ``import sgaplus`` pulls in (``python -X importtime``).

    PYTHONPATH=src OMP_NUM_THREADS=1 python bench/startup.py [--repeat 5]

Prints a Markdown table and the load average (the CPU may be shared) for docs/bench/startup.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = (["--help"], ["methods"], ["info", "missing.sgp"], ["compress", "x.png", "--bogus"],
            ["decompress", "--help"])


def wall(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sgaplus.cli", *argv], capture_output=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_seconds(module: str) -> float:
    """Cumulative import time of ``module`` as ``-X importtime`` reports it."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                         capture_output=True, text=True).stderr
    rows = [line.split("|") for line in err.splitlines() if line.startswith("import time:")]
    return max(int(r[1]) for r in rows if r[2].strip() == module) / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| command | median wall s |\n|---|---|")
    for argv in COMMANDS:
        print(f"| `sgaplus {' '.join(argv)}` | {wall(argv, args.repeat):.2f} |")
    for module in ("sgaplus", "sgaplus.cli.main", "torch"):
        print(f"| `import {module}` (-X importtime, cumulative) | {import_seconds(module):.2f} |")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
