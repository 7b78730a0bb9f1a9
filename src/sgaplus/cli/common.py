"""Arguments and helpers shared by subcommands (model, method, output safety, JSON)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from ..util import atomic_write
from .errors import CLIError
from .paths import is_stdio, write_stdout


def parse_params(items: list[str] | None) -> dict[str, float]:
    """``["a=2.3", "n=1.4"]`` -> ``{"a": 2.3, "n": 1.4}``."""
    out: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise CLIError(f"bad parameter {item!r}; write NAME=NUMBER, e.g. a=2.3") from None
    return out


def positive(what: str, integer: bool = False) -> Callable[[str], float]:
    """An argparse type for a number above zero, whose error says in words what the number
    is (not the library's "Invalid lambda: -1.0")."""
    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole' if integer else 'a'} number "
                                             f"({what}), got {text!r}") from None
        if not value > 0:  # also NaN
            raise argparse.ArgumentTypeError(f"{what} must be above 0, not {text}")
        return value

    return parse


#: ``--model``'s help, shared by every command that takes a model.
MODEL_HELP = ("'default', NAME:QUALITY[:METRIC] (sgaplus-msh:2, mbt2018-mean:3, mbt2018:4:ms-ssim, "
              "cheng2020-anchor:2; CompressAI's weights are downloaded on first use, from "
              "$SGAPLUS_ZOO_URL when set) or a checkpoint file (sgaplus's, CompressAI's train.py "
              ".pth.tar or a state dict)")

#: ``--train-lambda``'s help: the λ a model was trained with, which no refinement changes.
TRAIN_LAMBDA_HELP = ("the λ the model was trained with, for a checkpoint that does not record it "
                     "(CompressAI's train.py checkpoints and state dicts); a recorded λ is never "
                     "overridden")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--model``, and its two λ: the training λ (a fact about the weights) and the
    refinement λ (a choice of this run, which defaults to the training λ)."""
    p.add_argument("--model", default="default", help=MODEL_HELP)
    p.add_argument("--train-lambda", dest="train_lmbda", type=positive("the training λ"), default=None, metavar="λ",
                   help=TRAIN_LAMBDA_HELP)
    p.add_argument("--lambda", dest="lmbda", type=positive("λ, the weight of distortion against rate"), default=None, metavar="λ",
                   help="λ of the refinement loss (default: the model's training λ; another value "
                        "is semi-multi-rate: the same model at another rate)")


def _iterations(text: str) -> int | str:
    """``--iters N`` or ``--iters auto`` (:data:`sgaplus.refine_config.AUTO`)."""
    from ..refine_config import AUTO

    if text == AUTO:
        return AUTO
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of iterations or 'auto', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"the number of iterations cannot be negative ({text})")
    return value


def add_refine_args(p: argparse.ArgumentParser, iters: int | None = None, expert: str = "") -> None:
    """The refinement knobs, identical wherever a command refines, with
    :class:`~sgaplus.refine_config.RefineConfig`'s defaults (``iters``: the command's own cap);
    ``expert`` ends the help of those a preset sets (compress's --effort)."""
    from ..refine_config import AUTO_MAX_ITERS, LR_DECAYS, RefineConfig as C

    iters = C.iters if iters is None else iters
    p.add_argument("--method", default=C.method, help=f"relaxation (see 'sgaplus methods'); default {C.method}")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="method parameter, repeatable (e.g. --param a=2.3)")
    p.add_argument("--schedule", default=C.schedule,
                   help=f"temperature schedule (default: the method's own){expert}")
    p.add_argument("--schedule-param", action="append", metavar="NAME=VALUE",
                   help="schedule parameter, repeatable (e.g. --schedule-param t_max=0.5)")
    p.add_argument("--iters", type=_iterations, default=iters, metavar="N|auto",
                   help=f"iterations (default {iters}); 'auto': up to {AUTO_MAX_ITERS}, stopping once the "
                        f"true loss has stopped improving (see docs/bench/refine_stopping.md){expert}")
    p.add_argument("--time-budget", type=positive("the time budget in seconds"), default=C.time_budget,
                   metavar="SECONDS",
                   help="stop refining each image after this many seconds (the result so far is kept)")
    p.add_argument("--lr", type=positive("the learning rate"), default=C.lr,
                   help=f"Adam learning rate (default {C.lr:g}){expert}")
    p.add_argument("--lr-decay", choices=LR_DECAYS, default=C.lr_decay,
                   help=f"Adam's lr held (default {C.lr_decay}, the paper's) or decayed linearly to 0 at "
                        "--iters; with --schedule budget and --lr 0.06 these are the budgeted settings "
                        f"(docs/bench/refine_budget.md){expert}")
    p.add_argument("--distortion", choices=("mse", "ms-ssim"), default=C.distortion,
                   help="distortion of the refinement loss: mse (λ·255²·MSE + bpp) or ms-ssim "
                        "(λ·(1 − MS-SSIM) + bpp, as CompressAI trains its ms-ssim models, λ 2.40-220); "
                        "default: the metric the model was trained for. Another one needs --lambda "
                        "in its units")
    p.add_argument("--seed", type=int, default=C.seed, help=f"seed of the relaxation noise (default {C.seed})")
    p.add_argument("--device", default=C.device, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--max-memory", type=_memory_size, default=C.max_memory, metavar="SIZE",
                   help="memory one image may take (e.g. 8G, 1500M; default 8G): larger images "
                        "run g_a and g_s in tiles, with the same result (see README, Memory)")


