"""What an experiment sees: the protocol, the models, the images, the unit store,
and small readers that turn stored units into the means the figures show.

An experiment is two functions: ``plan(ctx)`` lists the refinements it needs and
``analyse(ctx)`` turns whatever units exist into a report section. ``analyse``
never refines, so a report can be written from partial results at any time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...rdcurve import Curve
from ...registry import Registry
from .data import EvalImage
from .models import ModelRef
from .protocol import Protocol
from ...refine_config import RefineConfig
from .units import Job, Store


#: Differences between two percentages (loss reductions, spreads) smaller than this
#: many percentage points are not read as a finding: with few images and one seed
#: they are within what another crop or seed changes. Such claims are "undecided".
NOISE_PP = 1.0


def verdict(better_by: float) -> bool | None:
    """A claim's verdict from how many percentage points the claimed side is better by."""
    return None if abs(better_by) < NOISE_PP else better_by > 0


@dataclass
class Claim:
    """A paper claim checked on our results: ``holds`` is None when undecided."""

    text: str
    holds: bool | None
    evidence: str
    figure: str | None = None


@dataclass
class Section:
    """One experiment's part of the report.

    Attributes:
        body: markdown (tables, ``![..](figures/...)`` links).
        data: the numbers behind the tables, written to ``<name>.json``.
        complete: whether every unit the plan asked for exists.
    """

    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    complete: bool = True


@dataclass
class Experiment:
    name: str
    title: str
    plan: Callable[["Context"], list[Job]]
    analyse: Callable[["Context"], Section]


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def register(exp: Experiment) -> Experiment:
    EXPERIMENTS.register(exp.name)(exp)
    return exp


@dataclass
class Context:
    protocol: Protocol
    out: Path
    family: list[ModelRef]
    main: ModelRef
    images: list[EvalImage]
    store: Store
    stages: list[ModelRef]

    @property
    def figures(self) -> Path:
        path = self.out / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- settings -----------------------------------------------------------
    def setting(self, method: str, *, params: dict[str, float] | None = None,
                schedule: str | None = None, schedule_params: dict[str, float] | None = None,
                lr: float | None = None, lmbda: float | None = None) -> RefineConfig:
        """A refinement with the protocol's defaults and the given changes (the schedule:
        the method's own unless named)."""
        p = self.protocol
        return RefineConfig(method=method, iters=p.iters, lr=p.lr if lr is None else lr, seed=p.seed,
                            precision=p.precision, log_every=p.log_every, params=params or {},
                            schedule=schedule, schedule_params=schedule_params or {}, lmbda=lmbda)

    def base(self, lmbda: float | None = None) -> RefineConfig:
        """The unrefined model (0 iterations); ``lmbda`` only changes the reported loss."""
        return replace(self.setting("ste", lmbda=lmbda), iters=0, log_every=0)

    # -- readers ------------------------------------------------------------
    def units(self, model: ModelRef, setting: RefineConfig) -> list[dict[str, Any]] | None:
        """All images' units, or None while any is missing."""
        out = [self.store.load(model, setting, im.id) for im in self.images]
        return None if any(u is None for u in out) else out  # type: ignore[return-value]

    def done(self, jobs: list[Job]) -> bool:
        return all(not self.store.missing(j, self.images) for j in jobs)

    def point(self, model: ModelRef, setting: RefineConfig, at: int | None = None,
              bits: str = "estimated") -> tuple[float, float] | None:
        """Mean (bpp, PSNR) over images after ``at`` iterations (None = the end).

        ``bits='actual'`` uses the file size (only at the end).
        """
        units = self.units(model, setting)
        if units is None:
            return None
        rows = [_row_at(u, at) for u in units]
        if any(r is None for r in rows):
            return None
        if bits == "actual":
            if at not in (None, setting.iters):
                return None
            bpp = [u["actual_bpp"] for u in units]
        else:
            bpp = [r["bpp"] for r in rows]  # type: ignore[index]
        return float(np.mean(bpp)), float(np.mean([r["psnr"] for r in rows]))  # type: ignore[index]

    def ms_ssim(self, model: ModelRef, setting: RefineConfig) -> float | None:
        """Mean MS-SSIM over images of the final latents; None while a unit is missing or
        lacks it (units refined before sgaplus reported MS-SSIM, images of 10 px or less)."""
        units = self.units(model, setting)
        values = [u["after"].get("ms_ssim") for u in units or []]
        return None if not values or None in values else float(np.mean(values))

    def loss_at(self, model: ModelRef, setting: RefineConfig, at: int | None = None) -> float | None:
        """Mean true R-D loss over images after ``at`` iterations (None = the end)."""
        units = self.units(model, setting)
        if units is None:
            return None
        rows = [_row_at(u, at) for u in units]
        return None if any(r is None for r in rows) else float(np.mean([r["loss"] for r in rows]))

    def history(self, model: ModelRef, setting: RefineConfig, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(iterations, mean over images of ``key``) of the logged history, with t = 0."""
        units = self.units(model, setting)
        if units is None:
            return None
        start = {"loss_true": "loss", "psnr": "psnr", "bpp": "bpp"}
        iters = [0] + [r["iter"] for r in units[0]["history"]]
        values = []
        for u in units:
            first = u["before"][start[key]] if key in start else math.nan
            values.append([first] + [r[key] for r in u["history"]])
        return np.asarray(iters), np.asarray(values, dtype=float).mean(0)

    def family_curve(self, setting: RefineConfig, at: int | None = None, bits: str = "estimated",
                     models: list[ModelRef] | None = None) -> Curve | None:
        """The R-D curve of ``setting`` over the family (one point per model), or
        None while a point is missing."""
        pts = [self.point(m, setting, at, bits) for m in (models or self.family)]
        if any(p is None for p in pts):
            return None
        return Curve(tuple(p[0] for p in pts), tuple(p[1] for p in pts))  # type: ignore[index]


def _row_at(unit: dict[str, Any], at: int | None) -> dict[str, float] | None:
    """Figures after ``at`` iterations: the final hard latents or the logged history row."""
    if at is None or at == unit["iters"]:
        return unit["after"]
    if at == 0:
        return unit["before"]
    for row in unit["history"]:
        if row["iter"] == at:
            return {"loss": row["loss_true"], "psnr": row["psnr"], "bpp": row["bpp"]}
    return None
