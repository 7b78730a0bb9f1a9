"""The command-line conventions of issue 15 item 6, each as a new user would try it:
permissions, ``-`` for standard input/output, folder and default output names, folder
runs that resume, ``--iters auto``, progress bars and ``--quiet``, lossy outputs, and
messages (usage of the subcommand, numbers in words, help for every positional)."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from sgaplus.bitstream import MAGIC
from sgaplus.cli.main import build_parser, main


def fast(ckpt: Path) -> list[str]:
    return ["--model", str(ckpt), "--no-refine"]


def test_every_output_gets_the_umask_mode(tmp_path, tiny_ckpt, photo_png):
    """.sgp, decoded PNG, refined PNG, history CSV and experiment units: what open() gives."""
    from sgaplus.experiments.harness.units import _write_json

    mask = os.umask(0o027)
    try:
        assert main(["compress", str(photo_png), "-o", str(tmp_path / "a.sgp"), *fast(tiny_ckpt)]) == 0
        assert main(["decompress", str(tmp_path / "a.sgp"), "-o", str(tmp_path / "a.png"),
                     "--model", str(tiny_ckpt)]) == 0
        assert main(["refine", str(photo_png), "--model", str(tiny_ckpt), "--iters", "2", "--json",
                     "--out", str(tmp_path / "r.png"), "--history", str(tmp_path / "h.csv")]) == 0
        _write_json(tmp_path / "units" / "u.json", {"a": 1})
    finally:
        os.umask(mask)
    for name in ("a.sgp", "a.png", "r.png", "h.csv", "units/u.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


class _Stdin:
    """Standard input holding ``data`` (``sys.stdin.buffer`` is what sgaplus reads)."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_dash_is_standard_input_and_output(tmp_path, capsysbinary, monkeypatch, tiny_ckpt, photo_png):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", _Stdin(photo_png.read_bytes()))
    assert main(["compress", "-", "-o", "-", *fast(tiny_ckpt)]) == 0
    sgp = capsysbinary.readouterr()
    assert sgp.out[:4] == MAGIC
    assert b"standard input -> standard output: " in sgp.err  # on stderr: stdout holds the file
    assert main(["compress", str(photo_png), "-o", "ref.sgp", *fast(tiny_ckpt)]) == 0
    assert sgp.out == (tmp_path / "ref.sgp").read_bytes()
    assert not (tmp_path / "-").exists()

    monkeypatch.setattr(sys, "stdin", _Stdin(sgp.out))
    capsysbinary.readouterr()
    assert main(["info", "-", "--json"]) == 0
    assert json.loads(capsysbinary.readouterr().out)["width"] == 96
    monkeypatch.setattr(sys, "stdin", _Stdin(sgp.out))
    assert main(["decompress", "-", "-o", "-", "--model", str(tiny_ckpt), "--json"]) == 0
    png = capsysbinary.readouterr()
    assert Image.open(io.BytesIO(png.out)).size == (96, 64)
    assert json.loads(png.err)["output"] == "-"
    monkeypatch.setattr(sys, "stdin", _Stdin(b"GIF89a" + bytes(60)))
    assert main(["info", "-"]) == 2
    assert capsysbinary.readouterr().err == b"sgaplus: error: standard input: not an sgaplus file (bad magic bytes)\n"


def test_standard_output_on_a_terminal_is_refused(tmp_path, capsys, monkeypatch, tiny_ckpt, photo_png):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["compress", str(photo_png), "-o", "-", *fast(tiny_ckpt)]) == 2
    assert "standard output is a terminal" in capsys.readouterr().err