def _memory_size(text: str) -> int:
    from ..memory import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: RefineConfig fields that add_refine_args sets (and ``--param``/``--schedule-param``).
REFINE_ARGS = ("method", "schedule", "iters", "time_budget", "lr", "lr_decay", "lmbda", "distortion",
               "seed", "device", "max_memory")


def refine_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The RefineConfig fields given on the command line (an option left at None is not)."""
    given = {name: getattr(args, name) for name in REFINE_ARGS if getattr(args, name) is not None}
    return {**given, "params": parse_params(args.param), "schedule_params": parse_params(args.schedule_param)}


def flag(field: str) -> str:
    """The option that sets RefineConfig ``field`` (``lr_decay``: ``--lr-decay``,
    ``schedule_params``: ``--schedule-param``), to name a field in the flags' words."""
    dest = {"params": "param", "schedule_params": "schedule_param", "lmbda": "lambda"}.get(field, field)
    return "--" + dest.replace("_", "-")


def refine_config(args: argparse.Namespace, **fixed: Any):
    """The command line's :class:`~sgaplus.refine_config.RefineConfig` (with the command's
    ``fixed`` fields, e.g. ``log_every``); an option left at None keeps the config's
    default. Raises ValueError (one line) for an unknown method, schedule or parameter,
    before any work."""
    from ..refine_config import RefineConfig

    return RefineConfig(**refine_fields(args), **fixed)


def load_model_arg(args: argparse.Namespace):
    """``--model`` with ``--train-lambda``; its training λ may stay unknown when ``--lambda``
    gives the refinement λ, since nothing else needs it."""
    from ..zoo import load_model

    return load_model(args.model, args.train_lmbda, require_lambda=args.lmbda is None)


def add_max_pixels_arg(p: argparse.ArgumentParser) -> None:
    from ..limits import MAX_PIXELS

    p.add_argument("--max-pixels", type=positive("the pixel limit", integer=True), default=MAX_PIXELS, metavar="N",
                   help=f"refuse images larger than N pixels (default {MAX_PIXELS:,} = 8192²)")


def check_output(path: Path, force: bool) -> None:
    """Refuse to overwrite unless ``force``, and a folder we cannot create files in, before
    any work: a file is created there and removed (``os.access`` says yes to root on /proc).
    Standard output (``-``) is refused only on a terminal."""
    if is_stdio(path):
        if sys.stdout.isatty():
            raise CLIError("standard output is a terminal; redirect it (> FILE, | program) or give -o FILE")
        return
    if path.is_dir():
        raise CLIError(f"{path} is a directory")
    if path.exists() and not force:
        raise CLIError(f"{path} exists; pass --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"output folder {parent} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise CLIError(f"cannot write into {parent}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def write_atomic(path: Path, write: Callable[[Path], None], force: bool) -> None:
    """Write through a temporary file in the same folder, then move it into place: never a
    partial file. Without ``force`` the move is a hard link, which fails if anything has
    appeared at ``path`` since :func:`check_output` (the run may take minutes); the
    temporary file goes in every case, also on Ctrl-C and SIGTERM (:func:`sgaplus.util.atomic_write`).
    ``-`` is standard output."""
    if is_stdio(path):
        write_stdout(write, path.suffix or ".tmp")
        return
    try:
        atomic_write(path, write, exclusive=not force)
    except FileExistsError:
        raise CLIError(f"{path} appeared while sgaplus was working and was left alone; "
                       f"pass --force to overwrite it") from None


def print_json(obj: dict[str, Any], file: Any = None) -> None:
    """One line of JSON on ``file`` (standard output by default)."""
    file = file or sys.stdout
    json.dump(obj, file, indent=None, sort_keys=True)
    file.write("\n")


def add_quiet_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true",
                   help="print nothing but errors (and --json's object): no progress bar, no summary")


def progress_bar(total: int, desc: str, disable: bool = False):
    """A progress bar on standard error, only when that is a terminal: in a log file each
    of its updates would be one more ``\\r`` line (some 60 KB for 500 iterations).

    It first draws at an update 0.1 s in, inside the caller's ``with``: drawn from the
    constructor, a SIGTERM or Ctrl-C landing there (before ``with`` owns the bar) left the
    bar on the line, in front of the one-line message. It also clears a bar drawn by an
    update that a signal interrupted (see :func:`_bar_class`).
    """
    disable = disable or not sys.stderr.isatty()
    return _bar_class()(total=total, desc=desc, unit="it", file=sys.stderr, leave=False,
                        disable=disable, dynamic_ncols=True, delay=0.1)


def _bar_class():
    """tqdm, except that ``close`` erases the line of any bar it drew. tqdm draws, then
    records what and when; a signal between the two (right after the bar appears, when a
    user or a test sees it and presses Ctrl-C) made ``close`` believe nothing, or a
    shorter line, was drawn, and left the bar in front of the one-line message."""
    from tqdm import tqdm

    class Bar(tqdm):
        drawn = False

        def display(self, *args: Any, **kwargs: Any) -> Any:
            self.drawn = True
            return super().display(*args, **kwargs)

        def close(self) -> None:
            erase = self.drawn and not self.disable
            super().close()
            if erase:  # blanks up to the last column, which would wrap on some terminals
                self.fp.write("\r" + " " * ((self.ncols or 80) - 1) + "\r")
                self.fp.flush()

    return Bar
