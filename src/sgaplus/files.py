"""Images to ``.sgp`` files and back, for programs: :func:`compress` and :func:`decompress`
(exported as ``sgaplus.compress`` / ``sgaplus.decompress``), what ``sgaplus compress`` and
``sgaplus decompress`` run after parsing their arguments.

    compress:   image ─▶ model (given, ``quality``'s, or rate control's) ─▶ Refiner
                (:mod:`sgaplus.pipeline`) ─▶ .sgp bytes + figures (:class:`CompressResult`)
    decompress: bytes ─▶ header checks ─▶ the model the file names ─▶ codec.decode ─▶ image

How much to refine is ``effort`` (:mod:`sgaplus.presets`; default 5: 250 iterations of the
budgeted settings); any of :data:`EXPERT_FIELDS` replaces the preset by
:class:`~sgaplus.refine_config.RefineConfig`'s defaults (the paper's unless changed; ``iters``
alone: the paper's for that many), and a ``config`` (e.g. a result's, which re-runs it)
replaces both. What to spend is ``quality`` (a model and λ of the family) or a rate-control
``target`` (:mod:`sgaplus.ratecontrol`, which chooses both).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .limits import MAX_PIXELS
from .refine_config import RefineConfig

if TYPE_CHECKING:  # torch and CompressAI: not for checking settings (compress_config)
    from PIL import Image

    from .bitstream import Header
    from .images import LoadedImage
    from .latent_model import LatentModel
    from .pipeline import CompressResult, RatePlan
    from .ratecontrol import Target
    from .refine import ProgressFn, Refiner

#: Bytes per pixel no file within the pixel limit can exceed: y takes at most 8 bytes per
#: element (``entropy.max_stream_bytes``) and 1.25 elements per pixel (M = 320, the
#: largest CompressAI hyperprior), alpha zlib's ~1 byte per pixel, z far less.
FILE_BYTES_PER_PIXEL = 16


def max_file_bytes(max_pixels: int) -> int:
    """The largest ``.sgp`` file an image of at most ``max_pixels`` pixels can make."""
    return FILE_BYTES_PER_PIXEL * max_pixels + (1 << 16)


#: The RefineConfig fields that replace compress's effort preset (its expert settings).
EXPERT_FIELDS = ("iters", "lr", "lr_decay", "schedule", "schedule_params")


class EffortConflict(ValueError):
    """An effort preset given with :data:`EXPERT_FIELDS` it would set; ``field`` is the
    first of them, which the command line names by its flag."""

    def __init__(self, field: str) -> None:
        super().__init__(f"effort sets the iterations, lr and schedule; give it or {field}, not both")
        self.field = field


def compress_config(effort: int | None = None, **fields: Any) -> RefineConfig:
    """The refinement :func:`compress` runs: RefineConfig ``fields`` (None or empty: not
    given) over ``effort``'s preset (default :data:`~sgaplus.presets.DEFAULT_EFFORT`) or,
    where any of :data:`EXPERT_FIELDS` is given, over RefineConfig's own defaults with
    :data:`~sgaplus.presets.EXPERT_ITERS` iterations. No loss history unless ``log_every``
    is given: a file needs only the final latents, and the history's true loss is a forward
    pass every 10 iterations (``iters="auto"`` still checks its plateau).

    Raises:
        EffortConflict: effort and an expert field together.
        ValueError: an invalid field.
    """
    from .presets import DEFAULT_EFFORT, EXPERT_ITERS, effort as preset

    given = {name: value for name, value in fields.items() if value not in (None, {}, ())}
    expert = [name for name in EXPERT_FIELDS if name in given]
    if expert and effort is not None:
        raise EffortConflict(expert[0])
    base = {"iters": EXPERT_ITERS} if expert else preset(DEFAULT_EFFORT if effort is None else effort)
    return RefineConfig(**{"log_every": 0, **base, **given})


def build_refiner(model: LatentModel, config: RefineConfig) -> Refiner:
    """``Refiner(model, config)``; on a CPU the process keeps freed memory
    (:mod:`sgaplus.allocator`), where the loop reuses its large buffers."""
    from .allocator import keep_freed_memory
    from .refine import Refiner

    refiner = Refiner(model, config)
    if refiner.device.type == "cpu":
        keep_freed_memory()
    return refiner


def load_models(model: str | LatentModel, target: Target | None = None, *, lmbda: float | None = None,
                distortion: str | None = None,
                train_lmbda: float | None = None) -> tuple[LatentModel, RatePlan | None]:
    """The model a Refiner is built for, and with a ``target`` the models rate control may
    choose, each from its own λ: ``model``'s family (starting in its middle, the model
    loaded), or that one model; with ``distortion`` (perhaps another metric than the
    model's, whose λ is in other units) the one model from ``lmbda``."""
    from .pipeline import RatePlan
    from .ratecontrol import Candidate
    from .zoo import DEFAULT_QUALITY, SGAPLUS_FAMILY, load_model, rate_family

    members = rate_family(model) if isinstance(model, str) and target is not None and distortion is None \
        else None
    if members:
        start = (len(members) - 1) // 2
        return load_model(members[start][0]), RatePlan(target, tuple(Candidate(spec, lam)
                                                                      for spec, lam in members), start)
    loaded = load_model(model, train_lmbda, require_lambda=lmbda is None) if isinstance(model, str) \
        else model
    if target is None:
        return loaded, None
    spec = loaded.name if not isinstance(model, str) else \
        f"{SGAPLUS_FAMILY}:{DEFAULT_QUALITY}" if model == "default" else model  # what --model takes
    return loaded, RatePlan(target, (Candidate(spec, lmbda if distortion else loaded.lmbda),), 0)


def compress(image: LoadedImage | Image.Image | str | Path, *, model: str | LatentModel = "default",
             quality: int | None = None, target: Target | None = None, effort: int | None = None,
             config: RefineConfig | None = None, train_lmbda: float | None = None,
             max_pixels: int = MAX_PIXELS, progress: ProgressFn | None = None,
             log: Callable[[str], None] | None = None, **fields: Any) -> CompressResult:
    """One image (a path, a PIL image or a loaded one) to a ``.sgp`` file's bytes and its
    figures, exactly as ``sgaplus compress`` makes them: ``result.save("photo.sgp")``.

    ``model``: a zoo name, a checkpoint path or a loaded model. ``quality`` (1-9) picks a
    model of the family and a λ in their place; ``target`` (:class:`~sgaplus.ratecontrol.Target`)
    lets rate control choose both. How to refine: ``effort`` and ``fields`` (RefineConfig's,
    e.g. ``iters=500, lr=0.01, seed=2``; :func:`compress_config`), or a ``config`` (e.g.
    ``result.config``, which re-runs a result) with ``fields`` replaced. ``progress`` hears
    every iteration, ``log`` one line per file rate control makes.

    Raises:
        ValueError: a bad setting or image (before any refinement).
        ratecontrol.TargetNotReached: no model and λ within reach meet ``target``.
    """
    from .images import LoadedImage, from_pil, load_image
    from .pipeline import code_image
    from .presets import quality as quality_scale

    if quality is not None:
        if model != "default" or fields.get("lmbda") is not None or (config and config.lmbda is not None):
            raise ValueError("quality picks a model of the family and its λ; give no model or lmbda")
        model, fields["lmbda"] = quality_scale(quality)
    if config is None:
        config = compress_config(effort, **fields)
    elif effort is not None:
        raise ValueError("a config sets the refinement; give it or effort, not both")
    else:
        config = replace(config, **fields)
    if not isinstance(image, LoadedImage):
        image = load_image(image, max_pixels) if isinstance(image, (str, Path)) else from_pil(image)
    loaded, plan = load_models(model, target, lmbda=config.lmbda, distortion=config.distortion,
                               train_lmbda=train_lmbda)
    refiner = build_refiner(loaded, config)
    start = time.perf_counter()
    result = code_image(image, refiner, plan, progress=progress, log=log)
    result.seconds = time.perf_counter() - start
    return result


@dataclass
class DecodeResult:
    """A decoded file: the image at its original size and mode (gray, alpha) and the
    header it was read from (model, method, λ, iterations: ``sgaplus info``)."""

    image: Image.Image
    header: Header

    def save(self, path: str | Path, overwrite: bool = False, **options: Any) -> None:
        """Write the image atomically, in the format of ``path``'s suffix (Pillow's
        ``options``, e.g. ``quality=90`` for a JPEG); an existing file raises
        ``FileExistsError`` unless ``overwrite``."""
        from .util import atomic_write

        path = Path(path)
        fmt = options.pop("format", None) or pillow_format(path)
        atomic_write(path, lambda tmp: self.image.save(tmp, format=fmt, **options), exclusive=not overwrite)


def pillow_format(path: Path) -> str:
    """Pillow's format name for ``path``'s suffix."""
    from PIL import Image

    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown image format {path.suffix!r} for {path}; use .png")
    return fmt


def read_limited(source: bytes | str | Path, max_pixels: int = MAX_PIXELS, name: str | None = None) -> bytes:
    """A file's bytes, refusing (before reading them all) one larger than any file of at
    most ``max_pixels`` pixels can be."""
    bound = max_file_bytes(max_pixels)
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        with open(source, "rb") as f:
            data = f.read(bound + 1)
    if len(data) > bound:
        label = name or ("the file" if isinstance(source, (bytes, bytearray)) else str(source))
        raise ValueError(f"{label} is larger than a file of at most {max_pixels:,} pixels can be "
                         f"(--max-pixels raises the limit)")
    return data


def decoder_model(name: str, model: str | LatentModel | None = None) -> LatentModel:
    """``model``, else the known model the file names (``zoo.load_named``; never a path:
    the file may come from anyone), else the bundled one (whose fingerprint then decides).

    A known model missing from this machine raises ``ModelNotFound``, whose message
    says where to put its weights.
    """
    from .zoo import ModelNotFound, load_model, load_named

    if model is not None:
        return model if not isinstance(model, str) else load_model(model, require_lambda=False)
    try:
        return load_named(name)
    except ModelNotFound:
        raise
    except ValueError:  # not a name we know
        return load_named("default")


def decompress(source: bytes | str | Path, *, model: str | LatentModel | None = None,
               max_pixels: int = MAX_PIXELS, models: dict[str, LatentModel] | None = None,
               name: str | None = None) -> DecodeResult:
    """A ``.sgp`` file (its bytes or its path) back to the image ``sgaplus decompress``
    writes: on the CPU with portable convolutions, so every process on this machine gets
    the same pixels. A file of more than ``max_pixels`` pixels is refused before a model
    is loaded, one made with other weights by its fingerprint. ``models`` caches models by
    the name in the file (a folder loads each once); ``name`` names the file in errors.

    Raises:
        ValueError: a damaged, foreign or oversized file (``FormatError``), or a model
            that is not the one the file was made with.
    """
    from . import bitstream, codec
    from .images import to_pil

    data = read_limited(source, max_pixels, name)
    header = bitstream.unpack(data).header  # reject a bad file before loading a model
    codec.check_size(header, max_pixels)
    models = {} if models is None else models
    if header.model_name not in models:
        models[header.model_name] = decoder_model(header.model_name, model)
    decoded = codec.decode(models[header.model_name], data, max_pixels)
    return DecodeResult(to_pil(decoded.x_hat, header.mode, decoded.alpha), header)
