"""Rate control across models: a target file size (bpp or bytes) or quality (PSNR).

cwebp meets ``-size`` at about the cost of one encode; a λ search that refines at every
probe costs one whole refinement per try and, within one model, reaches only the rates
near that model's own. Here the family is the first knob and λ the second:

1. **cheap probes**: each candidate model's *unrefined* file (what ``--no-refine`` writes;
   a fraction of a second each), walking from the middle of the family toward the target
   (and a neighbour's, when the search moves there);
2. **prediction** of what refinement adds to a model's unrefined file at λ' = λ_m·2^k:

       log2(bpp / bpp₀) = A_b + S_b·k,      PSNR − PSNR₀ = A_p + S_p·k

   with coefficients fitted on hold-out photos for the iteration count (:data:`FIT`,
   ``bench/ratecontrol.py --fit``; interpolated in log iterations). The model needing the
   smallest |k| is chosen: the one refined nearest its own λ, where it is best;
3. **one refinement** at that (model, λ'), aimed at the middle of the tolerance window and
   judged on the real file. The family and λ make one rate axis: each model covers
   λ_m/4 .. λ_m·4 (:data:`SPAN`), its neighbours' ranges overlapping, so a miss is
   corrected on the model just refined, below or above its own λ: along the predicted
   slope from the measured point, then through the last two measured points (a secant),
   or, once two measured points lie either side of the aim, between them (regula falsi).
   A correction continues from that model's refined latents of the nearest λ for
   :data:`CORRECTION` of the iterations (λ moved a little, so the latents need to move a
   little): a fifth of a refinement. Its file is not the whole refinement's at that λ (a
   few per cent of bits off, by the image, either way), so once a model has a
   correction's point, the next correction is placed from corrections' points only: a
   secant or bracket across the two kinds would read that offset as the response to λ.
   Only when this image's points put the target beyond the model's reach (more than
   :data:`NEAR` beyond it, or beyond it still after a correction at its limit) does the
   search move on to the neighbour in that direction (a refinement of the iterations the
   budget has left, at the λ the first file's shift predicts); a model it comes back to
   continues from its own points. All of it within :data:`BUDGET`, counted in iterations
   with every file's own cost (:data:`FILE`); the last file the budget allows, when none
   so far meets the target, aims at the safe side of the window.

Every probe is a real file, so the result is the best one that meets the target: within
the tolerance window if one is, then for a size the highest PSNR, for a PSNR the fewest
bits. A target beyond
what the ends of the family reach, even refined at λ·4 or λ/4 (:data:`SPAN`), fails
before any refinement, or as soon as a refinement at that limit falls short.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Callable, Generic, NamedTuple, TypeVar

#: How far λ may move from a model's own, in octaves either way (λ/4 .. λ·4): far
#: enough to bridge the family's 2x steps and extend its ends; further out the model
#: works far from what it was trained for.
SPAN = 2.0

#: How far beyond a model's reach (octaves of λ) the points may put the target and the
#: search still tries the model's limit (a correction) before moving to the neighbour (a
#: refinement anew, whose response this image's first refinement predicts less well).
NEAR = 0.5

#: The share of a refinement's iterations a correction runs, continuing from refined
#: latents of the same model (on another model it is a refinement anew): a fifth, so that
#: four fit in the budget with every file counted (:data:`BUDGET`). The price, in the file
#: kept after a correction: a quarter of 250 iterations continuing from latents refined at
#: λ·2^±0.25 .. λ·2^±2, the schedule started over, ends 1.1-2.8 % above a whole
#: refinement's true loss at that λ (mean over 8 crops, ± 0.2-0.6 % SE;
#: docs/bench/ratecontrol_corrections.md, measured at a quarter). Taking the schedule up
#: halfway instead (``Refiner.variant(resume=0.5)``) leaves 0.15-0.18 % a quarter octave
#: away, but an octave or more away it moves the bits too little, which misled the search
#: when tried (issue 15, stop 15), so corrections start over.
CORRECTION = 0.2


def correction_iters(iters: int) -> int:
    """The iterations of a correction of a refinement of ``iters`` (:data:`CORRECTION`)."""
    return max(1, round(iters * CORRECTION))


#: What one image's rate control may cost, in compressions (one refinement and its
#: file): the issue's "at most 2x one compression". Counted in iterations of the loop,
#: every file :data:`FILE` more: the first refinement, up to four unrefined files and four
#: corrections fit at 250 iterations (``compress --effort 5``); a move to another model
#: gets the iterations that are left (:meth:`_Search.run`).
BUDGET = 2.0

#: What making one file costs beside its refinement, in iterations of the loop: the
#: analysis, the entropy coding, the check decode that ``compress`` reports PSNR from, the
#: true loss before and after, and on a model's first file its loading: an unrefined
#: file with a model's loading took 4.6-6.9 iterations' time (mean 5.8) on the 192x192
#: crops of ``bench/ratecontrol.py``, 1 thread (docs/bench/ratecontrol.md).
FILE = 6

#: Tolerance windows: a bpp/size file within 3 % below the target, a PSNR within 0.1 dB above.
SIZE_WINDOW = 0.03
PSNR_WINDOW = 0.1

#: A target the prediction falls short of by more than this at the end of the family's
#: reach (in log2 bpp, or dB) fails at once, before any refinement: five times the spread
#: of one image around the prediction on the fit's photos (0.18 and 0.57,
#: docs/bench/ratecontrol_fit.md), since single photos stray further (refinement took 40 %
#: of the bits of a BSDS photo, docs/bench/ratecontrol.md). Nearer targets get one
#: refinement at the limit, which settles it.
GIVE_UP = {"size": 1.0, "psnr": 3.0}

#: What refinement adds, by iterations of the budgeted settings (``compress --effort``):
#: (A_b, S_b, A_p, S_p) as in the module docstring, from ``bench/ratecontrol.py --fit``
#: (docs/bench/ratecontrol_fit.md).
FIT: dict[int, tuple[float, float, float, float]] = {
    50: (0.002, 0.169, 0.382, 0.369),
    250: (-0.007, 0.198, 0.566, 0.468),
}

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """``bpp``: a file of at most this many bits per pixel; ``size``: at most this many
    bytes; ``psnr``: at least this many dB."""

    metric: str
    value: float

    def __post_init__(self) -> None:
        if self.metric not in ("bpp", "size", "psnr"):
            raise ValueError(f"unknown rate-control target {self.metric!r} (bpp, size or psnr)")
        if not (self.value > 0 and math.isfinite(self.value)):
            unit = {"bpp": "bits per pixel", "size": "bytes", "psnr": "dB"}[self.metric]
            raise ValueError(f"a target must be a positive number of {unit}, not {self.value:g}")

    @property
    def kind(self) -> str:
        """``size`` (bpp or bytes: at most) or ``psnr`` (at least)."""
        return "psnr" if self.metric == "psnr" else "size"

    def goal(self, pixels: int) -> float:
        """The target on the scale rate control works on: log2 bpp, or dB."""
        if self.metric == "psnr":
            return self.value
        return math.log2(self.value * 8 / pixels if self.metric == "size" else self.value)

    def describe(self) -> str:
        return {"bpp": f"{self.value:g} bpp", "size": f"{self.value:.0f} bytes",
                "psnr": f"{self.value:g} dB PSNR"}[self.metric]


@dataclass(frozen=True)
class Candidate:
    """A model rate control may choose: ``spec`` for :func:`sgaplus.zoo.load_model` (also
    its name in messages) and the λ its refinement starts from (its training λ)."""

    spec: str
    lmbda: float


@dataclass
class Probe(Generic[T]):
    """One file made: by which model, at which λ (None: unrefined), for how many iterations
    of its own (a correction's, not counting those of the file it continued), and what it
    measured."""

    candidate: Candidate
    lmbda: float | None
    runs: int
    bpp: float
    psnr: float
    payload: T = field(repr=False)

    def row(self) -> dict[str, object]:
        return {"model": self.candidate.spec, "lmbda": self.lmbda, "runs": self.runs, "bpp": self.bpp,
                "psnr": self.psnr}


class Point(NamedTuple, Generic[T]):
    """A refined file on one model: λ's octaves from the model's own (k), its value on the
    scale the search works on (log2 bpp or dB), and whether it was a correction."""

    k: float
    value: float
    probe: Probe[T]
    correction: bool


class TargetNotReached(ValueError):
    """No model and λ within reach meet the target; the message names the nearest result."""


#: ``code(candidate, lmbda, start, iters)``: the file of ``candidate`` refined at ``lmbda``
#: (None: unrefined) for ``iters`` iterations (the settings spanning them), as
#: (bpp, psnr, payload); ``start``: the payload of a refined probe to continue from (a
#: correction), or None.
Coder = Callable[[Candidate, "float | None", "T | None", int], "tuple[float, float, T]"]


def coefficients(iters: int) -> tuple[float, float, float, float]:
    """:data:`FIT` at ``iters`` iterations: log-linear between fitted counts, scaled to 0
    at 0 iterations, held beyond the last."""
    counts = sorted(FIT)
    if iters <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    if iters >= counts[-1]:
        return FIT[counts[-1]]
    if iters <= counts[0]:
        w = math.log1p(iters) / math.log1p(counts[0])
        return tuple(w * c for c in FIT[counts[0]])  # type: ignore[return-value]
    i = bisect_left(counts, iters)
    lo, hi = counts[i - 1], counts[i]
    w = math.log(iters / lo) / math.log(hi / lo)
    return tuple((1 - w) * a + w * b for a, b in zip(FIT[lo], FIT[hi]))  # type: ignore[return-value]


class _Search(Generic[T]):
    """The state of one image's rate control (see the module docstring)."""

    def __init__(self, code: Coder, candidates: list[Candidate], target: Target, pixels: int,
                 iters: int, start: int) -> None:
        self.code, self.candidates, self.target, self.iters = code, candidates, target, iters
        self.start = start
        self.goal = target.goal(pixels)
        window = -math.log2(1 - SIZE_WINDOW) if target.kind == "size" else PSNR_WINDOW
        self.low, self.high = (self.goal - window, self.goal) if target.kind == "size" \
            else (self.goal, self.goal + window)
        self.aim = (self.low + self.high) / 2
        # The last file the budget allows, when none so far meets the target, aims a
        # quarter of the window off the middle, away from the side that misses it.
        self.safe = self.aim + (self.high - self.low) / 4 * (-1 if target.kind == "size" else 1)
        a_b, s_b, a_p, s_p = coefficients(iters)
        self.shift, self.slope = (a_b, s_b) if target.kind == "size" else (a_p, s_p)
        self.tried: list[Probe[T]] = []
        # The budget and what has been spent of it, in iterations (every file FILE more).
        self.budget, self.spent = BUDGET * (iters + FILE), 0.0

    def value(self, probe: Probe[T]) -> float:
        return math.log2(probe.bpp) if self.target.kind == "size" else probe.psnr

    def met(self, probe: Probe[T]) -> bool:
        v = self.value(probe)
        return v <= self.goal if self.target.kind == "size" else v >= self.goal

    def hit(self, probe: Probe[T]) -> bool:
        return self.low <= self.value(probe) <= self.high

    def make(self, i: int, k: float | None, start: Probe[T] | None = None, runs: int = 0) -> Probe[T]:
        """The file of model ``i`` refined at λ_i·2^k for ``runs`` iterations (k None: unrefined)."""
        c = self.candidates[i]
        lmbda = None if k is None else c.lmbda * 2 ** k
        self.spent += FILE + (0 if k is None else runs)
        bpp, psnr, payload = self.code(c, lmbda, None if start is None else start.payload, runs)
        self.tried.append(Probe(c, lmbda, runs, bpp, psnr, payload))
        return self.tried[-1]

    def walk(self, base: dict[int, float], i: int, shift: float) -> None:
        """Cheap probes into ``base`` (index -> value of the unrefined file), from model ``i``
        toward the target until two neighbours' files, refined at their own λ as ``shift``
        predicts, bracket it (or the family ends)."""
        while True:
            if i not in base:
                base[i] = self.value(self.make(i, None))
            j = i + (1 if self.aim > base[i] + shift else -1)
            if not 0 <= j < len(self.candidates):
                return
            if j in base and (self.aim - base[i] - shift) * (self.aim - base[j] - shift) <= 0:
                return
            i = j

    def best(self) -> Probe[T] | None:
        """The file to keep: one within the window if any, then for a size the highest PSNR,
        for a PSNR the fewest bits."""
        met = [p for p in self.tried if self.met(p)]
        if not met:
            return None
        if self.target.kind == "size":
            return max(met, key=lambda p: (self.hit(p), p.psnr, p.bpp))
        return max(met, key=lambda p: (self.hit(p), -p.bpp))

    def nearest(self) -> str:
        p = min(self.tried, key=lambda p: abs(self.value(p) - self.goal))
        how = "unrefined" if p.lmbda is None else f"refined at λ {p.lmbda:.4g}"
        return f"{p.candidate.spec} {how}: {p.bpp:.4f} bpp, {p.psnr:.2f} dB"

    def unreachable(self, predicted: str = "") -> TargetNotReached:
        names = [c.spec for c in (self.candidates[0], self.candidates[-1])]
        family = names[0] if len(self.candidates) == 1 else f"{names[0]} .. {names[1]}"
        return TargetNotReached(
            f"{self.target.describe()} is out of reach of {family} (λ within {2 ** SPAN:g}x of "
            f"each model's own){predicted}; the nearest file: {self.nearest()}")

    def step(self, points: list[Point[T]], aim: float) -> float:
        """The next k on one model from its measured points: between the nearest points
        either side of ``aim`` once they bracket it (regula falsi: a secant through the last
        two can leave the bracket where refinement's response bends), else a secant through
        the last two, else the predicted slope from the last point. The next file there is a
        correction, so once corrections' points exist only they count (the module
        docstring)."""
        points = [p for p in points if p.correction] or points
        below = [p for p in points if p.value < aim]
        above = [p for p in points if p.value >= aim]
        if below and above:
            lo, hi = max(below, key=lambda p: p.value), min(above, key=lambda p: p.value)
            if hi.value > lo.value:
                return lo.k + (aim - lo.value) * (hi.k - lo.k) / (hi.value - lo.value)
        slope = self.slope
        if len(points) > 1:
            a, b = points[-2], points[-1]
            if b.k != a.k and (b.value - a.value) / (b.k - a.k) > 0.2 * self.slope:  # a sane secant
                slope = (b.value - a.value) / (b.k - a.k)
        return points[-1].k + (aim - points[-1].value) / slope

    def run(self) -> tuple[Probe[T], list[Probe[T]]]:
        base: dict[int, float] = {}
        self.walk(base, self.start, self.shift)
        if self.iters <= 0 or self.slope <= 0:  # no refinement: the best unrefined file
            found = self.best()
            if found is None:
                raise self.unreachable()
            return found, self.tried
        need = {i: (self.aim - v - self.shift) / self.slope for i, v in base.items()}
        i = min(need, key=lambda j: abs(need[j]))
        k = max(-SPAN, min(SPAN, need[i]))
        predicted = base[i] + self.shift + self.slope * k
        short = predicted - self.goal if self.target.kind == "size" else self.goal - predicted
        if short > GIVE_UP[self.target.kind]:  # (a target too easy is met, at the limit)
            unit = "bpp" if self.target.kind == "size" else "dB"
            figure = 2 ** predicted if unit == "bpp" else predicted
            raise self.unreachable(f": at best about {figure:.4g} {unit} predicted")
        # The rate axis: models in order, each over λ_m/4 .. λ_m·4 (k in ±SPAN), adjacent
        # ones overlapping. The search stays on the model it refined first (a correction
        # there is a quarter of a refinement) and moves to the neighbour only when this
        # image's points say the target lies beyond that model's reach; a model it comes
        # back to continues from its own points and latents.
        shift = self.shift
        points: dict[int, list[Point[T]]] = {}  # each model's refined files
        reach = False

        def next_k(j: int, aim: float) -> float:
            mine = points.get(j)
            k = self.step(mine, aim) if mine else (aim - base[j] - shift) / self.slope
            return max(-SPAN, min(SPAN, k))

        while True:
            mine = points.setdefault(i, [])
            k = next_k(i, self.aim)
            if any(abs(p.k - k) < 1e-9 for p in mine):  # tried: nothing new within reach
                break
            start = min(mine, key=lambda p: abs(p.k - k)).probe if mine else None
            left = self.budget - self.spent - FILE  # the iterations this file may take
            if not any(p.lmbda is not None for p in self.tried):
                runs = self.iters  # the first refinement, the compression the budget counts in
            elif start is None:
                runs = min(self.iters, int(left))  # a move: what is left (at least half, below)
            else:
                runs = correction_iters(self.iters)
            if runs > left:
                break
            if left - runs < FILE + correction_iters(self.iters) and self.best() is None:
                k = next_k(i, self.safe)  # the last chance to meet the target at all
            probe = self.make(i, k, start, runs)
            if self.hit(probe):
                break
            if start is None:  # a whole refinement: what refinement adds to *this* image
                shift = self.value(probe) - base[i] - self.slope * k
            mine.append(Point(k, self.value(probe), probe, start is not None))
            want = self.step(mine, self.aim)
            if abs(want) <= SPAN:
                continue
            if abs(want) <= SPAN + NEAR and not any(abs(p.k) == SPAN for p in mine):
                continue  # just beyond: this model's limit first (a correction), then a move
            # Beyond this model's reach: on to the neighbour in that direction, unless the
            # family ends there or the iterations left, after its unrefined file, are fewer
            # than half a refinement (then this model's limit, the nearest it gets, if not
            # tried yet).
            j = i + (1 if want > 0 else -1)
            reach = not 0 <= j < len(self.candidates)
            left = self.budget - self.spent - FILE * (1 if j in base else 2)
            if reach or left < self.iters / 2 and not points.get(j):
                continue
            if j not in base:
                base[j] = self.value(self.make(j, None))
            i = j
        found = self.best()
        if found is None:
            if not reach:
                runs = sum(p.lmbda is not None for p in self.tried)
                raise TargetNotReached(f"{self.target.describe()} not met in {runs} refinements; the "
                                       f"nearest file: {self.nearest()}")
            raise self.unreachable()
        return found, self.tried


def control(code: Coder, candidates: list[Candidate], target: Target, pixels: int,
            iters: int, start: int | None = None) -> tuple[Probe[T], list[Probe[T]]]:
    """Choose a model of ``candidates`` (ordered by rate) and a λ whose file meets
    ``target`` for an image of ``pixels`` refined for ``iters`` iterations, the cheap
    probes starting at ``candidates[start]`` (default: the middle one); returns the chosen
    probe and every probe made, in order.

    Raises:
        TargetNotReached: no candidate reaches the target; the message names the nearest file.
    """
    if not candidates:
        raise ValueError("rate control needs at least one model")
    start = (len(candidates) - 1) // 2 if start is None else start
    return _Search(code, candidates, target, pixels, iters, start).run()
