"""Fuzz the ``.sgp`` decoder with structured hostile files, each decoded in a forked child.

Seed files of several sizes and modes (RGB, gray, with and without alpha) are coded
with the bundled model; each case applies one mutation to one of them: bit flips,
truncations, insertions or deletions of the whole file (the checksum then fails), or,
with the CRC-32 recomputed as a deliberate editor would, edits of header fields,
declared sizes (with or without matching latent shapes), stream length fields, and of
the z, y and alpha payloads (flips, overwrites, truncation, extension, random streams,
swapped streams). Each case is decoded by ``codec.decode`` in a forked child, so a
crash is counted, not fatal; a decode is repeated in a second child and must give the
same pixels (that child first fills fresh memory with random bytes, so that reads
outside a buffer would see other contents). Outcomes: ``error`` (a ``FormatError``: the one clean way to refuse),
``decoded``, ``unexpected`` (any other exception), ``crash`` (the child died),
``hang`` (no answer within ``--timeout`` seconds), ``nondeterministic`` (two decodes
differ), and ``warned`` (a decode that emitted a Python warning, which would print
before the CLI's one error line). Every input of the last five kinds is kept in
``--keep``; the test suite replays that folder.

    python bench/fuzz_decoder.py [--cases 10000] [--seed 0] [--quick]
        -> docs/bench/fuzz_decoder.md, inputs worth keeping -> tests/data/fuzz_crashes/
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import select
import signal
import struct
import sys
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sgaplus import bitstream as bs
from sgaplus import codec
from sgaplus.images import to_uint8
from sgaplus.latent_model import LatentModel, pad

#: (width, height, mode, alpha) of the seed files.
SIZES = ((64, 48, "RGB", False), (70, 40, "RGB", True), (33, 17, "L", True), (1, 1, "RGB", False),
         (130, 1, "L", False), (96, 64, "RGB", False))

#: Outcomes whose inputs are kept: none of them may ever happen.
BAD = ("unexpected", "crash", "hang", "nondeterministic", "warned")

KEEP = Path(__file__).resolve().parent.parent / "tests" / "data" / "fuzz_crashes"


def refit_crc(body: bytes) -> bytes:
    """``body`` (a file without its last 4 bytes) with a valid CRC-32: a deliberate edit."""
    return body + struct.pack(">I", zlib.crc32(body))


def refingerprint(data: bytes, model: LatentModel) -> bytes:
    """A kept input made for other weights, aimed at ``model``: its fingerprint replaced
    and its CRC recomputed, so it reaches the coder again (the hostile case)."""
    if not data.startswith(bs.MAGIC) or len(data) < 34:
        return data
    return refit_crc(data[:14] + codec.fingerprint_bytes(model) + data[30:-4])


def seed_files(model: LatentModel) -> list[bytes]:
    """One file per entry of :data:`SIZES`, from a smooth image with noise (no data files)."""
    files = []
    for w, h, mode, with_alpha in SIZES:
        rng = np.random.default_rng(w * 1000 + h)
        yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
        base = np.stack([np.sin(3 * xx + c) * np.cos(2 * yy - c) for c in range(3)]) * 0.4 + 0.5
        if mode == "L":
            base = base.mean(0, keepdims=True).repeat(3, 0)
        x = torch.from_numpy(np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)).float()[None]
        hard = model.quantize(*model.analysis(pad(x)))
        alpha = rng.integers(0, 256, (h, w), dtype=np.uint8) if with_alpha else None
        files.append(codec.encode(model, hard, w, h, mode, alpha))
    return files


# -- mutations: each takes (file, rng) and returns the mutated file -----------------------

def _flip_bits(data: bytes, rng: random.Random) -> bytes:
    d = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
    return bytes(d)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data))]


def _insert(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.randbytes(rng.randint(1, 16)) + data[i:]


def _delete(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 16):]


def _header_bytes(data: bytes, rng: random.Random) -> bytes:
    """Overwrite 1-3 random bytes of the header (and the z length field), CRC recomputed."""
    c = bs.unpack(data)
    end = len(bs.write_header(c.header)) + 4
    d = bytearray(data[:-4])
    for _ in range(rng.randint(1, 3)):
        d[rng.randrange(end)] = rng.randrange(256)
    return refit_crc(bytes(d))


def _random_size(rng: random.Random) -> tuple[int, int]:
    pick = rng.random()
    if pick < 0.3:
        return rng.randint(1, 300), rng.randint(1, 300)
    if pick < 0.6:
        return rng.randint(1, 4000), rng.randint(1, 4000)
    if pick < 0.8:
        return rng.randint(8000, 40000), rng.randint(8000, 40000)  # beyond the pixel limit
    return rng.randint(1, 2**32 - 1), rng.randint(1, 2**32 - 1)


def _declared_size(data: bytes, rng: random.Random, model: LatentModel) -> bytes:
    """Announce another size, with the latent shapes it implies (or the old ones)."""
    c = bs.unpack(data)
    w, h = _random_size(rng)
    d = bytearray(data[:-4])
    d[6:14] = struct.pack(">II", w, h)
    if rng.random() < 0.6 and w * h <= bs.MAX_PIXELS:
        z_shape, y_shape = codec.latent_shapes(model, w, h)
        if max(z_shape + y_shape) < 1 << 16:
            at = len(bs.write_header(c.header)) - 12
            d[at:at + 12] = struct.pack(">HHHHHH", *z_shape, *y_shape)
    return refit_crc(bytes(d))


def _length_field(data: bytes, rng: random.Random) -> bytes:
    """Edit one stream length field, leaving the streams as they are."""
    c = bs.unpack(data)
    at = len(bs.write_header(c.header))
    fields = [at, at + 4 + len(c.z)] + ([at + 8 + len(c.z) + len(c.y)] if c.alpha is not None else [])
    pos = rng.choice(fields)
    (old,) = struct.unpack(">I", data[pos:pos + 4])
    new = rng.choice([0, 1, 2**32 - 1, old + rng.randint(-8, 8), rng.randrange(2**32)]) % 2**32
    return refit_crc(data[:pos] + struct.pack(">I", new) + data[pos + 4:-4])


def _payload(data: bytes, rng: random.Random) -> bytes:
    """Change the content of a stream and repack: lengths and CRC consistent (the hostile case)."""
    c = bs.unpack(data)
    streams = {"z": c.z, "y": c.y, **({"alpha": c.alpha} if c.alpha is not None else {})}
    name = rng.choice(sorted(streams))
    s = bytearray(streams[name])
    kind = rng.randrange(8)
    if kind == 0 and s:  # a few bit flips
        for _ in range(rng.randint(1, 8)):
            s[rng.randrange(len(s))] ^= 1 << rng.randrange(8)
    elif kind == 1 and s:  # overwrite a run of bytes
        i = rng.randrange(len(s))
        s[i:i + rng.randint(1, 8)] = rng.randbytes(rng.randint(1, 8))
    elif kind == 2:  # truncate
        del s[rng.randrange(len(s) + 1):]
    elif kind == 3:  # extend with random, 0xFF or zero bytes
        s += rng.choice([rng.randbytes, lambda n: b"\xff" * n, bytes])(rng.choice([1, 4, 8, 64, 4096]))
    elif kind == 4:  # a random stream, often a whole number of words
        n = rng.choice([0, 4, 8, 12, rng.randrange(256), 4 * rng.randrange(2048)])
        s = bytearray(rng.randbytes(n))
    elif kind == 5:  # 0xFF words, the bypass-loop crash of issue 16
        s = bytearray(b"\xff" * rng.choice([4, 8, 64, 1 << 16]))
    elif kind == 6:  # another stream of this file
        s = bytearray(rng.choice(list(streams.values())))
    else:  # shuffle 4-byte words
        words = [bytes(s[i:i + 4]) for i in range(0, len(s), 4)]
        rng.shuffle(words)
        s = bytearray(b"".join(words))
    streams[name] = bytes(s)
    return bs.pack(bs.Container(c.header, streams["z"], streams["y"], streams.get("alpha")))


def _header_fields(data: bytes, rng: random.Random) -> bytes:
    """Structured header edits through ``pack``: names, architecture, method, λ, iterations,
    mode, flags."""
    c = bs.unpack(data)
    h = c.header
    edit = rng.randrange(6)
    if edit == 5:
        h = dataclasses.replace(h, arch=rng.choice(
            ["mbt2018", "cheng2020-anchor", "bmshj2018-hyperprior", "cheng2020-attn", "", "x" * 255]))
    elif edit == 0:
        h = dataclasses.replace(h, model_name=rng.choice(
            ["../../etc/passwd", "/tmp/x.pt", "default", "mbt2018-mean:3", "sgaplus-msh:2",
             "sgaplus-msh-q9", "mbt2018-mean:²", "x" * 255, "\u2028", ""]))
    elif edit == 1:
        h = dataclasses.replace(h, method=rng.choice(["", "ssl", "\x00" * 200]))
    elif edit == 2:
        h = dataclasses.replace(h, lmbda=rng.choice([float("nan"), float("inf"), -1.0, 1e30]),
                                iters=rng.randrange(2**32))
    elif edit == 3:
        h = dataclasses.replace(h, mode="L" if h.mode == "RGB" else "RGB")
    else:
        return refit_crc(data[:5] + bytes([data[5] ^ (1 << rng.randrange(8))]) + data[6:-4])
    return bs.pack(bs.Container(h, c.z, c.y, c.alpha))


def mutations(model: LatentModel) -> dict[str, Callable[[bytes, random.Random], bytes]]:
    """Kind -> mutation; the hostile (CRC-recomputed) kinds are listed more than once in
    :func:`make_case`'s draw."""
    return {"bitflip": _flip_bits, "truncate": _truncate, "insert": _insert, "delete": _delete,
            "header-bytes": _header_bytes, "header-fields": _header_fields,
            "declared-size": lambda d, r: _declared_size(d, r, model),
            "length-field": _length_field, "payload": _payload}


