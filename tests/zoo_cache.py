"""Zoo entries for tests: small random-init networks in a temporary torch-hub cache.

Each file is named the way CompressAI names its weights, with the first eight hex
digits of its own SHA-256, and the zoo's URL table is patched to that name, so
``load_model("ARCH:Q")`` finds it without any download.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from compressai.zoo.image import model_urls


def put_in_cache(monkeypatch, tmp_path: Path, arch: str, metric: str, quality: int, net) -> str:
    """Save ``net`` into a TORCH_HOME under tmp_path as zoo entry (arch, metric, quality);
    returns the file name."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    net.update(force=True)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp"
    torch.save(net.state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    name = f"{arch}-{metric}-{quality}-{digest[:8]}.pth.tar"
    tmp.rename(folder / name)
    monkeypatch.setitem(model_urls[arch][metric], quality, f"https://example.invalid/{name}")
    return name
