"""How long ``sgaplus.load_model`` takes for each checkpoint form and architecture.

Random-init networks of the zoo's largest sizes (bmshj2018-hyperprior and mbt2018-mean
N=192, M=320; mbt2018 N=192, M=320; cheng2020-anchor N=192) are saved in each form a
CompressAI user has; a zoo entry is loaded once through the download path (from a
``file://`` mirror in SGAPLUS_ZOO_URL, hash-checked, into an empty TORCH_HOME) and then
from the cache. Times are wall seconds in this process, the median of 3 loads after
one warm-up load; "first" is the download. Every load reads the file, hashes it
(provenance), builds the network and, where the file has none, the CDF tables.

    python bench/model_load.py [--quick]   ->   docs/bench/model_load.md
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from compressai.models import (Cheng2020Anchor, JointAutoregressiveHierarchicalPriors,
                               MeanScaleHyperprior, ScaleHyperprior)
from compressai.zoo.image import model_urls

import _env
from sgaplus.zoo import load_model

SIZES = {
    "bmshj2018-hyperprior": lambda: ScaleHyperprior(192, 320),
    "mbt2018-mean": lambda: MeanScaleHyperprior(192, 320),
    "mbt2018": lambda: JointAutoregressiveHierarchicalPriors(192, 320),
    "cheng2020-anchor": lambda: Cheng2020Anchor(192),
}


def forms(net) -> dict[str, object]:
    """What each form of checkpoint holds for ``net``."""
    raw = net.state_dict()
    net.update(force=True)
    done = net.state_dict()
    return {
        "state dict (update()d)": done,
        "train.py .pth.tar (never update()d)": {"epoch": 1, "state_dict": raw, "loss": torch.tensor(1.0)},
        "DataParallel module.": {f"module.{k}": v for k, v in done.items()},
        "fp16": {k: v.half() if v.is_floating_point() else v for k, v in done.items()},
    }


def timed(spec: str, lmbda: float | None, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        load_model(spec, lmbda)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    args = _env.parse_args(__doc__, "docs/bench/model_load.md", "one architecture, one repeat")
    repeats = 1 if args.quick else 3
    archs = list(SIZES)[:1] if args.quick else list(SIZES)
    report = _env.Report(_env.header("Model loading times"),
                         "What `sgaplus.load_model` costs per checkpoint form (random-init weights of "
                         "the zoo's largest sizes; see the script's docstring).", "",
                         "| architecture | form | file MB | load s |", "|---|---|---|---|")
    os.environ.pop("SGAPLUS_ZOO_URL", None)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        timed("default", None, repeats)
        report.say(f"| bundled `default` (mbt2018-mean 128/192) | sgaplus export | "
                   f"{Path(load_model('default').meta['weights']['file']).stat().st_size / 1e6:.1f} | "
                   f"{timed('default', None, repeats):.3f} |")
        for arch in archs:
            torch.manual_seed(0)
            for form, content in forms(SIZES[arch]()).items():
                path = folder / f"{arch}-{len(form)}.pth.tar"
                torch.save(content, path)
                report.say(f"| {arch} | {form} | {path.stat().st_size / 1e6:.1f} | "
                           f"{timed(str(path), 0.01, repeats):.3f} |")
        # The zoo path: a file:// mirror, an empty TORCH_HOME.
        torch.manual_seed(0)
        net = SIZES["mbt2018-mean"]()
        net.update(force=True)
        mirror = folder / "mirror"
        mirror.mkdir()
        tmpfile = mirror / "tmp"
        torch.save(net.state_dict(), tmpfile)
        name = f"mbt2018-mean-8-{hashlib.sha256(tmpfile.read_bytes()).hexdigest()[:8]}.pth.tar"
        tmpfile.rename(mirror / name)
        model_urls["mbt2018-mean"]["mse"][8] = f"https://compressai.s3.amazonaws.com/models/v1/{name}"
        os.environ.update(SGAPLUS_ZOO_URL=mirror.as_uri(), TORCH_HOME=str(folder / "torch"))
        first = time.perf_counter()
        load_model("mbt2018-mean:8")
        first = time.perf_counter() - first
        report.say(f"| mbt2018-mean:8 (zoo) | first load: download from a file:// mirror, hash check | "
                   f"{(mirror / name).stat().st_size / 1e6:.1f} | {first:.3f} |")
        report.say(f"| mbt2018-mean:8 (zoo) | cached | {(mirror / name).stat().st_size / 1e6:.1f} | "
                   f"{timed('mbt2018-mean:8', None, repeats):.3f} |")
        report.say("")
        report.say(f"Total {time.perf_counter() - start:.0f} s.")
    report.write(args.out)


if __name__ == "__main__":
    sys.exit(main())
