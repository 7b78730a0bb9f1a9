"""``sgaplus refine`` and ``sgaplus methods``: happy paths and every error path."""

from __future__ import annotations

import csv
import json
import math

import pytest

from sgaplus.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_refine_json(capsys, photo_png):
    code, out, err = run(capsys, "refine", str(photo_png), "--iters", "30", "--json")
    assert code == 0
    data = json.loads(out)
    for key in ("bpp_before", "bpp_after", "psnr_before", "psnr_after", "loss_before",
                "loss_after", "iters", "seconds", "method", "model", "ms_ssim_before",
                "ms_ssim_after", "ms_ssim_db_before", "ms_ssim_db_after"):
        assert key in data
    assert data["iters"] == 30 and data["method"] == "ssl" and data["distortion"] == "mse"
    assert data["loss_after"] < data["loss_before"]
    assert 0 < data["ms_ssim_after"] < 1
    assert data["ms_ssim_db_after"] == pytest.approx(-10 * math.log10(1 - data["ms_ssim_after"]), rel=1e-5)


def test_refine_for_ms_ssim(capsys, photo_png, tmp_path):
    hist = tmp_path / "h.csv"
    code, out, _ = run(capsys, "refine", str(photo_png), "--iters", "10", "--distortion", "ms-ssim",
                       "--lambda", "16.64", "--history", str(hist), "--log-every", "5", "--json")
    data = json.loads(out)
    assert code == 0 and data["distortion"] == data["config"]["distortion"] == "ms-ssim"
    assert data["loss_before"] == pytest.approx(16.64 * (1 - data["ms_ssim_before"]) + data["bpp_before"],
                                                abs=0.02)  # the loss's MS-SSIM is of the float image
    rows = list(csv.DictReader(open(hist)))
    assert [int(r["iter"]) for r in rows] == [5, 10] and 0 < float(rows[-1]["ms_ssim"]) < 1
    code, out, _ = run(capsys, "refine", str(photo_png), "--iters", "2", "--distortion", "ms-ssim",
                       "--lambda", "16.64")
    assert code == 0 and "(ms-ssim)" in out and "MS-SSIM dB" in out


def test_refine_table_outputs_and_no_overwrite(capsys, photo_png, tmp_path):
    out_png, hist = tmp_path / "r.png", tmp_path / "h.csv"
    code, out, _ = run(capsys, "refine", str(photo_png), "--iters", "10", "--method", "ssl3",
                       "--param", "a=1.2", "--out", str(out_png), "--history", str(hist),
                       "--log-every", "5")
    assert code == 0
    assert "before" in out and "after" in out and "ssl3" in out
    from PIL import Image

    assert Image.open(out_png).size == Image.open(photo_png).size
    rows = list(csv.DictReader(open(hist)))
    assert [int(r["iter"]) for r in rows] == [5, 10]

    code, _, err = run(capsys, "refine", str(photo_png), "--iters", "1", "--out", str(out_png))
    assert code == 2 and "exists" in err and "--force" in err


def test_methods_lists_everything(capsys):
    from sgaplus.relax import RELAXATIONS
    from sgaplus.schedules import SCHEDULES

    code, out, _ = run(capsys, "methods", "--json")
    data = json.loads(out)
    assert sorted(data["methods"]) == RELAXATIONS.names()
    assert sorted(data["schedules"]) == SCHEDULES.names()
    assert data["methods"]["ssl"]["params"] == {"a": 2.3}
    ssl3 = data["methods"]["ssl3"]  # the class's metadata
    assert (ssl3["classes"], ssl3["family"], ssl3["label"]) == (3, "SSL", "3-class SSL")
    code, out, _ = run(capsys, "methods")
    assert code == 0 and "ssl3" in out and "yang" in out


@pytest.mark.parametrize("argv, match", [
    (["refine", "{missing}"], "no such file"),
    (["refine", "{dir}"], "is a directory"),
    (["refine", "{text}"], "not a readable image"),
    (["refine", "{png}", "--method", "nope"], "unknown method 'nope'"),
    (["refine", "{png}", "--param", "a"], "bad parameter"),
    (["refine", "{png}", "--param", "a=-2"], "'ssl': a must be a number above 0, not -2"),
    (["refine", "{png}", "--param", "r=1"], "does not take"),
    (["refine", "{png}", "--schedule", "nope"], "unknown schedule"),
    (["refine", "{png}", "--distortion", "ms-ssim"], "trained for mse"),
    (["refine", "{png}", "--model", "nope:3"], "unknown model"),
    (["refine", "{png}", "--model", "{missing}.pt"], "model file not found"),
    (["refine", "{png}", "--out", "{tmp}/no/such/dir/x.png"], "does not exist"),
])
def test_errors_are_one_line(capsys, tmp_path, photo_png, argv, match):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    subst = {"missing": str(tmp_path / "missing.png"), "dir": str(tmp_path), "text": str(text),
             "png": str(photo_png), "tmp": str(tmp_path)}
    code, out, err = run(capsys, *[a.format(**subst) for a in argv])
    assert code == 2
    assert match in err
    assert err.count("\n") == 1 and "Traceback" not in err