def test_folder_outputs_and_default_names(tmp_path, capsys, monkeypatch, tiny_ckpt, photo_png):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.png").write_bytes(photo_png.read_bytes())
    assert main(["compress", "photo.png", *fast(tiny_ckpt)]) == 0  # photo.png -> photo.sgp
    assert (tmp_path / "photo.sgp").is_file()
    assert main(["compress", "photo.png", "-o", "new/", *fast(tiny_ckpt)]) == 0  # trailing /: a folder
    assert (tmp_path / "new" / "photo.sgp").is_file()
    assert main(["compress", "photo.png", "-o", "new", "--force", *fast(tiny_ckpt)]) == 0  # existing folder
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["photo.sgp"]
    assert main(["decompress", "photo.sgp", "-o", "dec/", "--model", str(tiny_ckpt)]) == 0
    assert Image.open(tmp_path / "dec" / "photo.png").size == (96, 64)
    before = (tmp_path / "photo.png").read_bytes()
    capsys.readouterr()
    assert main(["decompress", "photo.sgp", "--model", str(tiny_ckpt)]) == 2  # photo.png is the original
    assert "photo.png exists" in capsys.readouterr().err
    assert (tmp_path / "photo.png").read_bytes() == before


def test_standard_input_needs_an_output_name(capsys, monkeypatch, tiny_ckpt, photo_png):
    monkeypatch.setattr(sys, "stdin", _Stdin(photo_png.read_bytes()))
    assert main(["compress", "-", *fast(tiny_ckpt)]) == 2
    assert "give -o FILE" in capsys.readouterr().err


