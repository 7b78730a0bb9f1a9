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
    for src, message in [(tmp_path / "d", "no .sgp files in"),
                         (tmp_path / "nope.sgp", "nope.sgp: no such file or directory")]:
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
    assert main(["compress", str(src), "-o", str(out), "--model", str(tiny_ckpt), "--iters", "1"]) == 2
    captured = capsys.readouterr()
    assert all(n in captured.out for n in ("a.png", "b.jpg", "d.webp", "e.bmp", "f.tif", "mean of 5"))
    errors = [line for line in captured.err.splitlines() if "sgaplus: error:" in line]
    assert len(errors) == 1 and errors[0].count("c.png") == 1  # the path once, not twice
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
    import sgaplus.pipeline as pipeline
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
    monkeypatch.setattr(Refiner, "refine", lambda self, x, progress=None, **kw:
                        batches.append(x.size(0)) or refine(self, x, progress, **kw))
    monkeypatch.setattr(pipeline, "batch_size", lambda refiner, target, image: 2)
    assert main(["compress", str(src), "-o", str(out), "--model", str(tiny_ckpt), "--iters", "2",
                 "--device", "cpu", "--json"]) == 0
    rows = {Path(r["file"]).stem: r for r in json.loads(capsys.readouterr().out)["images"]}
    assert batches == [2, 1, 1] and sorted(rows) == ["a", "b", "c", "d"]
    assert main(["decompress", str(out / "b.sgp"), "-o", str(tmp_path / "b.png"),
                 "--model", str(tiny_ckpt)]) == 0
    assert psnr(src / "b.png", tmp_path / "b.png") == pytest.approx(rows["b"]["psnr"], abs=0.01)


def test_batch_size_only_on_a_gpu_with_a_fixed_iteration_count(tiny_model):
    from sgaplus.pipeline import GPU_BATCH_PIXELS, batch_size
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


# -- issue 16: files in and out hold no surprises ------------------------------------------

def renamed(data: bytes, model_name: str) -> bytes:
    """The same file with another model name in its header (CRC recomputed)."""
    import dataclasses

    from sgaplus import bitstream as bs

    c = bs.unpack(data)
    return bs.pack(dataclasses.replace(c, header=dataclasses.replace(c.header, model_name=model_name)))


def test_model_named_in_a_file_is_never_a_path(tmp_path, capsys, tiny_ckpt, tiny_sgp, monkeypatch):
    """A file naming a local checkpoint (which would decode it) gets the bundled model instead."""
    monkeypatch.chdir(tiny_ckpt.parent)
    for name in (str(tiny_ckpt), tiny_ckpt.name, f"./{tiny_ckpt.name}"):
        (tmp_path / "f.sgp").write_bytes(renamed(tiny_sgp, name))
        argv = ["decompress", str(tmp_path / "f.sgp"), "-o", str(tmp_path / "o.png")]
        assert_clean_failure(capsys, argv, "pass the right --model", tmp_path)
    assert main(argv + ["--model", str(tiny_ckpt)]) == 0  # the user may name a file


def test_family_files_decode_without_model(tmp_path, capsys, photo_png):
    """A file made with sgaplus-msh:1 records sgaplus-msh-q1 and decodes by that name."""
    sgp, png = tmp_path / "a.sgp", tmp_path / "a.png"
    assert main(["compress", str(photo_png), "-o", str(sgp), "--model", "sgaplus-msh:1", "--no-refine"]) == 0
    assert run_json(capsys, ["info", str(sgp), "--json"])["model"] == "sgaplus-msh-q1"
    assert main(["decompress", str(sgp), "-o", str(png)]) == 0


def test_fingerprint_error_tells_same_names_apart(tmp_path, capsys, model, tiny_sgp):
    (tmp_path / "f.sgp").write_bytes(renamed(tiny_sgp, model.name))
    argv = ["decompress", str(tmp_path / "f.sgp"), "-o", str(tmp_path / "o.png")]
    assert_clean_failure(capsys, argv, f"made with other weights of {model.name!r}", tmp_path)


def test_unknown_quality_characters(tmp_path, capsys, photo_png):
    argv = ["compress", str(photo_png), "-o", str(tmp_path / "a.sgp"), "--model", "sgaplus-msh:²"]
    assert_clean_failure(capsys, argv, "bad model name 'sgaplus-msh:²'", tmp_path)


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_output_appearing_during_the_run_is_left_alone(tmp_path, capsys, monkeypatch, tiny_ckpt,
                                                       tiny_sgp, photo_png, command):
    """The existence check runs first; a file created at the path while sgaplus works is
    neither replaced (without --force) nor left with a temporary beside it."""
    from sgaplus import codec

    out = tmp_path / ("o.sgp" if command == "compress" else "o.png")
    decode = codec.decode
    monkeypatch.setattr(codec, "decode", lambda *a, **k: (out.exists() or out.write_bytes(b"theirs"),
                                                          decode(*a, **k))[1])
    (tmp_path / "f.sgp").write_bytes(tiny_sgp)
    src = photo_png if command == "compress" else tmp_path / "f.sgp"
    argv = [command, str(src), "-o", str(out), "--model", str(tiny_ckpt)]
    argv += ["--no-refine"] if command == "compress" else []
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "appeared while sgaplus was working" in err[0]
    assert out.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.sgp", out.name]
    assert main(argv + ["--force"]) == 0 and out.read_bytes() != b"theirs"


