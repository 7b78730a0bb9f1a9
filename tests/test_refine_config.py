"""RefineConfig: defaults stated once, validated, recorded in every result, and a recorded
run re-run from its record (issue 13)."""

from __future__ import annotations

import json

import pytest
import torch

from sgaplus.cli.main import main
from sgaplus.presets import EFFORT_ITERS, effort
from sgaplus.refine import Refiner
from sgaplus.refine_config import AUTO_MAX_ITERS, RefineConfig
from sgaplus.stopping import AUTO_PATIENCE


def test_defaults_are_the_papers_settings():
    c = RefineConfig()
    assert (c.method, c.iters, c.lr, c.lr_decay, c.seed) == ("ssl", 2000, 0.005, "constant", 0)
    assert c.relaxation().params() == {"a": 2.3}
    assert c.temperature().config() == {"schedule": "sgaplus", "r": 1e-3, "t_max": 1.0}


def test_the_schedule_is_the_methods_own_unless_named():
    assert RefineConfig(method="atanh").temperature().name == "yang"
    assert RefineConfig(method="ste").temperature().name == "constant"
    assert RefineConfig(method="atanh", schedule="sgaplus").temperature().name == "sgaplus"


def test_a_budget_schedule_spans_the_iterations_unless_told():
    assert RefineConfig(schedule="budget", iters=100).temperature().iters == 100
    assert RefineConfig(schedule="budget", iters=100, schedule_params={"iters": 40}).temperature().iters == 40


def test_auto_is_the_papers_cap_with_a_plateau_rule():
    stop = RefineConfig(iters="auto").stop_args
    assert (stop["max_iters"], stop["patience"]) == (AUTO_MAX_ITERS, AUTO_PATIENCE)
    assert RefineConfig(iters="auto", patience=7).stop_args["patience"] == 7
    assert RefineConfig(iters=30).stop_args["patience"] is None


@pytest.mark.parametrize("config", [
    RefineConfig(),
    RefineConfig(method="ssl3", params={"a": 1.2, "n": 2.0}, schedule="yang",
                 schedule_params={"t0": 100.0}, iters="auto", lr=0.02, lr_decay="linear", lmbda=0.004,
                 distortion="ms-ssim", seed=3, log_every=0, time_budget=9.5, patience=20,
                 min_delta=0.01, precision="bf16", device="cpu", max_memory=2**30),
])
def test_to_dict_from_dict_round_trip(config):
    record = json.loads(json.dumps(config.to_dict()))  # as a result file stores it
    assert RefineConfig.from_dict(record) == config
    assert hash(RefineConfig.from_dict(record)) == hash(config)  # experiment settings are keys


def test_parameters_have_one_spelling():
    assert RefineConfig(params={"a": 2.0}) == RefineConfig(params=(("a", 2.0),))
    assert RefineConfig(schedule_params={"t_max": 1.0, "r": 0.002}).schedule_params == (("r", 0.002), ("t_max", 1.0))


@pytest.mark.parametrize("fields, match", [
    ({"lr": 0}, "learning rate"), ({"lr": float("nan")}, "learning rate"), ({"iters": -1}, "iterations"),
    ({"iters": "often"}, "iterations"), ({"lr_decay": "cosine"}, "lr decay"), ({"lmbda": -1.0}, "lambda"),
    ({"precision": "fp8"}, "precision"), ({"log_every": -1}, "log interval"),
    ({"max_memory": 0}, "memory budget"), ({"distortion": "ssim"}, "unknown distortion"),
    ({"time_budget": 0}, "time budget"), ({"patience": 0}, "patience"),
    ({"method": "nope"}, "unknown method 'nope'"), ({"params": {"a": -1.0}}, "a must be a number above 0"),
    ({"method": "nope", "schedule": "budget"}, "unknown method 'nope'"),  # a named schedule too
    ({"params": {"b": 1.0}}, "does not take b; its parameters: a$"),
    ({"schedule": "nope"}, "unknown schedule"), ({"schedule_params": {"t_max": -1.0}}, "t_max must be a number"),
])
def test_invalid_fields_fail_at_construction(fields, match):
    with pytest.raises(ValueError, match=match):
        RefineConfig(**fields)


def test_from_dict_names_an_unknown_field():
    with pytest.raises(ValueError, match="not a refinement config field: max_iters"):
        RefineConfig.from_dict({"max_iters": 5})


def test_every_effort_is_a_config():
    assert RefineConfig(**effort(9)) == RefineConfig()  # the paper's settings
    for e, iters in enumerate(EFFORT_ITERS[:-1]):
        config = RefineConfig(**effort(e))
        assert config.iters == iters and (e == 0 or config.temperature().iters == iters)


def test_the_refiner_records_its_config_resolved(tiny_model):
    r = Refiner(tiny_model, method="atanh", iters="auto", device="cpu")
    c = r.config
    assert (c.method, c.params, c.schedule) == ("atanh", (), "yang")
    assert dict(c.schedule_params) == {"r": 1e-3, "t_max": 0.5, "t0": 700}
    assert (c.iters, c.patience, c.lmbda, c.distortion, c.device) == (2000, AUTO_PATIENCE, 0.01, "mse", "cpu")
    assert c.max_memory > 0 and Refiner(tiny_model, c).config == c


