"""``--max-memory`` on the command line, and out of memory as one line (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from sgaplus.cli.main import main

#: Runs the CLI in a process whose address space is capped a little above what it has
#: mapped once torch and sgaplus are imported, so a large allocation really fails.
CAPPED = """
import resource, sys
from sgaplus.cli.main import main
import sgaplus.pipeline, sgaplus.zoo
mapped = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmSize"))) * 1024
resource.setrlimit(resource.RLIMIT_AS, (mapped + (1536 << 20), resource.RLIM_INFINITY))
sys.exit(main(sys.argv[1:]))
"""


def test_out_of_memory_is_one_line_naming_the_flag(tmp_path):
    """A 2048x2048 photo with a budget far above what the process may map: g_a in one
    piece cannot allocate its activations; the user reads one line, no file is left."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (2048, 2048, 3), dtype=np.uint8)).save(
        tmp_path / "big.png", compress_level=1)
    out = tmp_path / "big.sgp"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", CAPPED, "compress", str(tmp_path / "big.png"), "-o", str(out),
                           "--no-refine", "--device", "cpu", "--max-memory", "64G"],
                          capture_output=True, text=True, env=env, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("sgaplus: error: out of memory coding 1 image(s) of 2048x2048: "
                               "an allocation of ")
    assert lines[0].endswith("failed; lower --max-memory (now 64.0 GiB) to work in smaller tiles")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_a_budget_below_the_smallest_tile_is_refused(tmp_path, capsys, photo_png):
    out = tmp_path / "a.sgp"
    assert main(["compress", str(photo_png), "-o", str(out), "--no-refine", "--max-memory", "100M"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("sgaplus: error: refining 1 image(s) of 96x64 needs about 1002 MiB, more than "
                   "--max-memory 100 MiB; raise --max-memory")
    assert not out.exists()


def test_a_budget_below_the_check_decode_is_refused(tmp_path, capsys):
    """compress decodes its file as decompress will, with g_s in the decoder's fixed tiles
    (not the budget's): a budget that fits the refinement's smallest tiles but not that
    decode is refused up front with the decode's need, and a larger one is not."""
    from sgaplus import codec, memory
    from sgaplus.zoo import load_model

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (640, 640, 3), dtype=np.uint8)).save(
        tmp_path / "a.png")
    model = load_model("default")
    floor = memory.decode_need(640, 640, codec.decode_window(model))
    assert memory.need(1, 640, 640, memory.MIN_TILE, model.synthesis_halo) < floor
    budget = f"{(floor >> 20) - 20}M"
    out = tmp_path / "a.sgp"
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(out), "--no-refine", "--max-memory", budget]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"sgaplus: error: coding 1 image(s) of 640x640 needs about {memory.format_size(floor)} to "
                   f"decode the file as `sgaplus decompress` will, more than --max-memory "
                   f"{memory.format_size((floor >> 20) - 20 << 20)}; raise --max-memory")
    assert not out.exists()
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(out), "--no-refine", "--max-memory",
                 f"{(floor >> 20) + 1}M"]) == 0
    assert out.exists()
