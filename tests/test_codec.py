"""Entropy coding of hard latents: exact round trips, honest rate, determinism."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sgaplus import bitstream as bs
from sgaplus import codec
from sgaplus.images import to_uint8
from sgaplus.latent_model import pad
from sgaplus.refine import Refiner


def digests(d: codec.Decoded) -> dict[str, str]:
    """SHA-256 of each decoded tensor and of the 8-bit image (also run in a subprocess)."""
    parts = {"z_hat": d.hard.z_hat, "y_symbols": d.hard.y_symbols, "means": d.hard.means,
             "scales": d.hard.scales, "x_hat": d.x_hat}
    out = {k: hashlib.sha256(v.numpy().tobytes()).hexdigest() for k, v in parts.items()}
    out["pixels"] = hashlib.sha256(to_uint8(d.x_hat).tobytes()).hexdigest()
    return out


def assert_same_latents(a, b) -> None:
    for name in ("z_hat", "y_symbols", "means", "scales"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert torch.equal(a.y_hat, b.y_hat)


@pytest.fixture(scope="module")
def refined(model, photo):
    result = Refiner(model, method="ssl", iters=3, log_every=0, device="cpu").refine(photo)
    data = codec.encode(model, result.hard, 96, 64, method="ssl", lmbda=model.lmbda, iters=3)
    return result, data


def test_refined_latents_decode_exactly(model, photo, refined):
    result, data = refined
    dec = codec.decode(model, data)
    assert_same_latents(dec.hard, result.hard)
    assert dec.x_hat.shape == photo.shape
    assert dec.header.method == "ssl" and dec.header.iters == 3
    from sgaplus.loss import psnr_8bit
    assert float(psnr_8bit(dec.x_hat, photo)) == pytest.approx(result.after[0].psnr, abs=0.01)


@pytest.mark.parametrize("h, w, mode, with_alpha", [
    (1, 1, "RGB", False), (1, 130, "L", True), (65, 63, "RGB", True), (200, 7, "L", False),
])
def test_odd_sizes_modes_and_alpha(tiny_model, h, w, mode, with_alpha):
    gen = torch.Generator().manual_seed(h * 1000 + w)
    x = torch.rand(1, 3, h, w, generator=gen)
    hard = tiny_model.quantize(*tiny_model.analysis(pad(x)))
    alpha = np.random.default_rng(w).integers(0, 256, (h, w), dtype=np.uint8) if with_alpha else None
    dec = codec.decode(tiny_model, codec.encode(tiny_model, hard, w, h, mode, alpha))
    assert_same_latents(dec.hard, hard)
    assert dec.x_hat.shape == (1, 3, h, w) and dec.header.mode == mode
    assert (dec.alpha is None) == (alpha is None)
    if alpha is not None:
        assert np.array_equal(dec.alpha, alpha)


def test_real_bits_within_two_percent_of_estimate(model):
    """A whole 512x512 photo: coded payload within 2% of −Σlog2 p; the rest is the fixed header."""
    import skimage.data

    x = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1)[None].float() / 255
    result = Refiner(model, iters=0, device="cpu").refine(x)
    data = codec.encode(model, result.hard, 512, 512)
    c = bs.unpack(data)
    estimated_bits = result.after[0].bpp * 512 * 512
    payload_bits = 8 * (len(c.z) + len(c.y))
    assert payload_bits <= 1.02 * estimated_bits
    assert payload_bits >= 0.98 * estimated_bits
    assert len(data) - len(c.z) - len(c.y) < 120  # header, lengths, CRC


def test_latents_far_outside_the_tables_escape_exactly(model, photo):
    """Symbols beyond a table's range (σ rounded to the table, ±2^22 at most) take the
    escape and come back exactly; beyond the coder's range encode refuses."""
    y, z = model.analysis(pad(photo))
    z[0, 0, 0, 0] = -3e6  # before quantize: σ and μ follow from ẑ
    hard = model.quantize(y, z)
    hard.y_symbols[0, :, :2, :2] = torch.tensor([1e6, -1e6, 4e6, 17.0]).reshape(1, 2, 2)
    dec = codec.decode(model, codec.encode(model, hard, 96, 64))
    assert_same_latents(dec.hard, hard)
    hard.y_symbols[0, 0, 0, 0] = 2.0**24
    with pytest.raises(ValueError, match="beyond the coder's range"):
        codec.encode(model, hard, 96, 64)


def test_file_of_another_model_is_refused(model, tiny_model, photo):
    hard = tiny_model.quantize(*tiny_model.analysis(pad(photo)))
    data = codec.encode(tiny_model, hard, 96, 64)
    with pytest.raises(bs.FormatError, match="made with model 'tiny'"):
        codec.decode(model, data)


def test_encode_rejects_latents_of_another_size(tiny_model, photo):
    hard = tiny_model.quantize(*tiny_model.analysis(pad(photo)))
    with pytest.raises(ValueError, match="do not belong"):
        codec.encode(tiny_model, hard, 200, 64)


@pytest.mark.timeout(300)
def test_decode_in_fresh_process_with_other_thread_count_is_bit_identical(model, refined, tmp_path):
    """Compressed here (2 threads), decoded in a new interpreter with 1 thread: same bits."""
    _, data = refined
    path = tmp_path / "photo.sgp"
    path.write_bytes(data)
    here = digests(codec.decode(model, data))
    script = (
        "import json, sys, torch\n"
        "torch.set_num_threads(1)\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_codec import digests\n"
        "from sgaplus import codec\n"
        "from sgaplus.zoo import load_model\n"
        f"d = codec.decode(load_model('default'), open({str(path)!r}, 'rb').read())\n"
        "print(json.dumps(digests(d)))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         timeout=240, check=True)
    there = json.loads(out.stdout.strip().splitlines()[-1])
    assert there == here


def test_tiled_synthesis_equals_one_piece(tiny_model, monkeypatch):
    """The decoder's tiles (with their halo) give exactly the pixels of one g_s pass."""
    y_hat = torch.randn(1, 12, 21, 13, generator=torch.Generator().manual_seed(0))
    with codec.portable_convolutions(), torch.no_grad():
        full = tiny_model.synthesis(y_hat)
    monkeypatch.setattr(codec, "TILE", 5)
    assert torch.equal(codec.synthesize(tiny_model, y_hat), full)


def test_each_image_of_a_batch_codes_exactly_at_two_threads(model):
    """μ of a batch equals μ of each image decoded alone whatever the thread count: with
    h_s on the whole batch at 2 threads, 128 px crops failed encode's round-trip check."""
    from conftest import crop

    x = torch.cat([crop("astronaut", 0, 0, 128, 128), crop("astronaut", 200, 300, 128, 128)])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        hard = Refiner(model, method="ssl", iters=2, log_every=0, device="cpu").refine(x).hard
        for i in range(2):
            one = hard.image(i)
            assert_same_latents(codec.decode(model, codec.encode(model, one, 128, 128)).hard, one)
    finally:
        torch.set_num_threads(threads)