def test_decompress_a_folder_and_resume(tmp_path, capsys, tiny_ckpt, photo_png):
    sgps, pngs = tmp_path / "sgp", tmp_path / "png"
    sgps.mkdir()
    for name in ("a", "b"):
        Image.open(photo_png).save(sgps / f"{name}.png")
    assert main(["compress", str(sgps), "-o", str(sgps), *fast(tiny_ckpt)]) == 0
    for f in sgps.glob("*.png"):
        f.unlink()
    (sgps / "c.sgp").write_bytes(b"not a file")
    capsys.readouterr()
    assert main(["decompress", str(sgps), "-o", str(pngs), "--model", str(tiny_ckpt)]) == 2
    out, err = capsys.readouterr()
    assert sorted(p.name for p in pngs.iterdir()) == ["a.png", "b.png"]
    assert [line.count("c.sgp") for line in err.splitlines()] == [1]  # one line, the path once

    first = (pngs / "a.png").stat().st_mtime_ns
    (pngs / "b.png").write_bytes(b"\x89PNG truncated")  # not a finished output: reported, kept
    assert main(["decompress", str(sgps), "-o", str(pngs), "--model", str(tiny_ckpt), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["skipped"] == [str(sgps / "a.sgp")]
    assert sorted(Path(f["file"]).name for f in report["failed"]) == ["b.sgp", "c.sgp"]
    assert (pngs / "a.png").stat().st_mtime_ns == first
    (sgps / "c.sgp").unlink()
    (pngs / "b.png").unlink()
    assert main(["decompress", str(sgps), "-o", str(pngs), "--model", str(tiny_ckpt)]) == 0
    out = capsys.readouterr().out
    assert "1 file was already finished" in out and "b.png" in out


def test_compress_folder_resumes(tmp_path, capsys, tiny_ckpt, photo_png):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for name in ("a", "b"):
        Image.open(photo_png).save(src / f"{name}.png")
    assert main(["compress", str(src), "-o", str(out), *fast(tiny_ckpt)]) == 0
    (out / "b.sgp").unlink()
    capsys.readouterr()
    assert main(["compress", str(src), "-o", str(out), *fast(tiny_ckpt)]) == 0
    text = capsys.readouterr().out
    assert "mean of 1" in text and "1 file was already finished" in text


def test_iters_auto_runs_up_to_the_papers_2000():
    from sgaplus.cli.common import refine_config
    from sgaplus.refine_config import AUTO_MAX_ITERS
    from sgaplus.stopping import AUTO_PATIENCE

    for command in ("compress", "refine"):
        config = refine_config(build_parser().parse_args([command, "x.png", "--iters", "auto"]))
        stop = config.stop_args
        assert (stop["max_iters"], stop["patience"]) == (AUTO_MAX_ITERS, AUTO_PATIENCE) == (2000, AUTO_PATIENCE)
    args = build_parser().parse_args(["compress", "x.png"])  # --effort's preset decides at run time
    assert (args.iters, args.effort) == (None, None)


def test_no_progress_bar_off_a_terminal_and_quiet(tmp_path, capsys, tiny_ckpt, photo_png):
    argv = ["compress", str(photo_png), "--model", str(tiny_ckpt), "--iters", "30"]
    assert main([*argv, "-o", str(tmp_path / "a.sgp")]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "30 iterations" in out  # no \r lines in a log
    assert main([*argv, "-o", str(tmp_path / "b.sgp"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "b.sgp").is_file()


def test_lossy_outputs_need_a_quality(tmp_path, capsys, tiny_ckpt, photo_png):
    assert main(["compress", str(photo_png), "-o", str(tmp_path / "f.sgp"), *fast(tiny_ckpt)]) == 0
    base = ["decompress", str(tmp_path / "f.sgp"), "--model", str(tiny_ckpt), "-o"]
    for name in ("x.jpg", "x.webp"):
        assert main(base + [str(tmp_path / name)]) == 2
        assert "lossy" in capsys.readouterr().err and not (tmp_path / name).exists()
    assert main(base + [str(tmp_path / "x.png"), "--quality", "90"]) == 2
    assert "lossy formats" in capsys.readouterr().err
    assert main(base + [str(tmp_path / "x.jpg"), "--quality", "0"]) == 2
    assert main(base + [str(tmp_path / "x.jpg"), "--quality", "90"]) == 0
    assert Image.open(tmp_path / "x.jpg").format == "JPEG"


@pytest.mark.parametrize("argv, usage, words", [
    (["compress", "x.png", "--bogus"], "usage: sgaplus compress", "unrecognized arguments: --bogus"),
    (["refine", "x.png", "--lambda", "-1"], "usage: sgaplus refine", "λ, the weight of distortion"),
    (["refine", "x.png", "--lr", "0"], "usage: sgaplus refine", "the learning rate must be above 0"),
    (["refine", "x.png", "--iters", "-1"], "usage: sgaplus refine", "cannot be negative"),
    (["compress", "x.png", "--time-budget", "nan"], "usage: sgaplus compress", "time budget"),
    (["decompress", "x.sgp", "--max-pixels", "many"], "usage: sgaplus decompress", "whole number"),
])
def test_argument_errors_show_the_subcommands_usage_in_words(capsys, argv, usage, words):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith(usage) and words in err
    assert "Invalid" not in err


def test_every_positional_argument_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        for action in command._actions:
            if not action.option_strings:
                assert action.help, f"sgaplus {name}: {action.dest} has no help"


def test_a_folder_with_quality_is_one_error_before_any_work(tmp_path, capsys, tiny_ckpt, photo_png):
    """A folder is decoded into PNG: --quality is refused once, not once per file."""
    sgps = tmp_path / "sgp"
    sgps.mkdir()
    for name in ("a", "b"):
        Image.open(photo_png).save(sgps / f"{name}.png")
    assert main(["compress", str(sgps), "-o", str(sgps), *fast(tiny_ckpt)]) == 0
    capsys.readouterr()
    assert main(["decompress", str(sgps), "-o", str(tmp_path / "jpg"), "--quality", "80"]) == 2
    assert capsys.readouterr().err == ("sgaplus: error: a folder is decoded into PNG files, which keep "
                                       "every pixel; drop --quality\n")
    assert not (tmp_path / "jpg").exists()


@pytest.mark.parametrize("argv, message", [
    (["info", "{junk}"], "{junk}: not an sgaplus file (bad magic bytes)"),
    (["decompress", "{junk}", "-o", "{dir}/out.png"], "{junk}: not an sgaplus file (bad magic bytes)"),
    (["info", "{dir}/missing.sgp"], "{dir}/missing.sgp: no such file or directory"),
    (["decompress", "{dir}/missing.sgp", "-o", "{dir}/out.png"], "{dir}/missing.sgp: no such file or directory"),
    (["info", "{dir}"], "{dir}: is a directory"),
])
def test_file_errors_name_the_file_in_words(tmp_path, capsys, argv, message):
    """One line that says which file and what is wrong with it, not ``[Errno 2] ...: 'x'``."""
    junk = tmp_path / "photo.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    fill = {"junk": str(junk), "dir": str(tmp_path)}
    assert main([a.format(**fill) for a in argv]) == 2
    assert capsys.readouterr().err == f"sgaplus: error: {message.format(**fill)}\n"
    assert not (tmp_path / "out.png").exists()