#: Draw weights of the mutation kinds (most cases are hostile: CRC recomputed).
WEIGHTS = {"bitflip": 1, "truncate": 1, "insert": 1, "delete": 1, "header-bytes": 2,
           "header-fields": 1, "declared-size": 2, "length-field": 2, "payload": 6}


def make_case(seeds: list[bytes], muts: dict, seed: int, i: int) -> tuple[str, bytes]:
    """Case ``i`` of run ``seed``: reproducible on its own from (seed, i)."""
    rng = random.Random(f"{seed}:{i}")
    kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    return kind, muts[kind](rng.choice(seeds), rng)


# -- decoding in a forked child -------------------------------------------------------------

def _decode_report(model: LatentModel, data: bytes) -> dict:
    """What the child sends back: the outcome and, for a decode, the SHA-256 of its pixels."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            d = codec.decode(model, data)
            h = hashlib.sha256(to_uint8(d.x_hat).tobytes())
            h.update(d.header.mode.encode() + (b"" if d.alpha is None else d.alpha.tobytes()))
            out = {"outcome": "decoded", "detail": h.hexdigest()}
        except bs.FormatError as exc:
            out = {"outcome": "error", "detail": str(exc)}
        except BaseException as exc:  # noqa: BLE001 - the point is to see anything else
            out = {"outcome": "unexpected", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    if caught and out["outcome"] != "unexpected":
        out = {"outcome": "warned", "detail": f"{caught[0].category.__name__}: {caught[0].message}"[:300]}
    return out


def _reshuffle_heap(seed: int) -> list[bytes]:
    """Random bytes in blocks of random sizes: a forked child shares its parent's memory
    layout and contents, so without this a decoder reading outside its buffers would
    read the same bytes in both children and look deterministic."""
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(16, 1 << 16)) for _ in range(64)]


def decode_in_child(model: LatentModel, data: bytes, timeout: float, reshuffle: int | None = None) -> dict:
    """:func:`_decode_report` in a forked child (first with :func:`_reshuffle_heap` and a
    fresh copy of ``data`` when ``reshuffle`` is given); a dead child is a ``crash``, a
    silent one a ``hang``."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(r)
        code = 0
        try:
            # The parent's intra-op thread pool did not survive the fork; a parallel
            # region in the child would wait on those threads for ever (as DataLoader's
            # workers do, run one thread).
            torch.set_num_threads(1)
            if reshuffle is not None:
                junk = _reshuffle_heap(reshuffle)
                data = bytes(bytearray(data))
                del junk[::2]
            os.write(w, json.dumps(_decode_report(model, data)).encode()[:4000])
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    os.close(w)
    try:
        if not select.select([r], [], [], timeout)[0]:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"outcome": "hang", "detail": f"no answer in {timeout} s"}
        message = os.read(r, 4096)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    if not message:
        why = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit status {os.WEXITSTATUS(status)}")
        return {"outcome": "crash", "detail": why}
    return json.loads(message)


