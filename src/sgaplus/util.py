"""Helpers the library, the CLI, the experiments and the benchmarks share, each defined once:
atomic writes, the hardware a figure was measured on, PSNR of 8-bit images, the image files
sgaplus reads, and the data folders.

Nothing heavy is imported at module level (``sgaplus --help`` reaches this module
through ``cli/common.py`` and must not load numpy or torch).
"""

from __future__ import annotations

import os
import platform
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .fileperm import make_ordinary

if TYPE_CHECKING:
    import numpy as np
    import torch

#: Files a folder run or a training set picks up (what :func:`sgaplus.images.load_image`
#: reads through Pillow); anything else in a folder is left alone.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif",
                            ".ppm", ".pgm", ".pnm"})


class ImageError(ValueError):
    """An input that is not a readable image (:func:`sgaplus.images.load_image`)."""


def check_image_path(path: Path) -> None:
    """Refuse a folder or a missing file as an image: :func:`sgaplus.images.load_image`'s
    first check, which a command also makes before the seconds of importing torch.

    Raises:
        ImageError: ``path`` is a folder or does not exist.
    """
    if path.is_dir():
        raise ImageError(f"{path} is a directory, not an image")
    if not path.exists():
        raise ImageError(f"{path}: no such file")


def image_files(folder: Path) -> list[Path]:
    """The images of ``folder`` by suffix, sorted (a stable order: the training crops'
    sampling depends on it), hidden files left out."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def one_line(exc: BaseException | str) -> str:
    """What went wrong, in one line of words: the message's first line, and an OS error as
    ``PATH: reason`` (``photo.sgp: no such file or directory``), not Python's
    ``[Errno 2] No such file or directory: 'photo.sgp'``."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror[:1].lower()}{exc.strerror[1:]}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def atomic_write(path: Path, write: Callable[[Path], None], *, exclusive: bool = False) -> None:
    """Write ``path`` through a temporary file in its folder, then move it into place:
    never a partial file (a crash or Ctrl-C leaves the old file, or none, and the
    temporary file is removed in every case). The file gets the mode ``open()`` would
    give it (:mod:`sgaplus.fileperm`), not ``mkstemp``'s 0600.

    ``exclusive``: an existing ``path`` raises ``FileExistsError``, checked first and again
    by the move, a hard link, which fails if anything has appeared at ``path`` meanwhile
    (a long run may have checked minutes before).

    Raises:
        OSError: the folder takes no new file (read-only, missing; the error names
            ``path``, not the temporary file), or ``write`` failed.
    """
    if exclusive and path.exists():
        raise FileExistsError(f"{path} exists")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        make_ordinary(tmp)
        write(Path(tmp))
        if exclusive:
            _link_exclusive(Path(tmp), path)
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _link_exclusive(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless ``path`` exists, atomically."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: claim the name, then fill it
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        os.replace(tmp, path)


def cpuinfo(key: str) -> str | None:
    """The first ``key`` line of ``/proc/cpuinfo`` (``model name``, ``flags``), or None
    where there is none (not Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name (``AMD EPYC ...``), else what :mod:`platform` knows."""
    return cpuinfo("model name") or platform.processor() or platform.machine() or "unknown"


def hardware(device: torch.device) -> str:
    """One line for a report or a checkpoint: the GPU, or the CPU and torch's threads."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {torch.get_num_threads()} torch thread(s)"


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two 8-bit images (arrays of one shape), computed in float64; the
    error is floored so an exact copy reports 120 dB, as :func:`sgaplus.ops.decibels`."""
    import numpy as np

    mse = max(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)), 1e-12 * 255.0**2)
    return float(10 * np.log10(255.0**2 / mse))


#: The project's shared folder (data sets, warm-start checkpoints), relative to the working
#: folder: the repository root, where the Makefile, the docs and the tests run commands, so
#: an installed package finds it the same way a checkout does.
SHARED = Path("../shared")


def data_root() -> Path:
    """``$SGAPLUS_DATA`` or ``../shared/data``: the project's images (Kodak, training sets)."""
    return Path(os.environ.get("SGAPLUS_DATA") or SHARED / "data")


def warm_start_dir() -> Path:
    """``$SGAPLUS_WARM_STARTS`` or ``../shared/models`` made absolute (experiment results
    record the path a model was loaded from): the warm-start checkpoints."""
    return Path(os.environ.get("SGAPLUS_WARM_STARTS") or os.path.abspath(SHARED / "models"))


def checkout_root() -> Path:
    """The repository this package runs from (its git commit goes into results)."""
    return Path(__file__).resolve().parents[2]
