"""Actual bits: the size of the ``.sgp`` file ``sgaplus.codec.encode`` writes.

Estimated bits (−log2 of the likelihoods) are what refinement optimises; the
file adds the header and the rANS coder's overhead. When the codec module is
not installed (it was built alongside this package) the results say "estimated
only" rather than guess.
"""

from __future__ import annotations

from torch import Tensor

from ..latent_model import HardLatents, LatentModel


def codec_available() -> bool:
    try:
        from ..codec import encode  # noqa: F401
    except ImportError:
        return False
    return True


def actual_bpp(model: LatentModel, hard: HardLatents, x: Tensor) -> list[float] | None:
    """File bits per pixel for each image of a batch, or None without the codec."""
    if not codec_available():
        return None
    from ..pipeline import actual_bpp as file_bpp

    h, w = x.shape[-2:]
    return file_bpp(model, hard, w, h)
