"""The mode a new file gets from ``open()``: 0666 less the umask.

Outputs are written to a temporary file and moved into place (never a partial file);
``tempfile.mkstemp`` creates that file 0600, which would leave every output private
to its owner, unlike any other program's output. Writers chmod it to this mode first.
"""

from __future__ import annotations

import os


def ordinary_file_mode() -> int:
    """0666 less the process's umask (read without a lasting change: ``os.umask`` sets it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def make_ordinary(fd_or_path: int | str | os.PathLike) -> None:
    """Give a temporary file (descriptor or path) the mode :func:`open` would have given it."""
    if isinstance(fd_or_path, int):
        os.fchmod(fd_or_path, ordinary_file_mode())
    else:
        os.chmod(fd_or_path, ordinary_file_mode())
