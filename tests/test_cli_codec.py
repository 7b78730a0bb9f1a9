"""``sgaplus compress / decompress / info``: round trips and every bad input of issue 5.

A bad input must give exit status != 0, exactly one ``sgaplus: error:`` line on
stderr, no traceback, and leave no file (not even a temporary) behind. Most
tests use a tiny checkpoint so they run in about a second.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sgaplus.cli.main import main


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_model) -> Path:
    from sgaplus.zoo import save_model

    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(tiny_model, path)
    return path


@pytest.fixture(scope="module")
def tiny_sgp(tmp_path_factory, tiny_ckpt, photo_png) -> bytes:
    out = tmp_path_factory.mktemp("sgp") / "photo.sgp"
    assert main(["compress", str(photo_png), "-o", str(out), "--model", str(tiny_ckpt),
                 "--no-refine", "--json"]) == 0
    return out.read_bytes()


def run_json(capsys, argv: list[str]) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def psnr(a: Path, b: Path) -> float:
    x = np.asarray(Image.open(a).convert("RGB"), np.float64)
    y = np.asarray(Image.open(b).convert("RGB"), np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((x - y) ** 2)))


def test_round_trip_reports_real_figures(tmp_path, capsys, photo_png):
    """Bundled model: bpp is the file size, and psnr is that of the decompressed PNG."""
    sgp, png = tmp_path / "a.sgp", tmp_path / "a.png"
    c = run_json(capsys, ["compress", str(photo_png), "-o", str(sgp), "--iters", "2", "--device", "cpu", "--json"])
    assert {"bytes", "bpp", "bpp_estimated", "psnr", "iters", "seconds", "width", "height"} <= c.keys()
    assert c["bytes"] == sgp.stat().st_size and c["bpp"] == c["bytes"] * 8 / (96 * 64)
    assert c["iters"] == 2
    d = run_json(capsys, ["decompress", str(sgp), "-o", str(png), "--json"])
    assert (d["width"], d["height"]) == (96, 64) and d["seconds"] > 0
    assert psnr(photo_png, png) == pytest.approx(c["psnr"], abs=1e-3)
    from sgaplus.distortion import ms_ssim
    from sgaplus.images import load_image

    decoded = float(ms_ssim(load_image(png).x, load_image(photo_png).x)[0])
    assert c["ms_ssim"] == pytest.approx(decoded, abs=1e-6) and c["distortion"] == "mse"
    assert c["ms_ssim_db"] == pytest.approx(-10 * np.log10(1 - decoded), abs=1e-4)
    i = run_json(capsys, ["info", str(sgp), "--json"])
    assert i["method"] == "ssl" and i["iters"] == 2 and i["bytes"] == c["bytes"]
    assert main(["info", str(sgp)]) == 0 and "768" not in capsys.readouterr().err


def test_alpha_palette_and_16_bit_inputs(tmp_path, capsys, tiny_ckpt, photo_png):
    rgb = np.asarray(Image.open(photo_png))
    alpha = np.tile(np.arange(96, dtype=np.uint8) * 2, (64, 1))
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "rgba.png")
    gray16 = (rgb[..., 0].astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    pal = Image.open(photo_png).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(tmp_path / "pal.png", transparency=0)
    for name, mode in [("rgba", "RGBA"), ("g16", "L"), ("pal", "RGBA")]:
        sgp, out = tmp_path / f"{name}.sgp", tmp_path / f"{name}.out.png"
        assert main(["compress", str(tmp_path / f"{name}.png"), "-o", str(sgp), "--model", str(tiny_ckpt),
                     "--no-refine"]) == 0
        err = capsys.readouterr().err
        assert ("converted to 8 bits" in err) == (name == "g16")
        assert main(["decompress", str(sgp), "-o", str(out), "--model", str(tiny_ckpt)]) == 0
        im = Image.open(out)
        assert im.mode == mode and im.size == (96, 64)
        if name == "rgba":
            assert np.array_equal(np.asarray(im)[..., 3], alpha)
        if name == "pal":
            assert np.array_equal(np.asarray(im)[..., 3], np.where(np.asarray(pal) == 0, 0, 255))


def refit_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack(">I", zlib.crc32(data[:-4]))


BAD_FILES = {
    "truncated": (lambda d: d[: len(d) // 2], "truncated or corrupted"),
    "flipped": (lambda d: d[:40] + bytes([d[40] ^ 0xFF]) + d[41:], "truncated or corrupted"),
    "wrong magic": (lambda d: b"RIFF" + d[4:], "not an sgaplus file"),
    "unknown version": (lambda d: refit_crc(d[:4] + b"\x09" + d[5:]), "format version 9"),
    "empty": (lambda d: b"", "empty file"),
    "png": (lambda d: b"\x89PNG\r\n\x1a\n" + bytes(64), "not an sgaplus file"),
}


def assert_clean_failure(capsys, argv: list[str], message: str, folder: Path, status: int = 2) -> None:
    before = set(folder.iterdir())
    assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sgaplus: error:"), err
    assert message in lines[0]
    assert set(folder.iterdir()) == before  # no output, no temporary left over


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_decompress_bad_files(tmp_path, capsys, tiny_ckpt, tiny_sgp, case):
    mutate, message = BAD_FILES[case]
    bad = tmp_path / "bad.sgp"
    bad.write_bytes(mutate(tiny_sgp))
    argv = ["decompress", str(bad), "-o", str(tmp_path / "out.png"), "--model", str(tiny_ckpt)]
    assert_clean_failure(capsys, argv, message, tmp_path)
    assert_clean_failure(capsys, ["info", str(bad)], message, tmp_path)


def test_decompress_with_another_model(tmp_path, capsys, tiny_sgp):
    (tmp_path / "f.sgp").write_bytes(tiny_sgp)
    argv = ["decompress", str(tmp_path / "f.sgp"), "-o", str(tmp_path / "out.png")]  # bundled model
    assert_clean_failure(capsys, argv, "made with model 'tiny'", tmp_path)


def test_decompress_a_directory_or_missing_file(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    for src, message in [(tmp_path / "d", "Is a directory"), (tmp_path / "nope.sgp", "No such file")]:
        assert_clean_failure(capsys, ["decompress", str(src), "-o", str(tmp_path / "o.png")], message, tmp_path)


def test_decompress_refuses_existing_output_and_unknown_suffix(tmp_path, capsys, tiny_ckpt, tiny_sgp):
    (tmp_path / "f.sgp").write_bytes(tiny_sgp)
    (tmp_path / "o.png").write_bytes(b"keep")
    base = ["decompress", str(tmp_path / "f.sgp"), "--model", str(tiny_ckpt), "-o"]
    assert_clean_failure(capsys, base + [str(tmp_path / "o.png")], "--force", tmp_path)
    assert (tmp_path / "o.png").read_bytes() == b"keep"
    assert_clean_failure(capsys, base + [str(tmp_path / "o.xyz")], "unknown image format", tmp_path)
    assert main(base + [str(tmp_path / "o.png"), "--force"]) == 0
    assert Image.open(tmp_path / "o.png").size == (96, 64)


def test_compress_bad_inputs(tmp_path, capsys, tiny_ckpt, photo_png):
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty").mkdir()
    (tmp_path / "exists.sgp").write_bytes(b"keep")
    unwritable = Path("/proc/out.sgp") if os.geteuid() == 0 else tmp_path / "ro" / "out.sgp"
    if os.geteuid() != 0:
        unwritable.parent.mkdir(mode=0o555)
    model = ["--model", str(tiny_ckpt), "--no-refine"]
    cases = [
        (tmp_path / "text.png", tmp_path / "a.sgp", "not a readable image"),
        (tmp_path / "missing.png", tmp_path / "a.sgp", "no such file"),
        (tmp_path / "empty", tmp_path / "outdir", "no images"),
        (photo_png, tmp_path / "exists.sgp", "--force"),
        (photo_png, tmp_path / "nofolder" / "a.sgp", "does not exist"),
        (photo_png, unwritable, "write"),
    ]
    for src, out, message in cases:
        assert_clean_failure(capsys, ["compress", str(src), "-o", str(out), *model], message, tmp_path)
    assert (tmp_path / "exists.sgp").read_bytes() == b"keep"
    assert_clean_failure(capsys, ["compress", str(photo_png), "-o", str(tmp_path / "a.sgp"),
                                  "--method", "nope"], "nope", tmp_path)


def test_folder_batch_continues_past_bad_files(tmp_path, capsys, tiny_ckpt, photo_png):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.open(photo_png).save(src / "a.png")
    Image.open(photo_png).crop((0, 0, 33, 17)).save(src / "b.jpg")
    (src / "c.png").write_bytes(b"\x89PNG broken")
    for name in ("d.webp", "e.bmp", "f.tif"):
        Image.open(photo_png).crop((0, 0, 20, 9)).save(src / name)
    (src / "notes.txt").write_text("ignored")
    assert main(["compress", str(src), "-o", str(out), "--model", str(tiny_ckpt), "--iters", "1"]) == 1
    captured = capsys.readouterr()
    assert all(n in captured.out for n in ("a.png", "b.jpg", "d.webp", "e.bmp", "f.tif", "mean of 5"))
    assert "1 file(s) failed" in captured.err and "c.png" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["a.sgp", "b.sgp", "d.sgp", "e.sgp", "f.sgp"]
    assert main(["decompress", str(out / "b.sgp"), "-o", str(tmp_path / "b.png"), "--model", str(tiny_ckpt)]) == 0
    assert Image.open(tmp_path / "b.png").size == (33, 17)


def test_exif_orientation_is_respected(tmp_path, tiny_ckpt, photo_png):
    """A JPEG stored 96x64 with EXIF orientation 6 (rotate 90°) is a 64x96 image."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(photo_png).save(tmp_path / "r.jpg", exif=exif)
    sgp, png = tmp_path / "r.sgp", tmp_path / "r.png"
    assert main(["compress", str(tmp_path / "r.jpg"), "-o", str(sgp), "--model", str(tiny_ckpt), "--no-refine"]) == 0
    assert main(["decompress", str(sgp), "-o", str(png), "--model", str(tiny_ckpt)]) == 0
    assert Image.open(png).size == (64, 96)


