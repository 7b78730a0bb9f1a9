"""Context models (mbt2018, cheng2020-anchor): refinement through the masked context
model, and serial coding that decodes to exactly the encoder's latents anywhere."""

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
from sgaplus import codec, context_codec
from sgaplus.latent_model import pad
from sgaplus.refine import Refiner

from conftest import crop


def test_the_coder_the_figures_and_the_loop_agree_on_mu_and_sigma(context_model):
    """SerialContext (coder, per position), the float64 whole-image pass (figures) and
    the float32 loop's masked convolution compute the same σ, μ."""
    x = crop("coffee", 100, 200, 64, 96)
    y, z = context_model.analysis(pad(x))
    hard = context_model.quantize(y, z)
    assert not hard.centred and torch.equal(hard.y_hat, torch.round(y))
    rows: list[tuple[torch.Tensor, torch.Tensor]] = []
    context_model.serial_context(hard.z_hat, tuple(y.shape[1:])).run(
        lambda i, j, s, m: rows.append((s, m)) or hard.y_symbols[0, :, i, j].double())
    serial_s = torch.stack([s for s, _ in rows]).T.reshape(hard.scales.shape)
    serial_m = torch.stack([m for _, m in rows]).T.reshape(hard.means.shape)
    torch.testing.assert_close(serial_s, hard.scales, rtol=0, atol=1e-10)
    torch.testing.assert_close(serial_m, hard.means, rtol=0, atol=1e-10)
    _, s32, m32 = context_model.latents(y, hard.z_hat, torch.round)
    torch.testing.assert_close(m32.double(), hard.means, rtol=0, atol=1e-3)
    torch.testing.assert_close(s32.double(), hard.scales, rtol=1e-4, atol=1e-4)


def test_refinement_sees_the_relaxed_context(context_model):
    """The rate of a context model depends on ŷ through the context: the gradient of the
    rate reaches y at *earlier* positions (the masked convolution's causal taps)."""
    x = crop("astronaut", 40, 180, 64, 64)
    y, z = context_model.analysis(pad(x))
    y = y.clone().requires_grad_(True)
    _, scales, means = context_model.latents(y, torch.round(z), lambda v: v)
    # the rate of the last position only: its context is made of earlier positions
    lik = context_model.net.gaussian_conditional._likelihood(y, scales, means)
    (-torch.log2(lik[..., -1, -1])).sum().backward()
    assert y.grad[..., -2, -1].abs().sum() > 0 and y.grad[..., -1, -2].abs().sum() > 0
    assert y.grad[..., 0, 0].abs().sum() == 0  # outside the 5x5 causal window


def test_a_refined_file_is_smaller_on_a_real_photo(context_model):
    x = crop("astronaut", 0, 100, 128, 192)
    result = Refiner(context_model, method="ssl", iters=30, log_every=0, device="cpu").refine(x)
    assert result.after[0].loss < result.before[0].loss
    assert result.after[0].bpp < result.before[0].bpp
    base = context_model.quantize(*context_model.analysis(pad(x)))
    sizes = [len(codec.encode(context_model, h, 192, 128)) for h in (base, result.hard)]
    assert sizes[1] < sizes[0]
    c = bs.unpack(codec.encode(context_model, result.hard, 192, 128))
    payload_bits = 8 * (len(c.z) + len(c.y))
    assert payload_bits == pytest.approx(result.after[0].bpp * 128 * 192, rel=0.02)


@pytest.mark.parametrize("h, w", [(1, 1), (65, 63), (200, 7)])
def test_odd_sizes_decode_exactly(tiny_cheng, context_model, h, w):
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h + w))
    for m in (tiny_cheng, context_model):
        hard = m.quantize(*m.analysis(pad(x)))
        dec = codec.decode(m, codec.encode(m, hard, w, h))
        assert torch.equal(dec.hard.z_hat, hard.z_hat)
        assert torch.equal(dec.hard.y_hat, hard.y_hat)
        assert dec.x_hat.shape == (1, 3, h, w)


