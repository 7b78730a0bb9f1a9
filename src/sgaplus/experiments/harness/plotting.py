"""Figure and table helpers shared by the experiments: one look, one place."""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ...relax import RELAXATIONS  # noqa: E402
from .variants import VARIANTS  # noqa: E402

plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                     "font.size": 9, "legend.fontsize": 8})


def label(method: str) -> str:
    """How figures and tables name a method, with the schedule it ran with (``Relaxation.label``;
    a variant's own, :mod:`.variants`)."""
    if method in VARIANTS:
        return VARIANTS[method].label
    return RELAXATIONS.get(method).label if method in RELAXATIONS else method


def short_label(method: str) -> str:
    """The name without the schedule, for tables where the schedule is fixed."""
    return label(method).split(" (")[0]


def save(fig: plt.Figure, folder, name: str, caption: str) -> str:
    """Write ``folder/name.png`` and return the markdown that shows it."""
    fig.tight_layout()
    fig.savefig(folder / f"{name}.png")
    plt.close(fig)
    return f"![{caption}](figures/{name}.png)"


def legend(ax, **kwargs) -> None:
    """A legend only when something was drawn (partial results draw nothing)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


def fmt(value: float | None, digits: int = 4) -> str:
    """A number; a mean over seeds (:class:`~.context.Mean`) with its spread: ``1.7088 ± 0.0021``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    spread = getattr(value, "spread", math.nan)
    return f"{value:.{digits}f}" + ("" if math.isnan(spread) else f" ± {spread:.{digits}f}")


def table(header: Sequence[str], rows: Sequence[Sequence[float | str | None]],
          best: str | None = None, digits: int = 4) -> str:
    """A markdown table; with ``best='min'`` or ``'max'`` the best number per column is bold."""
    cells = [[c if isinstance(c, str) else fmt(c, digits) for c in r] for r in rows]
    if best:
        for j in range(len(header)):
            nums = [(r[j], i) for i, r in enumerate(rows)
                    if isinstance(r[j], (int, float)) and not math.isnan(r[j])]
            if len(nums) > 1:
                i = (min if best == "min" else max)(nums)[1]
                cells[i][j] = f"**{cells[i][j]}**"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)
