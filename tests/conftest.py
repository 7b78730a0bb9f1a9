"""Shared fixtures: the bundled model, a tiny untrained model, and real photo crops.

Photos come from scikit-image's bundled samples so the suite never depends on
../shared/data being present.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated")


@pytest.fixture(scope="session", autouse=True)
def no_downloads():
    """Zoo downloads go to a closed loopback port: no test reaches beyond 127.0.0.1
    (tests/test_zoo_download.py points SGAPLUS_ZOO_URL at its own loopback server)."""
    import os

    old = os.environ.get("SGAPLUS_ZOO_URL")
    os.environ["SGAPLUS_ZOO_URL"] = "http://127.0.0.1:9"
    yield
    if old is None:
        del os.environ["SGAPLUS_ZOO_URL"]
    else:
        os.environ["SGAPLUS_ZOO_URL"] = old


@pytest.fixture
def one_thread():
    """One torch thread for the test: tiny convolutions gain nothing from threads, and on
    the shared 2-core machine two spinning workers made them up to ~100x slower (Ray's
    workers run one thread too, OMP_NUM_THREADS=1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def model():
    """The bundled default model (trained), frozen, on the CPU."""
    from sgaplus.zoo import load_model

    return load_model("default")

@pytest.fixture(scope="session")
def tiny_model():
    """An untrained MeanScaleHyperprior(N=8, M=12): shapes and plumbing only."""
    from compressai.models import MeanScaleHyperprior

    from sgaplus.latent_model import LatentModel

    torch.manual_seed(0)
    return LatentModel(MeanScaleHyperprior(8, 12), name="tiny", lmbda=0.01).prepare()

def crop(name: str, top: int, left: int, h: int, w: int) -> torch.Tensor:
    import skimage.data

    arr = np.ascontiguousarray(getattr(skimage.data, name)()[top:top + h, left:left + w, :3])
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255

@pytest.fixture(scope="session")
def photo() -> torch.Tensor:
    """A 64 x 96 crop of the astronaut photo (face and background), (1, 3, 64, 96)."""
    return crop("astronaut", 40, 180, 64, 96)

@pytest.fixture(scope="session")
def photo_png(tmp_path_factory, photo) -> "Path":  # noqa: F821
    from sgaplus.images import to_pil

    path = tmp_path_factory.mktemp("img") / "astronaut.png"
    to_pil(photo).save(path)
    return path

@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, tiny_model) -> "Path":  # noqa: F821
    """The tiny model as an sgaplus checkpoint file, for CLI tests that run in a second."""
    from sgaplus.zoo import save_model

    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(tiny_model, path)
    return path

@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory, tiny_model) -> list[str]:
    """Three tiny model files that differ only in their recorded λ (a family for BD curves)."""
    import copy

    from sgaplus.zoo import save_model

    folder = tmp_path_factory.mktemp("family")
    paths = []
    for lmbda in (0.005, 0.01, 0.02):
        m = copy.copy(tiny_model)
        m.lmbda, m.name = lmbda, f"tiny-{lmbda:g}"
        path = folder / f"tiny_{lmbda:g}.pt"
        save_model(m, path, dtype=torch.float32)
        paths.append(str(path))
    return paths

@pytest.fixture(scope="session")
def tiny_images_dir(tmp_path_factory) -> "Path":  # noqa: F821
    """Two 64 x 64 photo crops as PNG files named a.png and b.png."""
    from sgaplus.images import to_pil

    folder = tmp_path_factory.mktemp("images")
    to_pil(crop("astronaut", 40, 180, 64, 64)).save(folder / "a.png")
    to_pil(crop("coffee", 100, 200, 64, 64)).save(folder / "b.png")
    return folder

@pytest.fixture(scope="session")
def context_model(model):
    """mbt2018 (joint autoregressive + hyperprior) with the bundled model's transforms."""
    from context_models import trained_context_net, wrap

    return wrap(trained_context_net(model), "ctx-test")

@pytest.fixture(scope="session")
def tiny_cheng():
    """An untrained cheng2020-anchor (N=8)."""
    from context_models import tiny_cheng_net, wrap

    return wrap(tiny_cheng_net(), "tiny-cheng")
