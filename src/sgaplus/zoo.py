"""Where models come from: the bundled default, our family, CompressAI's zoo, files.

A model is named by one string (one CLI flag, ``--model``):

- ``default``: the model shipped inside the package.
- ``NAME:QUALITY[:METRIC]``: a zoo entry. ``sgaplus-msh:2`` is our family (bundled);
  ``bmshj2018-hyperprior``, ``mbt2018-mean``, ``mbt2018`` and ``cheng2020-anchor``
  are CompressAI's official weights (metric ``mse``, the default, or ``ms-ssim``),
  downloaded on first use into the torch-hub cache (:mod:`sgaplus.download`).
- a checkpoint file in any form a CompressAI user has (:mod:`sgaplus.checkpoint`).

Every model carries its training λ: our files and the zoo record it (CompressAI's
tables below); CompressAI's own checkpoints do not, so it is given (``lmbda``,
``--train-lambda``), and a given λ that contradicts a recorded one is refused.
Decoding needs no λ: ``require_lambda=False`` loads such a model with λ = NaN.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import torch
from compressai.zoo.image import model_urls

from . import checkpoint
from .checkpoint import ARCHITECTURES, Checkpoint
from .download import ModelNotFound, fetch, hash_prefix
from .latent_model import LatentModel

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_MODEL = WEIGHTS_DIR / "default.pt"

METRICS = ("mse", "ms-ssim")

#: Training λ of CompressAI's zoo models by metric and quality, from CompressAI's
#: documentation (docs/source/zoo.rst, "Training"); its code does not carry them.
#: MSE: λ·255²·MSE + bpp; MS-SSIM: λ·(1 − MS-SSIM) + bpp. cheng2020-anchor has
#: qualities 1-6, trained with the first six.
CAI_LAMBDAS = {
    "mse": (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800),
    "ms-ssim": (2.40, 4.58, 8.73, 16.64, 31.73, 60.50, 115.37, 220.00),
}

#: Our family, quality -> λ; all bundled, quality 3 is the default model.
SGAPLUS_FAMILY = "sgaplus-msh"
SGAPLUS_LAMBDAS = (0.0035, 0.0067, 0.013, 0.025)
DEFAULT_QUALITY = 3

_SPEC = re.compile(r"(?P<name>[A-Za-z0-9_.-]+):(?P<quality>[0-9]+)(?::(?P<metric>[a-z-]+))?")
_RANGE = re.compile(r"(?P<name>[A-Za-z0-9_.-]+):(?P<lo>[0-9]+)\.\.(?P<hi>[0-9]+)(?P<metric>:[a-z-]+)?")
_SPEC_HELP = "use 'default', NAME:QUALITY[:METRIC] (e.g. mbt2018-mean:3, mbt2018:4:ms-ssim) or a checkpoint file"
_CHECKPOINT_SUFFIXES = (".pth.tar", ".pt", ".pth", ".tar", ".ckpt")


def family_path(quality: int) -> Path:
    """The bundled file of ``sgaplus-msh:quality`` (the default model is quality 3)."""
    if quality == DEFAULT_QUALITY:
        return DEFAULT_MODEL
    return WEIGHTS_DIR / f"{SGAPLUS_FAMILY}-q{quality}.pt"


def known_names() -> list[str]:
    return ["default", SGAPLUS_FAMILY, *ARCHITECTURES]


def _file_label(path: Path) -> str:
    """``ckpt.pth.tar`` -> ``ckpt``: the name results and bitstreams use for a file."""
    name = path.name
    for suffix in _CHECKPOINT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _training_lambda(name: str, recorded: float | None, given: float | None,
                     require: bool) -> float:
    """The model's training λ: the recorded one, else the given one, else NaN (if allowed)."""
    if given is not None and not given > 0:
        raise ValueError(f"a training λ must be positive, not {given:g}")
    if recorded is not None and math.isnan(recorded):
        recorded = None
    if recorded is not None:
        if given is not None and not math.isclose(given, recorded, rel_tol=1e-6):
            raise ValueError(f"{name} was trained with λ={recorded:g}, not {given:g}; to refine at "
                             "another λ use --lambda, not --train-lambda")
        return float(recorded)
    if given is not None:
        return float(given)
    if require:
        raise ValueError(f"{name}: the checkpoint does not record its training λ; give it with "
                         "--train-lambda (in Python: lmbda=)")
    return math.nan