def run_case(model: LatentModel, data: bytes, timeout: float) -> dict:
    """Decode in a child, and a decode once more in another with other memory around the
    stream: both must give the same pixels."""
    first = decode_in_child(model, data, timeout)
    if first["outcome"] == "decoded":
        second = decode_in_child(model, data, timeout, reshuffle=zlib.crc32(data))
        if second != first:
            return {"outcome": "nondeterministic", "detail": f"{first} then {second}"}
    return first


def fuzz(model: LatentModel, cases: int, seed: int, timeout: float, keep: Path | None,
         progress: Callable[[int, Counter], None] | None = None) -> tuple[Counter, Counter, list[str]]:
    """Run ``cases`` cases; returns (outcomes, outcomes by kind as "kind/outcome", kept paths).
    ``kind/unchanged`` counts the cases whose mutation left a seed file as it was."""
    seeds, muts = seed_files(model), mutations(model)
    outcomes, by_kind, kept = Counter(), Counter(), []
    for i in range(cases):
        kind, data = make_case(seeds, muts, seed, i)
        by_kind[f"{kind}/unchanged"] += data in seeds
        result = run_case(model, data, timeout)
        outcomes[result["outcome"]] += 1
        by_kind[f"{kind}/{result['outcome']}"] += 1
        if result["outcome"] in BAD and keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            path = keep / f"{result['outcome']}-{seed}-{i}.sgp"
            path.write_bytes(data)
            kept.append(f"{path.name}: {result['detail']}")
        if progress:
            progress(i + 1, outcomes)
    return outcomes, by_kind, kept


