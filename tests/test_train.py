"""Training pipeline (tiny models on scikit-image photos), export, bundled model, eval-codecs docs."""

from __future__ import annotations

import csv
import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sgaplus.loss import evaluate
from sgaplus.train import TrainConfig, Trainer, lr_at

DOCS = Path(__file__).parents[1] / "docs" / "models.md"
KODAK = Path(__file__).parents[1] / ".." / "shared" / "data" / "kodak24"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def image_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """A training folder of three small photos and a validation folder of two."""
    import skimage.data

    root = tmp_path_factory.mktemp("imgs")
    train, val = root / "train", root / "val"
    train.mkdir()
    val.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        Image.fromarray(getattr(skimage.data, name)()[..., :3]).reduce(2).save(train / f"{name}.png")
    for name in ("rocket", "immunohistochemistry"):
        Image.fromarray(getattr(skimage.data, name)()[:128, :128, :3]).save(val / f"{name}.png")
    return train, val


def tiny_config(out: Path, dirs: tuple[Path, Path], **kw) -> TrainConfig:
    base = dict(out=out, lmbda=0.01, data=[dirs[0]], val=dirs[1], N=8, M=12, steps=40, batch=2,
                crop=64, lr=3e-3, lr_min=1e-4, warmup=0.1, val_every=20, val_count=2, val_crop=64,
                ckpt_every_s=3600.0)
    return TrainConfig(**{**base, **kw})


def test_lr_schedule_warms_up_and_decays(tmp_path, image_dirs):
    cfg = tiny_config(tmp_path, image_dirs, steps=100, warmup=0.1)
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert lrs[0] < lrs[5] < lrs[9] == pytest.approx(cfg.lr)
    assert lrs[10] > lrs[50] > lrs[99] >= cfg.lr_min


def test_training_lowers_the_loss_and_exports(tmp_path, image_dirs):
    from sgaplus.codec import decode, encode
    from sgaplus.latent_model import pad
    from sgaplus.loss import psnr_8bit
    from sgaplus.zoo import load_model

    tr = Trainer(tiny_config(tmp_path / "run", image_dirs), log=lambda m: None)
    before = tr.validate()["val_loss"]
    assert tr.run()
    assert tr.last_val["val_loss"] < 0.8 * before
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 42  # header, step 0, 40 steps

    path = tr.export(tmp_path / "tiny.pt")
    raw = torch.load(path, weights_only=True)
    params = {n for n, _ in tr.net.named_parameters()}
    for k, v in raw["state_dict"].items():
        if k in params and not k.endswith("quantiles"):
            assert v.dtype == torch.float16, k
        elif v.is_floating_point():
            assert v.dtype == torch.float32, k  # GDN pedestal 2^-36 must survive
    assert raw["meta"]["steps"] == 40 and raw["meta"]["init_steps"] == 0

    model = load_model(path)
    x = torch.from_numpy(np.array(Image.open(image_dirs[1] / "rocket.png"))[:64, :96]).permute(2, 0, 1)
    x = x[None].float() / 255
    hard = model.quantize(*model.analysis(pad(x)))
    dec = decode(model, encode(model, hard, 96, 64))
    assert torch.equal(dec.hard.y_symbols, hard.y_symbols)
    assert float(psnr_8bit(dec.x_hat, x)) == pytest.approx(evaluate(model, x)[0].psnr, abs=1e-3)


def test_loaded_export_still_trains(tmp_path, image_dirs):
    tr = Trainer(tiny_config(tmp_path / "a", image_dirs, steps=5, val=None), log=lambda m: None)
    tr.run()
    path = tr.export(tmp_path / "tiny.pt")
    again = Trainer(tiny_config(tmp_path / "b", image_dirs, steps=5, val=None, init=path), log=lambda m: None)
    rows = [again.train_step() for _ in range(5)]
    assert all(np.isfinite(r["loss"]) for r in rows)
    meta = torch.load(again.export(tmp_path / "again.pt"), weights_only=True)["meta"]
    assert (meta["init"], meta["init_steps"], meta["steps"]) == ("tiny.pt", 5, 5)


def test_resume_is_bit_exact(tmp_path, image_dirs):
    cfg = dict(steps=12, val_every=5)
    straight = Trainer(tiny_config(tmp_path / "straight", image_dirs, **cfg), log=lambda m: None)
    straight.run()

    first = Trainer(tiny_config(tmp_path / "resumed", image_dirs, **cfg), log=lambda m: None)
    stop_at_7 = lambda row: row["step"] == 7 and os.kill(os.getpid(), signal.SIGINT)  # noqa: E731
    assert not first.run(stop_at_7)  # Ctrl-C: finish the step, save, return
    second = Trainer(tiny_config(tmp_path / "resumed", image_dirs, **cfg), log=lambda m: None)
    assert second.resume() and second.step == 7
    assert second.run()
    for (k, a), b in zip(straight.net.state_dict().items(), second.net.state_dict().values()):
        assert torch.equal(a, b), k
    logs = []
    for name in ("straight", "resumed"):
        with open(tmp_path / name / "log.csv", newline="") as f:
            logs.append([{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)])
    assert len(logs[0]) == 13 and logs[0] == logs[1]  # step 0 (validation) + 12 steps, no duplicates


