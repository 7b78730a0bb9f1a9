"""Rate control across models: the search on synthetic families, and `compress --target-*`."""

from __future__ import annotations

import json
import math

import pytest

from sgaplus.cli.main import main
from sgaplus.presets import EFFORT_ITERS
from sgaplus.ratecontrol import (BUDGET, CORRECTION, FILE, FIT, SPAN, Candidate, Point, Target, TargetNotReached,
                                 _Search, coefficients, control)
from sgaplus.zoo import load_model

FAMILY = [Candidate(f"m:{q}", lmbda) for q, lmbda in enumerate((0.0035, 0.0067, 0.013, 0.025), 1)]
PIXELS = 256 * 256
ITERS = 250


class Family:
    """A made-up image: model q's unrefined file has 0.25·1.4^(q−1) bpp and 28 + 1.2 (q−1) dB
    (about the family's steps on Kodak);
    refinement at λ_q·2^k adds what ``FIT`` predicts, off by ``err`` (a factor on the slope
    and an offset), as a real image would be; ``flat``: models whose response to λ is a
    fifth of that (refinement's response flattens far from a model's own λ); a correction
    adds ``correction_bias`` (in log2 bpp; five times that in dB) to what a whole refinement
    at its λ gives. Records every call."""

    def __init__(self, slope_factor: float = 1.0, offset: float = 0.0, flat: tuple[str, ...] = (),
                 correction_bias: float = 0.0) -> None:
        self.factor, self.offset, self.flat = slope_factor, offset, flat
        self.bias = correction_bias
        self.calls: list[tuple[str, float | None, object]] = []
        self.spent = 0

    def __call__(self, c: Candidate, lmbda: float | None, start: object, runs: int) -> tuple[float, float, str]:
        q = int(c.spec.split(":")[1])
        b0, p0 = 0.25 * 1.4 ** (q - 1), 28 + 1.2 * (q - 1)
        self.calls.append((c.spec, lmbda, start))
        self.spent += runs + FILE
        if lmbda is None:
            return b0, p0, f"{c.spec} unrefined"
        k = math.log2(lmbda / c.lmbda)
        a_b, s_b, a_p, s_p = coefficients(ITERS)
        factor = self.factor * (0.2 if c.spec in self.flat else 1.0)
        offset = self.offset + (0.0 if start is None else self.bias)
        bpp = b0 * 2 ** (a_b + offset + factor * s_b * k)
        psnr = p0 + a_p + 5 * offset + factor * s_p * k
        return bpp, psnr, f"{c.spec} at {lmbda:.4g}"

    @property
    def refinements(self) -> int:
        return sum(lmbda is not None for _, lmbda, _ in self.calls)

    @property
    def cost(self) -> float:
        """What the files cost, in compressions (one refinement of ``ITERS`` and its file)."""
        return self.spent / (ITERS + FILE)

    def refined(self, spec: str) -> list[float]:
        """The k of each refinement of model ``spec``, in order."""
        lmbda = FAMILY[int(spec.split(":")[1]) - 1].lmbda
        return [math.log2(x / lmbda) for s, x, _ in self.calls if s == spec and x is not None]


@pytest.mark.parametrize("factor, offset", [(1.0, 0.0), (1.4, 0.05), (0.7, -0.04)])
@pytest.mark.parametrize("bpp", [0.3, 0.42, 0.62])
def test_bpp_target_met_within_3_percent_never_above(bpp, factor, offset):
    image = Family(factor, offset)
    best, tried = control(image, FAMILY, Target("bpp", bpp), PIXELS, ITERS)
    assert bpp * 0.97 <= best.bpp <= bpp
    assert image.cost <= BUDGET
    # corrections continue from an earlier refined file; at most one more whole refinement
    # (a move to another model once the first has shown what refinement adds to this image)
    refined = [start for _, lmbda, start in image.calls if lmbda is not None]
    assert refined[0] is None and sum(start is None for start in refined) <= 2


@pytest.mark.parametrize("factor, offset", [(1.0, 0.0), (1.4, 0.05), (0.7, -0.04)])
@pytest.mark.parametrize("psnr", [28.5, 30.3, 32.0])
def test_psnr_target_met_within_a_tenth_of_a_db(psnr, factor, offset):
    image = Family(factor, offset)
    best, _ = control(image, FAMILY, Target("psnr", psnr), PIXELS, ITERS)
    assert psnr <= best.psnr <= psnr + 0.1 and image.cost <= BUDGET


