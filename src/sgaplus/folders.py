"""Folders of images to ``.sgp`` files and back: :func:`compress_folder` and
:func:`decompress_folder` (exported as ``sgaplus.compress_folder`` / ``sgaplus.decompress_folder``),
what ``sgaplus compress DIR -o OUTDIR`` and ``sgaplus decompress DIR -o OUTDIR`` run.

A folder run goes on past an image that fails (each failure is collected as one line),
and skips outputs an earlier run finished (files are written atomically, so one that is
there and valid is whole): re-running continues a stopped run. The command line passes
its own output checks, writer and progress bar as callbacks, so its messages stay its own.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .limits import MAX_PIXELS

if TYPE_CHECKING:
    from .images import LoadedImage
    from .latent_model import LatentModel
    from .pipeline import CompressResult
    from .ratecontrol import Target
    from .refine_config import RefineConfig

#: What fails one image of a folder and not the run (a callback raises one of these too).
FAILURES = (ValueError, OSError, RuntimeError)

#: ``check(out)``: refuse an output before any work on it (raise one of :data:`FAILURES`).
Check = Callable[[Path], None]
#: ``write(out, writer)``: put a file at ``out`` whole, ``writer`` filling a temporary path.
Write = Callable[[Path, Callable[[Path], None]], None]


@dataclass
class FolderRun:
    """What a folder run did: a row per file written (what ``--json`` prints, sorted by
    input), ``(input, one line)`` per failure and the inputs skipped as finished."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def fail(self, paths: list[Path], exc: BaseException | str) -> None:
        """Note ``paths`` as failed with the error in one line (:func:`sgaplus.util.one_line`)."""
        from .util import one_line

        self.failed.extend((p, one_line(exc)) for p in paths)

    def json(self) -> dict[str, Any]:
        """The run as ``--json`` prints it."""
        return {"images": self.rows, "failed": [{"file": str(p), "error": e} for p, e in self.failed],
                "skipped": [str(p) for p in self.skipped]}


