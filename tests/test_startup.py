"""Start-up: commands that need no model answer without importing torch (docs/bench/startup.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

#: Runs the CLI in a fresh interpreter, then reports whether heavy modules were imported.
PROBE = """
import json, sys
from sgaplus.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "compressai", "matplotlib", "scipy", "numpy") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def _run(*argv: str) -> tuple[dict, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          env=env, timeout=60)
    seconds = time.perf_counter() - start
    return json.loads(proc.stderr.strip().splitlines()[-1]), seconds


@pytest.mark.parametrize("argv", [
    ("--help",),
    ("compress", "--help"),
    ("info", "no-such-file.sgp"),
    ("compress", "in.png", "--no-such-option"),
    ("decompress",),
])
def test_light_commands_do_not_import_torch(argv):
    result, seconds = _run(*argv)
    assert result["heavy"] == [], f"sgaplus {' '.join(argv)} imported {result['heavy']}"
    assert result["code"] in (0, 2)
    # Well under a second alone (docs/bench/startup.md); the bound leaves room for a loaded CPU.
    assert seconds < 5, f"sgaplus {' '.join(argv)} took {seconds:.1f} s"