def build_model(ckpt: Checkpoint, name: str, lmbda: float | None = None, *,
                require_lambda: bool = True, recorded: float | None = None,
                metric: str | None = None) -> LatentModel:
    """A frozen, coding-ready model from a checkpoint's weights.

    Args:
        name: the fallback name (a file's label or the zoo name).
        lmbda: training λ given by the user, for weights that record none.
        require_lambda: False to allow an unknown λ (NaN), for decoding.
        recorded: the λ the source records outside the file (CompressAI's table).
        metric: the training metric the source records outside the file.
    """
    meta = dict(ckpt.meta)
    name = meta.get("name", name)
    arch, net = checkpoint.build(ckpt.state, name)
    lmbda = _training_lambda(name, meta.get("lmbda", recorded), lmbda, require_lambda)
    meta.update(arch=arch, metric=meta.get("metric") or metric or "mse")
    missing = checkpoint.tables_missing(net)
    model = LatentModel(net, name=name, lmbda=lmbda, meta=meta)
    if missing:
        print(f"sgaplus: note: {name}: its entropy coder was never update()d; built its tables now",
              file=sys.stderr)
    return model if model.tables_ready() else model.prepare()


def load_file(path: str | Path, lmbda: float | None = None, *,
              require_lambda: bool = True) -> LatentModel:
    """A checkpoint file (see :mod:`sgaplus.checkpoint`); ``lmbda`` as in :func:`load_model`."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"model file not found: {path}")
    ckpt = checkpoint.read(path)
    model = build_model(ckpt, _file_label(path), lmbda, require_lambda=require_lambda)
    model.meta["weights"] = {"file": str(path.resolve()), "sha256": ckpt.sha256}
    return model


def zoo_url(arch: str, quality: int, metric: str) -> str:
    """CompressAI's URL of a zoo entry (one line naming what exists if there is none)."""
    urls = model_urls[arch]
    if metric not in urls:
        raise ValueError(f"{arch} has no {metric} weights; metrics: {', '.join(urls)}")
    if quality not in urls[metric]:
        raise ValueError(f"{arch} has qualities 1-{len(urls[metric])}, not {quality}")
    return urls[metric][quality]


def _load_compressai(arch: str, quality: int, metric: str, lmbda: float | None) -> LatentModel:
    url = zoo_url(arch, quality, metric)
    name = f"{arch}:{quality}" + ("" if metric == "mse" else f":{metric}")
    path = fetch(url, name)
    ckpt = checkpoint.read(path)
    prefix = hash_prefix(path.name)
    if not ckpt.sha256.startswith(prefix):
        raise ValueError(f"{path} fails CompressAI's hash check (SHA-256 {ckpt.sha256[:8]}..., "
                         f"expected {prefix}...); delete it to download it again")
    model = build_model(ckpt, name, lmbda, recorded=CAI_LAMBDAS[metric][quality - 1], metric=metric)
    model.meta.update(quality=quality, weights={"file": str(path), "url": url, "sha256": ckpt.sha256})
    return model


def _load_family(quality: int, metric: str, lmbda: float | None) -> LatentModel:
    if metric != "mse":
        raise ValueError(f"{SGAPLUS_FAMILY} has no {metric} models; metrics: mse")
    if not 1 <= quality <= len(SGAPLUS_LAMBDAS):
        raise ValueError(f"{SGAPLUS_FAMILY} has qualities 1-{len(SGAPLUS_LAMBDAS)}, not {quality}")
    return load_file(family_path(quality), lmbda)


def load_model(spec: str | Path = "default", lmbda: float | None = None, *,
               require_lambda: bool = True) -> LatentModel:
    """Load a model by name or file (see the module docstring) on the CPU, frozen, ready to code.

    Args:
        spec: ``default``, ``NAME:QUALITY[:METRIC]`` or a checkpoint path.
        lmbda: training λ of weights that record none; one contradicting a
            recorded λ is refused (the refinement λ is the Refiner's ``lmbda``).
        require_lambda: False to load weights of unknown λ anyway (``model.lmbda``
            is then NaN): enough to decode, not to refine.

    Raises:
        ModelNotFound: the weights are not on this machine and cannot be downloaded.
        ValueError: an unknown name, quality or metric, an unreadable or unsupported
            file, or a missing / contradicting training λ.
    """
    spec = str(spec)
    if spec != "default" and (Path(spec).exists() or spec.endswith(_CHECKPOINT_SUFFIXES)
                              or "/" in spec):
        return load_file(spec, lmbda, require_lambda=require_lambda)
    return load_named(spec, lmbda)