def load(path: Path, max_pixels: int = MAX_PIXELS,
         warn: Callable[[str], None] | None = None) -> LoadedImage:
    """Load an image; with ``warn`` its warnings (16-bit reduced to 8) go there, one line
    each, instead of to Python's warnings."""
    from .images import load_image

    if warn is None:
        return load_image(path, max_pixels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = load_image(path, max_pixels)
    for w in caught:
        warn(str(w.message))
    return image


def _default_write(force: bool) -> Write:
    from .util import atomic_write

    return lambda out, writer: atomic_write(out, writer, exclusive=not force)


def _outputs(files: list[Path], outdir: Path) -> dict[Path, Path | str]:
    """Output path per input, or why there is none (two inputs with one stem)."""
    out: dict[Path, Path | str] = {}
    seen: dict[Path, Path] = {}
    for f in files:
        target = outdir / f"{f.stem}.sgp"
        out[f] = f"same output name as {seen[target].name}" if target in seen else target
        seen.setdefault(target, f)
    return out


def compress_folder(src: str | Path, dst: str | Path, *, model: str | LatentModel = "default",
                    target: Target | None = None, effort: int | None = None,
                    config: RefineConfig | None = None, train_lmbda: float | None = None,
                    max_pixels: int = MAX_PIXELS, force: bool = False, ray: str | None = None,
                    check: Check | None = None, write: Write | None = None,
                    warn: Callable[[str], None] | None = None,
                    progress: Callable[[int], None] | None = None, **fields: Any) -> FolderRun:
    """Every image of ``src`` (:func:`sgaplus.util.image_files`) to ``dst/STEM.sgp``, as
    :func:`sgaplus.files.compress` makes each (``model``, ``target``, ``effort``, ``config``
    and RefineConfig ``fields`` as there); consecutive same-size images are refined together
    where that pays (:func:`sgaplus.pipeline.batch_size`). Finished outputs (a ``.sgp`` of
    this model) are skipped unless ``force``. ``ray``: the images as Ray tasks, on a local
    runtime (``""``) or the cluster at that address (:mod:`sgaplus.distributed`): the same
    files. ``progress(n)`` hears each n images done, failed or skipped.

    Raises:
        ValueError: no images in ``src``, a bad setting or model (before any image).
    """
    from .files import build_refiner, compress_config, load_models
    from .pipeline import batch_size, code_batch, finished
    from .util import IMAGE_SUFFIXES, image_files

    src, dst = Path(src), Path(dst)
    files = image_files(src)
    if not files:
        raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {src}")
    config = compress_config(effort, **fields) if config is None else replace(config, **fields)
    dst.mkdir(parents=True, exist_ok=True)
    write = write or _default_write(force)
    tick = progress or (lambda n: None)
    loaded, plan = load_models(model, target, lmbda=config.lmbda, distortion=config.distortion,
                               train_lmbda=train_lmbda)
    run = FolderRun()

    def fail(paths: list[Path], exc: BaseException | str) -> None:
        run.fail(paths, exc)
        tick(len(paths))

    def finish(batch: list[tuple[tuple[Path, Path], LoadedImage]],
               result: list[CompressResult] | str) -> None:
        """Write a batch's files (pipeline.code_batch's result), or note why it failed."""
        paths = [path for (path, _), _ in batch]
        if isinstance(result, str):
            return fail(paths, result)
        try:
            for ((path, out), _), c in zip(batch, result):
                write(out, lambda tmp: tmp.write_bytes(c.data))
                run.rows.append({"file": str(path), "output": str(out), **c.row()})
        except FAILURES as exc:
            return fail(paths, exc)
        tick(len(batch))

    def batches(refiner) -> Iterator[list[tuple[tuple[Path, Path], LoadedImage]]]:
        """The images to code, loaded in order; consecutive same-size ones grouped (batch_size)."""
        pending: list[tuple[tuple[Path, Path], LoadedImage]] = []
        for path, out in _outputs(files, dst).items():
            try:
                if isinstance(out, str):
                    raise ValueError(out)
                if not force and finished(out, loaded):
                    run.skipped.append(path)
                    tick(1)
                    continue
                if check is not None:
                    check(out)
                image = load(path, max_pixels, warn)
            except FAILURES as exc:
                fail([path], exc)
                continue
            if pending and (image.size != pending[0][1].size
                            or len(pending) >= batch_size(refiner, plan, pending[0][1])):
                yield pending
                pending = []
            pending.append(((path, out), image))
        if pending:
            yield pending

    if ray is None:
        refiner = build_refiner(loaded, config)
        for batch in batches(refiner):
            finish(batch, code_batch(refiner, [image for _, image in batch], plan))
    else:
        from . import distributed

        with distributed.runtime(ray or None):
            device = "cuda" if distributed.use_gpus(config.device) else "cpu"
            refiner = build_refiner(loaded, replace(config, device=device))
            distributed.code_batches(batches(refiner), refiner, plan, finish)
    run.rows.sort(key=lambda r: r["file"])
    run.failed.sort()  # a load failure is noted before the batch of earlier files is done
    return run


def finished_image(path: Path) -> bool:
    """Whether ``path`` is an image an earlier run finished: Pillow reads it whole (files
    are written atomically, so one that is there and reads was finished)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
    except Exception:  # anything unreadable (or missing) is not a finished output
        return False
    return True


def decompress_folder(src: str | Path, dst: str | Path, *, model: str | None = None,
                      max_pixels: int = MAX_PIXELS, force: bool = False, check: Check | None = None,
                      write: Write | None = None,
                      progress: Callable[[dict[str, Any]], None] | None = None) -> FolderRun:
    """Every ``*.sgp`` of ``src`` to ``dst/STEM.png`` (:func:`sgaplus.files.decompress`,
    each model loaded once); images an earlier run finished are skipped unless ``force``.
    ``progress(row)`` hears each image written.

    Raises:
        ValueError: no ``.sgp`` files in ``src``.
    """
    from .files import decompress

    src, dst = Path(src), Path(dst)
    files = sorted(p for p in src.iterdir()
                   if p.is_file() and p.suffix.lower() == ".sgp" and not p.name.startswith("."))
    if not files:
        raise ValueError(f"no .sgp files in {src}")
    dst.mkdir(parents=True, exist_ok=True)
    write = write or _default_write(force)
    run, models = FolderRun(), {}
    for path in files:
        out = dst / f"{path.stem}.png"
        if not force and finished_image(out):
            run.skipped.append(path)
            continue
        try:
            if check is not None:
                check(out)
            start = time.perf_counter()
            im = decompress(path, model=model, max_pixels=max_pixels, models=models, name=str(path)).image
            write(out, lambda tmp: im.save(tmp, format="PNG"))
        except FAILURES as exc:
            run.fail([path], exc)
            continue
        run.rows.append({"file": str(path), "width": im.width, "height": im.height, "mode": im.mode,
                         "seconds": time.perf_counter() - start, "output": str(out)})
        if progress is not None:
            progress(run.rows[-1])
    return run