def test_an_overshoot_is_corrected_on_the_same_model_below_its_own_lambda():
    """The first refinement (m:3, chosen as the model nearest its own λ) lands 1 dB over
    the PSNR target, and the neighbour below (m:2) would now seem to need less of a move,
    but its response flattens and it cannot reach the target. The search stays on m:3 and
    goes below its own λ (a refinement only a model's λ range, not the walk down the
    family, offers), within the window and the budget, never refining m:2."""
    image = Family(offset=0.2, flat=("m:2",))
    best, _ = control(image, FAMILY, Target("psnr", 31.0), PIXELS, ITERS)
    assert 31.0 <= best.psnr <= 31.1 and image.cost <= BUDGET
    assert best.candidate.spec == "m:3" and best.lmbda < FAMILY[2].lmbda
    assert image.refined("m:3")[0] > 0 and not image.refined("m:2")


def test_a_target_beyond_the_first_models_reach_moves_up_to_the_neighbour():
    """Refinement takes 25 % of the bits of this image (an easy one): m:3, refined first
    as the prediction says, falls short of the bpp target even at λ·4, so the search
    moves along the rate axis to m:4, whose λ its first file's shift predicts, without
    spending a correction on m:3's limit."""
    image = Family(offset=-0.4)
    best, _ = control(image, FAMILY, Target("bpp", 0.55), PIXELS, ITERS)
    assert 0.55 * 0.97 <= best.bpp <= 0.55 and image.cost <= BUDGET
    assert best.candidate.spec == "m:4"
    assert len(image.refined("m:3")) == 1 and len(image.refined("m:4")) == 1


@pytest.mark.parametrize("factor", [1.3, 1.0])
def test_a_target_just_beyond_a_models_reach_tries_its_limit_before_moving(factor):
    """Seen on a BSDS photo: the first refinement (m:3) lands 0.6 dB over the PSNR target
    and the predicted slope puts the target a little beyond m:3's λ/4. Its limit comes
    first (a correction); where this image's response is steeper than predicted that
    meets the target without a move (factor 1.3); where it is not, the search moves on to
    m:2 (factor 1.0). Either way within the window and the budget."""
    image = Family(factor, 0.12)
    best, _ = control(image, FAMILY, Target("psnr", 30.4), PIXELS, ITERS)
    assert 30.4 <= best.psnr <= 30.5 and image.cost <= BUDGET
    assert image.refined("m:3")[:2] == [pytest.approx(-1.1, abs=0.05), -SPAN]
    assert bool(image.refined("m:2")) == (factor == 1.0)


def test_size_target_is_bytes():
    best, _ = control(Family(), FAMILY, Target("size", 3500), PIXELS, ITERS)
    assert 3500 * 0.97 <= best.bpp * PIXELS / 8 <= 3500


def test_the_model_nearest_its_own_lambda_is_chosen():
    """A target at model 2's own refined rate is met by model 2 at (almost) its own λ, at
    the first refinement, after unrefined files of the middle model and model 2 only."""
    image = Family()
    a_b = coefficients(ITERS)[0]
    target = 0.35 * 2 ** a_b * (1 - 0.015)
    best, tried = control(image, FAMILY, Target("bpp", target), PIXELS, ITERS)
    assert best.candidate.spec == "m:2" and abs(math.log2(best.lmbda / 0.0067)) < 0.5
    assert image.refinements == 1 and [c[0] for c in image.calls if c[1] is None] == ["m:2", "m:1"]


def test_corrections_stay_between_points_either_side_of_the_aim():
    """Refinement's response bends: a secant through the last two points (slope 0.1 dB per
    octave here) would leap to k = -3, out of the bracket [0, 0.5] that the points
    either side of the aim make; regula falsi interpolates within it."""
    search = _Search(Family(), FAMILY, Target("psnr", 30.0), PIXELS, ITERS, 1)
    aim = search.aim
    points = [Point(0.0, aim - 0.4, None, True), Point(1.0, aim + 0.4, None, True),
              Point(0.5, aim + 0.35, None, True)]
    assert search.step(points, aim) == pytest.approx(0.4 * 0.5 / 0.75)
    assert search.step(points[:2], aim) == pytest.approx(0.5)
    # a whole refinement's point does not bracket with a correction's
    assert search.step([points[0]._replace(correction=False), points[2]], aim) == \
        pytest.approx(0.5 - 0.35 / search.slope)


