"""sgaplus: refine the latents of a learned image codec per image (SGA+), and write real files.

Perugachi-Diaz, Gansekoele, Bhulai, "Robustly overfitting latents for flexible
neural image compression", NeurIPS 2024, arXiv 2401.17789.

``sgaplus.compress(image, ...)`` makes a ``.sgp`` file's bytes and figures,
``sgaplus.decompress(data_or_path)`` the image back (:mod:`sgaplus.files`);
``sgaplus.compress_folder`` / ``decompress_folder`` a folder of them (:mod:`sgaplus.folders`).

The public names are imported on first use (PEP 562): they pull in torch and
CompressAI, seconds of start-up that ``sgaplus --help``, ``info`` or an argument
error must not pay (docs/bench/startup.md).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

# CompressAI 1.2.8 scripts a helper at import time; torch 2.14 warns about it.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

__version__ = "0.1.0"

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "compress": "files", "decompress": "files", "CompressResult": "pipeline", "DecodeResult": "files",
    "compress_folder": "folders", "decompress_folder": "folders", "FolderRun": "folders",
    "Target": "ratecontrol",
    "HardLatents": "latent_model", "LatentModel": "latent_model",
    "Refiner": "refine", "RefineResult": "refine", "RefineConfig": "refine_config",
    "RELAXATIONS": "relax", "get_relaxation": "relax",
    "SCHEDULES": "schedules", "get_schedule": "schedules",
    "load_model": "zoo",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