def test_tiled_synthesis_equals_whole_for_the_residual_decoder(tiny_cheng):
    """cheng2020-anchor's g_s reaches further than GDN stacks: its tiles need a wider halo."""
    y_hat = torch.randn(1, 8, 3, codec.TILE + 9, generator=torch.Generator().manual_seed(1))
    with codec.portable_convolutions(), torch.no_grad():
        whole = tiny_cheng.synthesis(y_hat)
    assert tiny_cheng.synthesis_halo > codec.HALO
    torch.testing.assert_close(codec.synthesize(tiny_cheng, y_hat), whole, rtol=0, atol=1e-5)


def test_a_corrupt_y_stream_fails_cleanly_or_decodes_the_same_twice(context_model):
    """constriction never reads past the stream: a hostile y stream (CRC recomputed) is a
    FormatError (a length that is not whole words, data left over) or decodes to the
    same pixels every time (ANS decodes any words; the CRC guards against accidents)."""
    x = crop("coffee", 0, 0, 64, 64)
    hard = context_model.quantize(*context_model.analysis(pad(x)))
    c = bs.unpack(codec.encode(context_model, hard, 64, 64))
    flipped = bytearray(c.y)
    flipped[len(flipped) // 2] ^= 0x10
    for y in (b"\x01\x02\x03", c.y[:-1]):
        with pytest.raises(bs.FormatError):
            codec.decode(context_model, bs.pack(bs.Container(c.header, c.z, y)))
    for y in (b"", b"\xff" * 8, c.y[:-4], c.y + b"\0\0\0\1", bytes(flipped)):
        bad = bs.pack(bs.Container(c.header, c.z, y))
        try:
            first = codec.decode(context_model, bad).x_hat
        except bs.FormatError:
            continue
        assert torch.equal(codec.decode(context_model, bad).x_hat, first)


_DECODE = """
import hashlib, sys, torch
sys.path.insert(0, {tests!r})
from compressai.models import JointAutoregressiveHierarchicalPriors as J
from sgaplus import codec
from sgaplus.latent_model import LatentModel
state = torch.load({weights!r}, weights_only=True)
m = LatentModel(J.from_state_dict(state), name="ctx-test", lmbda=0.013)
d = codec.decode(m, open({data!r}, "rb").read())
print(hashlib.sha256(d.hard.y_hat.numpy().tobytes() + d.x_hat.numpy().tobytes()).hexdigest())
"""


def test_exact_in_other_processes_at_one_and_two_threads(context_model, tmp_path):
    x = crop("astronaut", 40, 180, 96, 128)
    result = Refiner(context_model, method="ssl", iters=5, log_every=0, device="cpu").refine(x)
    data = codec.encode(context_model, result.hard, 128, 96)
    (tmp_path / "f.sgp").write_bytes(data)
    torch.save(context_model.net.state_dict(), tmp_path / "w.pt")
    here = codec.decode(context_model, data)
    assert torch.equal(here.hard.y_hat, result.hard.y_hat)
    want = hashlib.sha256(here.hard.y_hat.numpy().tobytes() + here.x_hat.numpy().tobytes()).hexdigest()
    script = _DECODE.format(tests=str(Path(__file__).parent), weights=str(tmp_path / "w.pt"),
                            data=str(tmp_path / "f.sgp"))
    for threads in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": threads}, check=True)
        assert out.stdout.strip() == want, threads


def test_the_header_records_the_architecture(context_model, tiny_cheng, model):
    """A file names its architecture (it decides how y is coded); decoding it with a model
    of another architecture is one clear error before any stream is read."""
    x = crop("coffee", 0, 0, 64, 64)
    for m, arch in ((context_model, "mbt2018"), (tiny_cheng, "cheng2020-anchor"), (model, "mbt2018-mean")):
        data = codec.encode(m, m.quantize(*m.analysis(pad(x))), 64, 64)
        assert bs.unpack(data).header.arch == arch == m.arch
    cheng_file = codec.encode(tiny_cheng, tiny_cheng.quantize(*tiny_cheng.analysis(pad(x))), 64, 64)
    with pytest.raises(bs.FormatError, match="made with a 'cheng2020-anchor' model"):
        codec.decode(model, cheng_file)