def test_variant_respans_a_budget(tiny_model):
    r = Refiner(tiny_model, iters=250, schedule="budget", device="cpu")
    v = r.variant(iters=60, lmbda=0.02)
    assert v.schedule.iters == 60 and v.config.iters == 60 and v.lmbda == 0.02
    assert r.schedule.iters == 250 and r.lmbda == 0.01


def test_a_resumed_variant_takes_up_the_rest_of_the_schedule(tiny_model):
    """Resumed halfway (a rate-control correction), a budgeted refinement's variant runs the
    second half of its temperatures and linearly decaying lr over its own iterations; a
    schedule not tied to a budget, and a constant lr, start over."""
    r = Refiner(tiny_model, iters=250, schedule="budget", lr=0.06, lr_decay="linear", device="cpu")
    v = r.variant(iters=60, resume=0.5)
    assert v.schedule(0) == pytest.approx(r.schedule(125)) and v.schedule(60) == pytest.approx(r.schedule(250))
    assert v.config.lr == pytest.approx(0.03) and v.config.iters == 60
    assert r.variant(iters=60, resume=0.0).config == r.variant(iters=60).config
    paper = Refiner(tiny_model, iters=250, device="cpu")
    assert paper.variant(iters=60, resume=0.5).config == paper.variant(iters=60).config


def test_a_result_reruns_from_its_record(tiny_model, photo):
    """The recorded (JSON) config rebuilds an identical Refiner, and the same result on the seed."""
    first = Refiner(tiny_model, method="cosine3", iters=6, seed=4, log_every=3, device="cpu").refine(photo)
    record = json.loads(json.dumps(first.config.to_dict()))
    again = Refiner(tiny_model, RefineConfig.from_dict(record))
    assert again.config == first.config
    second = again.refine(photo)
    assert torch.equal(first.hard.y_symbols, second.hard.y_symbols)
    assert torch.equal(first.hard.z_hat, second.hard.z_hat)
    assert first.after == second.after and first.history == second.history


def test_refine_json_reruns_from_its_config(capsys, tiny_ckpt, photo_png):
    """``refine --json``'s config, from the command line's options, re-runs in the library."""
    from sgaplus.images import load_image
    from sgaplus.zoo import load_model

    argv = ["refine", str(photo_png), "--model", str(tiny_ckpt), "--method", "ssl", "--param", "a=3",
            "--schedule", "budget", "--iters", "7", "--lr", "0.02", "--seed", "2", "--device", "cpu", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    config = RefineConfig.from_dict(out["config"])
    assert (config.params, config.schedule_params) == ((("a", 3.0),), (("iters", 7), ("t_end", 0.3), ("t_max", 1.25)))
    result = Refiner(load_model(str(tiny_ckpt)), config).refine(load_image(photo_png).x)
    assert result.after[0].loss == out["loss_after"] and result.after[0].bpp == out["bpp_after"]


def test_compress_json_reruns_from_its_config(capsys, tmp_path, tiny_ckpt, photo_png):
    """``compress --json`` records the config of its refinement (here effort 1's): coded again
    from that record, the same bytes."""
    from sgaplus.images import load_image
    from sgaplus.pipeline import code_images
    from sgaplus.zoo import load_model

    sgp = tmp_path / "a.sgp"
    assert main(["compress", str(photo_png), "-o", str(sgp), "--model", str(tiny_ckpt), "--effort", "1",
                 "--device", "cpu", "--json"]) == 0
    config = RefineConfig.from_dict(json.loads(capsys.readouterr().out)["config"])
    assert (config.iters, config.schedule, config.lr_decay) == (EFFORT_ITERS[1], "budget", "linear")
    model = load_model(str(tiny_ckpt))
    coded = code_images([load_image(photo_png)], Refiner(model, config))[0]
    assert coded.data == sgp.read_bytes()


def test_experiment_settings_keep_their_unit_folders():
    """An experiment's setting is a RefineConfig; its slug still names the committed quick
    protocol's unit folders, seed by seed, variants included (so ``--report-only`` finds them)."""
    from pathlib import Path

    from sgaplus.experiments import PROTOCOLS
    from sgaplus.experiments.harness.units import slug
    from sgaplus.experiments.harness.variants import VARIANTS, Variant

    units = Path(__file__).parents[1] / "docs" / "results" / "quick" / "units"
    folders = {p.name for p in units.glob("*/*")}
    quick = PROTOCOLS["quick"]
    absent = set()
    for name in quick.methods_for_curves():
        v = VARIANTS.get(name, Variant(name, ""))
        for seed in quick.seeds:
            setting = RefineConfig(method=v.method, params=v.params, schedule=v.schedule,
                                   iters=quick.iters, lr=quick.lr, seed=seed,
                                   precision=quick.precision, log_every=quick.log_every)
            if slug(setting) not in folders:
                absent.add(name)
    # The committed quick run has every curve method at every seed.
    assert not absent
    assert slug(RefineConfig(iters=0)) == "base__lamown" and "base__lamown" in folders
