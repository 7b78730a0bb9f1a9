"""``sgaplus experiment``: every experiment end to end on a tiny setting, the BD
arithmetic against hand-computed cases, and resumption."""

from __future__ import annotations

import json
import math
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


class TestVerdict:
    """The one rule of every claim, on constructed differences (seeds x images)."""

    def test_clear_win_holds(self):
        from sgaplus.experiments.harness.verdict import HOLDS, Estimate

        est = Estimate.of([[1.0, 1.2], [0.9, 1.1], [1.05, 0.95]])
        assert est.outcome == HOLDS and est.holds is True
        assert est.n == 6 and est.seeds == 3 and est.mean == pytest.approx(1.033333, abs=1e-5)

    def test_clear_loss_does_not_hold(self):
        from sgaplus.experiments.harness.verdict import FAILS, Estimate

        assert Estimate.of([[-2.0, -1.5], [-1.8, -2.2], [-1.9, -1.6]]).outcome == FAILS

    def test_difference_inside_two_standard_errors_is_noise(self):
        from sgaplus.experiments.harness.verdict import NOISE, Estimate

        # mean 0.5, sd 1.5 over 6 samples: SE 0.61, so 0.5 < 2 SE
        samples = [[2.0, -1.0], [2.0, -1.0], [2.0, -1.0]]
        est = Estimate.of(samples)
        assert est.se == pytest.approx(1.643168 / 6**0.5, abs=1e-5)
        assert est.outcome == NOISE and est.holds is None
        # The same mean with a tenth of the scatter is a finding.
        assert Estimate.of([[0.65, 0.35]] * 3).outcome != NOISE

    def test_fewer_than_three_seeds_give_no_verdict(self):
        from sgaplus.experiments.harness.verdict import NO_VERDICT, Estimate

        assert Estimate.of([[5.0, 5.1], [4.9, 5.2]]).outcome == NO_VERDICT
        # a seed whose samples are all missing (NaN) does not count
        assert Estimate.of([[5.0, 5.1], [4.9, 5.2], [math.nan, math.nan]]).outcome == NO_VERDICT

    def test_claims_carry_the_estimate(self):
        from sgaplus.experiments.harness.context import Claim

        c = Claim.decide("x beats y", [[1.0, 1.2], [0.9, 1.1], [1.05, 0.95]], "evidence")
        assert c.holds is True and c.outcome == "holds" and c.estimate["n"] == 6
        assert "n = 6 over 3 seeds" in c.evidence and "margin" in c.evidence


def test_means_over_seeds_carry_their_spread():
    from sgaplus.experiments.harness.context import Mean
    from sgaplus.experiments.harness.plotting import fmt

    m = Mean([[1.0, 3.0], [2.0, 4.0], [3.0, 5.0]])  # per-seed means 2, 3, 4
    assert m == 3.0 and m.spread == pytest.approx(1.0)
    assert fmt(m, 2) == "3.00 ± 1.00" and fmt(Mean([[1.0, 3.0]]), 2) == "2.00"


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


def test_resume_skips_finished_units(env, ran, monkeypatch, capsys):
    from sgaplus.experiments.harness.runner import run
    from sgaplus.refine import Refiner

    ctx, head = env
    stamps = {p: p.stat().st_mtime_ns for p in (ctx.out / "units").glob("*/*/*.json")}

    def fail(*args, **kwargs):
        raise AssertionError("a stored unit was refined again")

    monkeypatch.setattr(Refiner, "refine", fail)
    run(["curves", "rd"], ctx, head, ORDER)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert "plan: 0 units to refine" in capsys.readouterr().out


def test_partial_results_still_give_a_report(env, ran):
    from sgaplus.experiments.harness.runner import run

    ctx, head = env
    ctx.store.path(ctx.main, ctx.setting("ssl"), ctx.images[0].id).unlink()
    sections = run(["rd"], ctx, head, ORDER, refine=False)
    assert not sections["rd"].complete and not sections["curves"].complete
    report = (ctx.out / "report.md").read_text()
    assert "partial" in report
    # a claim whose units are missing is listed without a verdict, not dropped
    assert "SGA+ (SSL) beats atanh (SGA, Yang et al.'s schedule) in R-D: no verdict.** " \
        "BD-rate ssl vs atanh" in report and "not measured yet (units missing)" in report
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


def _plan_line(out: str) -> tuple[int, float, float]:
    m = re.search(r"plan: (\d+) units to refine \(\d+ already stored\), ([\d.e+]+) "
                  r"pixel-iterations, estimated (\d+) min", out)
    assert m, out
    return int(m[1]), float(m[2]), float(m[3])


def test_plan_prints_units_and_time_and_refines_nothing(tiny_family, tiny_images_dir, tmp_path,
                                                        monkeypatch, capsys):
    from sgaplus.cli.main import main
    from sgaplus.refine import Refiner

    def fail(*args, **kwargs):
        raise AssertionError("--plan refined something")

    monkeypatch.setattr(Refiner, "refine", fail)
    monkeypatch.setitem(PROTOCOLS, "tiny", TINY)
    monkeypatch.setenv("SGAPLUS_WARM_STARTS", str(tmp_path / "none"))
    rc = main(["experiment", "three-class", "--protocol", "tiny", "--plan", "--out", str(tmp_path / "r"),
               "--data", str(tiny_images_dir), "--models", *tiny_family, "--device", "cpu"])
    assert rc == 0 and not (tmp_path / "r" / "units").exists()
    units, work, minutes = _plan_line(capsys.readouterr().out)
    # 7 settings (two-class cosine serves two rows) x 3 seeds x 2 images of 64x64, 4 iterations
    assert units == 7 * 3 * 2 and work == pytest.approx(units * 64 * 64 * 4, rel=1e-3) and minutes >= 0


def test_medium_protocol_prints_its_plan_before_running(tiny_family, tmp_path, monkeypatch, capsys):
    """The medium protocol's plan on stand-in images of Kodak's size: its unit count (here for a
    family of 3 models) and estimated time come out before anything is refined."""
    import numpy as np
    from PIL import Image

    from sgaplus.cli.main import main
    from sgaplus.refine import Refiner

    medium = PROTOCOLS["medium"]
    assert len(medium.seeds) >= 3 and 1000 <= medium.iters <= 2000
    rng = np.random.default_rng(0)
    for crop in medium.images:
        Image.fromarray(rng.integers(0, 256, (512, 768, 3), dtype=np.uint8)).save(tmp_path / f"{crop.name}.png")
    monkeypatch.setattr(Refiner, "refine", lambda *a, **k: pytest.fail("--plan refined something"))
    monkeypatch.setenv("SGAPLUS_WARM_STARTS", str(tmp_path / "none"))
    assert main(["experiment", "all", "--protocol", "medium", "--plan", "--out", str(tmp_path / "r"),
                 "--data", str(tmp_path), "--models", *tiny_family, "--device", "cpu",
                 "--threads", "2"]) == 0
    units, work, minutes = _plan_line(capsys.readouterr().out)
    assert units % len(medium.images) == 0 and units > 0
    assert minutes == pytest.approx(work * 1.17e-6 / 60, abs=1)


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
