"""The one evaluation stack (:mod:`sgaplus.rdcurve`, Pillow sweeps in
:mod:`sgaplus.codecs_eval`): BD arithmetic against hand-computed cases, its one NaN
rule, the Pillow point cache, and docs/models.md's BD table recomputed from the
per-image CSVs committed beside it."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest

from sgaplus import codecs_eval
from sgaplus.rdcurve import Curve, bd_psnr, bd_rate, common_range

DOCS = Path(__file__).parents[1] / "docs"


class TestBD:
    anchor = Curve((0.2, 0.4, 0.8, 1.6), (28.0, 30.0, 32.5, 35.0))

    def test_rate_scaled_by_known_factor(self):
        test = Curve(tuple(r * 0.8 for r in self.anchor.bpp), self.anchor.psnr)
        assert bd_rate(self.anchor, test) == pytest.approx(-20.0, abs=1e-6)

    def test_psnr_shifted_by_known_offset(self):
        test = Curve(self.anchor.bpp, tuple(d + 0.5 for d in self.anchor.psnr))
        assert bd_psnr(self.anchor, test) == pytest.approx(0.5, abs=1e-6)

    def test_order_of_points_does_not_matter(self):
        test = Curve(tuple(reversed([r * 1.1 for r in self.anchor.bpp])), tuple(reversed(self.anchor.psnr)))
        assert bd_rate(self.anchor, test) == pytest.approx(10.0, abs=1e-6)

    def test_ms_ssim_db_axis(self):
        ms = (0.90, 0.93, 0.95, 0.97)
        anchor = Curve(self.anchor.bpp, self.anchor.psnr, ms)
        test = Curve(tuple(r * 0.5 for r in anchor.bpp), anchor.psnr, ms)
        assert bd_rate(anchor, test, "ms_ssim_db") == pytest.approx(-50.0, abs=1e-6)
        assert anchor.ms_ssim_db[0] == pytest.approx(10.0)

    def test_common_range(self):
        shifted = Curve(self.anchor.bpp, tuple(d + 2 for d in self.anchor.psnr))
        assert common_range(self.anchor, shifted, "psnr") == pytest.approx(5.0)
        assert common_range(self.anchor, shifted, "bpp") == pytest.approx(1.4)

    @pytest.mark.parametrize("test", [
        Curve((5.0, 6.0), (50.0, 51.0)),                       # no common range
        Curve((0.3,), (31.0,)),                                # one point
        Curve((0.3, 0.6, 1.0), (29.0, 31.0, 33.0), (0.9, math.nan, 0.95)),  # MS-SSIM missing
    ])
    def test_one_nan_rule(self, test):
        anchor = Curve(self.anchor.bpp, self.anchor.psnr, (0.9, 0.92, 0.94, 0.96))
        if len(test.bpp) > 2:  # only the MS-SSIM axis lacks a value: PSNR still has a figure
            assert not math.isnan(bd_rate(anchor, test))
            assert math.isnan(bd_rate(anchor, test, "ms_ssim_db"))
            assert common_range(anchor, test, "ms_ssim_db") == 0
        else:
            assert math.isnan(bd_rate(anchor, test)) and math.isnan(bd_psnr(anchor, test))


def test_pillow_points_are_cached_once(tmp_path, monkeypatch):
    """A second sweep of the same images reads every point from the CSV, encoding nothing."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(2)]
    cache = tmp_path / "units" / "pillow.csv"
    first = codecs_eval.pillow_curves(images, ["a", "b"], cache)
    assert [c.name for c in first] == codecs_eval.available_codecs() and "JPEG" in [c.name for c in first]
    jpeg = first[0]
    assert len(jpeg.bpp) == len(codecs_eval.PILLOW_CODECS["JPEG"][2]) and jpeg.labels[0] == "q5"
    assert jpeg.bpp[-1] > jpeg.bpp[0] and jpeg.psnr[-1] > jpeg.psnr[0]

    def fail(*args):
        raise AssertionError("a cached point was encoded again")

    monkeypatch.setattr(codecs_eval, "pillow_point", fail)
    assert codecs_eval.pillow_curves(images, ["a", "b"], cache) == first


def _mean_curves() -> tuple[dict[str, Curve], Curve]:
    """The Pillow curves and our family's curve from the committed per-image CSVs."""
    with open(DOCS / "figures" / "codecs_kodak.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    curves = {}
    for name, (_, _, qualities, _) in codecs_eval.PILLOW_CODECS.items():
        pts = [[[float(r[k]) for k in ("bpp", "psnr", "ms_ssim")] for r in rows
                if r["codec"] == name and int(r["quality"]) == q] for q in qualities]
        means = [[float(np.array(p)[:, k].mean()) for k in range(3)] for p in pts]
        curves[name] = Curve(*zip(*means), name=name)
    with open(DOCS / "figures" / "rd_kodak.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["model"].startswith("sgaplus-msh:")]
    models = sorted({r["model"] for r in rows})
    means = [[float(np.mean([float(r[k]) for r in rows if r["model"] == m])) for k in ("bpp", "psnr", "ms_ssim")]
             for m in models]
    return curves, Curve(*zip(*means))


def test_models_md_bd_table_is_what_the_stack_computes():
    """docs/models.md's BD-rates (estimated bits) follow from its committed per-image figures."""
    text = (DOCS / "models.md").read_text()
    curves, ours = _mean_curves()
    curves["mbt2018-mean (CompressAI, published)"] = codecs_eval.MBT2018_MEAN
    found = re.findall(r"^\| (.+?) \| (PSNR|MS-SSIM dB) \| ([+-][\d.]+) % \| [+-][\d.]+ % \| ([\d.]+) dB \|$",
                       text, re.M)
    assert len(found) == 7
    for anchor, quality, rate, span in found:
        q = "psnr" if quality == "PSNR" else "ms_ssim_db"
        assert f"{bd_rate(curves[anchor], ours, q):+.1f}" == rate
        assert f"{common_range(curves[anchor], ours, q):.2f}" == span