def main() -> None:
    import _env

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a child may take per decode")
    p.add_argument("--keep", type=Path, default=KEEP, help="folder for inputs of a bad outcome")
    p.add_argument("--out", type=Path, default=Path("docs/bench/fuzz_decoder.md"))
    p.add_argument("--quick", action="store_true", help="200 cases (a smoke run)")
    args = p.parse_args()
    torch.set_num_threads(1)  # the children fork from here; one thread forks cleanly
    cases = 200 if args.quick else args.cases
    from sgaplus.zoo import load_model

    model = load_model("default")
    report = _env.Report(_env.header("Fuzzing the .sgp decoder"), __doc__.split("\n\n")[1], "",
                         f"Model {model.name}; {cases} cases, seed {args.seed}, timeout "
                         f"{args.timeout:g} s per decode.", "")
    start = time.perf_counter()

    def progress(done: int, outcomes: Counter) -> None:
        if done % 500 == 0 or done == cases:
            print(f"{done}/{cases} in {time.perf_counter() - start:.0f} s: {dict(outcomes)}",
                  file=sys.stderr, flush=True)

    outcomes, by_kind, kept = fuzz(model, cases, args.seed, args.timeout, args.keep, progress)
    report.say(f"{cases} cases in {time.perf_counter() - start:.0f} s.")
    report.say()
    report.say("| outcome | cases |")
    report.say("|---|---|")
    for name in ("error", "decoded", *BAD):
        report.say(f"| {name} | {outcomes[name]} |")
    report.say()
    columns = ("error", "decoded", *BAD, "unchanged")
    report.say("Per mutation (`unchanged`: cases whose mutation left the file as it was, e.g. a "
               "stream replaced by itself):")
    report.say()
    report.say("| mutation | " + " | ".join(columns) + " |")
    report.say("|---|" + "---|" * len(columns))
    for kind in WEIGHTS:
        report.say(f"| {kind} | " + " | ".join(str(by_kind[f"{kind}/{o}"]) for o in columns) + " |")
    report.say()
    report.say("Kept inputs: " + ("none" if not kept else ""))
    for line in kept:
        report.say(f"- {line}")
    report.say()
    report.write(args.out)


if __name__ == "__main__":
    main()