@pytest.mark.parametrize("bias", [0.07, -0.07])
def test_corrections_offset_from_whole_refinements_still_hit(bias):
    """Seen on a photo at 25 iterations: the first refinement lands just under the bpp
    window and every correction from it adds 5 % of bits whatever λ does, so a bracket
    between the refinement and a correction closes on λs whose corrections all miss.
    Judged against corrections only, the second correction lands in the window."""
    image = Family(offset=-0.04 if bias > 0 else 0.04, correction_bias=bias)
    best, tried = control(image, FAMILY, Target("bpp", 0.4), PIXELS, ITERS)
    assert 0.4 * 0.97 <= best.bpp <= 0.4 and image.cost <= BUDGET
    assert not any(0.4 * 0.97 <= p.bpp <= 0.4 for p in tried[:-1] if p.lmbda is not None)


def test_out_of_reach_fails_before_refining_and_names_the_nearest_file():
    image = Family()
    with pytest.raises(TargetNotReached, match=r"0\.01 bpp is out of reach of m:1 \.\. m:4 .*nearest "
                                               r"file: m:1 unrefined: 0\.2500 bpp"):
        control(image, FAMILY, Target("bpp", 0.01), PIXELS, ITERS)
    assert image.refinements == 0


def test_a_quality_beyond_the_family_stops_at_the_limit():
    """PSNR a little beyond the top model's reach: one refinement at λ·4, then no correction
    can go further, so it gives up at once."""
    a_b, s_b, a_p, s_p = coefficients(ITERS)
    top = 28 + 3.6 + a_p + s_p * SPAN
    image = Family(0.8)  # the real slope is lower than predicted: the limit falls short
    with pytest.raises(TargetNotReached, match="out of reach"):
        control(image, FAMILY, Target("psnr", top + 0.1), PIXELS, ITERS)
    assert image.refinements == 1


def test_a_size_beyond_the_family_gets_the_largest_file():
    best, _ = control(Family(), FAMILY, Target("bpp", 50.0), PIXELS, ITERS)
    assert best.candidate.spec == "m:4" and best.lmbda == pytest.approx(0.025 * 2 ** SPAN)


def test_one_model_moves_only_lambda():
    image = Family()
    best, _ = control(image, FAMILY[2:3], Target("bpp", 0.52), PIXELS, ITERS)
    assert best.candidate.spec == "m:3" and 0.52 * 0.97 <= best.bpp <= 0.52
    assert {c[0] for c in image.calls} == {"m:3"}


def test_without_refinement_the_best_unrefined_file():
    image = Family()
    best, _ = control(image, FAMILY, Target("bpp", 0.4), PIXELS, 0)
    assert best.candidate.spec == "m:2" and best.lmbda is None and image.refinements == 0


def test_coefficients_grow_with_iterations():
    assert coefficients(0) == (0.0, 0.0, 0.0, 0.0)
    for n in FIT:
        assert coefficients(n) == pytest.approx(FIT[n])
    counts = sorted(FIT)
    mid = coefficients(round(math.sqrt(counts[0] * counts[-1])))
    assert FIT[counts[0]][1] < mid[1] < FIT[counts[-1]][1]
    assert coefficients(10 * counts[-1]) == FIT[counts[-1]]


@pytest.mark.parametrize("metric, value, message", [
    ("bpp", 0.0, "positive number of bits per pixel"), ("psnr", -3.0, "positive number of dB"),
    ("size", math.nan, "bytes"), ("ssim", 0.9, "unknown rate-control target")])
def test_bad_targets_are_refused(metric, value, message):
    with pytest.raises(ValueError, match=message):
        Target(metric, value)


# -- compress: the bundled family on real and synthetic images, short refinements -----------

