"""``sgaplus experiment``: every experiment of the paper (spec §6), one module
each, behind one runner with resumable per-unit results and a report writer.

Experiments register by name; ``ORDER`` is the order ``all`` runs them in
(cheap and central first, so a partial run still answers the main questions)
and the order of the report.
"""

from __future__ import annotations

import importlib
from typing import Any

from .harness.protocol import PROTOCOLS, Crop, Protocol, get_protocol

ORDER = ("probabilities", "curves", "rd", "codecs", "qualitative", "three-class",
         "semi-multi-rate", "tmax", "ssl-a", "lr", "training-stage")

#: Names that need the experiments themselves (torch, CompressAI): imported on first use
#: (PEP 562), so that ``sgaplus --help`` can list ORDER and PROTOCOLS in a fraction of a second.
_CONTEXT_NAMES = ("EXPERIMENTS", "Claim", "Context", "Experiment", "Section")


def register_all() -> None:
    """Import every experiment module, which registers it in EXPERIMENTS."""
    for name in ORDER:
        importlib.import_module(f".{name.replace('-', '_')}", __name__)


def __getattr__(name: str) -> Any:
    if name not in _CONTEXT_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    register_all()
    return getattr(importlib.import_module(".harness.context", __name__), name)


__all__ = ["EXPERIMENTS", "ORDER", "PROTOCOLS", "Claim", "Context", "Crop", "Experiment",
           "Protocol", "Section", "get_protocol", "register_all"]
