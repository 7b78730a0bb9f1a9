"""Every checkpoint a CompressAI user has: recognised, built, and coded through the CLI.

The models are small random-init networks saved in each form (N=8, M=12), so a
refine + compress + decompress round trip takes about a second.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from compressai.models import (Cheng2020Anchor, Cheng2020Attention, FactorizedPrior,
                               JointAutoregressiveHierarchicalPriors, MeanScaleHyperprior,
                               ScaleHyperprior)
from PIL import Image

from sgaplus.cli.main import main
from sgaplus.zoo import load_model, save_model

NETS = {
    "bmshj2018-hyperprior": lambda: ScaleHyperprior(8, 12),
    "mbt2018-mean": lambda: MeanScaleHyperprior(8, 12),
    "mbt2018": lambda: JointAutoregressiveHierarchicalPriors(8, 12),
    "cheng2020-anchor": lambda: Cheng2020Anchor(8),
}


def new_net(arch: str):
    torch.manual_seed(0)
    return NETS[arch]()


def train_py_checkpoint(net) -> dict:
    """What CompressAI's examples/train.py saves: the net never update()d, with its
    optimizers (after a step, so they hold state) and scheduler."""
    params = [p for n, p in net.named_parameters() if not n.endswith("quantiles")]
    aux = [p for n, p in net.named_parameters() if n.endswith("quantiles")]
    optimizer, aux_optimizer = torch.optim.Adam(params, lr=1e-4), torch.optim.Adam(aux, lr=1e-3)
    for p in params + aux:
        p.grad = torch.full_like(p, 1e-3)
    optimizer.step()
    aux_optimizer.step()
    lr_scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    lr_scheduler.step(1.5)
    return {"epoch": 7, "state_dict": net.state_dict(), "loss": torch.tensor(1.5),
            "optimizer": optimizer.state_dict(), "lr_scheduler": lr_scheduler.state_dict(),
            "aux_optimizer": aux_optimizer.state_dict()}


def updated(net):
    net.update(force=True)
    return net.state_dict()


#: form -> (architecture, file name, what to save).
FORMS = {
    "state-dict": ("mbt2018-mean", "plain.pth", updated),
    "train.py": ("mbt2018-mean", "checkpoint_best_loss.pth.tar", train_py_checkpoint),
    "dataparallel": ("mbt2018-mean", "dp.pth", lambda n: {f"module.{k}": v for k, v in updated(n).items()}),
    "never-updated": ("mbt2018-mean", "raw.pth", lambda n: n.state_dict()),
    "torch.compile": ("mbt2018-mean", "compiled.pth",
                      lambda n: {f"_orig_mod.{k}": v for k, v in updated(n).items()}),
    "fp16": ("mbt2018-mean", "half.pth",
             lambda n: {k: v.half() if v.is_floating_point() else v for k, v in updated(n).items()}),
    "scale-hyperprior": ("bmshj2018-hyperprior", "bmshj.pth", updated),
    "context-mbt2018": ("mbt2018", "mbt2018.pth", updated),
    "context-cheng2020": ("cheng2020-anchor", "cheng.pth.tar", train_py_checkpoint),
}


def save_form(folder: Path, form: str) -> Path:
    return save_form_net(folder, form)[0]


def save_form_net(folder: Path, form: str):
    """(file, the network it holds)."""
    arch, name, content = FORMS[form]
    path, net = folder / name, new_net(arch)
    torch.save(content(net), path)
    return path, net


def psnr(a: Path, b: Path) -> float:
    x = np.asarray(Image.open(a).convert("RGB"), np.float64)
    y = np.asarray(Image.open(b).convert("RGB"), np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((x - y) ** 2)))


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- recognition --------------------------------------------------------------------------

@pytest.mark.parametrize("arch", list(NETS))
def test_every_architecture_is_recognised_and_built(tmp_path, arch):
    """A plain state dict of each architecture gives that class with its N and M."""
    net = new_net(arch)
    path = tmp_path / "m.pth"
    torch.save(updated(net), path)
    m = load_model(path, lmbda=0.01)
    assert type(m.net) is type(net)
    assert (m.net.N, m.net.M) == (net.N, net.M)
    assert m.meta["arch"] == arch and m.meta["metric"] == "mse"
    assert m.lmbda == 0.01 and m.tables_ready()


@pytest.mark.parametrize("net, what", [
    (lambda: Cheng2020Attention(8), "cheng2020-attn is not supported"),
    (lambda: FactorizedPrior(8, 12), "factorized-prior model"),
    (lambda: torch.nn.Linear(3, 4), "not a CompressAI image compression model"),
])
def test_unsupported_architectures_name_the_supported_ones(tmp_path, net, what):
    path = tmp_path / "u.pth"
    torch.save(net().state_dict(), path)
    with pytest.raises(ValueError) as exc:
        load_model(path, lmbda=0.01)
    msg = str(exc.value)
    assert what in msg and "\n" not in msg
    assert "bmshj2018-hyperprior, mbt2018-mean, mbt2018, cheng2020-anchor" in msg


def test_a_state_dict_that_does_not_fit_its_architecture(tmp_path):
    state = updated(new_net("mbt2018-mean"))
    del state["g_s.0.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"a mbt2018-mean state dict whose tensors do not fit .*g_s\.0\.weight"):
        load_model(tmp_path / "broken.pth", lmbda=0.01)


def test_objects_a_weights_only_load_refuses(tmp_path):
    path = tmp_path / "with_args.pth.tar"
    torch.save({"state_dict": updated(new_net("mbt2018-mean")), "args": argparse.Namespace(lmbda=0.01)}, path)
    with pytest.raises(ValueError, match="holds argparse.Namespace objects"):
        load_model(path, lmbda=0.01)


def test_a_whole_pickled_model_says_to_save_its_state_dict(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(new_net("mbt2018-mean"), path)
    with pytest.raises(ValueError, match=r"whole pickled model.*torch\.save\(model\.state_dict\(\), PATH\)"):
        load_model(path, lmbda=0.01)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_loads_to_the_same_weights(tmp_path, form, capsys):
    """Every form gives the network it was saved from (fp16 up to its rounding), with
    tables, and a never-updated one says so once."""
    arch, _, _ = FORMS[form]
    path, net = save_form_net(tmp_path, form)
    m = load_model(path, lmbda=0.02)
    err = capsys.readouterr().err
    assert m.meta["arch"] == arch and m.tables_ready()
    assert err.count("never update()d") == (form in ("train.py", "never-updated", "context-cheng2020"))
    ref = net.state_dict()
    got = m.net.state_dict()
    tol = 1e-3 if form == "fp16" else 0
    if "context_prediction.mask" in ref:  # the loader applies the mask once (LatentModel)
        ref["context_prediction.weight"] = ref["context_prediction.weight"] * ref["context_prediction.mask"]
    for k in ("h_s.0.weight", *(k for k in ref if k.startswith(("g_a.", "g_s.", "context_")))):
        assert torch.allclose(got[k], ref[k], rtol=tol, atol=tol), k
    if form in ("train.py", "context-cheng2020"):
        assert m.meta["epoch"] == 7
    assert m.meta["weights"]["file"] == str(path.resolve()) and len(m.meta["weights"]["sha256"]) == 64


# -- training λ ---------------------------------------------------------------------------

def test_training_lambda_rules(tmp_path, tiny_model):
    plain = save_form(tmp_path, "state-dict")
    with pytest.raises(ValueError, match="does not record its training λ; give it with --train-lambda"):
        load_model(plain)
    unknown = load_model(plain, require_lambda=False)  # enough to decode
    assert math.isnan(unknown.lmbda)
    with pytest.raises(ValueError, match="must be positive"):
        load_model(plain, lmbda=-1)
    recorded = tmp_path / "tiny.pt"
    save_model(tiny_model, recorded, dtype=torch.float32)
    assert load_model(recorded, lmbda=tiny_model.lmbda).lmbda == tiny_model.lmbda
    with pytest.raises(ValueError, match=r"trained with λ=0.01, not 0.02; to refine at another λ use --lambda"):
        load_model(recorded, lmbda=0.02)


def test_export_of_an_unknown_lambda_model_stays_unknown(tmp_path):
    m = load_model(save_form(tmp_path, "state-dict"), require_lambda=False)
    save_model(m, tmp_path / "out.pt", dtype=torch.float32)
    saved = torch.load(tmp_path / "out.pt", weights_only=True)["meta"]
    assert saved["lmbda"] is None and "weights" not in saved
    assert math.isnan(load_model(tmp_path / "out.pt", require_lambda=False).lmbda)
    assert load_model(tmp_path / "out.pt", lmbda=0.03).fingerprint() == m.fingerprint()


# -- the CLI ------------------------------------------------------------------------------

@pytest.mark.parametrize("form", list(FORMS))
def test_cli_round_trip_of_each_form(tmp_path, capsys, photo_png, form):
    """refine, compress and decompress with --model FILE; the decoder needs no λ, and the
    decoded PNG has exactly the PSNR compress reported."""
    path = save_form(tmp_path, form)
    code, out, err = run(capsys, "refine", photo_png, "--model", path, "--train-lambda", "0.01",
                         "--iters", "3", "--device", "cpu", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["lmbda"] == 0.01 and r["iters"] == 3
    sgp, png = tmp_path / "a.sgp", tmp_path / "a.png"
    code, out, err = run(capsys, "compress", photo_png, "-o", sgp, "--model", path,
                         "--train-lambda", "0.01", "--iters", "3", "--device", "cpu", "--json")
    assert code == 0, err
    c = json.loads(out)
    assert err.count("never update()d") == (form in ("train.py", "never-updated", "context-cheng2020"))
    code, out, err = run(capsys, "decompress", sgp, "-o", png, "--model", path)
    assert code == 0, err
    assert psnr(photo_png, png) == pytest.approx(c["psnr"], abs=1e-3)
    code, out, _ = run(capsys, "info", sgp, "--json")
    assert json.loads(out)["model"] == path.name.split(".")[0]


def test_cli_lambda_flags(tmp_path, capsys, photo_png, tiny_model):
    """No λ at all: one line naming --train-lambda. --lambda alone refines at that λ and
    the file decodes. A --train-lambda contradicting the file's λ is refused."""
    plain = save_form(tmp_path, "state-dict")
    code, out, err = run(capsys, "refine", photo_png, "--model", plain, "--iters", "1")
    assert code == 2 and "--train-lambda" in err and err.count("\n") == 1 and not out
    sgp = tmp_path / "b.sgp"
    code, out, err = run(capsys, "compress", photo_png, "-o", sgp, "--model", plain, "--lambda", "0.004",
                         "--iters", "2", "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["lmbda"] == 0.004
    assert run(capsys, "decompress", sgp, "-o", tmp_path / "b.png", "--model", plain)[0] == 0
    code, out, _ = run(capsys, "info", sgp, "--json")
    assert json.loads(out)["lmbda"] == 0.004
    recorded = tmp_path / "tiny.pt"
    save_model(tiny_model, recorded, dtype=torch.float32)
    code, _, err = run(capsys, "refine", photo_png, "--model", recorded, "--train-lambda", "0.5")
    assert code == 2 and "trained with λ=0.01, not 0.5" in err and err.count("\n") == 1


def test_help_explains_both_lambdas(capsys):
    with pytest.raises(SystemExit):
        main(["refine", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--train-lambda λ the λ the model was trained with" in text
    assert "--lambda λ λ of the refinement loss (default: the model's training λ" in text


def test_eval_codecs_takes_a_checkpoint_without_lambda(tmp_path, capsys, tiny_images_dir):
    """Evaluating needs no λ: the model is listed with λ unknown and no R-D loss."""
    plain = save_form(tmp_path, "train.py")
    md = tmp_path / "docs" / "models.md"
    code, _, err = run(capsys, "eval-codecs", "--kodak", tiny_images_dir, "--models", plain, "--out", md)
    assert code == 0, err
    text = md.read_text()
    assert f"| `{plain}` | unknown | 8, 12 |" in text
    row = next(line for line in text.splitlines() if line.startswith(f"| `{plain}` | 0."))
    assert row.endswith("| n/a |")