def compress(capsys, image, out, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["compress", str(image), "-o", str(out), "--device", "cpu", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def images(tmp_path_factory, photo):
    """The astronaut crop, a coffee crop and a synthetic pattern (smooth gradient + edges)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    folder = tmp_path_factory.mktemp("rc")
    from sgaplus.images import to_pil

    to_pil(photo).save(folder / "astronaut.png")
    Image.fromarray(skimage.data.coffee()[150:214, 250:346]).save(folder / "coffee.png")
    yy, xx = np.mgrid[0:64, 0:96]
    disc = ((xx - 60) ** 2 + (yy - 30) ** 2 < 300) * 90
    pattern = np.stack([40 + xx * 2, 60 + yy * 2 + disc, 150 - xx + disc], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(pattern).save(folder / "pattern.png")
    return [folder / f"{n}.png" for n in ("astronaut", "coffee", "pattern")]


@pytest.mark.parametrize("which", [0, 1, 2])
def test_compress_hits_a_bpp_target_across_models(tmp_path, capsys, images, which):
    """A target between the rates of quality 3 and 4's own files (so model and λ both
    matter): the file is within 3 % of it and never above, the header records the λ chosen,
    and --json names the model, λ and every file made."""
    image = images[which]
    opts = ["--effort", "3"]
    low = compress(capsys, image, tmp_path / "q4.sgp", "-q", "4", *opts)["bpp"]
    high = compress(capsys, image, tmp_path / "q6.sgp", "-q", "6", *opts)["bpp"]
    target = round((low * high) ** 0.5, 4)
    out = tmp_path / "t.sgp"
    row = compress(capsys, image, out, "--target-bpp", str(target), *opts)
    assert row["bytes"] == out.stat().st_size and target * 0.97 <= row["bpp"] <= target
    probes = row["probes"]
    assert {"model", "lmbda", "bpp", "psnr", "iters", "runs"} <= set(probes[0])
    assert sum(p["lmbda"] is not None for p in probes) <= 1 + (BUDGET - 1) / CORRECTION
    # every file counted, at most two compressions' work
    assert sum(p["runs"] + FILE for p in probes) <= BUDGET * (EFFORT_ITERS[3] + FILE)
    # the model spelled as the probes spell it: the probe that made the file, and a name
    # --model takes, for the model the file records
    made = [p for p in probes if (p["bpp"], p["psnr"]) == (row["bpp"], row["psnr"])]
    assert [p["model"] for p in made] == [row["model"]] and row["model"].startswith("sgaplus-msh:")
    assert main(["info", str(out), "--json"]) == 0
    header = json.loads(capsys.readouterr().out)
    assert header["lmbda"] == pytest.approx(row["lmbda"], rel=1e-3)
    assert header["model"] == load_model(row["model"]).name


def test_compress_size_and_psnr_targets(tmp_path, capsys, images):
    image = images[0]
    base = compress(capsys, image, tmp_path / "b.sgp", "--effort", "2")
    size = round(base["bytes"] * 0.8)
    row = compress(capsys, image, tmp_path / "s.sgp", "--target-size", str(size), "--effort", "2")
    assert size * 0.97 <= row["bytes"] <= size
    goal = round(base["psnr"] + 0.8, 2)
    row = compress(capsys, image, tmp_path / "p.sgp", "--target-psnr", str(goal), "--effort", "2")
    assert goal <= row["psnr"] <= goal + 0.1


def test_rate_control_for_ms_ssim_starts_from_the_given_lambda(tmp_path, capsys, photo_png):
    """An mse model refined for MS-SSIM has no λ of its own in those units: --lambda
    (refused with a target otherwise) is where the one model starts."""
    row = compress(capsys, photo_png, tmp_path / "m.sgp", "--iters", "4", "--distortion", "ms-ssim",
                   "--lambda", "16.64", "--target-psnr", "20")
    assert row["distortion"] == "ms-ssim" and row["psnr"] >= 20
    assert 16.64 / 2 ** SPAN <= row["lmbda"] <= 16.64 * 2 ** SPAN and row["model"] == "sgaplus-msh:3"


@pytest.mark.parametrize("extra, message", [
    (["--target-bpp", "0.0001"], "out of reach of sgaplus-msh:1 .. sgaplus-msh:4"),
    (["--target-bpp", "0.5", "--lambda", "0.01"], "drop --lambda"),
    (["--target-psnr", "-1"], "positive number of dB"),
    (["--target-size", "0"], "positive number of bytes"),
    (["--target-psnr", "99", "--model", "sgaplus-msh:2"], "out of reach of sgaplus-msh:2"),
    (["--model", "mbt2018-mean"], "needs a quality"),
    (["-q", "3", "--model", "sgaplus-msh:2"], "-q picks a model"),
    (["--effort", "3", "--iters", "10"], "drop --iters"),
    (["--no-refine", "--effort", "3"], "--no-refine is effort 0"),
])
def test_compress_rate_control_errors(tmp_path, capsys, photo_png, extra, message):
    out = tmp_path / "x.sgp"
    capsys.readouterr()
    assert main(["compress", str(photo_png), "-o", str(out), "--device", "cpu", *extra]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("sgaplus: error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
    assert "another rate" not in errors[0]
    assert not out.exists() and not list(tmp_path.iterdir())
