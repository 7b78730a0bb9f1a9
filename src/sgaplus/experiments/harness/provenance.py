"""What every result records about where and how it was produced."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ...util import checkout_root, cpu_model

if TYPE_CHECKING:
    from ...latent_model import LatentModel

_PACKAGES = ("sgaplus", "torch", "compressai", "numpy", "scipy", "pillow", "bjontegaard", "matplotlib")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware(device: str | None) -> dict[str, Any]:
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    info: dict[str, Any] = {"device": dev, "cpu": cpu_model(), "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads()}
    if dev.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def git_commit() -> str:
    """The checkout's commit, with ``+dirty`` when files differ from it."""
    root = checkout_root()
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if head and dirty else (head or "unknown")


def weights(model: LatentModel) -> dict[str, Any]:
    """Which weights ran: name, architecture, training metric, the fingerprint of the
    loaded tensors (what bitstreams record) and the file they came from (its path, the URL
    of a zoo download, the SHA-256 of its bytes)."""
    return {"name": model.name, "arch": model.meta.get("arch"), "metric": model.meta.get("metric"),
            "fingerprint": model.fingerprint(), **model.meta.get("weights", {})}


def source(model: LatentModel) -> str:
    """Where the weights came from, in one string: the zoo URL, else the file's path, written
    from the package (``sgaplus/weights/…``) for bundled weights so that a report reads the
    same on every checkout."""
    w = model.meta.get("weights", {})
    if w.get("url") or not w.get("file"):
        return w.get("url") or "unknown"
    path = Path(w["file"]).resolve()
    package = Path(__file__).resolve().parents[2]
    return str(Path(package.name, path.relative_to(package))) if path.is_relative_to(package) else w["file"]


def header(protocol: dict[str, Any], device: str | None) -> dict[str, Any]:
    return {"protocol": protocol, "versions": versions(), "hardware": hardware(device),
            "commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
