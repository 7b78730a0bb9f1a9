"""``sgaplus experiment``: every experiment end to end on a tiny setting, the BD
arithmetic against hand-computed cases, and resumption."""

from __future__ import annotations

import json
import re

import pytest

from sgaplus.experiments import ORDER, PROTOCOLS, Crop, Protocol

TINY = Protocol(
    name="tiny",
    images=(Crop("a", 0, 0, 64), Crop("b", 0, 0, 64)),
    iters=4,
    checkpoints=(2, 4),
    log_every=2,
    family_lambdas=(0.005, 0.01, 0.02),
    main_lambda=0.01,
    smr_lambdas=(0.005,),
    smr_all_models=False,
    tmax_grid=(0.5, 1.0),
    tmax_methods=("atanh", "ssl"),
    ssl_a_grid=(1.5, 2.3),
    lr_grid=(0.02, 0.005),
    curve_methods=("ste", "noise", "atanh", "ssl", "ssl3"),
    qualitative_image="a_0_0_64",
    notes="tiny test protocol",
)


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_family, tiny_images_dir):
    """A context on the tiny family; units are shared by all tests of this module.

    One torch thread: on the shared 2-core machine two threads of tiny convolutions
    ran ~100x slower than one (spinning workers)."""
    import torch

    from sgaplus.experiments.harness.runner import build_context

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    mp.setenv("SGAPLUS_WARM_STARTS", str(tmp_path_factory.mktemp("no_warm_starts")))
    out = tmp_path_factory.mktemp("results")
    ctx, head = build_context(TINY, out, tiny_images_dir, tiny_family, "cpu")
    yield ctx, head
    mp.undo()
    torch.set_num_threads(threads)


def test_order_is_every_registered_experiment_once():
    """ORDER, written out so that ``--help`` lists it without torch, names exactly the
    experiments the package's modules register, each under its module's name."""
    import importlib
    import pkgutil

    import sgaplus.experiments as package
    from sgaplus.experiments.harness.context import EXPERIMENTS

    package.register_all()
    modules = [m.name for m in pkgutil.iter_modules(package.__path__) if not m.ispkg]
    assert len(set(ORDER)) == len(ORDER)
    assert sorted(ORDER) == EXPERIMENTS.names() == sorted(m.replace("_", "-") for m in modules)
    for m in modules:
        assert importlib.import_module(f"sgaplus.experiments.{m}").EXPERIMENT.name == m.replace("_", "-")


def test_claims_within_noise_are_undecided():
    from sgaplus.experiments.harness.context import NOISE_PP, verdict

    assert verdict(NOISE_PP / 2) is None and verdict(-NOISE_PP / 2) is None
    assert verdict(2 * NOISE_PP) is True and verdict(-2 * NOISE_PP) is False


def test_protocols_share_code_and_differ_in_parameters():
    quick, full = PROTOCOLS["quick"], PROTOCOLS["full"]
    assert full.iters == 2000 and full.lr == 0.005 and len(full.images) == 24
    assert all(c.size == 0 for c in full.images) and full.checkpoints == (500, 2000)
    assert quick.iters < full.iters and len(quick.images) < len(full.images)


@pytest.fixture(scope="module")
def ran(env):
    """Every experiment run once, in order, on the tiny setting."""
    from sgaplus.experiments.harness.runner import run

    ctx, head = env
    return run(list(ORDER), ctx, head, ORDER)


@pytest.mark.parametrize("name", ORDER)
def test_experiment_runs_end_to_end(env, ran, name):
    ctx, _ = env
    assert ran[name].complete
    result = json.loads((ctx.out / "results" / f"{name}.json").read_text())
    assert result["protocol"]["name"] == "tiny" and result["versions"]["torch"]
    assert result["hardware"]["device"] == "cpu" and result["commit"]
    assert ran[name].title in (ctx.out / "report.md").read_text()
    for figure in re.findall(r"\(figures/([^)]+\.png)\)", ran[name].body):
        assert (ctx.out / "figures" / figure).stat().st_size > 0


def test_units_record_provenance(env, ran):
    ctx, _ = env
    units = list((ctx.out / "units").glob("*/*/*.json"))
    assert units
    for path in units:
        unit = json.loads(path.read_text())
        assert {"protocol", "model", "setting", "before", "after", "versions", "hardware",
                "batch_seconds"} <= set(unit)


def test_a_unit_reruns_from_its_record(env, ran):
    """A unit records its setting and the Refiner's resolved config; that record rebuilds the
    Refiner, and refining the unit's batch again gives its figures."""
    import torch

    from sgaplus.refine import Refiner
    from sgaplus.refine_config import RefineConfig

    ctx, _ = env
    setting = ctx.setting("ssl3")
    unit = ctx.store.load(ctx.main, setting, ctx.images[0].id)
    assert RefineConfig.from_dict(unit["setting"]) == setting
    refiner = Refiner(ctx.main.model, RefineConfig.from_dict(unit["refiner"]))
    assert refiner.config.to_dict() == unit["refiner"] and unit["batch_size"] == len(ctx.images)
    result = refiner.refine(torch.cat([im.x for im in ctx.images]))  # the noise depends on batch-mates
    assert result.after[0].as_dict() == unit["after"]


