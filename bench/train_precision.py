"""fp32 vs bf16 autocast for training: seconds per step of a MeanScaleHyperprior(128, 192).

The two trainers alternate step by step, so a change of machine load hits both
alike; the first step of each (allocation warm-up) is dropped.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import _env
from sgaplus.train import TrainConfig, Trainer

DATA = Path("../shared/data/photos_train")
INIT = Path("../shared/models/msh_N128_M192_lmbda0.013.pt")


def main() -> None:
    args = _env.parse_args(__doc__, "docs/bench/train_precision.md", "3 steps each instead of 8")
    reps = 3 if args.quick else 8
    out = [_env.header("Training step time: fp32 vs bf16 autocast"), __doc__.split("\n\n")[1], "",
           f"Batch 8 of 128 px crops of `{DATA}`, λ = 0.013, initialised from `{INIT.name}`; "
           f"{reps} steps each, interleaved.", ""]
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {amp: Trainer(TrainConfig(out=Path(tmp) / amp, lmbda=0.013, data=[DATA], val=None,
                                             init=INIT, steps=100, batch=8, crop=128, amp=amp),
                                 log=lambda m: None) for amp in times}
        for _ in range(reps + 1):
            for amp, trainer in trainers.items():
                clock = _env.Clock()
                trainer.train_step()
                times[amp].append(clock.lap()[0])
    out += ["| precision | median s/step | min s/step |", "|---|---:|---:|"]
    for amp, t in times.items():
        out.append(f"| {amp} | {statistics.median(t[1:]):.2f} | {min(t[1:]):.2f} |")
    out.append("")
    _env.write_report(args.out, out)


if __name__ == "__main__":
    main()
