"""Which models an experiment runs on, and how each is named in results.

The λ family is ``sgaplus-msh:1..4`` when those are built; where one is missing
we fall back to the warm-start checkpoint of the same λ in ``../shared/models``
and label it as a warm start with its step count, so no table passes an
undertrained model off as ours. ``--models`` replaces the family with any models
``sgaplus.zoo.load_model`` names (``mbt2018-mean:1..8`` for CompressAI's official
weights). A model's directory key carries a prefix of its weight fingerprint: when
a file is replaced (e.g. a newly exported default model), its old results are
never reused; results record which weights ran (:func:`provenance.weights`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...latent_model import LatentModel
from ...util import warm_start_dir
from ...zoo import SGAPLUS_FAMILY, SGAPLUS_LAMBDAS, ModelNotFound, expand_specs, load_model
from .provenance import source, weights


def warm_start_path(lmbda: float) -> Path:
    return warm_start_dir() / f"msh_N128_M192_lmbda{lmbda:g}.pt"


@dataclass
class ModelRef:
    """A loaded model with the names results use.

    Attributes:
        spec: what :func:`load_model` was given.
        key: directory name of its results (slug + fingerprint prefix).
        label: human-readable, says "warm start" and the training steps.
        steps: training steps from the checkpoint's metadata (None if unknown).
    """

    spec: str
    model: LatentModel
    key: str
    label: str
    steps: int | None
    warm_start: bool

    @property
    def lmbda(self) -> float:
        return self.model.lmbda

    @property
    def source(self) -> str:
        return source(self.model)

    def describe(self) -> dict[str, object]:
        return {"spec": self.spec, "key": self.key, "label": self.label, "lmbda": self.lmbda,
                "steps": self.steps, "warm_start": self.warm_start,
                "fingerprint": self.model.fingerprint(), "weights": weights(self.model)}


def _is_warm_start(spec: str, model: LatentModel) -> bool:
    """A warm-start file, a model that says it is one, or one trained 0 steps beyond one."""
    meta = model.meta
    text = f"{model.name} {meta.get('note', '')}".lower().replace("-", " ").replace("_", " ")
    in_dir = Path(spec).is_file() and Path(spec).resolve().parent == warm_start_dir().resolve()
    untouched = "init_steps" in meta and not meta.get("steps")
    return in_dir or untouched or "warmstart" in text.replace(" ", "") or "warm start" in text


def _steps(meta: dict) -> tuple[int | None, str]:
    """Total training steps and how to say them (warm-start steps + our steps when known)."""
    if meta.get("steps") is None:
        return None, "steps unknown"
    steps = int(meta["steps"])
    if "init_steps" in meta:
        init = int(meta["init_steps"])
        return init + steps, f"{init + steps:,} steps: {init:,} warm start + {steps:,} ours"
    return steps, f"{steps:,} steps"


def ref(spec: str | Path, lmbda: float | None = None) -> ModelRef:
    """Load ``spec`` and name it."""
    spec = str(spec)
    model = load_model(spec, lmbda)
    steps, step_text = _steps(model.meta)
    warm = _is_warm_start(spec, model)
    base = "default" if spec == "default" else model.name
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", base).strip("-")
    kind = "warm start" if warm else ("default model" if spec == "default" else model.name)
    if "url" in model.meta.get("weights", {}):
        kind = f"CompressAI {kind}"
    return ModelRef(spec=spec, model=model, key=f"{slug}-{model.fingerprint()[:8]}",
                    label=f"{kind} λ={model.lmbda:g} ({step_text})", steps=steps, warm_start=warm)


def family_spec(lmbda: float) -> str:
    """``sgaplus-msh:Q`` for a λ of our (bundled) family, else the warm-start file of that λ."""
    if lmbda in SGAPLUS_LAMBDAS:
        return f"{SGAPLUS_FAMILY}:{SGAPLUS_LAMBDAS.index(lmbda) + 1}"
    return str(warm_start_path(lmbda))


def resolve_family(specs: list[str] | None, lambdas: tuple[float, ...],
                   train_lambdas: list[float] | None = None) -> list[ModelRef]:
    """The λ family, sorted by λ: ``specs`` (ranges expanded) if given, else one model per
    λ (with fallback). ``train_lambdas``: the training λ of each spec, in order, for
    files that record none (one that does must agree)."""
    if not specs:
        return sorted((ref(family_spec(l)) for l in lambdas), key=lambda r: r.lmbda)
    specs = expand_specs(specs)
    given = train_lambdas or [None] * len(specs)
    if len(given) != len(specs):
        raise ValueError(f"--train-lambda gives {len(given)} λ for {len(specs)} models; give one per "
                         "model, in --models order (a range counts each quality)")
    return sorted((ref(s, l) for s, l in zip(specs, given)), key=lambda r: r.lmbda)


def nearest(refs: list[ModelRef], lmbda: float) -> ModelRef:
    return min(refs, key=lambda r: abs(r.lmbda - lmbda))


def training_stages(family: list[ModelRef], main: ModelRef) -> list[ModelRef]:
    """One λ's models at different training stages, fewest steps first.

    The λ is the bundled default model's when it loads (it is the model we train
    further), else the main model's; the stages are the warm start of that λ, the
    family member of that λ and the default. Duplicates by fingerprint are dropped,
    so a default that is still the warm start counts once.
    """
    try:
        default: ModelRef | None = ref("default")
    except (ModelNotFound, ValueError):
        default = None
    lmbda = default.lmbda if default is not None else main.lmbda
    candidates = [m for m in (*family, default) if m is not None and m.lmbda == lmbda]
    try:
        candidates.append(ref(warm_start_path(lmbda)))
    except (ModelNotFound, ValueError):
        pass
    seen: dict[str, ModelRef] = {}
    for r in candidates:
        seen.setdefault(r.model.fingerprint(), r)
    return sorted(seen.values(), key=lambda r: (r.steps is None, r.steps or 0))
