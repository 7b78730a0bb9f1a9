"""Peak memory and time per iteration of a refinement vs image size, tiled and untiled (issue 14).

Each run is a fresh process (so its peak RSS is its own), as the CLI runs: kept
memory (``sgaplus.allocator``), the default Refiner (ssl, fp32, channels_last with
the CPU kernels), ``log_every=0``. The image is kodim01 resized (bilinear) to a
4:3 photo size; content does not change a convolution's cost. Peak RSS is the
process's high-water mark from just after the input tensor is made (the bytes of
the input, 12 per pixel, included), so it covers g_a, both evaluations and the
loop. s/it is timed over the iterations after the first. "tile" is the edge of a
tile in latents (16 pixels each) the run used; "one piece" is the untiled fast path.

The fit section refines at small sizes in one piece and by small tiles and fits
``sgaplus.memory``'s three coefficients (base, bytes per image pixel, bytes per
pixel of one piece) by least squares; the module's constants are set above it,
and its estimate adds ``memory.MARGIN`` (the "estimate" column includes it).

``--before DIR`` measures the fixed-tile rows a second time with another version's
sources (``DIR/src`` first on the path, e.g. ``git archive REV src | tar -x -C DIR``),
in the same run, for a before/after comparison. ``--sizes 4,24`` measures only those
sizes (megapixels, rounded) and skips the fit; ``--modes fixed,before`` only those rows.
``--repeat N`` runs each fixed-tile row N times: the loop keeps its freed memory for
speed, and how that heap fragments varies from run to run by some hundreds of MiB, so a
growth in image size is read from several runs per size (a least-squares slope over all).

    python bench/refine_memory.py [--quick] [--before DIR] [--sizes MP,...] [--modes MODE,...]
        [--repeat N]   ->   docs/bench/refine_memory.md, docs/bench/refine_memory.png
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np

import _env

#: (width, height) of the measured sizes: 1, 4, 12 and 24 megapixels at 4:3.
SIZES = ((1152, 864), (2304, 1728), (4000, 3000), (5664, 4248))

#: The fixed tile edge (latents) of the "memory flat in image size" rows.
FIXED_TILE = 64


def worker(width: int, height: int, tile: str, iters: int, threads: int) -> None:
    """One refinement in this process; prints a JSON line of figures."""
    import torch
    import torch.nn.functional as F

    from sgaplus.allocator import keep_freed_memory
    from sgaplus.crops import kodak_dir
    from sgaplus.images import load_image
    from sgaplus.memory import need
    from sgaplus.refine import Refiner
    from sgaplus.zoo import load_model

    torch.set_num_threads(threads)
    keep_freed_memory()
    model = load_model("default")
    src = load_image(kodak_dir() / "kodim01.png").x
    x = F.interpolate(src, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
    refiner = Refiner(model, iters=iters, log_every=0, device="cpu")
    try:
        chosen = refiner.tile_size(x.shape)
    except ValueError as exc:  # the budget is too small for this size: what a user is told
        if tile == "default":
            print(json.dumps({"width": width, "height": height, "refused": str(exc)}))
            return
        chosen = None
    if tile != "default":  # one piece, or exactly this edge, whatever the budget
        chosen = None if tile == "whole" else int(tile)
        refiner.tile_size = lambda shape: chosen  # type: ignore[method-assign]
    marks: list[_env.Clock] = []
    laps: list[tuple[float, float]] = []

    def progress(t: int, tau: float, loss: float) -> None:
        if t == 1:
            marks.append(_env.Clock())
        elif t == iters:
            laps.append(marks[0].lap())

    _env.reset_peak_rss()
    start = _env.Clock()
    refiner.refine(x, progress)
    total = start.lap()
    print(json.dumps({"width": width, "height": height, "tile": chosen, "iters": iters,
                      "s_per_it": laps[0][0] / (iters - 1), "cpu_per_it": laps[0][1] / (iters - 1),
                      "total_s": total[0], "peak_mib": _env.peak_rss_mib(),
                      "halo": model.synthesis_halo,
                      "estimate_mib": need(1, height, width, chosen, model.synthesis_halo) / 2**20}))


def measure(width: int, height: int, tile: str, iters: int, threads: int,
            source: Path | None = None) -> dict:
    """:func:`worker` in a fresh interpreter, with ``source``'s sgaplus when given."""
    cmd = [sys.executable, __file__, "--worker", str(width), str(height), tile, str(iters), str(threads)]
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source / "src"), env.get("PYTHONPATH", "")])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit(rows: list[dict]) -> tuple[float, float, float]:
    """Least-squares (base, per image pixel, per piece pixel) bytes from measured peaks."""
    from sgaplus.memory import padded

    a, b = [], []
    for r in rows:
        h, w = padded(r["height"]), padded(r["width"])
        if r["tile"] is None:
            piece = h * w
        else:
            window = (r["tile"] + 2 * r["halo"]) * 16
            piece = min(window, h) * min(window, w)
        a.append([1.0, h * w, piece])
        b.append(r["peak_mib"] * 2**20)
    coef = np.linalg.lstsq(np.asarray(a), np.asarray(b), rcond=None)[0]
    return tuple(float(c) for c in coef)  # type: ignore[return-value]


