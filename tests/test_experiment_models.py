"""``sgaplus experiment --models`` on zoo ranges and on checkpoints without a λ, and the
provenance of which weights ran."""

from __future__ import annotations

import json

import pytest
import torch
from compressai.models import MeanScaleHyperprior

from sgaplus.cli.main import main
from sgaplus.experiments import PROTOCOLS
from test_experiments import TINY
from zoo_cache import put_in_cache



def experiment(tmp_path, monkeypatch, images, *argv: str) -> int:
    monkeypatch.setitem(PROTOCOLS, "tiny", TINY)
    monkeypatch.setenv("SGAPLUS_WARM_STARTS", str(tmp_path / "none"))
    return main(["experiment", "ssl-a", "--protocol", "tiny", "--out", str(tmp_path / "r"),
                 "--data", str(images), "--device", "cpu", *argv])


def test_experiment_on_a_zoo_range_records_the_weights(tmp_path, monkeypatch, tiny_images_dir, one_thread):
    names = []
    for q in (1, 2, 3):
        torch.manual_seed(q)
        names.append(put_in_cache(monkeypatch, tmp_path, "mbt2018-mean", "mse", q, MeanScaleHyperprior(8, 12)))
    assert experiment(tmp_path, monkeypatch, tiny_images_dir, "--models", "mbt2018-mean:1..3") == 0
    result = json.loads((tmp_path / "r" / "results" / "ssl-a.json").read_text())
    assert [m["spec"] for m in result["models"]] == ["mbt2018-mean:1", "mbt2018-mean:2", "mbt2018-mean:3"]
    assert [m["lmbda"] for m in result["models"]] == [0.0018, 0.0035, 0.0067]
    for m, name in zip(result["models"], names):
        w = m["weights"]
        assert w["url"] == f"https://example.invalid/{name}" and w["sha256"][:8] in name
        assert w["fingerprint"] == m["fingerprint"] and w["arch"] == "mbt2018-mean"
        assert m["label"].startswith(f"CompressAI {m['spec']} λ=")
    main_model = result["main_model"]  # nearest to the protocol's λ 0.01: quality 3
    assert main_model["spec"] == "mbt2018-mean:3"
    units = list((tmp_path / "r" / "units").glob("*/*/*.json"))
    assert units and all(json.loads(u.read_text())["model"]["weights"]["url"].endswith(names[2])
                         for u in units)
    assert f"`https://example.invalid/{names[0]}`" in (tmp_path / "r" / "report.md").read_text()


def test_experiment_on_checkpoints_without_lambda(tmp_path, monkeypatch, tiny_images_dir, one_thread, capsys):
    files = []
    for i in range(2):
        torch.manual_seed(i)
        net = MeanScaleHyperprior(8, 12)
        net.update(force=True)
        files.append(tmp_path / f"ckpt{i}.pth.tar")
        torch.save({"epoch": 1, "state_dict": net.state_dict()}, files[-1])
    models = ["--models", *map(str, files)]
    assert experiment(tmp_path, monkeypatch, tiny_images_dir, *models) == 2
    assert "does not record its training λ; give it with --train-lambda" in capsys.readouterr().err
    assert experiment(tmp_path, monkeypatch, tiny_images_dir, *models, "--train-lambda", "0.01") == 2
    assert "--train-lambda gives 1 λ for 2 models" in capsys.readouterr().err
    assert experiment(tmp_path, monkeypatch, tiny_images_dir, *models, "--train-lambda", "0.02", "0.005") == 0
    result = json.loads((tmp_path / "r" / "results" / "ssl-a.json").read_text())
    assert [(m["spec"], m["lmbda"]) for m in result["models"]] == [(str(files[1]), 0.005), (str(files[0]), 0.02)]
    assert result["models"][0]["weights"]["file"] == str(files[1].resolve())