def test_exclusive_without_hard_links(tmp_path, capsys, monkeypatch, tiny_ckpt, photo_png):
    """A file system without hard links: the name is claimed with O_EXCL, then filled."""
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "a.sgp"
    argv = ["compress", str(photo_png), "-o", str(out), "--model", str(tiny_ckpt), "--no-refine"]
    assert main(argv) == 0 and out.stat().st_size > 0
    from sgaplus.cli import common

    with pytest.raises(common.CLIError, match="appeared"):
        common.write_atomic(out, lambda tmp: tmp.write_bytes(b"x"), force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.sgp"]


def test_outputs_get_the_permissions_of_an_ordinary_file(tmp_path, tiny_ckpt, photo_png):
    """Not mkstemp's 0600: what open() would create under the umask."""
    mask = os.umask(0o027)
    try:
        assert main(["compress", str(photo_png), "-o", str(tmp_path / "a.sgp"), "--model", str(tiny_ckpt),
                     "--no-refine"]) == 0
    finally:
        os.umask(mask)
    assert (tmp_path / "a.sgp").stat().st_mode & 0o777 == 0o640


def test_sigterm_while_writing_cleans_up(tmp_path, capsys, monkeypatch, tiny_ckpt, tiny_sgp):
    """SIGTERM in the middle of writing the PNG: no temporary left, one line, status 143."""
    import signal

    save = Image.Image.save

    def save_then_terminate(self, fp, *args, **kwargs):
        save(self, fp, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Image.Image, "save", save_then_terminate)
    (tmp_path / "f.sgp").write_bytes(tiny_sgp)
    previous = signal.getsignal(signal.SIGTERM)
    assert main(["decompress", str(tmp_path / "f.sgp"), "-o", str(tmp_path / "o.png"),
                 "--model", str(tiny_ckpt)]) == 143
    assert capsys.readouterr().err == "sgaplus: terminated\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.sgp"]
    assert signal.getsignal(signal.SIGTERM) == previous  # main() puts the handler back


@pytest.mark.timeout(180)
def test_sigterm_during_refinement_in_a_real_process(tmp_path, tiny_ckpt, photo_png):
    import fcntl
    import pty
    import select
    import signal
    import struct
    import subprocess
    import sys
    import termios
    import time

    out = tmp_path / "out"
    out.mkdir()
    # stderr a terminal (80 columns; tqdm draws nothing 0 wide): the progress bar shows once
    # refining starts, which is when the signal must arrive.
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "sgaplus.cli.main", "compress", str(photo_png),
                             "-o", str(out / "a.sgp"), "--model", str(tiny_ckpt), "--iters", "1000000",
                             "--device", "cpu"], stderr=child)
    os.close(child)
    seen, deadline, sent, drawn = b"", time.monotonic() + 150, False, None
    try:
        while time.monotonic() < deadline:  # keep reading: a full terminal would block the bar
            if drawn is None and b"ssl" in seen:
                drawn = time.monotonic()
            if not sent and drawn is not None and time.monotonic() > drawn + 1.0:
                proc.send_signal(signal.SIGTERM)  # a second into refining, not mid-draw
                sent = True
            if select.select([parent], [], [], 0.2)[0]:
                try:
                    seen += os.read(parent, 4096)
                except OSError:  # EIO: the process closed its terminal
                    break
            elif proc.poll() is not None:
                break
        proc.wait(timeout=60)
    finally:  # a failed or timed-out test leaves no million-iteration run behind
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(parent)
    assert proc.returncode == 143
    lines = seen.decode().replace("\r", "\n").strip().splitlines()
    assert lines[-1] == "sgaplus: terminated" and "Traceback" not in seen.decode()
    assert list(out.iterdir()) == []


def test_compress_to_an_unwritable_place_fails_before_any_work(tmp_path, capsys, monkeypatch, photo_png):
    import sgaplus.zoo as zoo

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(zoo, "load_model", no_model)
    argv = ["compress", str(photo_png), "-o", "/proc/x.sgp" if os.geteuid() == 0 else "/x.sgp"]
    assert_clean_failure(capsys, argv, "cannot write into", tmp_path)