def fit_section(say: Callable[..., None], threads: int) -> None:
    """Small runs in one piece and in small tiles, and the least-squares fit to them."""
    from sgaplus import memory

    say("## Fit of the memory model (sgaplus.memory)")
    say()
    say("| size | tile | peak RSS MiB | load |")
    say("|---|---:|---:|---|")
    fit_rows = []
    for (w, h), tile in [((512, 384), "whole"), ((768, 512), "whole"), ((1024, 768), "whole"),
                         ((1024, 768), "16"), ((1536, 1024), "16"), ((1536, 1024), "32"),
                         ((2304, 1728), "16")]:
        r = measure(w, h, tile, 2, threads)
        fit_rows.append(r)
        say(f"| {w}x{h} | {r['tile'] or 'one piece'} | {r['peak_mib']:.0f} | {_env.load()} |")
    base, whole, piece = fit(fit_rows)
    say()
    say(f"Least squares: base {base / 2**20:.0f} MiB, {whole:.0f} bytes per image pixel, "
        f"{piece:.0f} bytes per pixel of a piece. `sgaplus.memory` uses "
        f"{memory.BASE / 2**20:.0f} MiB, {memory.WHOLE_PER_PIXEL} and {memory.PIECE_PER_PIXEL}.")
    say()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        w, h, tile, iters, threads = sys.argv[2:7]
        worker(int(w), int(h), tile, int(iters), int(threads))
        return
    def options(p) -> None:
        p.add_argument("--before", type=Path, metavar="DIR", help="another version's sources (DIR/src)")
        p.add_argument("--sizes", metavar="MP,...", help="only these sizes (megapixels: 1,4,12,24); no fit")
        p.add_argument("--modes", default="default,fixed,before", metavar="MODE,...",
                       help="rows to run: default, fixed, before (default: all)")
        p.add_argument("--repeat", type=int, default=1, metavar="N",
                       help="runs of each fixed-tile row (default 1)")

    args = _env.parse_args(__doc__, "docs/bench/refine_memory.md", "small sizes (a smoke run)", extra=options)
    before = args.before.resolve() if args.before else None
    if before is not None and not (before / "src" / "sgaplus").is_dir():
        sys.exit(f"refine_memory.py: error: {before} has no src/sgaplus")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sgaplus import memory

    sizes = ((512, 384), (1152, 864)) if args.quick else SIZES
    if args.sizes:
        wanted = {int(v) for v in args.sizes.split(",")}
        sizes = tuple((w, h) for w, h in SIZES if round(w * h / 1e6) in wanted)
        if len(sizes) != len(wanted):
            sys.exit(f"refine_memory.py: error: --sizes takes {', '.join(str(round(w * h / 1e6)) for w, h in SIZES)}")
    chosen = set(args.modes.split(","))
    if not chosen <= {"default", "fixed", "before"}:
        sys.exit("refine_memory.py: error: --modes takes default, fixed, before")
    report = _env.Report(_env.header("Refinement memory and time vs image size"),
                         __doc__.split("\n\n")[1], "", __doc__.split("\n\n")[2], "")
    say = report.say

    if not args.sizes:
        fit_section(say, args.threads)

    iters = 3
    say(f"## Image size ({iters} iterations, the last {iters - 1} timed; {args.threads} thread(s))")
    say()
    say(f"Default budget: `--max-memory` {memory.format_size(memory.DEFAULT_BUDGET)}; fixed tile: "
        f"{FIXED_TILE} latents ({FIXED_TILE * 16} pixels) whatever the size.")
    say()
    if before is not None:
        say(f"Rows marked *before* ran the sources in `{before}` (`--before`), in this same run.")
        say()
    say("| size | Mpixel | budget | tile | peak RSS MiB | estimate MiB | s/it (wall) | CPU s/it | "
        "CPU s/it per Mpixel | whole run s | load |")
    say("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    rows: dict[str, list[dict]] = {"default": [], "fixed": [], "before": []}
    modes = [m for m in [("default", "default", None), ("fixed", str(FIXED_TILE), None),
                         ("before", str(FIXED_TILE), before)]
             if m[0] in chosen and (m[0] != "before" or before is not None)]
    for w, h in sizes:
        for mode, tile, source in [m for m in modes for _ in range(1 if m[0] == "default" else args.repeat)]:
            r = measure(w, h, tile, iters, args.threads, source)
            mpx = w * h / 1e6
            label = {"default": "default", "fixed": "fixed tile", "before": "fixed tile, *before*"}[mode]
            if "refused" in r:
                say(f"| {w}x{h} | {mpx:.1f} | {label} | refused: `sgaplus: error: {r['refused']}` "
                    f"|||||||{_env.load()} |")
                continue
            rows[mode].append(r)
            say(f"| {w}x{h} | {mpx:.1f} | {label} | {r['tile'] or 'one piece'} | {r['peak_mib']:.0f} | "
                f"{r['estimate_mib']:.0f} | {r['s_per_it']:.2f} | {r['cpu_per_it']:.2f} | "
                f"{r['cpu_per_it'] / mpx:.2f} | {r['total_s']:.0f} | {_env.load()} |")
    say()
    for mode in ("fixed", "before"):
        runs = [r for r in rows[mode] if r["width"] * r["height"] >= 3e6]
        if len({r["width"] for r in runs}) > 1:
            mpx = np.array([r["width"] * r["height"] / 1e6 for r in runs])
            slope = np.polyfit(mpx, np.array([r["peak_mib"] for r in runs]), 1)[0]
            say(f"Fixed-tile peak RSS{', *before*' if mode == 'before' else ''}, 4 MP and up: "
                f"{slope:.0f} MiB per megapixel (least squares over {len(runs)} runs).")
            say()

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, style, label in (("default", "o-", f"default budget ({memory.format_size(memory.DEFAULT_BUDGET)})"),
                               ("fixed", "s--", f"fixed tile ({FIXED_TILE} latents)"),
                               ("before", "x:", f"fixed tile ({FIXED_TILE} latents), before")):
        if not rows[mode]:
            continue
        mpx = [r["width"] * r["height"] / 1e6 for r in rows[mode]]
        a.plot(mpx, [r["peak_mib"] / 1024 for r in rows[mode]], style, label=label)
        b.plot(mpx, [r["cpu_per_it"] for r in rows[mode]], style, label=label)
    a.axhline(memory.DEFAULT_BUDGET / 2**30, color="k", lw=0.8, ls=":", label="default budget")
    a.set(xlabel="Mpixel", ylabel="peak RSS GiB", title="memory", ylim=(0, None))
    b.set(xlabel="Mpixel", ylabel="CPU s / iteration", title="time", ylim=(0, None))
    a.legend()
    b.legend()
    fig.suptitle(f"sgaplus Refiner, CPU, {args.threads} thread(s)")
    fig.tight_layout()
    report.figure(fig, args.out, "memory and time")
    report.write(args.out)


if __name__ == "__main__":
    main()
