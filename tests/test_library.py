"""The Python API (``sgaplus.compress`` / ``sgaplus.decompress`` and their folder versions)
is the command line's pipeline: the same bytes, the same pixels, the same figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sgaplus
from sgaplus.cli.main import main
from sgaplus.refine_config import RefineConfig


def test_compress_and_decompress_equal_the_cli(tmp_path, capsys, tiny_ckpt, photo_png):
    argv = ["--model", str(tiny_ckpt), "--iters", "3", "--lr", "0.01", "--seed", "2", "--device", "cpu"]
    assert main(["compress", str(photo_png), "-o", str(tmp_path / "cli.sgp"), "--json", *argv]) == 0
    row = json.loads(capsys.readouterr().out)
    result = sgaplus.compress(photo_png, model=str(tiny_ckpt), iters=3, lr=0.01, seed=2, device="cpu")
    assert result.data == (tmp_path / "cli.sgp").read_bytes()
    figures = result.row()
    assert {k: figures[k] for k in figures if k != "seconds"} == \
        {k: row[k] for k in figures if k != "seconds"}
    assert (result.config.lr, result.config.iters, result.config.seed) == (0.01, 3, 2)
    assert row["config"] == result.config.to_dict() == figures["config"]  # one record, not two
    again = sgaplus.compress(photo_png, model=str(tiny_ckpt), config=RefineConfig.from_dict(row["config"]))
    assert again.data == result.data  # a recorded run re-runs from its record
    result.save(tmp_path / "lib.sgp")
    with pytest.raises(FileExistsError):
        result.save(tmp_path / "lib.sgp")

    assert main(["decompress", str(tmp_path / "cli.sgp"), "-o", str(tmp_path / "cli.png"),
                 "--model", str(tiny_ckpt)]) == 0
    decoded = sgaplus.decompress(tmp_path / "lib.sgp", model=str(tiny_ckpt))
    decoded.save(tmp_path / "lib.png")
    assert (decoded.header.width, decoded.header.height, decoded.header.iters) == (96, 64, 3)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "lib.png")),
                          np.asarray(Image.open(tmp_path / "cli.png")))
    assert np.array_equal(np.asarray(decoded.image), np.asarray(Image.open(tmp_path / "cli.png")))


def test_folders_equal_the_cli_and_resume(tmp_path, capsys, tiny_ckpt, photo_png):
    """``sgaplus.compress_folder`` / ``decompress_folder`` write the CLI's files and rows,
    collect a bad image as the CLI does, and skip what a run finished."""
    src = tmp_path / "src"
    src.mkdir()
    photo = Image.open(photo_png)
    photo.save(src / "a.png")
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(src / "b.png")
    photo.crop((0, 0, 64, 48)).save(src / "c.png")
    (src / "d.png").write_bytes(b"not an image")
    argv = ["--model", str(tiny_ckpt), "--iters", "2", "--seed", "2", "--device", "cpu"]
    assert main(["compress", str(src), "-o", str(tmp_path / "cli"), "--json", *argv]) == 2
    cli = json.loads(capsys.readouterr().out)
    settings = dict(model=str(tiny_ckpt), iters=2, seed=2, device="cpu")
    run = sgaplus.compress_folder(src, tmp_path / "lib", **settings)
    names = ["a.sgp", "b.sgp", "c.sgp"]
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == names
    for name in names:
        assert (tmp_path / "lib" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    drop = ("seconds", "output")
    assert [{k: v for k, v in r.items() if k not in drop} for r in run.rows] == \
        [{k: v for k, v in r.items() if k not in drop} for r in cli["images"]]
    assert run.json()["failed"] == cli["failed"]
    assert [f["file"] for f in cli["failed"]] == [str(src / "d.png")]
    again = sgaplus.compress_folder(src, tmp_path / "lib", **settings)
    assert (again.rows, again.skipped) == ([], [src / "a.png", src / "b.png", src / "c.png"])

    assert main(["decompress", str(tmp_path / "cli"), "-o", str(tmp_path / "cli_png"),
                 "--model", str(tiny_ckpt)]) == 0
    done = []
    run = sgaplus.decompress_folder(tmp_path / "lib", tmp_path / "lib_png", model=str(tiny_ckpt),
                                    progress=done.append)
    assert [Path(r["output"]).name for r in done] == ["a.png", "b.png", "c.png"] and not run.failed
    for name in ("a.png", "b.png", "c.png"):
        assert (tmp_path / "lib_png" / name).read_bytes() == (tmp_path / "cli_png" / name).read_bytes()
    assert sgaplus.decompress_folder(tmp_path / "lib", tmp_path / "lib_png").skipped == \
        [tmp_path / "lib" / n for n in names]


def test_effort_and_quality_resolve_as_the_cli_does(tmp_path, capsys, tiny_ckpt, photo_png):
    """No refinement settings: effort 5's budgeted preset, as ``sgaplus compress``
    without flags; the bytes equal (a PIL image in, a path of the same pixels out)."""
    from sgaplus.files import compress_config
    from sgaplus.presets import effort

    assert compress_config() == compress_config(5) == RefineConfig(**effort(5), log_every=0)
    assert compress_config(5) != compress_config(iters=250)
    assert compress_config(iters=7, schedule_params={}) == RefineConfig(iters=7, log_every=0)  # the paper's
    assert compress_config(lr=0.01).iters == 500  # an expert setting alone: the paper's for 500
    with pytest.raises(ValueError, match="effort"):
        compress_config(3, lr=0.01)
    assert main(["compress", str(photo_png), "-o", str(tmp_path / "e.sgp"), "--model", str(tiny_ckpt),
                 "--effort", "1", "--device", "cpu", "--quiet"]) == 0
    result = sgaplus.compress(Image.open(photo_png), model=str(tiny_ckpt), effort=1, device="cpu")
    assert result.data == (tmp_path / "e.sgp").read_bytes() and result.iters == 25
    with pytest.raises(ValueError, match="quality picks a model"):
        sgaplus.compress(photo_png, model=str(tiny_ckpt), quality=3)


def test_decompress_refuses_an_oversized_file_before_decoding(tmp_path):
    with pytest.raises(ValueError, match="larger than a file of at most 10 pixels"):
        sgaplus.decompress(b"\0" * 70_000, max_pixels=10)