def test_gray_and_gray_alpha_come_back_gray_with_the_psnr_of_the_gray_file(tmp_path, capsys, tiny_ckpt,
                                                                           photo_png):
    gray = Image.open(photo_png).convert("L")
    alpha = Image.fromarray(np.tile(np.arange(96, dtype=np.uint8) * 2, (64, 1)), "L")
    la = Image.merge("LA", (gray, alpha))
    for name, im in (("l", gray), ("la", la)):
        src, sgp, out = tmp_path / f"{name}.png", tmp_path / f"{name}.sgp", tmp_path / f"{name}.out.png"
        im.save(src)
        row = run_json(capsys, ["compress", str(src), "-o", str(sgp), "--model", str(tiny_ckpt),
                                "--no-refine", "--json"])
        assert main(["decompress", str(sgp), "-o", str(out), "--model", str(tiny_ckpt)]) == 0
        back = Image.open(out)
        assert back.mode == im.mode
        a = np.asarray(im.convert("L"), np.float64)
        b = np.asarray(back.convert("L"), np.float64)
        assert row["psnr"] == pytest.approx(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)), abs=1e-9)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "la.out.png"))[..., 1], np.asarray(alpha))


def png16(path: Path, samples: np.ndarray, color_type: int) -> None:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB)."""
    h, w = samples.shape[:2]
    raw = b"".join(b"\0" + samples[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_16_bit_rgb_and_gray_alpha_warn_and_keep_their_mode(tmp_path, capsys, tiny_ckpt):
    rng = np.random.default_rng(0)
    cases = {"rgb16": (rng.integers(0, 65536, (20, 30, 3)), 2, "RGB"),
             "la16": (rng.integers(0, 65536, (20, 30, 2)), 4, "LA")}
    for name, (samples, color_type, mode) in cases.items():
        png16(tmp_path / f"{name}.png", samples, color_type)
        sgp, out = tmp_path / f"{name}.sgp", tmp_path / f"{name}.out.png"
        assert main(["compress", str(tmp_path / f"{name}.png"), "-o", str(sgp), "--model", str(tiny_ckpt),
                     "--no-refine"]) == 0
        assert "samples of more than 8 bits converted to 8 bits" in capsys.readouterr().err
        assert main(["decompress", str(sgp), "-o", str(out), "--model", str(tiny_ckpt)]) == 0
        assert Image.open(out).mode == mode


def test_input_above_the_pixel_limit_is_refused_from_its_header(tmp_path, capsys, monkeypatch, tiny_ckpt):
    """A 9000x9000 PNG of a few bytes: refused before Pillow decodes a pixel (which took
    14.9 GB through sgaplus), and the bomb warning is an error, not a warning."""
    from PIL import ImageFile

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    png16(tmp_path / "bomb.png", np.zeros((1, 1, 3), np.uint16), 2)
    data = bytearray((tmp_path / "bomb.png").read_bytes())
    data[16:24] = struct.pack(">II", 9000, 9000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (tmp_path / "bomb.png").write_bytes(bytes(data))
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    argv = ["compress", str(tmp_path / "bomb.png"), "-o", str(tmp_path / "a.sgp"), "--model", str(tiny_ckpt)]
    assert_clean_failure(capsys, argv, "more than the limit of 67,108,864 pixels", tmp_path)
    with pytest.raises(AssertionError, match="pixels were decoded"):  # a raised limit lets it through
        main(argv + ["--max-pixels", "81000000"])


@pytest.mark.timeout(120)
def test_decompress_of_hostile_files_prints_one_line(tmp_path, capsys, model):
    """40 fuzzer cases through the CLI (bundled model): exit 0, or 2 with exactly one line."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import fuzz_decoder

    seeds, muts = fuzz_decoder.seed_files(model), fuzz_decoder.mutations(model)
    for i in range(40):
        kind, data = fuzz_decoder.make_case(seeds, muts, 99, i)
        (tmp_path / "f.sgp").write_bytes(data)
        rc = main(["decompress", str(tmp_path / "f.sgp"), "-o", str(tmp_path / "o.png"), "--force"])
        err = capsys.readouterr().err
        assert (rc, err) == (0, "") or (rc == 2 and err.count("\n") == 1 and err.startswith("sgaplus: error:")), \
            (kind, rc, err)


def test_decompress_reads_no_more_than_the_pixel_limit_allows(tmp_path, capsys):
    """A huge file, or an endless one, is refused after reading 16 bytes per allowed pixel."""
    big = tmp_path / "big.sgp"
    with open(big, "wb") as f:
        f.truncate(16 * 1000 + 65537)  # sparse
    for src in (big, Path("/dev/zero")):
        argv = ["decompress", str(src), "-o", str(tmp_path / "o.png"), "--max-pixels", "1000"]
        assert_clean_failure(capsys, argv, "larger than a file of at most 1,000 pixels", tmp_path)
