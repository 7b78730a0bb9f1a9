"""sgaplus: refine the latents of a learned image codec per image (SGA+), and write real files.

Perugachi-Diaz, Gansekoele, Bhulai, "Robustly overfitting latents for flexible
neural image compression", NeurIPS 2024, arXiv 2401.17789.
"""

import warnings

# CompressAI 1.2.8 scripts a helper at import time; torch 2.14 warns about it.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

from .latent_model import HardLatents, LatentModel  # noqa: E402
from .refine import Refiner, RefineResult  # noqa: E402
from .relax import RELAXATIONS, get_relaxation  # noqa: E402
from .schedules import SCHEDULES, get_schedule  # noqa: E402
from .zoo import load_model  # noqa: E402

__version__ = "0.1.0"
__all__ = ["HardLatents", "LatentModel", "RELAXATIONS", "RefineResult", "Refiner", "SCHEDULES",
           "get_relaxation", "get_schedule", "load_model"]
