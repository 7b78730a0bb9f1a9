"""Where models come from: the bundled default, our family, CompressAI's zoo, files.

A model is named by one string (one CLI flag, ``--model``):

- ``default``: the model shipped inside the package.
- ``NAME:QUALITY``: a zoo entry, e.g. ``mbt2018-mean:3`` (CompressAI's official
  weights, read from the local torch-hub cache) or ``sgaplus-msh:2`` (our family).
- a path to a checkpoint: sgaplus's format ``{"state_dict", "meta"}`` or a plain
  CompressAI state dict (then ``lmbda`` must be given or is unknown).

Offline, a missing file raises :class:`ModelNotFound` with one line naming the
file and the folder to put it in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from compressai.models import MeanScaleHyperprior, ScaleHyperprior
from compressai.zoo import image as cai_zoo
from compressai.zoo.pretrained import load_pretrained

from .latent_model import LatentModel

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "default.pt"

#: Architectures we can refine, by CompressAI's zoo name.
ARCHITECTURES: dict[str, type[ScaleHyperprior]] = {
    "mbt2018-mean": MeanScaleHyperprior,
    "bmshj2018-hyperprior": ScaleHyperprior,
}

#: Training λ of CompressAI's MSE zoo models by quality (spec §2), which its zoo omits.
CAI_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)

#: Our family, quality -> λ; all bundled, quality 3 is the default model.
SGAPLUS_FAMILY = "sgaplus-msh"
SGAPLUS_LAMBDAS = (0.0035, 0.0067, 0.013, 0.025)
DEFAULT_QUALITY = 3


class ModelNotFound(ValueError):
    """Weights that are not on this machine; the message says where to put them."""


def family_path(quality: int) -> Path:
    """The bundled file of ``sgaplus-msh:quality`` (the default model is quality 3)."""
    if quality == DEFAULT_QUALITY:
        return DEFAULT_MODEL
    return WEIGHTS_DIR / f"{SGAPLUS_FAMILY}-q{quality}.pt"


def _float_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _architecture_of(state: dict[str, torch.Tensor]) -> str:
    """mbt2018-mean's h_s ends in a conv to 2M channels (σ and μ), bmshj2018's to M."""
    m = state["g_a.6.weight"].size(0)
    last = max((k for k in state if k.startswith("h_s.") and k.endswith(".weight")),
               key=lambda k: int(k.split(".")[1]))
    return "mbt2018-mean" if state[last].size(0) == 2 * m else "bmshj2018-hyperprior"


def from_checkpoint(obj: dict[str, Any], name: str, lmbda: float | None = None) -> LatentModel:
    """Build a model from sgaplus's checkpoint dict or a plain CompressAI state dict."""
    if "state_dict" in obj:
        state, meta = obj["state_dict"], dict(obj.get("meta", {}))
    else:
        state, meta = obj, {}
    state = _float_state(load_pretrained(state))
    try:
        arch = _architecture_of(state)
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"{name}: not a mean-scale or scale hyperprior state dict") from None
    net = ARCHITECTURES[arch].from_state_dict(state)
    lmbda = lmbda if lmbda is not None else meta.get("lmbda")
    if lmbda is None:
        raise ValueError(f"{name}: the checkpoint does not record its training λ; pass --lambda")
    meta.setdefault("arch", arch)
    model = LatentModel(net, name=meta.get("name", name), lmbda=float(lmbda), meta=meta)
    return model if model.tables_ready() else model.prepare()


def load_file(path: str | Path, lmbda: float | None = None) -> LatentModel:
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"model file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a non-checkpoint
        raise ValueError(f"{path}: not a PyTorch checkpoint ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a checkpoint dictionary")
    return from_checkpoint(obj, name=path.stem, lmbda=lmbda)


def _load_compressai(arch: str, quality: int) -> LatentModel:
    if quality not in cai_zoo.cfgs[arch]:
        raise ValueError(f"{arch} has qualities 1-{len(cai_zoo.cfgs[arch])}, not {quality}")
    url = cai_zoo.model_urls[arch]["mse"][quality]
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    path = cache / Path(url).name
    if not path.is_file():
        raise ModelNotFound(f"{arch}:{quality} weights are not on this machine; put {path.name} "
                            f"(from {url}) into {cache}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return from_checkpoint(state, name=f"{arch}:{quality}", lmbda=CAI_LAMBDAS[quality - 1])


def load_model(spec: str | Path = "default", lmbda: float | None = None) -> LatentModel:
    """Load a model by name (see the module docstring) on the CPU, frozen, ready to code.

    Args:
        spec: ``default``, ``NAME:QUALITY`` or a checkpoint path.
        lmbda: training λ for checkpoints that do not record one.

    Raises:
        ModelNotFound: the weights are not on this machine.
        ValueError: an unknown name, quality or an unreadable file.
    """
    spec = str(spec)
    if spec != "default" and (Path(spec).exists() or spec.endswith((".pt", ".pth", ".tar"))):
        return load_file(spec, lmbda)
    return load_named(spec)


def load_named(spec: str) -> LatentModel:
    """A known model by name only, never a path: ``default``, ``NAME:QUALITY``, or the name
    our family's files record (``sgaplus-msh-q2``, which ``.sgp`` headers carry). The
    decoder looks up the name a file records with it, since that file may come from anyone.

    Raises:
        ModelNotFound: the weights are not on this machine.
        ValueError: an unknown name or quality.
    """
    if spec == "default":
        if not DEFAULT_MODEL.is_file():
            raise ModelNotFound(f"the bundled model is missing: {DEFAULT_MODEL}")
        return load_file(DEFAULT_MODEL)
    name, _, q = spec.partition(":")
    if re.fullmatch(rf"{SGAPLUS_FAMILY}-q[0-9]", spec):
        name, q = SGAPLUS_FAMILY, spec[-1]
    if not re.fullmatch(r"[0-9]{1,3}", q):  # ASCII digits: str.isdigit() accepts "²"
        raise ValueError(f"unknown model {spec!r}; use 'default', NAME:QUALITY or a file path")
    quality = int(q)
    if name == SGAPLUS_FAMILY:
        if not 1 <= quality <= len(SGAPLUS_LAMBDAS):
            raise ValueError(f"{name} has qualities 1-{len(SGAPLUS_LAMBDAS)}, not {quality}")
        return load_file(family_path(quality))
    if name in ARCHITECTURES:
        return _load_compressai(name, quality)
    known = ", ".join(["default", SGAPLUS_FAMILY, *ARCHITECTURES])
    raise ValueError(f"unknown model {name!r}; known: {known}")


def save_model(model: LatentModel, path: str | Path, dtype: torch.dtype = torch.float16) -> None:
    """Export weights (parameters in ``dtype``, buffers in fp32) with metadata.

    Buffers stay fp32: GDN's pedestal (2^-36) becomes 0 in fp16 and training from
    such a file diverges. The CDF tables are stored, so a decoder never rebuilds
    them. Note that the hash of the *loaded* model is what bitstreams record.
    """
    if not model.tables_ready():
        model.prepare()
    params = {n for n, _ in model.net.named_parameters()}
    state = {
        k: (v.to(dtype) if k in params and not k.endswith("quantiles") else v).cpu()
        for k, v in model.net.state_dict().items()
    }
    meta = {**model.meta, "name": model.name, "lmbda": model.lmbda,
            "N": model.net.N, "M": model.net.M}
    torch.save({"state_dict": state, "meta": meta}, path)

