"""The shared helpers of ``sgaplus.util``: each defined once, so each is tested once here."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from sgaplus import util


def test_atomic_write_leaves_the_old_file_or_none_and_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    util.atomic_write(path, lambda tmp: tmp.write_text("old"))

    def fails(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        util.atomic_write(path, fails)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]
    with pytest.raises(FileExistsError):
        util.atomic_write(path, lambda tmp: tmp.write_text("new"), exclusive=True)
    util.atomic_write(path, lambda tmp: tmp.write_text("new"))
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["out.json"]


def test_atomic_write_gives_the_mode_open_would(tmp_path):
    mask = os.umask(0o027)
    try:
        util.atomic_write(tmp_path / "f.bin", lambda tmp: tmp.write_bytes(b"x"))
    finally:
        os.umask(mask)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o640


def test_an_unwritable_folder_is_named_not_the_temporary_file(tmp_path):
    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'missing' / 'f.sgp'}"):
        util.atomic_write(tmp_path / "missing" / "f.sgp", lambda tmp: None)


def test_psnr_uint8_agrees_with_the_loss_figure():
    """The numpy PSNR (files, Pillow codecs) and the tensor one the loss reports
    (``loss.psnr_8bit``) give the same dB for the same 8-bit images."""
    from sgaplus.loss import psnr_8bit

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    as_tensor = [torch.from_numpy(v).permute(2, 0, 1)[None].float() / 255 for v in (a, b)]
    assert util.psnr_uint8(a, b) == pytest.approx(float(psnr_8bit(*as_tensor)[0]), abs=1e-4)
    assert util.psnr_uint8(a, a) == pytest.approx(120.0)


def test_image_files_are_the_readable_suffixes_sorted_without_hidden_ones(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.gif", ".hidden.png", "notes.txt", "d.sgp"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "e.png").mkdir()
    assert [p.name for p in util.image_files(tmp_path)] == ["a.jpg", "b.PNG", "c.gif"]


def test_data_folders_follow_the_environment(monkeypatch):
    monkeypatch.setenv("SGAPLUS_DATA", "/data/x")
    monkeypatch.delenv("SGAPLUS_WARM_STARTS", raising=False)
    assert util.data_root() == util.Path("/data/x")
    assert util.warm_start_dir() == util.Path.cwd().parent / "shared" / "models"


def test_cpu_model_reads_proc_cpuinfo():
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
             if line.startswith("model name")] if os.path.exists("/proc/cpuinfo") else []
    if not names:
        pytest.skip("no model name in /proc/cpuinfo")
    assert util.cpu_model() == names[0]
    assert util.hardware(torch.device("cpu")).startswith(util.cpu_model())
