"""Loading models by name, from files and from CompressAI's zoo cache."""

from __future__ import annotations

import time

import pytest
import torch
from compressai.models import MeanScaleHyperprior, ScaleHyperprior

from sgaplus.zoo import ModelNotFound, load_model, save_model


def test_default_model_is_trained_and_named(model):
    assert model.name and model.lmbda > 0
    assert model.tables_ready()
    assert len(model.fingerprint()) == 64


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        load_model("nope:1")
    with pytest.raises(ValueError, match="unknown model"):
        load_model("nope")
    with pytest.raises(ValueError, match="qualities 1-8"):
        load_model("mbt2018-mean:9")


def test_missing_zoo_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ModelNotFound, match=r"put mbt2018-mean-3-\w+\.pth\.tar .* into"):
        load_model("mbt2018-mean:3")


def test_zoo_weights_from_the_hub_cache(tmp_path, monkeypatch):
    """A file named like CompressAI's download in the hub cache is found, with its λ."""
    from compressai.zoo.image import model_urls

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    net = ScaleHyperprior(8, 12)
    name = model_urls["bmshj2018-hyperprior"]["mse"][2].rsplit("/", 1)[1]
    torch.save(net.state_dict(), tmp_path / "checkpoints" / name)
    m = load_model("bmshj2018-hyperprior:2")
    assert m.lmbda == 0.0035 and not m.has_means


def test_plain_state_dict_needs_lambda(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save(MeanScaleHyperprior(8, 12).state_dict(), path)
    with pytest.raises(ValueError, match="pass --lambda"):
        load_model(path)
    m = load_model(path, lmbda=0.02)
    assert m.lmbda == 0.02 and m.has_means


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_model(bad)
    with pytest.raises(ModelNotFound):
        load_model(tmp_path / "missing.pt")


def test_export_round_trip_keeps_fingerprint(tiny_model, tmp_path):
    path = tmp_path / "tiny.pt"
    save_model(tiny_model, path, dtype=torch.float32)
    again = load_model(path)
    assert again.lmbda == tiny_model.lmbda
    assert again.fingerprint() == tiny_model.fingerprint()


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
        with pytest.raises(ValueError, match="unknown model"):
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