def load_named(spec: str, lmbda: float | None = None) -> LatentModel:
    """A known model by name only, never a path: ``default``, ``NAME:QUALITY[:METRIC]``, or
    the name our family's files record (``sgaplus-msh-q2``, which ``.sgp`` headers carry).
    The decoder looks up the name a file records with this, since that file may come
    from anyone.

    Raises:
        ModelNotFound: the weights are not on this machine and cannot be downloaded.
        ValueError: an unknown name, quality or metric.
    """
    if spec == "default":
        if not DEFAULT_MODEL.is_file():
            raise ModelNotFound(f"the bundled model is missing: {DEFAULT_MODEL}")
        return load_file(DEFAULT_MODEL, lmbda)
    family = re.fullmatch(rf"{SGAPLUS_FAMILY}-q([0-9])", spec)
    if family:
        spec = f"{SGAPLUS_FAMILY}:{family[1]}"
    if ":" not in spec:
        if rate_family(spec):
            raise ValueError(f"{spec} needs a quality ({spec}:1, {spec}:2, ...), unless a rate-control "
                             "target (--target-bpp, --target-size, --target-psnr) chooses one")
        raise ValueError(f"unknown model {spec!r}; {_SPEC_HELP}")
    match = _SPEC.fullmatch(spec)
    if match is None:  # e.g. "sgaplus-msh:²": the pattern takes ASCII digits only
        raise ValueError(f"bad model name {spec!r}; {_SPEC_HELP}")
    name, quality, metric = match["name"], int(match["quality"]), match["metric"] or "mse"
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} in {spec!r}; metrics: {', '.join(METRICS)}")
    if name == SGAPLUS_FAMILY:
        return _load_family(quality, metric, lmbda)
    if name in ARCHITECTURES:
        return _load_compressai(name, quality, metric, lmbda)
    raise ValueError(f"unknown model {name!r}; known: {', '.join(known_names())}")


def rate_family(spec: str) -> list[tuple[str, float]] | None:
    """The models rate control chooses among for ``--model spec``, by rate, each with its
    training λ: ``default`` and ``sgaplus-msh`` -> sgaplus-msh:1..4; an architecture of
    CompressAI's zoo without a quality (``mbt2018-mean``) -> its qualities (mse weights,
    downloaded when first used). None for one model (``NAME:QUALITY``, a file)."""
    if spec in ("default", SGAPLUS_FAMILY):
        return [(f"{SGAPLUS_FAMILY}:{q}", lmbda) for q, lmbda in enumerate(SGAPLUS_LAMBDAS, 1)]
    if spec in ARCHITECTURES and not Path(spec).exists():
        return [(f"{spec}:{q}", CAI_LAMBDAS["mse"][q - 1]) for q in sorted(model_urls[spec]["mse"])]
    return None


def expand_specs(specs: list[str]) -> list[str]:
    """``mbt2018-mean:1..8`` -> ``mbt2018-mean:1`` ... ``mbt2018-mean:8`` (other specs unchanged)."""
    out: list[str] = []
    for spec in specs:
        match = _RANGE.fullmatch(spec)
        if match is None or Path(spec).exists():
            out.append(spec)
            continue
        lo, hi = int(match["lo"]), int(match["hi"])
        if lo > hi:
            raise ValueError(f"empty quality range in {spec!r}; write LOW..HIGH, e.g. mbt2018-mean:1..8")
        out += [f"{match['name']}:{q}{match['metric'] or ''}" for q in range(lo, hi + 1)]
    return out


def save_model(model: LatentModel, path: str | Path, dtype: torch.dtype = torch.float16) -> None:
    """Export weights (parameters in ``dtype``, buffers in fp32) with metadata.

    Buffers stay fp32: GDN's pedestal (2^-36) becomes 0 in fp16 and training from
    such a file diverges. The CDF tables are stored, so a decoder never rebuilds
    them. Note that the hash of the *loaded* model is what bitstreams record. The
    ``weights`` entry (which file the model was loaded from) is not carried over:
    the new file is its own source.
    """
    if not model.tables_ready():
        model.prepare()
    params = {n for n, _ in model.net.named_parameters()}
    state = {
        k: (v.to(dtype) if k in params and not k.endswith("quantiles") else v).cpu()
        for k, v in model.net.state_dict().items()
    }
    meta = {k: v for k, v in model.meta.items() if k != "weights"}
    meta.update(name=model.name, lmbda=None if math.isnan(model.lmbda) else model.lmbda,
                N=model.net.N, M=model.net.M)
    torch.save({"state_dict": state, "meta": meta}, path)
