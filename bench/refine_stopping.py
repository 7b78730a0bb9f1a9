"""How much of the 2000-iteration gain ``--iters auto`` keeps, and the time it saves.

Kodak crops are refined together for 2000 iterations (SSL, its default schedule,
fp32, the true loss every 10 iterations). Each image's history is then replayed
through :class:`~sgaplus.stopping.StopRule` exactly as the Refiner feeds it one
image (``observe`` after every 10th iteration, ``done`` before the next), for a
grid of patience / min_delta. Replaying one recorded run costs nothing per rule;
refining one image at a time would draw other noise but the same distribution.
Gain kept = (L_before - L_stop) / (L_before - L_2000) on the true loss;
time saved = 1 - stop / 2000 (iterations cost the same throughout).

    python bench/refine_stopping.py [--quick]   ->   docs/bench/refine_stopping.md
"""

from __future__ import annotations

import statistics

import torch

import _env
from sgaplus.crops import kodak_dir
from sgaplus.images import load_image
from sgaplus.refine import Refiner, default_device
from sgaplus.stopping import AUTO_PATIENCE, StopRule
from sgaplus.zoo import load_model

KODAK = kodak_dir()
IMAGES = ("kodim02", "kodim05", "kodim15", "kodim23")
GRID = [(p, d) for d in (1e-3, 3e-4) for p in (50, 100, 200, 400)]


def replay(curve: list[tuple[int, float]], patience: int, min_delta: float) -> tuple[int, float]:
    """(iteration the rule stops at, true loss there) for one image's history."""
    rule = StopRule(max_iters=curve[-1][0], patience=patience, min_delta=min_delta)
    for t, loss in curve:
        rule.observe(t, loss)
        if rule.done(t, 0.0):
            return t, loss
    return curve[-1]


def main() -> None:
    args = _env.parse_args(__doc__, "docs/bench/refine_stopping.md", "64x64 crops, 200 iterations (a smoke run)")
    size, iters = (64, 200) if args.quick else (96, 2000)
    x = torch.cat([load_image(KODAK / f"{name}.png").x[..., 192:192 + size, 320:320 + size]
                   for name in IMAGES])
    report = _env.Report(_env.header("Stopping rules: `--iters auto` vs a fixed 2000 iterations"),
                         __doc__.split("\n\n")[1], "")
    say = report.say

    clock = _env.Clock()
    result = Refiner(load_model("default"), "ssl", iters=iters, log_every=10,
                     device=default_device()).refine(x)
    say(f"{len(IMAGES)} crops {size}x{size} at (top 192, left 320) of {', '.join(IMAGES)}; "
        f"{iters} iterations as one batch in {clock.lap()[0]:.0f} s (load {_env.load()}).")
    say()
    curves = {i: [(int(r["iter"]), r["loss_true"]) for r in result.history if r["image"] == i]
              for i in range(len(IMAGES))}
    say("| image | true loss before | at 500 | at 1000 | at 2000 |")
    say("|---|---:|---:|---:|---:|")
    for i, name in enumerate(IMAGES):
        at = dict(curves[i])
        say(f"| {name} | {result.before[i].loss:.4f} | {at.get(500, float('nan')):.4f} | "
            f"{at.get(1000, float('nan')):.4f} | {at[iters]:.4f} |")
    say()
    say(f"Replayed rules (mean over the {len(IMAGES)} images; min-max in brackets):")
    say()
    say("| patience | min_delta | stops at (iterations) | gain kept | time saved |")
    say("|---:|---:|---|---|---|")
    for patience, min_delta in GRID:
        stops, kept = [], []
        for i in range(len(IMAGES)):
            t, loss = replay(curves[i], patience, min_delta)
            l0, l_end = result.before[i].loss, curves[i][-1][1]
            stops.append(t)
            kept.append((l0 - loss) / (l0 - l_end))
        mark = " **(auto)**" if (patience, min_delta) == (AUTO_PATIENCE, 1e-3) else ""
        saved = [1 - t / iters for t in stops]
        say(f"| {patience}{mark} | {min_delta:g} | {statistics.mean(stops):.0f} "
            f"({min(stops)}-{max(stops)}) | {100 * statistics.mean(kept):.1f} % "
            f"({100 * min(kept):.1f}-{100 * max(kept):.1f}) | {100 * statistics.mean(saved):.0f} % "
            f"({100 * min(saved):.0f}-{100 * max(saved):.0f}) |")
    say()
    report.write(args.out)


if __name__ == "__main__":
    main()
