"""Entry point: ``sgaplus SUBCOMMAND ...``; ``main(argv)`` is importable and tested in-process.

Each subcommand lives in its own module with ``register(subparsers)``, which adds
a parser whose ``func(args) -> int`` runs it. Expected failures (bad input,
missing files, unknown names) are raised as :class:`CLIError` or ``ValueError``
/ ``OSError`` and printed as one line ``sgaplus: error: ...`` with exit status 2;
no traceback reaches the user. SIGTERM is handled like Ctrl-C: it is raised as
:class:`Terminated` in the main thread, so every clean-up (temporary files) runs, then
one line and exit status 143 (128 + 15, what the shell reports for a killed process).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings

from ..util import one_line
from .errors import CLIError


class Terminated(BaseException):
    """SIGTERM arrived; a BaseException like KeyboardInterrupt, so only clean-ups catch it."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="sgaplus",
        description="Refine the latents of a learned image codec per image (SGA+) and write real files.",
    )
    parser.add_argument("--version", action="version", version=f"sgaplus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from . import compress, decompress, eval_codecs, experiment, info, methods, refine, train

    # In the order ``--help`` lists them; each imports only what its parser needs.
    for command in (refine, compress, decompress, info, methods, train, eval_codecs, experiment):
        command.register(sub)
    for command in sub.choices.values():  # what main() reports a mistyped option with
        command.set_defaults(command_parser=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..memory import DEFAULT_BUDGET, OutOfMemory, is_out_of_memory

    warnings.simplefilter("ignore", FutureWarning)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse would print the top-level usage: show the subcommand's instead
        args.command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return int(args.func(args) or 0)
    except Terminated:
        print("sgaplus: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:  # `sgaplus methods | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("sgaplus: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError, RuntimeError, MemoryError) as exc:
        msg = one_line(exc)
        if not isinstance(exc, (CLIError, OutOfMemory)) and is_out_of_memory(exc):
            # Commands that refine take --max-memory: the message names it and its value.
            budget = (args.max_memory or DEFAULT_BUDGET) if hasattr(args, "max_memory") else None
            msg = str(OutOfMemory(exc, f"in {args.command}", budget))
        print(f"sgaplus: error: {msg}", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":  # `python -m sgaplus.cli.main` (CLIError lives in .errors, so
    # this copy of the module catches the class the subcommands raise)
    sys.exit(main())
