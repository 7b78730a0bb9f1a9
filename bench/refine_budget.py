"""Gain kept vs iterations: the paper's refinement settings and the budgeted ones (issue 15).

Eight 128x128 Kodak crops (the centre of each image) are refined together as one batch
(a batch gives each image the result it would get alone, see sgaplus.refine) with SSL,
fp32, on two models of the family (sgaplus-msh:2 and :3, each at its own λ). The paper's
settings (Adam lr 0.005 constant, τ = min(exp(−10⁻³ t), 1)) do not depend on the budget,
so one 2000-iteration run per model and seed, its true loss logged every 10 iterations,
gives its whole frontier (seeds 0 and 1). The budgeted settings
(:func:`sgaplus.schedules.budgeted`) stretch their lr decay and temperature over the
budget, so each budget is its own run: seeds 0, 1, 2 up to 250 iterations; to spare the
shared CPU, seed 0 at 500 and (sgaplus-msh:3 only) 1000, and none at 2000, where
``compress --effort 9`` runs the paper's settings. Gain kept = (L_before − L_N) /
(L_before − L̄_2000) on each image's true loss, L̄_2000 being the paper settings'
2000-iteration loss averaged over its seeds; the tables give the mean over images and
models (and seeds), with the min-max of the per-seed means.

Runs are cached in docs/bench/refine_budget.json: a rerun only adds what is missing
(delete the file to measure everything again; ``--quick`` keeps nothing).

    python bench/refine_budget.py [--quick]   ->   docs/bench/refine_budget.md
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

import _env
from sgaplus.crops import kodak_dir
from sgaplus.images import load_image
from sgaplus.refine import Refiner
from sgaplus.refine_config import RefineConfig
from sgaplus.schedules import budgeted
from sgaplus.zoo import load_model

IMAGES = ("kodim01", "kodim03", "kodim05", "kodim08", "kodim13", "kodim15", "kodim20", "kodim23")
MODELS = ("sgaplus-msh:2", "sgaplus-msh:3")
SEEDS = (0, 1, 2)
PAPER_SEEDS = (0, 1)
BUDGETS = (50, 100, 250, 500, 1000, 2000)
CACHE = Path("docs/bench/refine_budget.json")


def crops(size: int) -> torch.Tensor:
    out = []
    for name in IMAGES:
        x = load_image(kodak_dir() / f"{name}.png").x
        top, left = (x.size(-2) - size) // 2, (x.size(-1) - size) // 2
        out.append(x[..., top:top + size, left:left + size])
    return torch.cat(out)


#: RefineConfig fields by settings and iterations: the paper's, the budgeted ones, and
#: the budgeted ones with the paper's τ cap of 1 (what the hotter start adds).
SETTINGS: dict[str, Callable[[int], dict[str, Any]]] = {
    "paper": lambda n: {"iters": n},
    "budgeted": budgeted,
    "budgeted, τ from 1": lambda n: {**budgeted(n), "schedule_params": {"t_max": 1.0}},
}


def plan(budgets: tuple[int, ...]) -> list[tuple[str, str, int, int]]:
    """The runs (model, settings, iterations, seed), the most telling first: a stopped
    benchmark keeps what it finished, and a rerun goes on from there."""
    short = [n for n in budgets if n <= 250]
    jobs = [(m, settings, n, s) for settings in ("budgeted", "budgeted, τ from 1")
            for n in short for s in SEEDS for m in MODELS]
    jobs += [(m, "paper", budgets[-1], s) for s in PAPER_SEEDS for m in MODELS]
    jobs += [(m, "budgeted", n, 0) for n in budgets[len(short):-1] for m in MODELS
             if n <= 500 or m == MODELS[-1]]
    return jobs


class Runs:
    """Refinement results by key, read from and saved to a JSON file after every run."""

    def __init__(self, path: Path, x: torch.Tensor, size: int) -> None:
        self.path, self.x, self.size = path, x, size
        self.data = json.loads(path.read_text()) if path.is_file() else {}
        self.models: dict[str, object] = {}

    def get(self, model: str, settings: str, iters: int, seed: int) -> dict:
        kw = SETTINGS[settings](iters)
        name = settings
        if settings != "paper":  # the key names the values, so other settings never match
            sched = RefineConfig(**kw).temperature()
            name = f"budgeted(lr {kw['lr']:g}, tau {sched.t_max:g}->{sched.t_end:g})"
        key = f"{model}|{name}|{iters}|seed{seed}|{self.size}px"
        if key not in self.data:
            m = self.models.setdefault(model, load_model(model))
            log = 10 if settings == "paper" else 0
            result = Refiner(m, method="ssl", seed=seed, log_every=log, device="cpu", **kw).refine(self.x)
            history: dict[str, list[float]] = {}
            for row in result.history:
                history.setdefault(str(int(row["iter"])), []).append(row["loss_true"])
            self.data[key] = {"before": [r.loss for r in result.before],
                              "after": [r.loss for r in result.after],
                              "seconds": result.seconds, "history": history,
                              "load": _env.load()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.data, indent=1))
            print(f"{key}: {result.seconds:.0f} s (load {_env.load()})", flush=True)
        return self.data[key]


def main() -> None:
    args = _env.parse_args(__doc__, "docs/bench/refine_budget.md", "64x64 crops, budgets up to 100 (a smoke run)")
    size, budgets = (64, (50, 100)) if args.quick else (128, BUDGETS)
    paper_iters = budgets[-1]
    cache = Path(tempfile.mkdtemp()) / "quick.json" if args.quick else CACHE
    runs = Runs(cache, crops(size), size)
    report = _env.Report(_env.header("Gain kept vs iterations: the paper's settings and the budgeted ones"),
                         __doc__.split("\n\n")[1], "")
    say = report.say

    jobs = plan(budgets)
    for job in jobs:
        runs.get(*job)
    # kept[settings][budget][(model, seed)] -> per-image fractions of the reference gain
    kept: dict[str, dict[int, dict[tuple[str, int], list[float]]]] = {
        settings: {n: {} for n in budgets} for settings in SETTINGS}
    seconds: dict[str, list[float]] = {settings: [] for settings in SETTINGS}
    for model in MODELS:
        papers = {s: runs.get(model, "paper", paper_iters, s) for s in PAPER_SEEDS}
        before = papers[0]["before"]
        ref = [statistics.mean(p["after"][i] for p in papers.values()) for i in range(len(IMAGES))]

        def fractions(losses: list[float]) -> list[float]:
            return [(b - l) / (b - r) for b, l, r in zip(before, losses, ref)]

        for seed, paper in papers.items():
            seconds["paper"].append(paper["seconds"] / paper_iters)
            for n in budgets:
                losses = paper["after"] if n == paper_iters else paper["history"][str(n)]
                kept["paper"][n][model, seed] = fractions(losses)
        for m, settings, n, seed in jobs:
            if m == model and settings != "paper":
                run = runs.get(model, settings, n, seed)
                seconds[settings].append(run["seconds"] / n)
                kept[settings][n][model, seed] = fractions(run["after"])

    schedule = RefineConfig(**budgeted(250)).temperature()
    say(f"{len(IMAGES)} crops {size}x{size} (centres of {', '.join(IMAGES)}), models "
        f"{' and '.join(MODELS)}. Budgeted settings at N "
        f"iterations: lr {budgeted(250)['lr']:g} decaying linearly to 0 at N, τ from "
        f"{schedule.t_max:g} to {schedule.t_end:g} over N (schedule `budget`); the last row, "
        "the same with τ from 1 (the paper's cap), shows what the hotter start adds.")
    say()
    say("Gain kept, mean over models, images and seeds (min-max of the per-seed means; "
        "runs of one seed or one model say so):")
    say()
    say("| settings | " + " | ".join(f"{n} it" for n in budgets) + " |")
    say("|---|" + "---:|" * len(budgets))
    for settings, label in (("paper", "paper (lr 0.005, `sgaplus` τ)"), ("budgeted", "budgeted"),
                            ("budgeted, τ from 1", "budgeted, τ from 1")):
        cells = []
        for n in budgets:
            runs_n = kept[settings][n]
            if not runs_n:
                cells.append("-")
                continue
            seeds = sorted({seed for _, seed in runs_n})
            per_seed = [statistics.mean(f for (m, s), v in runs_n.items() if s == seed for f in v)
                        for seed in seeds]
            models = {m for m, _ in runs_n}
            note = (f"seeds {', '.join(map(str, seeds))}: {100 * min(per_seed):.1f}-{100 * max(per_seed):.1f}"
                    if len(seeds) > 1 else "seed 0")
            note += "" if len(models) == len(MODELS) else f", {' '.join(sorted(models))} only"
            cells.append(f"{100 * statistics.mean(per_seed):.1f} % ({note})")
        say(f"| {label} | " + " | ".join(cells) + " |")
    say()
    say("Per model (mean over images and seeds; min-max over images of the seed means):")
    say()
    say("| model | settings | " + " | ".join(f"{n} it" for n in budgets) + " |")
    say("|---|---|" + "---:|" * len(budgets))
    for model in MODELS:
        for settings in ("paper", "budgeted"):
            cells = []
            for n in budgets:
                columns = [v for (m, _), v in kept[settings][n].items() if m == model]
                if not columns:
                    cells.append("-")
                    continue
                per_image = [statistics.mean(col) for col in zip(*columns)]
                cells.append(f"{100 * statistics.mean(per_image):.1f} % "
                             f"({100 * min(per_image):.0f}-{100 * max(per_image):.0f})")
            say(f"| {model} | {settings} | " + " | ".join(cells) + " |")
    say()
    say(f"Seconds per iteration for the batch of {len(IMAGES)} (1 thread, shared CPU): paper "
        f"{statistics.mean(seconds['paper']):.3f}, budgeted {statistics.mean(seconds['budgeted']):.3f}. "
        "The settings cost the same per step: the difference is the load of the shared CPU at "
        "the time (the load average of every run is in the cache) and the paper runs' true "
        "loss every 10 iterations.")
    say()
    report.write(args.out)


if __name__ == "__main__":
    main()