def test_folder_refines_same_size_images_together(tmp_path, capsys, tiny_ckpt, photo_png, monkeypatch):
    """Consecutive same-size images share a refinement when batch_size allows (on a GPU);
    each still gets its own file, which decodes to the PSNR the table reports."""
    import sgaplus.cli.compress as compress
    from sgaplus.refine import Refiner

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo = Image.open(photo_png)  # 96x64
    photo.save(src / "a.png")
    photo.transpose(Image.FLIP_LEFT_RIGHT).save(src / "b.png")
    photo.transpose(Image.FLIP_TOP_BOTTOM).save(src / "c.png")
    photo.crop((0, 0, 40, 30)).save(src / "d.png")
    batches: list[int] = []
    refine = Refiner.refine
    monkeypatch.setattr(Refiner, "refine", lambda self, x, progress=None:
                        batches.append(x.size(0)) or refine(self, x, progress))
    monkeypatch.setattr(compress, "batch_size", lambda refiner, target, image: 2)
    assert main(["compress", str(src), "-o", str(out), "--model", str(tiny_ckpt), "--iters", "2",
                 "--device", "cpu", "--json"]) == 0
    rows = {Path(r["file"]).stem: r for r in json.loads(capsys.readouterr().out)["images"]}
    assert batches == [2, 1, 1] and sorted(rows) == ["a", "b", "c", "d"]
    assert main(["decompress", str(out / "b.sgp"), "-o", str(tmp_path / "b.png"),
                 "--model", str(tiny_ckpt)]) == 0
    assert psnr(src / "b.png", tmp_path / "b.png") == pytest.approx(rows["b"]["psnr"], abs=0.01)


def test_batch_size_only_on_a_gpu_with_a_fixed_iteration_count(tiny_model):
    from sgaplus.cli.compress import GPU_BATCH_PIXELS, batch_size
    from sgaplus.images import LoadedImage
    from sgaplus.ratecontrol import Target
    from sgaplus.refine import Refiner

    import torch

    kodak = LoadedImage(torch.zeros(1, 3, 512, 768), "RGB")
    assert batch_size(Refiner(tiny_model, device="cuda"), None, kodak) == GPU_BATCH_PIXELS // (768 * 512) == 8
    assert batch_size(Refiner(tiny_model, device="cpu"), None, kodak) == 1
    assert batch_size(Refiner(tiny_model, device="cuda", time_budget=5.0), None, kodak) == 1
    assert batch_size(Refiner(tiny_model, device="cuda", patience=30), None, kodak) == 1
    assert batch_size(Refiner(tiny_model, device="cuda"), Target("bpp", 0.5), kodak) == 1
