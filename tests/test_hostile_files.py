"""Hostile ``.sgp`` files (issue 16): the reproducers fail cleanly, nothing decodes
differently twice, oversized headers are refused before any allocation, and a slice of
the fuzzer plus every input it ever kept runs here, each case in a forked child."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sgaplus import bitstream as bs
from sgaplus import codec
from sgaplus.cli.main import main
from sgaplus.latent_model import pad

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import fuzz_decoder  # noqa: E402

from test_cli_codec import assert_clean_failure  # noqa: E402

KEPT = sorted(fuzz_decoder.KEEP.glob("*.sgp"))


@pytest.fixture(scope="module")
def genuine(model, photo) -> bytes:
    """A real 64x48 file of the bundled model (decoded without --model: it names its model)."""
    x = photo[..., :48, :64]
    return codec.encode(model, model.quantize(*model.analysis(pad(x))), 64, 48)


def with_streams(data: bytes, **streams: bytes) -> bytes:
    c = bs.unpack(data)
    return bs.pack(dataclasses.replace(c, **streams))


def announcing(data: bytes, model, width: int, height: int) -> bytes:
    """The same streams under a header announcing another size, shapes to match, CRC valid."""
    c = bs.unpack(data)
    z_shape, y_shape = codec.latent_shapes(model, width, height)
    h = dataclasses.replace(c.header, width=width, height=height, z_shape=z_shape, y_shape=y_shape)
    return bs.pack(dataclasses.replace(c, header=h))


def reproducers(genuine: bytes, model) -> dict[str, bytes]:
    """The files of issue 16 in format 2: each crashed or misled the version-1 decoder."""
    return {
        "empty streams, 1024x1024": with_streams(announcing(genuine, model, 1024, 1024), z=b"", y=b""),
        "y of eight 0xFF": with_streams(genuine, y=b"\xff" * 8),
        "y of 16 MiB 0xFF": with_streams(genuine, y=b"\xff" * (1 << 24)),
    }


@pytest.mark.parametrize("case", ["empty streams, 1024x1024", "y of eight 0xFF", "y of 16 MiB 0xFF"])
def test_issue_reproducers_fail_cleanly(tmp_path, capsys, model, genuine, case):
    (tmp_path / "bad.sgp").write_bytes(reproducers(genuine, model)[case])
    argv = ["decompress", str(tmp_path / "bad.sgp"), "-o", str(tmp_path / "out.png")]
    message = "more than the" if "16 MiB" in case else "corrupted"
    assert_clean_failure(capsys, argv, message, tmp_path)


def z_bit_flips(genuine: bytes) -> list[bytes]:
    """Every 7th bit of the z stream flipped, CRC recomputed (one flip per file)."""
    c = bs.unpack(genuine)
    out = []
    for bit in range(0, 8 * len(c.z), 7):
        z = bytearray(c.z)
        z[bit // 8] ^= 1 << bit % 8
        out.append(with_streams(genuine, z=bytes(z)))
    return out


def decoding_mutants(model, genuine: bytes, count: int) -> list[bytes]:
    """Fuzzer cases (hostile kinds) that still decode, with the z bit flips."""
    seeds, muts = fuzz_decoder.seed_files(model), fuzz_decoder.mutations(model)
    found = []
    for i in range(2000):
        _, data = fuzz_decoder.make_case(seeds, muts, 7, i)
        try:
            codec.decode(model, data)
        except bs.FormatError:
            continue
        found.append(data)
        if len(found) == count:
            break
    return found + z_bit_flips(genuine)


DIGESTS = """
import hashlib, json, sys
from sgaplus import bitstream, codec
from sgaplus.images import to_uint8
from sgaplus.zoo import load_model
model = load_model("default")
out = []
for path in sys.argv[1:]:
    try:
        d = codec.decode(model, open(path, "rb").read())
        out.append(hashlib.sha256(to_uint8(d.x_hat).tobytes()).hexdigest())
    except bitstream.FormatError as exc:
        out.append("error: " + str(exc))
