"""Runs experiments: plan, refine what is missing (skipping stored units),
analyse, and rewrite the report after each experiment, so an interrupted run
leaves a valid report and a re-run continues where it stopped."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Callable

from ... import codecs_eval, rdcurve
from .context import EXPERIMENTS, Context, Section
from .data import load_images
from .models import nearest, resolve_family, training_stages
from .protocol import Protocol
from .provenance import header as make_header
from .cost import plan_cost
from .report import read_result, render, section_from, write_result
from .units import Store, slug
from .. import register_all

register_all()  # EXPERIMENTS holds every experiment before anything looks one up


def build_context(protocol: Protocol, out: Path, data_dir: Path, models: list[str] | None,
                  device: str | None, train_lambdas: list[float] | None = None) -> tuple[Context, dict]:
    head = make_header(protocol.as_dict(), device)
    family = resolve_family(models, protocol.family_lambdas, train_lambdas)
    main = nearest(family, protocol.main_lambda)
    ctx = Context(protocol=protocol, out=out, family=family, main=main,
                  images=load_images(protocol.images, data_dir),
                  store=Store(out, head, protocol.recon_images, device),
                  stages=training_stages(family, main))
    return ctx, head


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def refine_missing(ctx: Context, name: str, log: Callable[[str], None] = _log,
                   distributed: bool = False) -> None:
    """Refine the units ``name`` needs that are not stored; ``distributed``: as Ray tasks
    on the runtime this process is connected to (:mod:`sgaplus.distributed`)."""
    jobs = ctx.seeded(EXPERIMENTS.get(name).plan(ctx))
    todo = [j for j in jobs if ctx.store.missing(j, ctx.images)]
    log(f"{name}: {len(jobs)} settings, {len(jobs) - len(todo)} already stored, {len(todo)} to run")
    if distributed:
        from ...distributed import refine_units

        failures = refine_units(ctx.store, todo, ctx.images, ctx.protocol.batch, log)
        if failures:
            log(f"{name}: {failures} batch(es) failed; their units stay missing (a re-run retries them)")
        return
    for i, job in enumerate(todo, 1):
        every = max(job.setting.iters // 5, 1)

        def progress(t: int, total: int) -> None:
            if t % every == 0:
                log(f"  {name} [{i}/{len(todo)}] {slug(job.setting)[:60]}: {t}/{total}")

        spent = ctx.store.run(job, ctx.images, ctx.protocol.batch, progress)
        log(f"  {name} [{i}/{len(todo)}] {job.model.key} {slug(job.setting)} done in {spent:.0f} s")


#: The analysis code itself, the experiments and the R-D stack they report with: a change
#: in any of it re-analyses stored units.
_SOURCES = (*sorted(Path(__file__).parents[1].rglob("*.py")), Path(rdcurve.__file__), Path(codecs_eval.__file__))
_CODE_HASH = hashlib.sha256(b"".join(p.read_bytes() for p in _SOURCES)).hexdigest()


def refinement_seconds(ctx: Context, name: str) -> float:
    """Refinement time of the units an experiment uses (a batch counted once; a unit
    shared with another experiment counts in both)."""
    batches: dict[tuple[str, str], float] = {}
    for job in ctx.seeded(EXPERIMENTS.get(name).plan(ctx)):
        for im in ctx.images:
            unit = ctx.store.load(job.model, job.setting, im.id)
            if unit is not None:
                batches[(job.model.key + slug(job.setting), unit["finished"])] = unit["batch_seconds"]
    return sum(batches.values())


def signature(ctx: Context, name: str) -> str:
    """What a section depends on: the unit files of its plan (and the models and
    images they are for); an unchanged signature means the stored section is current."""
    h = hashlib.sha256(f"{name}|{[im.id for im in ctx.images]}".encode())
    h.update(_CODE_HASH.encode())
    for job in ctx.seeded(EXPERIMENTS.get(name).plan(ctx)):
        for im in ctx.images:
            path = ctx.store.path(job.model, job.setting, im.id)
            h.update(f"{path}:{path.stat().st_mtime_ns if path.is_file() else 0}".encode())
    return h.hexdigest()


def write_report(ctx: Context, head: dict, order: tuple[str, ...]) -> dict[str, Section]:
    """Analyse each experiment whose units changed (others are read back) and write report.md."""
    sections = {}
    for name in order:
        sig = signature(ctx, name)
        stored = read_result(ctx, name)
        if stored is not None and stored.get("signature") == sig:
            sections[name] = section_from(stored)
            continue
        sections[name] = EXPERIMENTS.get(name).analyse(ctx)
        sections[name].data["refinement_seconds"] = refinement_seconds(ctx, name)
        write_result(ctx, name, sections[name], {**head, "signature": sig})
    runs = json.loads((ctx.out / "runs.json").read_text()) if (ctx.out / "runs.json").is_file() else []
    (ctx.out / "report.md").write_text(render(ctx, sections, head, runs))
    return sections


def _record_run(out: Path, entry: dict) -> None:
    path = out / "runs.json"
    runs = json.loads(path.read_text()) if path.is_file() else []
    runs = [r for r in runs if r["started"] != entry["started"]] + [entry]
    path.write_text(json.dumps(runs, indent=1))


def run(names: list[str], ctx: Context, head: dict, order: tuple[str, ...],
        refine: bool = True, checkpoint_s: float = 60.0, distributed: bool = False) -> dict[str, Section]:
    """Refine what ``names`` need, logged in ``runs.json``, then write the report
    covering every experiment in ``order``. Mid-run the report is also rewritten
    after an experiment once ``checkpoint_s`` seconds passed since the last write,
    so a long run that is stopped still leaves a current report. ``refine=False``
    only rewrites the report; ``distributed`` refines as Ray tasks."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    if refine:
        _log(plan_cost(ctx, names).describe())
        start = last = time.time()
        entry = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "experiments": names,
                 "command": "sgaplus " + " ".join(sys.argv[1:]) if sys.argv[1:] else "sgaplus experiment"}
        _record_run(ctx.out, entry)
        for i, name in enumerate(names):
            refine_missing(ctx, name, distributed=distributed)
            if i < len(names) - 1 and time.time() - last > checkpoint_s:
                entry["wall_s"] = time.time() - start
                _record_run(ctx.out, entry)
                write_report(ctx, head, order)
                last = time.time()
                _log(f"{name}: report updated ({ctx.out / 'report.md'})")
        entry.update(finished=time.strftime("%Y-%m-%d %H:%M:%S %Z"), wall_s=time.time() - start)
        _record_run(ctx.out, entry)
    sections = write_report(ctx, head, order)
    _log(f"report written: {ctx.out / 'report.md'}")
    return sections
