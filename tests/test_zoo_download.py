"""Downloading zoo weights, against an HTTP server on 127.0.0.1 (nothing else is contacted).

The server plays a mirror (``SGAPLUS_ZOO_URL``) holding a small checkpoint whose file
name carries the first eight hex digits of its SHA-256, as CompressAI's files do; the
zoo's URL table is patched to that name.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest
import torch
from compressai.models import ScaleHyperprior
from compressai.zoo.image import model_urls

from sgaplus.cli.main import main
from sgaplus.download import ModelNotFound, source_url
from sgaplus.zoo import load_model

ARCH, QUALITY = "bmshj2018-hyperprior", 2
CAI_ROOT = "https://compressai.s3.amazonaws.com/models/v1"


class Mirror:
    """A folder served on 127.0.0.1, recording the paths it was asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.requests = folder, []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/zoo"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def zoo_env(tmp_path, monkeypatch):
    """TORCH_HOME in tmp_path, no proxies, and a loopback mirror with no files yet."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "served" / "zoo").mkdir(parents=True)
    mirror = Mirror(tmp_path / "served")
    monkeypatch.setenv("SGAPLUS_ZOO_URL", mirror.url)
    yield mirror
    mirror.close()


def serve(mirror: Mirror, monkeypatch, name_hash: str | None = None) -> str:
    """Put a checkpoint on the mirror under a CompressAI-style name (its own hash unless
    ``name_hash``) and point the zoo's URL table at that name; returns the name."""
    torch.manual_seed(0)
    net = ScaleHyperprior(8, 12)
    net.update(force=True)
    tmp = mirror.folder / "tmp"
    torch.save(net.state_dict(), tmp)
    digest = name_hash or hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    name = f"{ARCH}-{QUALITY}-{digest}.pth.tar"
    tmp.rename(mirror.folder / "zoo" / name)
    monkeypatch.setitem(model_urls[ARCH]["mse"], QUALITY, f"{CAI_ROOT}/{name}")
    return name


def cache(tmp_path: Path) -> Path:
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_download_then_cache_reuse(zoo_env, monkeypatch, tmp_path, capsys):
    name = serve(zoo_env, monkeypatch)
    m = load_model(f"{ARCH}:{QUALITY}")
    assert zoo_env.requests == [f"/zoo/{name}"]  # from the mirror, not CompressAI's URL
    assert (cache(tmp_path) / name).is_file() and sorted(p.name for p in cache(tmp_path).iterdir()) == [name]
    assert m.lmbda == 0.0035 and m.meta["weights"]["file"] == str(cache(tmp_path) / name)
    assert f"downloading {ARCH}:{QUALITY} from {zoo_env.url}/{name}" in capsys.readouterr().err
    again = load_model(f"{ARCH}:{QUALITY}")
    assert zoo_env.requests == [f"/zoo/{name}"]  # no second request
    assert again.fingerprint() == m.fingerprint()


def test_hash_mismatch_is_refused_and_nothing_kept(zoo_env, monkeypatch, tmp_path):
    serve(zoo_env, monkeypatch, name_hash="0badc0de")
    with pytest.raises(ValueError, match="fails CompressAI's hash check .* nothing was kept") as exc:
        load_model(f"{ARCH}:{QUALITY}")
    assert "\n" not in str(exc.value) and len(zoo_env.requests) == 1
    assert list(cache(tmp_path).iterdir()) == []  # no file, no .partial


def test_missing_on_the_mirror(zoo_env, monkeypatch, tmp_path):
    name = serve(zoo_env, monkeypatch)
    (zoo_env.folder / "zoo" / name).unlink()
    with pytest.raises(ModelNotFound, match=f"answered HTTP 404; put {name} into {cache(tmp_path)}"):
        load_model(f"{ARCH}:{QUALITY}")


def test_server_down_names_url_and_folder(zoo_env, monkeypatch, tmp_path, capsys, photo_png):
    name = serve(zoo_env, monkeypatch)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/zoo"
    monkeypatch.setenv("SGAPLUS_ZOO_URL", url)
    code = main(["refine", str(photo_png), "--model", f"{ARCH}:{QUALITY}", "--iters", "1"])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and not zoo_env.requests and len(err) == 2
    assert err[0].startswith(f"sgaplus: downloading {ARCH}:{QUALITY} from {url}/{name}")
    assert err[-1] == (f"sgaplus: error: cannot download {ARCH}:{QUALITY} from {url}/{name} "
                       f"(Connection refused); put that file into {cache(tmp_path)}")
    assert list(cache(tmp_path).iterdir()) == []


def test_compressai_url_without_a_mirror(monkeypatch):
    url = model_urls["mbt2018-mean"]["mse"][3]
    monkeypatch.delenv("SGAPLUS_ZOO_URL")
    assert source_url(url) == url and url.startswith(CAI_ROOT)
    monkeypatch.setenv("SGAPLUS_ZOO_URL", "file:///mnt/weights/")
    assert source_url(url) == "file:///mnt/weights/" + url.rsplit("/", 1)[1]
