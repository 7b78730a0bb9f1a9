"""Early iterations: sgaplus's Refiner against the reference loop, true loss at checkpoints (issue 17).

The reference is ``bench/refine_speed.py``'s loop written like the authors' code. Each
loop runs once per crop and seed, to the crop's iteration count, and its true loss is
recorded at every checkpoint up to that count. The method's schedule and Adam's lr do not
depend on the iteration cap (checked below for each checkpoint), so the loss at
checkpoint t of a longer run is the final loss of a run of t iterations.

At a checkpoint each loop's latents are copied (no random number is drawn, so neither
trajectory moves); after the run every copy is judged as the final latents are:
``Refiner.evaluate(x, model.quantize(y, z))``, fp32 with the network as loaded. The copy
at the last checkpoint must equal the loop's final latents (the run stops otherwise).

The loops draw their noise differently (one ``F.gumbel_softmax`` per candidate pair vs one
logistic sample per element), so a seed is no pairing: each seed's difference is the
difference of two independent runs, and the verdict is the project's one rule
(``sgaplus.experiments.harness.verdict``) on those differences, per crop and checkpoint and
pooled over the crops (in % of the reference's mean).

    python bench/refine_early.py [--crop IMAGE:TOP:LEFT:SIZE:ITERS ...] [--seeds 6] [--matched]
        [--checkpoints 100,500,2000] [--model PATH] [--method ssl] [--out REPORT]

The committed reports (summary and finding: docs/bench/refine_early.md):

    ... --seeds 3 --matched --crop kodim19:64:64:128:500 --crop kodim23:192:320:128:500
        --out docs/bench/refine_early_500.md
    ... --seeds 3 --crop kodim19:64:64:128:2000 --out docs/bench/refine_early_2000.md
    ... --seeds 3 --matched --crop kodim19:64:64:128:100 --checkpoints 20,50,100
        --out docs/bench/refine_early_matched.md
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

import _env
from refine_speed import reference_refine
from sgaplus.crops import kodak_dir
from sgaplus.experiments.harness.verdict import HOLDS, FAILS, RULE, Estimate
from sgaplus.images import load_image
from sgaplus.latent_model import LatentModel
from sgaplus.loss import evaluate
from sgaplus.refine import Refiner
from sgaplus.util import warm_start_dir
from sgaplus.zoo import load_model

LOOPS = ("reference", "sgaplus")
#: With --matched: the reference loop fed sgaplus's noise (``reference_refine(matched=True)``).
MATCHED = "reference, sgaplus's noise"
#: What the rule's outcomes say of the claim "sgaplus ends lower than the reference".
SAYS = {HOLDS: "sgaplus lower", FAILS: "**sgaplus higher**"}
DEFAULT_CROPS = ["kodim13:128:256:256:100"]


@dataclass(frozen=True)
class Crop:
    """A square crop of a Kodak image and the iterations its runs go to."""

    image: str
    top: int
    left: int
    size: int
    iters: int

    @classmethod
    def parse(cls, spec: str) -> "Crop":
        try:
            image, *nums = spec.split(":")
            top, left, size, iters = map(int, nums)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected IMAGE:TOP:LEFT:SIZE:ITERS, got {spec!r}") from None
        return cls(image, top, left, size, iters)

    def load(self) -> Tensor:
        x = load_image(kodak_dir() / f"{self.image}.png").x
        out = x[..., self.top:self.top + self.size, self.left:self.left + self.size].contiguous()
        if out.shape[-2:] != (self.size, self.size):
            raise SystemExit(f"refine_early: error: {self} lies outside {self.image}")
        return out

    def __str__(self) -> str:
        return f"{self.image} [{self.top}:{self.top + self.size}, {self.left}:{self.left + self.size}]"


class Snapshots(Refiner):
    """The Refiner, keeping a copy of (y, z) each time it computes its true loss (every
    ``log_every`` iterations): its loop offers no other view of the latents mid-run."""

    latest: tuple[Tensor, Tensor]

    def _true_losses(self, x: Tensor, y: Tensor, z: Tensor, tile: int | None):
        self.latest = (copy(y), copy(z))
        return super()._true_losses(x, y, z, tile)


def copy(v: Tensor) -> Tensor:
    return v.detach().clone(memory_format=torch.contiguous_format).cpu()


def run(loop: str, model: LatentModel, x: Tensor, method: str, iters: int, checkpoints: list[int],
        seed: int) -> dict[int, float]:
    """True loss at each checkpoint of one run of ``loop``."""
    judge = Refiner(model, method=method, precision="fp32", device="cpu")
    kept: dict[int, tuple[Tensor, Tensor]] = {}
    if loop in ("reference", MATCHED):
        def on_step(t: int, y: Tensor, z: Tensor) -> None:
            if t in checkpoints:
                kept[t] = (copy(y), copy(z))

        y, z = reference_refine(model, x, judge.method, iters, seed=seed, on_step=on_step,
                                matched=loop == MATCHED)
        final = judge.evaluate(x, model.quantize(y, z))[0][0].loss
    else:
        # Copies at multiples of the checkpoints' gcd; the history's own noise stream
        # (PROBE_SEED_OFFSET) keeps the trajectory independent of log_every.
        refiner = Snapshots(model, method=method, iters=iters, precision="fp32", seed=seed,
                            device="cpu", log_every=math.gcd(*checkpoints))

        def progress(t: int, tau: float, loss: float) -> None:
            if t in checkpoints:
                kept[t] = refiner.latest

        result = refiner.refine(x, progress)
        y, z = result.latents
        final = result.after[0].loss
    last = max(checkpoints)
    if not (torch.equal(kept[last][0], y.contiguous()) and torch.equal(kept[last][1], z.contiguous())):
        raise SystemExit(f"refine_early: error: {loop}'s copy at {last} is not its final latents")
    losses = {t: judge.evaluate(x, model.quantize(*kept[t]))[0][0].loss for t in checkpoints}
    if losses[last] != final:
        raise SystemExit(f"refine_early: error: {loop}'s loss at {last} {losses[last]} != final {final}")
    return losses


def check_cap_free(model: LatentModel, method: str, checkpoints: list[int]) -> None:
    """A run to the last checkpoint passes through each earlier one as a run capped there
    would: same temperature at every iteration, constant lr."""
    full = Refiner(model, method=method, iters=max(checkpoints), device="cpu")
    assert full.config.lr_decay == "constant", full.config.lr_decay
    for c in checkpoints:
        capped = Refiner(model, method=method, iters=c, device="cpu")
        assert all(capped.schedule(t) == full.schedule(t) for t in range(c)), (method, c)


def main() -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--crop", type=Crop.parse, action="append", default=None,
                       help=f"IMAGE:TOP:LEFT:SIZE:ITERS, repeatable (default {DEFAULT_CROPS[0]})")
        p.add_argument("--seeds", type=int, default=6, help="seeds 0..N-1 per loop (default 6)")
        p.add_argument("--checkpoints", default="100,500,2000",
                       help="iterations at which the true loss is taken (default 100,500,2000)")
        p.add_argument("--model", default=str(warm_start_dir() / "msh_N128_M192_lmbda0.0067.pt"))
        p.add_argument("--method", default="ssl")
        p.add_argument("--matched", action="store_true",
                       help="also run the reference loop with sgaplus's noise (same draws, same law)")

    args = _env.parse_args(__doc__, "docs/bench/refine_early_run.md", "one 64x64 crop, 20 iterations, 3 seeds",
                           extra=extra)
    crops = args.crop or [Crop.parse(c) for c in DEFAULT_CROPS]
    points = sorted({int(c) for c in args.checkpoints.split(",")})
    seeds = list(range(3 if args.quick else args.seeds))
    if args.quick:
        crops, points = [Crop("kodim13", 128, 256, 64, 20)], [10, 20]
    model = load_model(args.model)
    check_cap_free(model, args.method, points)
    report = _env.Report(
        _env.header("Early iterations: sgaplus's Refiner vs the reference loop"),
        f"Model `{model.name}` (λ = {model.lmbda}), method {args.method} with its default schedule, "
        f"fp32, CPU, seeds {seeds[0]}-{seeds[-1]}; true loss (hard rounding, `Refiner.evaluate` of "
        f"`model.quantize`) at each checkpoint. Difference: sgaplus − reference, per seed, in % of the "
        f"reference's mean; 'SE' is the standard error of the mean difference.", "",
        f"Verdict rule: {RULE} The claim tested is \"sgaplus ends lower than the reference\"; "
        f"'within noise' is the equal-loss result.", "")
    say = report.say
    say("| crop | size | iterations | seeds | reference mean ± sd | sgaplus mean ± sd | "
        "difference | in SE | verdict |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    pooled: dict[int, list[np.ndarray]] = {}
    runs: list[str] = []
    matched: list[str] = []
    loops = LOOPS + ((MATCHED,) if args.matched else ())
    for crop in crops:
        x = crop.load()
        cps = [t for t in points if t <= crop.iters] or [crop.iters]
        before = evaluate(model, x)[0].loss
        res: dict[str, list[dict[int, float]]] = {loop: [] for loop in loops}
        for s in seeds:
            for loop in loops:  # alternating, so the shared CPU's load falls on both alike
                clock = _env.Clock()
                res[loop].append(run(loop, model, x, args.method, max(cps), cps, s))
                wall = clock.lap()[0]
                runs.append(f"| {crop} | {loop} | {s} | {wall:.0f} | "
                            + "; ".join(f"{t}: {res[loop][-1][t]:.5f}" for t in cps) + " |")
                print(runs[-1], flush=True)
        for t in cps:
            ref, sgp = (np.array([r[t] for r in res[loop]]) for loop in LOOPS)
            rel = 100 * (sgp - ref) / ref.mean()
            pooled.setdefault(t, []).append(rel)
            # The rule's claim is "sgaplus lower": positive = reference − sgaplus.
            est = Estimate.of(-rel[:, None])
            say(f"| {crop} (before {before:.5f}) | {crop.size}x{crop.size} | {t} | {len(seeds)} | "
                f"{ref.mean():.5f} ± {ref.std(ddof=1):.5f} | {sgp.mean():.5f} ± {sgp.std(ddof=1):.5f} | "
                f"{rel.mean():+.3f} % | {-est.mean / est.se:+.2f} | {SAYS.get(est.outcome, est.outcome)} |")
            if args.matched:
                same = np.array([r[t] for r in res[MATCHED]])
                law = Estimate.of(100 * (ref - same)[:, None] / ref.mean())
                matched.append(f"| {crop} | {t} | {len(seeds)} | {np.abs(sgp - same).max():.2e} | "
                               f"{-law.mean:+.3f} % | {-law.mean / law.se:+.2f} |")
    if matched:
        say()
        say(f"Matched noise: `{MATCHED}` draws sgaplus's logistic samples (seed for seed, in its "
            f"order) as Gumbel pairs (0, L), so against sgaplus it differs by code alone, against the "
            f"reference by the noise draws alone (the same law).")
        say()
        say("| crop | iterations | seeds | max \\|sgaplus − matched\\| (loss) | matched − reference | in SE |")
        say("|---|---:|---:|---:|---:|---:|")
        for line in matched:
            say(line)
    if len(crops) > 1:
        say()
        say("Pooled over the crops that reach each checkpoint (samples: seeds × crops, in %):")
        say()
        say("| iterations | crops | difference | SE | in SE | verdict |")
        say("|---:|---:|---:|---:|---:|---|")
        for t, rels in sorted(pooled.items()):
            est = Estimate.of(np.stack(rels, axis=1) * -1)
            say(f"| {t} | {len(rels)} | {-est.mean:+.3f} % | {est.se:.3f} % | {-est.mean / est.se:+.2f} | "
                f"{SAYS.get(est.outcome, est.outcome)} |")
    say()
    say("Every run (true loss at its checkpoints; wall seconds include the checkpoints' evaluations):")
    say()
    say("| crop | loop | seed | wall s | losses |")
    say("|---|---|---:|---:|---|")
    for line in runs:
        say(line)
    say()
    report.write(args.out)


if __name__ == "__main__":
    main()
