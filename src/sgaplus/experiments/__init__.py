"""``sgaplus experiment``: every experiment of the paper (spec §6), one module
each, behind one runner with resumable per-unit results and a report writer.

Experiments register by name; ``ORDER`` is the order ``all`` runs them in
(cheap and central first, so a partial run still answers the main questions)
and the order of the report.
"""

from __future__ import annotations

from . import (codecs, curves, lr, probabilities, qualitative, rd,  # noqa: F401  (register)
               semi_multi_rate, ssl_a, three_class, tmax, training_stage)
from .context import EXPERIMENTS, Claim, Context, Experiment, Section
from .protocol import PROTOCOLS, Crop, Protocol, get_protocol

ORDER = ("probabilities", "curves", "rd", "codecs", "qualitative", "three-class",
         "semi-multi-rate", "tmax", "ssl-a", "lr", "training-stage")

__all__ = ["EXPERIMENTS", "ORDER", "PROTOCOLS", "Claim", "Context", "Crop", "Experiment",
           "Protocol", "Section", "get_protocol"]