print(json.dumps(out))
"""


@pytest.mark.timeout(300)
def test_mutated_files_decode_identically_in_two_fresh_processes(tmp_path, model, genuine):
    """Issue 16: a z bit flip (CRC fixed) decoded to other pixels on every run."""
    files = decoding_mutants(model, genuine, 20)
    paths = []
    for i, data in enumerate(files):
        paths.append(tmp_path / f"{i}.sgp")
        paths[-1].write_bytes(data)
    runs = [json.loads(subprocess.run([sys.executable, "-c", DIGESTS, *map(str, paths)], check=True,
                                      capture_output=True, text=True, timeout=240).stdout)
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert sum(not r.startswith("error") for r in runs[0]) >= 20  # the fuzzer's decodes at least


@pytest.mark.timeout(120)
def test_oversized_header_refused_before_any_large_allocation(tmp_path, model, genuine):
    """16384² asked the version-1 decoder for one 15 GB buffer; now the refusal costs nothing."""
    (tmp_path / "big.sgp").write_bytes(announcing(genuine, model, 16384, 16384))
    # VmHWM, not ru_maxrss: Linux carries the forking parent's high-water mark (here the
    # whole test session's) across exec into ru_maxrss, but not into the new mm's VmHWM.
    script = ("import sys\n"
              "from sgaplus.cli.main import main\n"
              "rc = main(['decompress', sys.argv[1], '-o', sys.argv[2]])\n"
              "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
              "print(rc, int(hwm.split()[1]) // 1024)\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big.sgp"), str(tmp_path / "o.png")],
                         capture_output=True, text=True, timeout=100)
    rc, peak_mib = map(int, out.stdout.split())
    assert rc == 2 and "more than the limit of 67,108,864" in out.stderr
    assert peak_mib < 1500, peak_mib  # the interpreter with torch; x̂ alone would be 3 GiB
    assert not (tmp_path / "o.png").exists()


def test_pixel_limit_and_its_flag(tmp_path, capsys, model, genuine):
    """One pixel over the limit is refused; --max-pixels lets the same file on to the coder."""
    (tmp_path / "f.sgp").write_bytes(with_streams(announcing(genuine, model, 8193, 8192), y=b"\xff" * 8))
    argv = ["decompress", str(tmp_path / "f.sgp"), "-o", str(tmp_path / "o.png")]
    assert_clean_failure(capsys, argv, "8193x8192 = 67,117,056 pixels, more than the limit", tmp_path)
    assert_clean_failure(capsys, argv + ["--max-pixels", str(8193 * 8192)], "corrupted", tmp_path)
    with pytest.raises(bs.FormatError, match="limit of 100"):
        codec.decode(model, genuine, max_pixels=100)


def test_every_stream_length_is_bounded_by_its_shape(model, genuine):
    c = bs.unpack(genuine)
    for name, shape in (("z", c.header.z_shape), ("y", c.header.y_shape)):
        n = shape[0] * shape[1] * shape[2]
        bound = 8 * n + 16
        with pytest.raises(bs.FormatError, match=f"the {name} stream has {bound + 4} bytes"):
            codec.decode(model, with_streams(genuine, **{name: b"\1\0\0\0" * (bound // 4 + 1)}))


@pytest.mark.timeout(120)
def test_fuzz_slice_in_forked_children(model):
    """200 cases of the fuzzer (about 15 s): only clean errors and decodes, no warnings."""
    outcomes, by_kind, kept = fuzz_decoder.fuzz(model, 200, seed=2024, timeout=60, keep=None)
    assert set(outcomes) <= {"error", "decoded"}, (outcomes, kept)
    assert outcomes["decoded"] >= 10 and outcomes["error"] >= 120
    assert by_kind["payload/error"] > 40  # the hostile kind reaches the coder and is refused


@pytest.mark.parametrize("path", KEPT, ids=[p.name for p in KEPT])
def test_kept_fuzz_inputs(model, path):
    """Every input a fuzz run ever kept, aimed at today's model (see the folder's README)."""
    result = fuzz_decoder.run_case(model, fuzz_decoder.refingerprint(path.read_bytes(), model), 60)
    assert result["outcome"] in ("error", "decoded"), result
