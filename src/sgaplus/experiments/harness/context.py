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
from .units import Job, Store, slug
from .variants import VARIANTS
from .verdict import FAILS, HOLDS, NO_VERDICT, Estimate


@dataclass
class Claim:
    """A paper claim checked on our results by the rule of :mod:`.verdict`.

    Attributes:
        outcome: ``holds``, ``does not hold``, ``within noise`` or ``no verdict``.
        estimate: the difference it was decided on (:meth:`Estimate.as_dict`).
    """

    text: str
    outcome: str
    evidence: str
    figure: str | None = None
    estimate: dict[str, Any] | None = None

    @classmethod
    def decide(cls, text: str, samples: Any, evidence: str, figure: str | None = None,
               unit: str = " %") -> "Claim":
        """The claim decided on ``samples`` (seeds, images) of how much the claimed side is
        better by; the evidence gets the estimate appended. ``samples=None``: some unit is
        not stored yet (a partial run), so no verdict."""
        if samples is None:
            return cls(text, NO_VERDICT, f"{evidence}: not measured yet (units missing)", figure)
        est = Estimate.of(samples)
        return cls(text, est.outcome, f"{evidence}: {est.describe(unit)}", figure,
                   est.as_dict())

    @property
    def holds(self) -> bool | None:
        return {HOLDS: True, FAILS: False}.get(self.outcome)


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
        if method in VARIANTS:
            v = VARIANTS[method]
            method, params, schedule = v.method, {**v.params, **(params or {})}, schedule or v.schedule
        return RefineConfig(method=method, iters=p.iters, lr=p.lr if lr is None else lr,
                            seed=p.seeds[0], precision=p.precision, log_every=p.log_every,
                            params=params or {}, schedule=schedule,
                            schedule_params=schedule_params or {}, lmbda=lmbda)

    def base(self, lmbda: float | None = None) -> RefineConfig:
        """The unrefined model (0 iterations); ``lmbda`` only changes the reported loss."""
        return replace(self.setting("ste", lmbda=lmbda), iters=0, log_every=0)

    # -- seeds --------------------------------------------------------------
    def replicas(self, setting: RefineConfig) -> list[RefineConfig]:
        """``setting`` under each seed of the protocol; the base model has no noise: itself."""
        if setting.iters == 0:
            return [setting]
        return [replace(setting, seed=s) for s in self.protocol.seeds]

    def seeded(self, jobs: list[Job]) -> list[Job]:
        """Every job under every seed, each unit once: what a plan refines."""
        out: dict[tuple[str, str], Job] = {}
        for job in jobs:
            for s in self.replicas(job.setting):
                out.setdefault((job.model.key, slug(s)), Job(job.model, s))
        return list(out.values())

    # -- readers ------------------------------------------------------------
    def units(self, model: ModelRef, setting: RefineConfig) -> list[dict[str, Any]] | None:
        """All images' units of one seed's setting, or None while any is missing."""
        out = [self.store.load(model, setting, im.id) for im in self.images]
        return None if any(u is None for u in out) else out  # type: ignore[return-value]

    def done(self, jobs: list[Job]) -> bool:
        return all(not self.store.missing(j, self.images) for j in self.seeded(jobs))

    def values(self, model: ModelRef, setting: RefineConfig, at: int | None = None,
               key: str = "loss") -> np.ndarray | None:
        """``key`` (loss, psnr, bpp, ms_ssim, actual_bpp) after ``at`` iterations (None = the
        end) per seed and image, shape (seeds, images) (1 row for the base model); None while
        a unit or its row is missing. ``actual_bpp`` (the file size) exists at the end only."""
        rows = []
        for s in self.replicas(setting):
            units = self.units(model, s)
            if units is None:
                return None
            if key == "actual_bpp":
                if at not in (None, s.iters):
                    return None
                rows.append([u["actual_bpp"] for u in units])
                continue
            found = [_row_at(u, at) for u in units]
            if any(r is None or r.get(key) is None for r in found):
                return None
            rows.append([r[key] for r in found])  # type: ignore[index]
        return np.asarray(rows, dtype=float)

    def seconds_per_image(self, model: ModelRef, setting: RefineConfig) -> "Mean | None":
        """Refinement time per image (its batch's time over the batch size), per seed and
        image, as a mean with its spread over seeds; None while a unit is missing."""
        rows = [self.units(model, s) for s in self.replicas(setting)]
        if any(r is None for r in rows):
            return None
        return Mean(np.asarray([[u["batch_seconds"] / u["batch_size"] for u in r] for r in rows]))

    def point(self, model: ModelRef, setting: RefineConfig, at: int | None = None,
              bits: str = "estimated") -> tuple[float, float] | None:
        """Mean (bpp, PSNR) over seeds and images after ``at`` iterations (None = the end).

        ``bits='actual'`` uses the file size (only at the end).
        """
        bpp = self.values(model, setting, at, "actual_bpp" if bits == "actual" else "bpp")
        psnr = self.values(model, setting, at, "psnr")
        if bpp is None or psnr is None:
            return None
        return Mean(bpp), Mean(psnr)

    def ms_ssim(self, model: ModelRef, setting: RefineConfig) -> float | None:
        """Mean MS-SSIM over seeds and images of the final latents; None while a unit is
        missing or lacks it (units refined before sgaplus reported MS-SSIM, images of 10 px or less)."""
        v = self.values(model, setting, None, "ms_ssim")
        return None if v is None else float(v.mean())

    def loss_at(self, model: ModelRef, setting: RefineConfig, at: int | None = None) -> "Mean | None":
        """Mean true R-D loss over seeds and images after ``at`` iterations (None = the end),
        with its spread over seeds."""
        v = self.values(model, setting, at)
        return None if v is None else Mean(v)

    def history(self, model: ModelRef, setting: RefineConfig, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(iterations, mean over seeds and images of ``key``) of the logged history, with t = 0."""
        start = {"loss_true": "loss", "psnr": "psnr", "bpp": "bpp"}
        iters, values = None, []
        for s in self.replicas(setting):
            units = self.units(model, s)
            if units is None:
                return None
            iters = [0] + [r["iter"] for r in units[0]["history"]]
            for u in units:
                first = u["before"][start[key]] if key in start else math.nan
                values.append([first] + [r[key] for r in u["history"]])
        return np.asarray(iters), np.asarray(values, dtype=float).mean(0)

    def family_curve(self, setting: RefineConfig, at: int | None = None, bits: str = "estimated",
                     models: list[ModelRef] | None = None) -> Curve | None:
        """The R-D curve of ``setting`` over the family (one mean point per model), or
        None while a point is missing."""
        pts = [self.point(m, setting, at, bits) for m in (models or self.family)]
        if any(p is None for p in pts):
            return None
        return Curve(tuple(p[0] for p in pts), tuple(p[1] for p in pts))  # type: ignore[index]

    def family_samples(self, setting: RefineConfig, at: int | None = None,
                       models: list[ModelRef] | None = None) -> np.ndarray | None:
        """Per seed and image (estimated bpp, PSNR) of every family model: shape
        (2, models, seeds, images) (1 seed for the base model), or None while one is missing."""
        out = []
        for m in models or self.family:
            bpp, psnr = self.values(m, setting, at, "bpp"), self.values(m, setting, at, "psnr")
            if bpp is None or psnr is None:
                return None
            out.append((bpp, psnr))
        return np.stack([np.stack([b for b, _ in out]), np.stack([p for _, p in out])])


class Mean(float):
    """A mean over seeds and images that carries its spread: the standard deviation over
    seeds of the mean over images (NaN with one seed). Tables print it as ``mean ± spread``."""

    spread: float

    def __new__(cls, samples: np.ndarray) -> "Mean":
        obj = super().__new__(cls, float(np.mean(samples)))
        per_seed = np.asarray(samples, dtype=float).mean(axis=1)
        obj.spread = float(per_seed.std(ddof=1)) if per_seed.size > 1 else math.nan
        return obj


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
