"""CompressAI's zoo weights in the torch-hub cache: found there, or downloaded hash-checked.

The cache is torch.hub's (``$TORCH_HOME/hub/checkpoints``, default
``~/.cache/torch/hub/checkpoints``), the folder CompressAI itself downloads to, so
weights fetched by either are found by both. A file comes from CompressAI's URL or,
when ``SGAPLUS_ZOO_URL`` is set, from that base URL with the same file name (a mirror,
``file:///folder`` included). Each file name carries the first hex digits of its
SHA-256 (``mbt2018-mean-3-723404a8.pth.tar``); torch.hub checks them while it downloads
and never leaves a file that fails in the cache.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

#: Environment variable: base URL of a mirror of CompressAI's weights.
MIRROR_ENV = "SGAPLUS_ZOO_URL"

#: Seconds a download may wait for data before it is given up (urllib waits forever).
TIMEOUT_S = 60


class ModelNotFound(ValueError):
    """Weights that are not on this machine; the message says where to put them."""


def cache_dir() -> Path:
    """torch.hub's checkpoint folder, read at call time (``TORCH_HOME`` can change)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hash_prefix(filename: str) -> str:
    """The SHA-256 prefix in a zoo file name, as torch.hub reads it."""
    match = torch.hub.HASH_REGEX.search(filename)
    if match is None or not match.group(1):
        raise ValueError(f"{filename}: no hash in the file name")
    return match.group(1)


def source_url(url: str) -> str:
    """``url``, or the same file name under ``$SGAPLUS_ZOO_URL`` when that is set."""
    mirror = os.environ.get(MIRROR_ENV)
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[1]}" if mirror else url


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """torch.hub's urlopen takes no timeout; it uses the process default."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def fetch(url: str, label: str) -> Path:
    """The cached file of zoo ``url``, downloaded (hash-checked) when missing.

    Raises:
        ModelNotFound: the file cannot be downloaded (offline, refused, HTTP error);
            the message names the URL and the folder to put the file in.
        ValueError: the download failed the hash check (nothing is kept).
    """
    folder = cache_dir()
    name = url.rsplit("/", 1)[1]
    path = folder / name
    if path.is_file():
        return path
    source = source_url(url)
    prefix = hash_prefix(name)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"sgaplus: downloading {label} from {source} to {folder}", file=sys.stderr)
    try:
        with _socket_timeout(TIMEOUT_S):
            torch.hub.download_url_to_file(source, str(path), hash_prefix=prefix,
                                           progress=sys.stderr.isatty())
    except RuntimeError as exc:
        if "invalid hash value" not in str(exc):
            raise
        raise ValueError(f"{source} fails CompressAI's hash check (its SHA-256 does not start "
                         f"with {prefix}); nothing was kept") from None
    except urllib.error.HTTPError as exc:
        raise ModelNotFound(f"cannot download {label}: {source} answered HTTP {exc.code}; "
                            f"put {name} into {folder}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        reason = getattr(reason, "strerror", None) or reason  # "Connection refused", not "[Errno 111] ..."
        raise ModelNotFound(f"cannot download {label} from {source} ({reason}); "
                            f"put that file into {folder}") from None
    return path
