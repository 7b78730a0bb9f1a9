"""``make demo``: compress and decode the bundled photo with the bundled model, twice.

Once with the encoder's latents as they come (``--no-refine``), once after SGA+
refinement at the same λ, so the two files show what refinement buys. Everything
goes through the same CLI a user runs; outputs land in ``demo_out/``.
"""

from __future__ import annotations

import json
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from .cli.main import main as cli

PHOTO = Path(__file__).parent / "data" / "demo.png"
ITERS = 200


def run_json(*argv: str) -> dict:
    buf = StringIO()
    with redirect_stdout(buf):
        code = cli([*argv, "--json"])
    if code:
        raise SystemExit(code)
    return json.loads(buf.getvalue())


def main(out_dir: str = "demo_out") -> int:
    out = Path(out_dir)
    out.mkdir(exist_ok=True)
    print(f"sgaplus demo: {PHOTO.name} with the bundled model, outputs in {out}/")
    rows = []
    for label, extra in (("base", ["--no-refine"]), ("refined", ["--iters", str(ITERS)])):
        sgp, png = out / f"{label}.sgp", out / f"{label}.png"
        print(f"  sgaplus compress {PHOTO.name} -o {sgp} {' '.join(extra)}", flush=True)
        enc = run_json("compress", str(PHOTO), "-o", str(sgp), "--force", *extra)
        print(f"  sgaplus decompress {sgp} -o {png}", flush=True)
        dec = run_json("decompress", str(sgp), "-o", str(png), "--force")
        rows.append((label, enc, dec))
    print(f"\n{'':9}{'bytes':>8}{'bpp':>8}{'bpp est.':>10}{'PSNR dB':>9}{'iters':>7}"
          f"{'enc s':>8}{'dec s':>7}")
    for label, enc, dec in rows:
        print(f"{label:9}{enc['bytes']:8d}{enc['bpp']:8.4f}{enc['bpp_estimated']:10.4f}"
              f"{enc['psnr']:9.2f}{enc['iters']:7d}{enc['seconds']:8.1f}{dec['seconds']:7.2f}")
    (base, b, _), (_, r, _) = rows
    print(f"\nrefinement: {100 * (r['bytes'] / b['bytes'] - 1):+.1f}% bytes, "
          f"{r['psnr'] - b['psnr']:+.2f} dB PSNR (decoded images: {out}/base.png, {out}/refined.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
