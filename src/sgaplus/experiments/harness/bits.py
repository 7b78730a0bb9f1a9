"""Actual bits: the size of the ``.sgp`` file ``sgaplus.codec.encode`` writes.

Estimated bits (−log2 of the likelihoods) are what refinement optimises; the
file adds the header and the rANS coder's overhead. When the codec module is
not installed (it was built alongside this package) the results say "estimated
only" rather than guess.
"""

from __future__ import annotations

from torch import Tensor

from ...latent_model import HardLatents, LatentModel


def codec_available() -> bool:
    try:
        from ...codec import encode  # noqa: F401
    except ImportError:
        return False
    return True


def actual_bpp(model: LatentModel, hard: HardLatents, x: Tensor) -> list[float] | None:
    """File bits per pixel for each image of a batch, or None without the codec."""
    if not codec_available():
        return None
    from ...codec import encode

    h, w = x.shape[-2:]
    out = []
    for i in range(x.size(0)):
        out.append(len(encode(model, hard.image(i), w, h)) * 8 / (h * w))
    return out
