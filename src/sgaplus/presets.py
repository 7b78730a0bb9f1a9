"""``compress -q/--quality`` and ``--effort``: two fixed scales in place of model, λ and iterations.

Quality 1-9 walks the family sgaplus-msh in half steps: every model at its own training λ
(qualities 2, 4, 6, 8) and, between two models, the upper one refined at the geometric
mean of their λ (3, 5, 7; semi-multi-rate); 1 and 9 extend the ends by half a step. Quality 6 is the default model at its own λ, what ``compress``
does without ``-q``. Measured bpp/PSNR per quality: docs/bench/presets.md.

Effort 0-9 is the refinement budget: 0 codes the encoder's latents (``--no-refine``),
1-8 refine with the budgeted settings of :func:`sgaplus.schedules.budgeted` for the
iterations of :data:`EFFORT_ITERS`, 9 with the paper's own settings for 2000 iterations.
Gain vs time per level: docs/bench/presets.md.
"""

from __future__ import annotations

from typing import Any

from .refine_config import RefineConfig
from .schedules import budgeted

#: -q/--quality -> (quality of sgaplus-msh, refinement λ).
QUALITIES: dict[int, tuple[int, float]] = {
    1: (1, 0.0025), 2: (1, 0.0035), 3: (2, 0.0048), 4: (2, 0.0067), 5: (3, 0.0093),
    6: (3, 0.013), 7: (4, 0.018), 8: (4, 0.025), 9: (4, 0.035),
}

#: --effort -> refinement iterations (9: the paper's settings, 1-8: budgeted).
EFFORT_ITERS = (0, 25, 50, 100, 150, 250, 400, 600, 1000, 2000)

#: ``compress`` without --effort (nor --iters): 250 budgeted iterations, which kept 97.7 % of
#: the paper's 2000-iteration gain on eight Kodak crops (docs/bench/refine_budget.md) and
#: 96.2 % on four others (docs/bench/presets.md), at an eighth of the iterations.
DEFAULT_EFFORT = 5

#: The paper's settings (RefineConfig's defaults), what effort 9 runs.
PAPER_EFFORT = 9

#: Iterations of the expert settings (e.g. ``compress --lr``) without ``--iters``: the
#: paper's settings for 500.
EXPERT_ITERS = 500


def quality(q: int) -> tuple[str, float]:
    """The model spec and refinement λ of quality ``q``."""
    if q not in QUALITIES:
        raise ValueError(f"quality {q} is not on the scale; give 1 (smallest files) to "
                         f"{max(QUALITIES)} (best quality)")
    from .zoo import SGAPLUS_FAMILY  # torch and CompressAI: not for --help

    level, lmbda = QUALITIES[q]
    return f"{SGAPLUS_FAMILY}:{level}", lmbda


def effort(e: int) -> dict[str, Any]:
    """The :class:`~sgaplus.refine_config.RefineConfig` fields (iters, schedule, lr,
    lr_decay) of effort ``e``."""
    if not 0 <= e < len(EFFORT_ITERS):
        raise ValueError(f"effort {e} is not on the scale; give 0 (no refinement) to "
                         f"{len(EFFORT_ITERS) - 1} (the paper's 2000 iterations)")
    if e == PAPER_EFFORT:
        return {"iters": EFFORT_ITERS[e], "schedule": RefineConfig.schedule, "lr": RefineConfig.lr,
                "lr_decay": RefineConfig.lr_decay}
    return budgeted(EFFORT_ITERS[e])
