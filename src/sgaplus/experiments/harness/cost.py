"""What a run will cost, said before it starts: the units it refines and an estimated time.

The time of a refinement is close to proportional to pixels × iterations (g_s dominates an
iteration, docs/bench/refine_speed.md), so the estimate is that product summed over the
missing units, times a rate: seconds per pixel-iteration measured on the units already in
the result folder under the same device and thread count, else :data:`CPU_SECONDS_PER_PIXEL_ITER`
(this project's CPU; on another machine the first units give the real rate).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import Context

#: Seconds per pixel-iteration of refinement on this project's CPU (fp32, batches of two
#: 128x128 crops, other jobs on the machine) by torch thread count: the rate an estimate uses
#: when the result folder has no unit of its own to time. 2 threads: the quick protocol's
#: units of 2026-11-26 (``docs/results/quick/units``, seed 0); 1 thread: its units of
#: 2026-12-02 (seeds 1 and 2).
CPU_SECONDS_PER_PIXEL_ITER = {1: 1.9e-6, 2: 1.17e-6}


@dataclass(frozen=True)
class Cost:
    """Units a run refines (one per image, seed and setting) and its estimated time."""

    units: int
    stored: int
    pixel_iters: float
    rate: float
    source: str

    @property
    def seconds(self) -> float:
        return self.pixel_iters * self.rate

    def describe(self) -> str:
        return (f"plan: {self.units} units to refine ({self.stored} already stored), "
                f"{self.pixel_iters:.3g} pixel-iterations, estimated {self.seconds / 60:.0f} min "
                f"at {self.rate:.3g} s per pixel-iteration ({self.source})")


def stored_rate(out: Path, device: str, threads: int) -> float | None:
    """Seconds per pixel-iteration of the refined units in ``out`` that ran on ``device``
    with ``threads`` torch threads; None when there is none."""
    seconds = work = 0.0
    for path in (out / "units").glob("*/*/*.json"):
        unit = json.loads(path.read_text())
        hw = unit.get("hardware", {})
        if unit["iters"] and hw.get("device") == device and hw.get("torch_threads") == threads:
            seconds += unit["batch_seconds"] / unit["batch_size"]
            work += unit["height"] * unit["width"] * unit["iters"]
    return seconds / work if work else None


def plan_cost(ctx: "Context", names: list[str]) -> Cost:
    """The cost of refining what experiments ``names`` need and is not stored yet."""
    import torch

    from .context import EXPERIMENTS
    from .units import slug

    jobs = {(j.model.key, slug(j.setting)): j
            for name in names for j in ctx.seeded(EXPERIMENTS.get(name).plan(ctx))}
    units = stored = 0
    work = 0.0
    for job in jobs.values():
        missing = {im.id for im in ctx.store.missing(job, ctx.images)}
        for im in ctx.images:
            if im.id not in missing:
                stored += 1
            elif job.setting.iters:
                units += 1
                work += im.x.shape[-2] * im.x.shape[-1] * job.setting.iters
            else:
                units += 1  # the base model: one encoder pass, no iteration
    device = ctx.store.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rate = stored_rate(ctx.out, device, torch.get_num_threads())
    if rate is not None:
        return Cost(units, stored, work, rate, "measured on the stored units")
    threads = min(CPU_SECONDS_PER_PIXEL_ITER, key=lambda n: abs(n - torch.get_num_threads()))
    return Cost(units, stored, work, CPU_SECONDS_PER_PIXEL_ITER[threads],
                f"this project's CPU at {threads} thread(s); no stored unit to time")