def test_cli_train_and_errors(tmp_path, image_dirs, capsys):
    from sgaplus.cli.main import main

    out = tmp_path / "cli"
    args = ["train", "--out", str(out), "--lambda", "0.01", "--N", "8", "--M", "12", "--steps", "3",
            "--batch", "2", "--crop", "64", "--data", str(image_dirs[0]), "--no-val"]
    assert main(args) == 0
    assert (out / "model.pt").is_file() and (out / "checkpoint.pt").is_file()
    assert main(args + ["--export-only", "--export", str(tmp_path / "e.pt"), "--name", "x"]) == 0
    assert torch.load(tmp_path / "e.pt", weights_only=True)["meta"]["name"] == "x"
    assert main([*args[:2], str(tmp_path / "empty"), *args[3:], "--export-only"]) == 2
    assert main(args[:-1] + ["--val-dir", str(tmp_path / "nope")]) == 2
    assert main([*args[:4], "0.02", *args[5:]]) == 2  # other λ, same run folder
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    Image.new("RGB", (128, 128)).save(kodak / "kodim01.png")
    assert main(["train", "--out", str(tmp_path / "k"), "--lambda", "0.01", "--data", str(kodak), "--no-val"]) == 2
    err = capsys.readouterr().err
    assert "refusing to train on Kodak" in err and "Traceback" not in err


def test_eval_codecs_writes_report(tmp_path, image_dirs):
    from sgaplus.cli.main import main

    tr = Trainer(tiny_config(tmp_path / "run", image_dirs, steps=2, val=None), log=lambda m: None)
    tr.run()
    a, b = tr.export(tmp_path / "a.pt"), tr.export(tmp_path / "b.pt")
    md = tmp_path / "docs" / "models.md"
    assert main(["eval-codecs", "--kodak", str(image_dirs[1]), "--models", str(a), str(b),
                 "--out", str(md)]) == 0
    text = md.read_text()
    assert "| JPEG | PSNR |" in text and "| JPEG | MS-SSIM dB |" in text and "mbt2018-mean" in text
    assert "| 8, 12 | 2 |" in text
    with open(tmp_path / "docs" / "figures" / "rd_kodak.csv") as f:
        rows = list(csv.DictReader(f))
    with open(tmp_path / "docs" / "figures" / "codecs_kodak.csv") as f:
        points = list(csv.DictReader(f))
    assert rows and all(0 < float(r["ms_ssim"]) < 1 for r in rows + points)
    assert (tmp_path / "docs" / "figures" / "rd_kodak.png").stat().st_size > 1000


def test_default_model_loads_fast():
    import sgaplus.zoo  # noqa: F401  (imports torch and compressai outside the timing)

    start = time.perf_counter()
    model = sgaplus.zoo.load_model("default")
    assert time.perf_counter() - start < 2.0
    assert model.tables_ready()


def test_docs_match_the_default_model(model):
    """docs/models.md's check line is what the bundled model gives on astronaut."""
    import skimage.data

    m = re.search(r"`default` on scikit-image `astronaut` \(512x512\): bpp ([\d.]+), PSNR ([\d.]+) dB, "
                  r"MS-SSIM ([\d.]+)", DOCS.read_text())
    assert m, "docs/models.md lacks the check line; run sgaplus eval-codecs"
    x = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1)[None].float() / 255
    got = evaluate(model, x)[0]
    assert float(m.group(1)) == pytest.approx(got.bpp, abs=6e-5)
    assert float(m.group(2)) == pytest.approx(got.psnr, abs=6e-4)
    assert float(m.group(3)) == pytest.approx(got.ms_ssim, abs=6e-6)


@pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/data/kodak24")
def test_docs_kodim01_matches_the_default_model(model):
    """The per-image CSV beside docs/models.md holds the default model's kodim01 figures."""

    from sgaplus.images import load_image
    from sgaplus.zoo import DEFAULT_MODEL

    with open(DOCS.parent / "figures" / "rd_kodak.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["image"] == "kodim01.png"]
    want = [r for r in rows if Path(r["model"]).name in ("default", "sgaplus-msh:3")]
    if not want:
        pytest.skip("the CSV has no default-model row")
    got = evaluate(model, load_image(KODAK / "kodim01.png").x)[0]
    assert DEFAULT_MODEL.is_file()
    assert float(want[0]["bpp"]) == pytest.approx(got.bpp, abs=1e-6)
    assert float(want[0]["psnr"]) == pytest.approx(got.psnr, abs=1e-4)
    assert float(want[0]["ms_ssim"]) == pytest.approx(got.ms_ssim, abs=1e-6)
