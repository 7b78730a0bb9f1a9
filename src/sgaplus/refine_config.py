"""One refinement's settings, the one place their defaults are stated (issue 13).

A :class:`RefineConfig` is everything that decides a refinement except the model and
the images: :class:`~sgaplus.refine.Refiner` is built from one, ``sgaplus refine`` and
``compress`` take their option defaults from it, an experiment's setting is one, and
every result records the one it ran with (``RefineResult.config``, the ``config`` of
``--json``, an experiment unit's ``refiner``). A record is that config *resolved*
against the model (:meth:`Refiner.config <sgaplus.refine.Refiner>`): the method's and
schedule's parameters spelled out, λ, distortion, device and memory budget filled in,
``iters="auto"`` written as its cap and patience. ``RefineConfig.from_dict(record)``
then rebuilds the same Refiner, and on the same model, images and seed the same result.

The module imports no torch (argparse reads the defaults for ``--help``), and neither does
validation: the method is checked against its entry in :mod:`sgaplus.methods`, the schedule
built (schedules are plain Python).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Mapping, Union

from .methods import METHODS

if TYPE_CHECKING:
    from .relax import Relaxation
    from .schedules import Schedule

#: ``iters="auto"``: refine up to the paper's 2000 iterations, stopping once the true loss
#: has stopped improving (``patience``: :data:`sgaplus.stopping.AUTO_PATIENCE`). The plateau
#: rule stops well before (about 900 on Kodak crops, docs/bench/refine_stopping.md).
AUTO = "auto"
AUTO_MAX_ITERS = 2000

#: ``lr_decay``: Adam's lr held (the paper), or brought down to 0 at the iteration cap.
LR_DECAYS = ("constant", "linear")

#: ``precision``: the dtype of g_s in the loop (see :class:`~sgaplus.refine.Refiner`).
PRECISIONS = ("fp32", "bf16")

#: Named numeric parameters, kept sorted: one spelling, hashable (experiment settings are keys).
Params = tuple[tuple[str, float], ...]
ParamsLike = Union[Params, Mapping[str, float]]


@dataclass(frozen=True)
class RefineConfig:
    """How to refine (the paper's settings by default).

    Attributes:
        method, params: the relaxation (registry name, see ``sgaplus methods``) and its
            parameters; those not given keep the method's defaults.
        schedule, schedule_params: the temperature schedule; None: the method's own
            (``Relaxation.default_schedule``). A schedule tied to its budget (``budget``)
            spans ``iters`` unless ``schedule_params`` gives its own ``iters``.
        iters: the iteration cap, or ``"auto"`` (:data:`AUTO_MAX_ITERS` with a plateau rule).
        lr, lr_decay: Adam's learning rate, held (``"constant"``, the paper's) or brought
            down linearly to 0 at the cap (``"linear"``, :func:`sgaplus.schedules.budgeted`).
        lmbda: λ of the loss; None: the model's training λ. Another value is semi-multi-rate.
        distortion: ``"mse"`` or ``"ms-ssim"``; None: the metric the model was trained for.
            Another one needs ``lmbda`` (a training λ is in its own metric's units).
        seed: seeds the relaxation noise.
        log_every: interval of the true-loss history (0 = none, only before/after).
        time_budget, patience, min_delta: stopping early (:class:`sgaplus.stopping.StopRule`).
        precision: ``"fp32"`` or ``"bf16"`` for g_s in the loop.
        device: ``"cpu"``, ``"cuda"``, ...; None: CUDA when present.
        max_memory: bytes one image (or batch) may take; None:
            :data:`sgaplus.memory.DEFAULT_BUDGET`. Larger images run g_a and g_s in tiles.

    Raises:
        ValueError: at construction, naming the invalid field (unknown method or
            schedule, or one of their parameters, through their registries).
    """

    method: str = "ssl"
    params: ParamsLike = ()
    schedule: str | None = None
    schedule_params: ParamsLike = ()
    iters: int | str = 2000
    lr: float = 0.005
    lr_decay: str = "constant"
    lmbda: float | None = None
    distortion: str | None = None
    seed: int = 0
    log_every: int = 10
    time_budget: float | None = None
    patience: int | None = None
    min_delta: float = 1e-3
    precision: str = "fp32"
    device: str | None = None
    max_memory: int | None = None

    def __post_init__(self) -> None:
        for name in ("params", "schedule_params"):
            object.__setattr__(self, name, tuple(sorted(dict(getattr(self, name)).items())))
        if not (self.iters == AUTO or (isinstance(self.iters, int) and self.iters >= 0)):
            raise ValueError(f"Invalid iterations: {self.iters!r} (a count ≥ 0 or {AUTO!r})")
        if not self.lr > 0:  # also NaN
            raise ValueError(f"Invalid learning rate: {self.lr}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"Invalid lr decay: {self.lr_decay} ({' or '.join(LR_DECAYS)})")
        if self.lmbda is not None and not self.lmbda > 0:
            raise ValueError(f"Invalid lambda: {self.lmbda}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Invalid precision: {self.precision} ({' or '.join(PRECISIONS)})")
        if self.log_every < 0:
            raise ValueError(f"Invalid log interval: {self.log_every}")
        if self.max_memory is not None and self.max_memory <= 0:
            raise ValueError(f"Invalid memory budget: {self.max_memory}")
        if self.distortion is not None:
            from .distortion import get_distortion

            get_distortion(self.distortion)
        self.stop_rule()
        METHODS.create(self.method, **dict(self.params))  # the method's entry: no torch
        self.temperature()

    @property
    def max_iters(self) -> int:
        """The iteration cap (``"auto"``'s is :data:`AUTO_MAX_ITERS`)."""
        return AUTO_MAX_ITERS if self.iters == AUTO else int(self.iters)

    @property
    def stop_args(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~sgaplus.stopping.StopRule`; ``"auto"`` adds the
        plateau rule's patience unless one is given."""
        from . import stopping

        patience = self.patience
        if self.iters == AUTO and patience is None:
            patience = stopping.AUTO_PATIENCE
        return dict(max_iters=self.max_iters, time_budget=self.time_budget, patience=patience,
                    min_delta=self.min_delta)

    def stop_rule(self):
        """A fresh :class:`~sgaplus.stopping.StopRule` (it keeps state over one run)."""
        from .stopping import StopRule

        return StopRule(**self.stop_args)

    def relaxation(self) -> Relaxation:
        from .relax import get_relaxation

        return get_relaxation(self.method, **dict(self.params))

    def temperature(self) -> Schedule:
        """The schedule: the method's own unless one is named, spanning ``iters`` when it
        is tied to its budget."""
        from .schedules import get_schedule

        params = dict(self.schedule_params)
        built = get_schedule(self.schedule or METHODS.get(self.method).default_schedule, **params)
        return built if "iters" in params else built.spanning(self.max_iters)

    def to_dict(self) -> dict[str, Any]:
        """Every field, parameters as dicts: JSON as it stands, and :meth:`from_dict`'s input."""
        out = asdict(self)
        out["params"], out["schedule_params"] = dict(self.params), dict(self.schedule_params)
        return out

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "RefineConfig":
        """The config of a :meth:`to_dict` record (as a result stores it)."""
        unknown = set(record) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"not a refinement config field: {', '.join(sorted(unknown))}")
        return cls(**record)
