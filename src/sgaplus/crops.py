"""Training images and random crops, reproducible from one ``torch.Generator``.

Crops are drawn from images held in memory as uint8 (BSDS500 + photos_train are
about 350 MB), so a step never waits for a decoder and the whole sampling state
is the generator's state: saving it in a checkpoint makes resume bit-exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .util import data_root, image_files


def default_train_dirs() -> list[Path]:
    root = data_root()
    return [root / "bsds500" / "train", root / "bsds500" / "val", root / "bsds500" / "test",
            root / "photos_train"]


def kodak_dir() -> Path:
    """The evaluation set: validation in training, eval-codecs, experiments, benchmarks."""
    return data_root() / "kodak24"


def list_images(dirs: list[Path]) -> list[Path]:
    """Image files of ``dirs`` (sorted, so the order and thus the sampling is stable)."""
    files: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise ValueError(f"training data folder not found: {d}")
        files += image_files(d)
    return files


def read_rgb(path: Path) -> torch.Tensor:
    """(3, H, W) uint8."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


class CropSampler:
    """Random ``crop`` x ``crop`` patches with random horizontal/vertical flips.

    Args:
        dirs: folders of training images. A folder of Kodak images is refused:
            Kodak is the evaluation set and must never be trained on.
        crop: side of the square patches; smaller images are skipped.
    """

    def __init__(self, dirs: list[Path], crop: int) -> None:
        files = list_images(dirs)
        if any(p.name.startswith("kodim") for p in files):
            raise ValueError("refusing to train on Kodak (kodim*.png): it is the evaluation set")
        self.crop = crop
        self.images = [im for im in map(read_rgb, files) if min(im.shape[1:]) >= crop]
        if not self.images:
            raise ValueError(f"no training image of at least {crop}x{crop} px in {', '.join(map(str, dirs))}")
        self.skipped = len(files) - len(self.images)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """(batch, 3, crop, crop) float in [0, 1]."""
        c, out = self.crop, []
        for _ in range(batch):
            im = self.images[int(torch.randint(len(self.images), (1,), generator=gen))]
            top = int(torch.randint(im.shape[1] - c + 1, (1,), generator=gen))
            left = int(torch.randint(im.shape[2] - c + 1, (1,), generator=gen))
            patch = im[:, top:top + c, left:left + c]
            flips = torch.rand(2, generator=gen)
            if flips[0] < 0.5:
                patch = patch.flip(2)
            if flips[1] < 0.5:
                patch = patch.flip(1)
            out.append(patch)
        return torch.stack(out).float() / 255


def val_crops(dir: Path, crop: int, count: int) -> torch.Tensor:
    """Fixed centre crops of the first ``count`` images of ``dir`` (held-out validation)."""
    crops = []
    for path in list_images([dir])[:count]:
        im = read_rgb(path)
        h, w = im.shape[1:]
        s = min(crop, h, w)
        top, left = (h - s) // 2, (w - s) // 2
        crops.append(im[:, top:top + s, left:left + s])
    if not crops:
        raise ValueError(f"no validation images in {dir}")
    if len({c.shape for c in crops}) > 1:
        raise ValueError(f"validation images in {dir} are smaller than --val-crop {crop}")
    return torch.stack(crops).float() / 255
