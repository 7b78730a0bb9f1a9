"""What a checkpoint file holds: every form a CompressAI user has, read into a network.

A user's weights come as one of

- sgaplus's export ``{"state_dict", "meta"}`` (:func:`sgaplus.zoo.save_model`);
- CompressAI's ``examples/train.py`` checkpoint ``{"epoch", "state_dict", "loss",
  "optimizer", "lr_scheduler", "aux_optimizer"}`` (usually ``*.pth.tar``);
- a plain state dict (``torch.save(net.state_dict())``, CompressAI's zoo files);

with keys perhaps prefixed by ``module.`` (DataParallel) or ``_orig_mod.``
(``torch.compile``), in fp16 or fp32, with or without the entropy coder's tables
(``net.update()``). The architecture is not stored anywhere, so it is recognised
from the keys and shapes, and the network is built with its own N and M.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from compressai.models import ScaleHyperprior
from compressai.zoo.pretrained import load_pretrained

from .latent_model import ARCHITECTURES


SUPPORTED = ", ".join(ARCHITECTURES)

#: Prefixes that wrappers add to every key: DataParallel / DDP and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")

#: What torch names when a weights-only load meets another object, e.g. argparse.Namespace.
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


class UnsupportedModel(ValueError):
    """A state dict of an architecture sgaplus cannot refine; the message names those it can."""


@dataclass
class Checkpoint:
    """A checkpoint file's weights, unwrapped.

    Attributes:
        state: float32 tensors under CompressAI's current key names.
        meta: sgaplus's metadata (``{}`` for CompressAI's files) plus what the file
            says about its training (``epoch`` of a train.py checkpoint).
        sha256: hex digest of the file's bytes, for provenance.
    """

    state: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read(path: Path) -> Checkpoint:
    """Read any of the forms in the module docstring (weights-only: no code runs).

    Raises:
        ValueError: not a PyTorch file, objects a weights-only load refuses, or no state dict.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a non-checkpoint
        unsafe = _UNSAFE_GLOBAL.search(str(exc))
        if unsafe:
            raise ValueError(f"{path}: holds {unsafe.group(1)} objects (a whole pickled model, "
                             "torch.save(model), or other Python objects), which sgaplus does not "
                             "unpickle since that can run any code; save the weights alone: "
                             "torch.save(model.state_dict(), PATH)") from None
        raise ValueError(f"{path}: not a PyTorch checkpoint ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a checkpoint dictionary")
    state, meta = obj, {}
    if isinstance(obj.get("state_dict"), dict):
        state, meta = obj["state_dict"], dict(obj.get("meta") or {})
        if "epoch" in obj and not meta:  # CompressAI's examples/train.py
            meta["epoch"] = int(obj["epoch"])
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = ", ".join(list(map(str, obj))[:6])
        raise ValueError(f"{path}: no state dict in this file (its keys: {keys})")
    return Checkpoint(normalise(state), meta, file_sha256(path))


def normalise(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop wrapper prefixes, rename CompressAI's old keys, make floats float32."""
    for prefix in _WRAPPER_PREFIXES:
        while all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    state = load_pretrained(state)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _has(state: dict[str, torch.Tensor], module: str) -> bool:
    return any(k.startswith(f"{module}.") for k in state)


def recognise(state: dict[str, torch.Tensor]) -> str:
    """The zoo name of the architecture whose state dict this is.

    The four differ where CompressAI's classes differ: a context model has
    ``context_prediction`` and ``entropy_parameters``; Cheng et al.'s models have residual
    blocks (``g_a.0.conv1``), their attention variant also attention units
    (``conv_a``); mbt2018-mean's h_s ends in 2M channels (σ and μ), bmshj2018's in M.

    Raises:
        UnsupportedModel: one line naming what is supported.
    """
    if not (_has(state, "g_a") and _has(state, "g_s") and _has(state, "entropy_bottleneck")):
        raise UnsupportedModel(f"not a CompressAI image compression model; sgaplus refines {SUPPORTED}")
    if not _has(state, "h_s"):
        raise UnsupportedModel(f"a factorized-prior model (no hyperprior) is not supported; "
                               f"sgaplus refines {SUPPORTED}")
    if _has(state, "context_prediction") and _has(state, "entropy_parameters"):
        if "g_a.0.conv1.weight" not in state:
            return "mbt2018"
        if any(".conv_a." in k for k in state):
            raise UnsupportedModel(f"cheng2020-attn is not supported; sgaplus refines {SUPPORTED}")
        return "cheng2020-anchor"
    last = max((k for k in state if re.fullmatch(r"h_s\.\d+\.weight", k)),
               key=lambda k: int(k.split(".")[1]), default=None)
    if "g_a.6.weight" not in state or last is None:
        raise UnsupportedModel(f"an unknown hyperprior model; sgaplus refines {SUPPORTED}")
    m = state["g_a.6.weight"].size(0)
    return "mbt2018-mean" if state[last].size(0) == 2 * m else "bmshj2018-hyperprior"


def build(state: dict[str, torch.Tensor], name: str) -> tuple[str, ScaleHyperprior]:
    """(zoo name, network) of a normalised state dict, N and M read from its shapes.

    Raises:
        UnsupportedModel: an architecture sgaplus does not refine.
        ValueError: a recognised architecture whose tensors do not fit it.
    """
    try:
        arch = recognise(state)
    except UnsupportedModel as exc:
        raise UnsupportedModel(f"{name}: {exc}") from None
    try:
        return arch, ARCHITECTURES[arch].from_state_dict(state)
    except (RuntimeError, KeyError, IndexError) as exc:
        detail = " ".join(str(exc).split())
        raise ValueError(f"{name}: a {arch} state dict whose tensors do not fit it "
                         f"({detail[:200]})") from None


def tables_missing(net: ScaleHyperprior) -> bool:
    """True for a network whose entropy coder was never ``update()``d (no CDF tables)."""
    return net.entropy_bottleneck._offset.numel() == 0 or net.gaussian_conditional._offset.numel() == 0
