"""Actual bits: the size of the ``.sgp`` file ``sgaplus.codec.encode`` writes.

Estimated bits (−log2 of the likelihoods) are what refinement optimises; the
file adds the header and the rANS coder's overhead.
"""

from __future__ import annotations

from torch import Tensor

from ...codec import encode
from ...latent_model import HardLatents, LatentModel


def actual_bpp(model: LatentModel, hard: HardLatents, x: Tensor) -> list[float]:
    """File bits per pixel for each image of a batch."""
    h, w = x.shape[-2:]
    out = []
    for i in range(x.size(0)):
        out.append(len(encode(model, hard.image(i), w, h)) * 8 / (h * w))
    return out