def test_rd_reports_bd_rows(ran):
    """Every comparison at every checkpoint has a row (untrained tiny models may give no overlap)."""
    data = ran["rd"].data
    for pair in ("ssl vs atanh", "ssl vs base", "atanh vs base"):
        for at in TINY.checkpoints:
            assert {"bd_rate_pct", "bd_psnr_db"} <= set(data[f"estimated@{at}:{pair}"])


def test_ms_ssim_is_shown_where_units_record_it(env, ran):
    """New units carry MS-SSIM and the tables show it; units refined before sgaplus reported
    MS-SSIM (simulated by removing it) render the tables as before, without it."""
    from sgaplus.experiments.harness.context import EXPERIMENTS

    ctx, _ = env
    unit = ctx.store.load(ctx.main, ctx.setting("ssl"), ctx.images[0].id)
    assert 0 < unit["after"]["ms_ssim"] < 1 and unit["refiner"]["distortion"] == "mse"
    assert "PSNR / MS-SSIM" in ran["rd"].body and "| MS-SSIM |" in ran["semi-multi-rate"].body
    saved = {p: p.read_text() for p in (ctx.out / "units").glob("*/*/*.json")}
    try:
        for path, text in saved.items():
            old = json.loads(text)
            for key in ("before", "after"):
                del old[key]["ms_ssim"], old[key]["ms_ssim_db"]
            path.write_text(json.dumps(old))
        assert "MS-SSIM" not in EXPERIMENTS.get("semi-multi-rate").analyse(ctx).body
        without = re.sub(r" / 0\.\d{4}", "", ran["rd"].body.replace(" / MS-SSIM where its units have it", "")
                         .replace("PSNR / MS-SSIM", "PSNR"))
        assert EXPERIMENTS.get("rd").analyse(ctx).body == without
    finally:
        for path, text in saved.items():
            path.write_text(text)


def test_resume_skips_finished_units(env, ran, monkeypatch):
    from sgaplus.experiments.harness.runner import run
    from sgaplus.refine import Refiner

    ctx, head = env
    stamps = {p: p.stat().st_mtime_ns for p in (ctx.out / "units").glob("*/*/*.json")}

    def fail(*args, **kwargs):
        raise AssertionError("a stored unit was refined again")

    monkeypatch.setattr(Refiner, "refine", fail)
    run(["curves", "rd"], ctx, head, ORDER)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_partial_results_still_give_a_report(env, ran):
    from sgaplus.experiments.harness.runner import run

    ctx, head = env
    ctx.store.path(ctx.main, ctx.setting("ssl"), ctx.images[0].id).unlink()
    sections = run(["rd"], ctx, head, ORDER, refine=False)
    assert not sections["rd"].complete and not sections["curves"].complete
    assert "partial" in (ctx.out / "report.md").read_text()
    run(["rd"], ctx, head, ORDER)  # resuming refines exactly the missing unit
    assert ctx.store.path(ctx.main, ctx.setting("ssl"), ctx.images[0].id).is_file()


def test_cli_runs_an_experiment(tiny_family, tiny_images_dir, tmp_path, monkeypatch):
    from sgaplus.cli.main import main

    monkeypatch.setitem(PROTOCOLS, "tiny", TINY)
    monkeypatch.setenv("SGAPLUS_WARM_STARTS", str(tmp_path / "none"))
    rc = main(["experiment", "probabilities", "--protocol", "tiny", "--out", str(tmp_path / "r"),
               "--data", str(tiny_images_dir), "--models", *tiny_family, "--device", "cpu"])
    assert rc == 0
    assert (tmp_path / "r" / "report.md").is_file()
    assert (tmp_path / "r" / "figures" / "probabilities.png").is_file()


def test_family_falls_back_to_labelled_warm_starts(tiny_family, tmp_path, monkeypatch):
    """For a λ outside our bundled family the family is the warm-start files, labelled so."""
    import shutil

    from sgaplus.experiments.harness.models import family_spec, resolve_family, warm_start_path

    monkeypatch.setenv("SGAPLUS_WARM_STARTS", str(tmp_path / "warm"))
    (tmp_path / "warm").mkdir()
    for path, lmbda in zip(tiny_family, (0.005, 0.01, 0.02)):
        shutil.copy(path, warm_start_path(lmbda))
    assert family_spec(0.0035) == "sgaplus-msh:1"
    assert family_spec(0.005) == str(warm_start_path(0.005))
    family = resolve_family(None, (0.02, 0.005, 0.01))
    assert [m.lmbda for m in family] == [0.005, 0.01, 0.02]
    assert all(m.warm_start and m.label.startswith("warm start") for m in family)
    assert len({m.key for m in family}) == 3
