"""``sgaplus experiment``: every experiment of the paper (spec §6), one module
each beside :mod:`.harness` (the runner with resumable per-unit results, the
report writer and what they share).

Each module here registers one experiment under its own name (``three_class.py``:
``three-class``); :func:`register_all` finds them by listing the package, so a
new experiment is its module plus its place in ``ORDER``, the order ``all`` runs
them in (cheap and central first, so a partial run still answers the main
questions) and the order of the report. ``ORDER`` is written out rather than read
from the registry so that ``sgaplus --help`` lists it without importing torch;
``tests/test_experiments.py`` checks that it names exactly the registered ones.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .harness.protocol import PROTOCOLS, Crop, Protocol, get_protocol

ORDER = ("probabilities", "curves", "rd", "codecs", "qualitative", "three-class",
         "semi-multi-rate", "tmax", "ssl-a", "lr", "training-stage")

#: Names that need the experiments themselves (torch, CompressAI): imported on first use
#: (PEP 562), so that ``sgaplus --help`` can list ORDER and PROTOCOLS in a fraction of a second.
_CONTEXT_NAMES = ("EXPERIMENTS", "Claim", "Context", "Experiment", "Section")


def register_all() -> None:
    """Import every experiment module (each module of this package; :mod:`.harness` is
    the one subpackage), which registers it in EXPERIMENTS."""
    for module in pkgutil.iter_modules(__path__):
        if not module.ispkg:
            importlib.import_module(f".{module.name}", __name__)


def __getattr__(name: str) -> Any:
    if name not in _CONTEXT_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    register_all()
    return getattr(importlib.import_module(".harness.context", __name__), name)


__all__ = ["EXPERIMENTS", "ORDER", "PROTOCOLS", "Claim", "Context", "Crop", "Experiment",
           "Protocol", "Section", "get_protocol", "register_all"]
