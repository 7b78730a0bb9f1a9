"""Refinement units: one (model, setting, image) result, stored as one JSON file.

A unit is keyed by what determines its numbers (model weights and the refinement's
:class:`~sgaplus.refine_config.RefineConfig`: method and its parameters, schedule,
iterations, lr, λ, seed, precision, ...; :func:`slug`), not by the
experiment that asked for it: Fig. 2's SSL run and Table 1's SSL point are the
same unit and run once. A unit file that exists is never recomputed, which is
what makes ``sgaplus experiment all`` resumable.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image

from ...images import to_pil
from ...pipeline import actual_bpp
from ...refine import Refiner
from ...refine_config import RefineConfig
from ...util import atomic_write
from .data import EvalImage, by_shape
from .models import ModelRef


#: RefineConfig fields a slug names only when they differ from the default (no unit so far
#: sets them), so a unit folder's name stays what it was before they existed.
_UNLESS_DEFAULT = ("lr_decay", "distortion", "time_budget", "patience", "min_delta")


def slug(setting: RefineConfig) -> str:
    """A unit folder's name from the full configs of the method and schedule (defaults
    spelled out), so equal refinements requested differently share one unit. ``iters=0``
    is the unrefined base model (the amortised encoder's latents, hard-rounded), whatever
    the method; ``lmbda=None`` ("own") the model's training λ. The device and memory
    budget are not in it: they change the numbers by float rounding at most."""
    lam = "own" if setting.lmbda is None else f"{setting.lmbda:g}"
    if setting.iters == 0:
        return f"base__lam{lam}"

    def spell(cfg: dict, key: str) -> str:
        return cfg[key] + "".join(f"_{k}{v:g}" for k, v in sorted(cfg.items()) if k != key)

    extra = "".join(f"_{name}{getattr(setting, name)}" for name in _UNLESS_DEFAULT
                    if getattr(setting, name) != getattr(RefineConfig, name))
    method, schedule = setting.relaxation().config(), setting.temperature().config()
    return (f"{spell(method, 'method')}__{spell(schedule, 'schedule')}__it{setting.iters}_lr{setting.lr:g}"
            f"_lam{lam}_s{setting.seed}_{setting.precision}_log{setting.log_every}{extra}")


@dataclass(frozen=True)
class Job:
    """Refine every protocol image with ``model`` and ``setting``."""

    model: ModelRef
    setting: RefineConfig


@dataclass
class Unit:
    """One refined image's unit: the JSON record and, when kept, its reconstruction."""

    image: str
    record: dict[str, Any]
    recon: Image.Image | None


def _write_json(path: Path, obj: Any) -> None:
    """Atomic write: a crash never leaves a half unit that would be skipped later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=1, sort_keys=True)))


class Store:
    """Unit files under ``root/units/<model key>/<setting slug>/<image id>.json``.

    Args:
        root: the protocol's result folder.
        header: fields recorded in every unit (protocol, versions, hardware).
        keep_recon: image ids whose reconstruction PNG is written next to the JSON
            (None = all).
        device: where refinements run (None = CUDA when present).
    """

    def __init__(self, root: Path, header: dict[str, Any], keep_recon: tuple[str, ...] | None,
                 device: str | None = None) -> None:
        self.root, self.header, self.keep_recon, self.device = root, header, keep_recon, device

    def path(self, model: ModelRef, setting: RefineConfig, image_id: str) -> Path:
        return self.root / "units" / model.key / slug(setting) / f"{image_id}.json"

    def recon_path(self, model: ModelRef, setting: RefineConfig, image_id: str) -> Path:
        return self.path(model, setting, image_id).with_suffix(".png")

    def load(self, model: ModelRef, setting: RefineConfig, image_id: str) -> dict[str, Any] | None:
        path = self.path(model, setting, image_id)
        return json.loads(path.read_text()) if path.is_file() else None

    def missing(self, job: Job, images: list[EvalImage]) -> list[EvalImage]:
        return [im for im in images if not self.path(job.model, job.setting, im.id).is_file()]

    def run(self, job: Job, images: list[EvalImage], max_batch: int,
            progress: Callable[[int, int], None] | None = None) -> float:
        """Refine the images of ``job`` that have no unit file yet; returns seconds spent."""
        spent = 0.0
        for batch in by_shape(self.missing(job, images), max_batch):
            units, seconds = self.compute(job, batch, progress)
            self.save(job, units)
            spent += seconds
        return spent

    def compute(self, job: Job, batch: list[EvalImage],
                progress: Callable[[int, int], None] | None = None) -> tuple[list[Unit], float]:
        """Refine one batch of same-size images and build their units, writing nothing
        (here, or in a Ray task: :mod:`sgaplus.distributed`); returns them and the seconds."""
        x = torch.cat([im.x for im in batch])
        refiner = Refiner(job.model.model, job.setting, device=self.device)
        start = time.perf_counter()
        cb = (lambda t, tau, loss: progress(t, job.setting.iters)) if progress else None
        result = refiner.refine(x, progress=cb)
        seconds = time.perf_counter() - start
        bits = actual_bpp(job.model.model, result.hard, x.shape[-1], x.shape[-2])
        units = []
        for i, im in enumerate(batch):
            record = {
                **self.header,
                "model": job.model.describe(), "setting": job.setting.to_dict(),
                "refiner": result.config.to_dict(), "image": im.id, "height": im.x.shape[-2],
                "width": im.x.shape[-1], "before": result.before[i].as_dict(),
                "after": result.after[i].as_dict(), "iters": result.iters,
                "history": [{k: v for k, v in row.items() if k != "image"}
                            for row in result.history if row["image"] == i],
                "actual_bpp": bits[i],
                "batch_seconds": seconds, "batch_size": len(batch),
                "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            }
            keep = self.keep_recon is None or im.id in self.keep_recon
            units.append(Unit(im.id, record, to_pil(result.x_hat[i:i + 1]) if keep else None))
        return units, seconds

    def save(self, job: Job, units: list[Unit]) -> None:
        """Write units: the reconstruction first, the JSON last (its presence marks the unit done)."""
        for unit in units:
            path = self.path(job.model, job.setting, unit.image)
            path.parent.mkdir(parents=True, exist_ok=True)
            if unit.recon is not None:
                unit.recon.save(self.recon_path(job.model, job.setting, unit.image))
            _write_json(path, unit.record)
