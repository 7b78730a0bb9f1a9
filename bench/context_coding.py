"""Encode/decode time of context models' serial coding at 768x512, against CompressAI's own.

A context model's decoder computes μ, σ of each latent position from the positions
decoded before it, so decoding is a loop over H/16 x W/16 positions (1,536 for a
Kodak image). sgaplus runs that loop in float64 on one thread (the encoder runs the
same loop, so both agree bit for bit: ``LatentModel.serial_context``); CompressAI's
``compress``/``decompress`` run theirs in float32 with a 5x5 convolution per position.
Both are timed here on the same network and image. Weights are CompressAI's random
initialisation at the zoo's shapes (no trained context model can be downloaded here):
the loop's cost does not depend on the weights' values, the stream sizes do, so only
times are reported. sgaplus's encode includes ``codec.encode``'s round-trip check, a
whole serial decode, so it costs about encode + decode.

    python bench/context_coding.py [--quick] [--threads 1]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from compressai.models import Cheng2020Anchor, JointAutoregressiveHierarchicalPriors

sys.path.insert(0, str(Path(__file__).parent))
from _env import Report, header, parse_args  # noqa: E402

from sgaplus import codec  # noqa: E402
from sgaplus.images import load_image  # noqa: E402
from sgaplus.latent_model import LatentModel, pad  # noqa: E402

KODIM01 = Path(__file__).parents[1] / ".." / "shared" / "data" / "kodak24" / "kodim01.png"

#: (label, builder): CompressAI's zoo shapes (mbt2018 q1-4 / q5-8, cheng2020-anchor q1-3 / q4-6).
NETS = [
    ("mbt2018 N=192 M=192 (q1-4)", lambda: JointAutoregressiveHierarchicalPriors(192, 192)),
    ("mbt2018 N=192 M=320 (q5-8)", lambda: JointAutoregressiveHierarchicalPriors(192, 320)),
    ("cheng2020-anchor N=128 (q1-3)", lambda: Cheng2020Anchor(128)),
    ("cheng2020-anchor N=192 (q4-6)", lambda: Cheng2020Anchor(192)),
]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    args = parse_args(__doc__, "docs/bench/context_coding.md", "crop to 256x256, two nets")
    image = load_image(KODIM01)
    x = image.x[..., :256, :256] if args.quick else image.x
    h, w = x.shape[-2:]
    report = Report(header("Context models: serial encode/decode time"), __doc__.split("\n\n")[1], "",
                    f"Image: kodim01 {w}x{h}. Times in seconds, one run each after a warm-up "
                    f"encode of a 64x64 crop.", "",
                    "| model | sgaplus encode | sgaplus decode | CompressAI compress | "
                    "CompressAI decompress |", "|---|---|---|---|---|")
    for label, build in NETS[:2] if args.quick else NETS:
        torch.manual_seed(0)
        net = build().eval()
        net.update(force=True)
        model = LatentModel(net, name=label, lmbda=0.013).prepare()
        with torch.no_grad():
            xp = pad(x)
            warm = model.quantize(*model.analysis(pad(x[..., :64, :64])))
            codec.encode(model, warm, 64, 64)
            (hard, data), t_enc = timed(lambda: (lambda hd: (hd, codec.encode(model, hd, w, h)))(
                model.quantize(*model.analysis(xp))))
            decoded, t_dec = timed(lambda: codec.decode(model, data))
            assert torch.equal(decoded.hard.y_hat, hard.y_hat)
            out, t_cenc = timed(lambda: net.compress(xp))
            _, t_cdec = timed(lambda: net.decompress(out["strings"], out["shape"]))
        report.say(f"| {label} | {t_enc:.2f} | {t_dec:.2f} | {t_cenc:.2f} | {t_cdec:.2f} |")
    report.say()
    report.write(args.out)


if __name__ == "__main__":
    main()
