"""Entropy coding and decoding time of ``.sgp`` files on Kodak (issue 16: before/after the coder).

For each image the bundled model's unrefined latents (``LatentModel.quantize`` of g_a,
h_a) are coded with :func:`sgaplus.codec.encode` (entropy coding plus its round-trip
self-check), then decoded with :func:`sgaplus.codec.decode_latents` (entropy decoding
and the float64 h_s) and :func:`sgaplus.codec.decode` (the whole decoder, g_s
included). Each timing is the best of 3 runs (1 with ``--quick``) in this process, so the
shared CPU's load inflates it as little as possible. Only public codec functions are
timed, so the same script measures any version of the coder.

    python bench/codec_speed.py [--quick] [--images kodim01 kodim02 ...]
        -> docs/bench/codec_speed.md
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import _env
from sgaplus import codec
from sgaplus.crops import kodak_dir
from sgaplus.images import load_image
from sgaplus.latent_model import pad
from sgaplus.zoo import load_model


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p_doc = __doc__
    args = _env.parse_args(p_doc, "docs/bench/codec_speed.md", "kodim01-03, one repeat")
    names = [f"kodim{i:02d}" for i in range(1, 25)]
    repeats = 1 if args.quick else 3
    if args.quick:
        names = names[:3]
    model = load_model("default")
    report = _env.Report(_env.header("Coding and decoding time of .sgp files (Kodak)"),
                         p_doc.split("\n\n")[1], "",
                         f"Model {model.name}; best of {repeats} runs per figure.", "",
                         "| image | bytes | encode s | entropy decode + h_s s | decode s |",
                         "|---|---|---|---|---|")
    rows = []
    for name in names:
        image = load_image(kodak_dir() / f"{name}.png")
        w, h = image.size
        hard = model.quantize(*model.analysis(pad(image.x)))
        data = codec.encode(model, hard, w, h)
        enc = best_of(repeats, lambda: codec.encode(model, hard, w, h))
        lat = best_of(repeats, lambda: codec.decode_latents(model, codec.unpack(data)))
        dec = best_of(repeats, lambda: codec.decode(model, data))
        rows.append((enc, lat, dec))
        report.say(f"| {name} | {len(data)} | {enc:.3f} | {lat:.3f} | {dec:.3f} |")
    means = [statistics.mean(col) for col in zip(*rows)]
    report.say(f"| **mean of {len(rows)}** | | {means[0]:.3f} | {means[1]:.3f} | {means[2]:.3f} |")
    report.say()
    report.write(args.out)


if __name__ == "__main__":
    main()
