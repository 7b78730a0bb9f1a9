"""Where a command reads and writes: ``-`` for standard input/output, folders and default names.

The conventions are those of gzip, cwebp and the like: ``-o -`` is standard output and ``-``
as the input standard input; an ``-o`` that ends in ``/`` or names an existing folder is a
folder (created if missing) and the file inside is named after the input; without ``-o`` the
output sits next to the input with the other suffix (``photo.png`` -> ``photo.sgp``), and an
existing file there is never overwritten without ``--force``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from .errors import CLIError

#: ``-``: standard input as an input, standard output as an output.
STDIO = "-"


def is_stdio(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDIO


def input_name(path: Path | str) -> str:
    """How messages name an input: its path, or ``standard input`` for ``-``."""
    return "standard input" if is_stdio(path) else str(path)


def output_name(path: Path | str) -> str:
    """How messages name an output: its path, or ``standard output`` for ``-``."""
    return "standard output" if is_stdio(path) else str(path)


def means_folder(output: str) -> bool:
    """``out/`` or an existing folder: a place for files, not a file name."""
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def single_output(input: Path, output: str | None, suffix: str) -> Path:
    """The file one input is written to (``Path("-")`` for standard output).

    Raises:
        CLIError: no name can be made (standard input without ``-o`` or into a folder).
    """
    if output is not None and is_stdio(output):
        return Path(STDIO)
    folder = Path(output) if output is not None and means_folder(output) else None
    if output is not None and folder is None:
        return Path(output)
    if is_stdio(input):
        raise CLIError("reading standard input, sgaplus cannot name the output; give -o FILE (or -o -)")
    name = input.with_suffix(suffix).name
    if folder is None:
        return input.with_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def read_input(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, or of standard input for ``-``; at most ``limit`` + 1 are read,
    so that a caller can tell a larger input without reading it all."""
    if is_stdio(path):
        return sys.stdin.buffer.read(limit + 1)
    with open(path, "rb") as f:
        return f.read(limit + 1)


def write_stdout(write: Callable[[Path], None], suffix: str) -> None:
    """Run ``write`` on a private temporary file, then copy it to standard output (a
    failure while writing then sends nothing, as a file output leaves no partial file)."""
    with tempfile.TemporaryDirectory(prefix="sgaplus-") as folder:
        tmp = Path(folder) / f"out{suffix}"
        write(tmp)
        sys.stdout.flush()
        with open(tmp, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def output_folder(output: str | None, input: Path) -> Path:
    """The folder a folder run writes into (the run creates it, with its parents, if missing)."""
    if output is None or is_stdio(output):
        raise CLIError(f"{input} is a folder; give an output folder with -o OUTDIR")
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise CLIError(f"{folder} is a file; a folder input needs an output folder")
    return folder


def skipped_note(skipped: int, folder: Path) -> str:
    """The summary line of a resumed folder run."""
    files = "file was" if skipped == 1 else "files were"
    return (f"{skipped} {files} already finished in {folder} and skipped "
            f"(--force redoes them)")


def print_failures(failed: list[tuple[Path, str]]) -> None:
    """One ``sgaplus: error:`` line per input of a folder run, naming it once."""
    for path, error in sorted(failed):
        print(f"sgaplus: error: {error if str(path) in error else f'{path}: {error}'}", file=sys.stderr)
