"""Rate control: the λ search on a known monotone curve, and `compress --target-*`."""

from __future__ import annotations

import json
import math

import pytest

from sgaplus.cli.main import main
from sgaplus.ratecontrol import Probe, Target, TargetNotReached, search

LMBDA = 0.013


def curve(lmbda: float) -> Probe[None]:
    """bpp ∝ λ^0.4 and PSNR + 4 dB per decade of λ: the shape of a real R-D curve."""
    return Probe(lmbda, 0.6 * (lmbda / LMBDA) ** 0.4, 30 + 4 * math.log10(lmbda / LMBDA), None)


def test_bpp_target_gives_the_largest_file_within_budget():
    best, tried = search(curve, LMBDA, Target("bpp", 0.45))
    assert best.bpp <= 0.45
    assert all(p.bpp <= best.bpp for p in tried if p.bpp <= 0.45)  # the most bits within budget
    assert best.bpp > 0.45 * 0.97 and len(tried) <= 6


def test_psnr_target_gives_the_smallest_file_at_quality():
    best, tried = search(curve, LMBDA, Target("psnr", 31.0))
    assert best.psnr >= 31.0
    assert all(p.bpp >= best.bpp for p in tried if p.psnr >= 31.0)
    assert best.psnr < 31.2


def test_stops_at_a_close_enough_probe():
    best, tried = search(curve, LMBDA, Target("bpp", 0.6))  # the model's own λ meets it exactly
    assert len(tried) == 1 and best.lmbda == LMBDA


def test_unreachable_target_says_how_near_it_came():
    with pytest.raises(TargetNotReached, match=r"nearest 0\.34\d+ bpp, .* at λ 0\.00325"):
        search(curve, LMBDA, Target("bpp", 0.1))


@pytest.mark.parametrize("metric, value", [("bpp", 0.0), ("psnr", -3.0), ("ssim", 0.9),
                                           ("bpp", math.nan)])
def test_bad_targets_are_refused(metric, value):
    with pytest.raises(ValueError):
        Target(metric, value)


def test_compress_hits_a_target_bpp(tmp_path, capsys, photo_png):
    """The bundled model on the 96x64 test photo: the file meets the budget, the header
    records the chosen λ, and the row says how many refinements it took. (λ moves the
    rate through refinement, so it needs iterations: at 3 the rate hardly moved.)"""
    opts = ["--iters", "40", "--device", "cpu", "--json"]
    base = tmp_path / "base.sgp"
    assert main(["compress", str(photo_png), "-o", str(base), *opts]) == 0
    own = json.loads(capsys.readouterr().out)
    budget = own["bpp"] * 0.96  # λ/4 gave about 0.92x at 40 iterations
    out = tmp_path / "target.sgp"
    assert main(["compress", str(photo_png), "-o", str(out), *opts,
                 "--target-bpp", f"{budget:.4f}"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["bpp"] <= budget and row["bytes"] == out.stat().st_size
    assert row["lmbda"] < own["lmbda"] and 1 <= row["probes"] <= 6
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lmbda"] == pytest.approx(row["lmbda"], rel=1e-3)


def test_rate_control_for_ms_ssim_starts_from_the_given_lambda(tmp_path, capsys, photo_png):
    """An mse model refined for MS-SSIM has no λ of its own in those units: --lambda
    (refused with a target otherwise) is where the search starts."""
    out = tmp_path / "m.sgp"
    assert main(["compress", str(photo_png), "-o", str(out), "--iters", "2", "--device", "cpu",
                 "--distortion", "ms-ssim", "--lambda", "16.64", "--target-psnr", "20", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["distortion"] == "ms-ssim" and row["psnr"] >= 20 and row["probes"] >= 1
    assert 16.64 / 4 <= row["lmbda"] <= 16.64 * 4


@pytest.mark.parametrize("extra, message", [
    (["--target-bpp", "0.0001"], "not reached"),
    (["--target-bpp", "0.5", "--lambda", "0.01"], "drop --lambda"),
    (["--target-psnr", "30", "--no-refine"], "needs --iters > 0"),
    (["--target-psnr", "-1"], "positive"),
])
def test_compress_rate_control_errors(tmp_path, capsys, photo_png, extra, message):
    out = tmp_path / "x.sgp"
    capsys.readouterr()
    assert main(["compress", str(photo_png), "-o", str(out), "--iters", "2", "--device", "cpu",
                 *extra]) != 0
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("sgaplus: error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())
