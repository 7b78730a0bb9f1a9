"""Evaluation images: Kodak files (or crops of them) as tensors, grouped by size.

The Refiner refines a batch of same-size images in one call, and the result is
per image, so images are grouped by shape to batch as much as possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ...images import load_image
from .protocol import Crop

@dataclass
class EvalImage:
    id: str
    x: torch.Tensor  # (1, 3, H, W) in [0, 1]


def load_images(crops: tuple[Crop, ...], folder: Path) -> list[EvalImage]:
    """Load every crop; a missing file raises with the folder to fix."""
    out = []
    for crop in crops:
        path = folder / f"{crop.name}.png"
        if not path.is_file():
            raise FileNotFoundError(f"evaluation image {path} not found (set --data or SGAPLUS_DATA)")
        x = load_image(path).x
        if crop.size:
            x = x[..., crop.top:crop.top + crop.size, crop.left:crop.left + crop.size]
            if x.shape[-2:] != (crop.size, crop.size):
                raise ValueError(f"crop {crop.id} falls outside {path.name}")
        out.append(EvalImage(crop.id, x.contiguous()))
    return out


def by_shape(images: list[EvalImage], max_batch: int) -> list[list[EvalImage]]:
    """Groups of at most ``max_batch`` same-size images (one Refiner batch each)."""
    groups: dict[tuple[int, ...], list[EvalImage]] = {}
    for im in images:
        groups.setdefault(tuple(im.x.shape), []).append(im)
    return [g[i:i + max_batch] for g in groups.values() for i in range(0, len(g), max_batch)]
