"""Loading models by name: the bundled family, CompressAI's zoo names and tables, files.

Zoo weights here are small random-init networks put into a temporary torch-hub cache
under a file name that carries their own hash, the way CompressAI names its files
(the URL table is patched to that name); downloading is in test_zoo_download.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from compressai.models import JointAutoregressiveHierarchicalPriors, MeanScaleHyperprior, ScaleHyperprior
from compressai.zoo.image import model_urls

from sgaplus.zoo import CAI_LAMBDAS, ModelNotFound, expand_specs, load_model, save_model
from zoo_cache import put_in_cache


def test_default_model_is_trained_and_named(model):
    assert model.name and model.lmbda > 0
    assert model.tables_ready()
    assert len(model.fingerprint()) == 64
    assert model.meta["arch"] == "mbt2018-mean" and model.meta["metric"] == "mse"


@pytest.mark.parametrize("spec, match", [
    ("nope:1", "unknown model 'nope'; known: default, sgaplus-msh, bmshj2018-hyperprior"),
    ("nope", "unknown model 'nope'; use 'default', NAME:QUALITY"),
    ("mbt2018-mean:9", "mbt2018-mean has qualities 1-8, not 9"),
    ("cheng2020-anchor:7", "cheng2020-anchor has qualities 1-6, not 7"),
    ("sgaplus-msh:²", "bad model name 'sgaplus-msh:²'; use 'default', NAME:QUALITY"),
    ("sgaplus-msh:", "bad model name"),
    ("mbt2018-mean:3:psnr", "unknown metric 'psnr' in 'mbt2018-mean:3:psnr'; metrics: mse, ms-ssim"),
    ("sgaplus-msh:2:ms-ssim", "sgaplus-msh has no ms-ssim models"),
    ("sgaplus-msh:5", "sgaplus-msh has qualities 1-4"),
])
def test_bad_names_are_one_line(spec, match):
    with pytest.raises(ValueError) as exc:
        load_model(spec)
    assert match in str(exc.value) and "\n" not in str(exc.value)


def test_missing_file():
    with pytest.raises(ModelNotFound, match="model file not found: no/such.pth.tar"):
        load_model("no/such.pth.tar")


def test_compressai_lambda_tables():
    """CompressAI's documented λ per quality; cheng2020-anchor's six qualities use the first six."""
    assert CAI_LAMBDAS["mse"] == (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
    assert CAI_LAMBDAS["ms-ssim"] == (2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00)
    assert len(model_urls["cheng2020-anchor"]["mse"]) == 6


def test_zoo_weights_from_the_hub_cache(tmp_path, monkeypatch):
    """A zoo file in the torch-hub cache (TORCH_HOME) loads with its λ, metric and source."""
    name = put_in_cache(monkeypatch, tmp_path, "bmshj2018-hyperprior", "mse", 2, ScaleHyperprior(8, 12))
    m = load_model("bmshj2018-hyperprior:2")
    assert m.name == "bmshj2018-hyperprior:2" and m.lmbda == 0.0035 and not m.has_means
    assert m.meta["metric"] == "mse" and m.meta["quality"] == 2
    assert m.meta["weights"]["url"].endswith(name) and m.meta["weights"]["sha256"][:8] in name


def test_ms_ssim_zoo_model_carries_its_metric_and_lambda(tmp_path, monkeypatch):
    put_in_cache(monkeypatch, tmp_path, "mbt2018", "ms-ssim", 4, JointAutoregressiveHierarchicalPriors(8, 12))
    m = load_model("mbt2018:4:ms-ssim")
    assert m.name == "mbt2018:4:ms-ssim" and m.lmbda == 16.64
    assert m.meta["arch"] == "mbt2018" and m.meta["metric"] == "ms-ssim"
    with pytest.raises(ValueError, match="trained with λ=16.64, not 0.01"):
        load_model("mbt2018:4:ms-ssim", lmbda=0.01)
    assert load_model("mbt2018:4:ms-ssim", lmbda=16.64).lmbda == 16.64


def test_a_cached_file_that_fails_the_hash_is_refused(tmp_path, monkeypatch):
    name = put_in_cache(monkeypatch, tmp_path, "mbt2018-mean", "mse", 1, MeanScaleHyperprior(8, 12))
    path = tmp_path / "torch" / "hub" / "checkpoints" / name
    torch.save(MeanScaleHyperprior(8, 12).state_dict(), path)  # other bytes, same name
    with pytest.raises(ValueError, match="fails CompressAI's hash check .* delete it to download it again"):
        load_model("mbt2018-mean:1")
    assert path.is_file()  # a file the user put there is not deleted


def test_ranges_expand():
    assert expand_specs(["mbt2018-mean:1..3", "default", "../x/m.pt"]) == [
        "mbt2018-mean:1", "mbt2018-mean:2", "mbt2018-mean:3", "default", "../x/m.pt"]
    assert expand_specs(["mbt2018:2..3:ms-ssim"]) == ["mbt2018:2:ms-ssim", "mbt2018:3:ms-ssim"]
    with pytest.raises(ValueError, match="empty quality range"):
        expand_specs(["mbt2018:3..2"])


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_model(bad)
    torch.save({"epoch": 3, "loss": 1.0}, tmp_path / "nostate.pth.tar")
    with pytest.raises(ValueError, match="no state dict in this file .*epoch, loss"):
        load_model(tmp_path / "nostate.pth.tar")
    with pytest.raises(ModelNotFound):
        load_model(tmp_path / "missing.pt")


def test_export_round_trip_keeps_fingerprint(tiny_model, tmp_path):
    path = tmp_path / "tiny.pt"
    save_model(tiny_model, path, dtype=torch.float32)
    again = load_model(path)
    assert again.lmbda == tiny_model.lmbda
    assert again.fingerprint() == tiny_model.fingerprint()
    assert not math.isnan(again.lmbda)


def test_bundled_family_has_its_lambdas():
    """sgaplus-msh:1..4 ship in the package, each trained at its λ; quality 3 is the default."""
    from sgaplus.zoo import SGAPLUS_LAMBDAS

    models = [load_model(f"sgaplus-msh:{q}") for q in range(1, len(SGAPLUS_LAMBDAS) + 1)]
    assert [m.lmbda for m in models] == list(SGAPLUS_LAMBDAS)
    assert [m.name for m in models] == [f"sgaplus-msh-q{q}" for q in range(1, 5)]
    assert models[2].fingerprint() == load_model("default").fingerprint()
    with pytest.raises(ValueError, match="qualities 1-4"):
        load_model("sgaplus-msh:5")


def test_quality_must_be_ascii_digits():
    """str.isdigit() accepts "²", which int() refuses: one clean ValueError instead."""
    for spec in ("sgaplus-msh:²", "mbt2018-mean:٣", "sgaplus-msh:"):
        with pytest.raises(ValueError, match="bad model name"):
            load_model(spec)


def test_load_named_never_opens_a_path(tiny_model, tmp_path, monkeypatch):
    """A name taken from a file is only ever a known name, even where a file of that name exists."""
    from sgaplus.zoo import load_named

    save_model(tiny_model, tmp_path / "mbt2018-mean:3", dtype=torch.float32)
    save_model(tiny_model, tmp_path / "tiny.pt", dtype=torch.float32)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert load_model("tiny.pt").fingerprint() == tiny_model.fingerprint()  # --model may be a file
    for name in ("tiny.pt", str(tmp_path / "tiny.pt"), "./tiny.pt"):
        with pytest.raises(ValueError, match="unknown model"):
            load_named(name)
    with pytest.raises(ModelNotFound):  # the zoo entry, not the local file of that name
        load_named("mbt2018-mean:3")
    assert load_named("sgaplus-msh-q1").name == "sgaplus-msh-q1"  # the name its files record
