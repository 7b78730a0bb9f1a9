"""Start-up: commands that need no model answer without importing torch (docs/bench/startup.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

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


@pytest.fixture(scope="module")
def sgp_file(tmp_path_factory) -> str:
    """A well-formed .sgp file (streams of made-up bytes: ``info`` reads only the header)."""
    from sgaplus import bitstream as bs

    header = bs.Header(width=64, height=48, mode="RGB", has_alpha=False, model_name="sgaplus-msh-q2",
                       arch="mbt2018-mean", fingerprint=bytes(16), method="ssl", distortion="mse",
                       lmbda=0.0067, iters=25, z_shape=(128, 1, 1), y_shape=(192, 3, 4))
    path = tmp_path_factory.mktemp("startup") / "a.sgp"
    path.write_bytes(bs.pack(bs.Container(header, b"z" * 9, b"y" * 99)))
    return str(path)


@pytest.mark.parametrize("argv", [
    ("--help",),
    ("compress", "--help"),
    ("decompress", "--help"),
    ("methods",),
    ("methods", "--markdown"),
    ("info", "no-such-file.sgp"),
    ("info", "{sgp}"),
    ("compress", "in.png", "--no-such-option"),
    ("compress", "--effort", "12", "in.png"),
    ("compress", "in.png", "--method", "nope"),
    ("compress", "in.png", "--method", "ssl", "--param", "a=-1"),
    ("compress", "in.png", "--effort", "3", "--iters", "9"),
    ("compress", "{dir}/missing.png"),
    ("refine", "{dir}/missing.png"),
    ("decompress",),
])
def test_light_commands_do_not_import_torch(argv, sgp_file):
    argv = tuple(a.format(sgp=sgp_file, dir=Path(sgp_file).parent) for a in argv)
    result, seconds = _run(*argv)
    assert result["heavy"] == [], f"sgaplus {' '.join(argv)} imported {result['heavy']}"
    assert result["code"] in (0, 2)
    # Well under a second alone (docs/bench/startup.md); the bound leaves room for a loaded CPU.
    assert seconds < 5, f"sgaplus {' '.join(argv)} took {seconds:.1f} s"
