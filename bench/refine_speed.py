"""Refinement speed: the reference code's loop vs sgaplus's Refiner (issue 7).

One run, one model, the same images and seed:

(a) ``reference``: the loop as the SGA+ reference code writes it (spec §3-4): fp32,
    one image, a stacked ``F.gumbel_softmax`` over the floor/ceil candidates, and
    the true R-D loss from an extra no-grad forward after every iteration.
(b) sgaplus's :class:`~sgaplus.refine.Refiner` with ``precision`` fp32 (the
    default: channels_last and the kernels of ``sgaplus.kernels`` on CPU) and bf16
    (CompressAI's g_s under bf16 autocast).

Throughput is timed on windows of iterations after a warm-up, the loops taking
turns window by window so that a shared CPU's load falls on all of them alike;
the median window counts. Throughput is measured at one torch thread and at one per
core (torch's default). 2000 full iterations of (a) would cost about an hour on
this CPU, so the wall times to 500 and 2000 iterations are seconds per iteration
times the count. The
final true loss of each loop after the same number of iterations is measured on a
smaller crop, in fp32 with the codec's own hard rounding (``LatentModel.quantize``).

    python bench/refine_speed.py [--quick]   ->   docs/bench/refine_speed.md
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

import _env
from sgaplus.crops import kodak_dir
from sgaplus import ops
from sgaplus.allocator import keep_freed_memory
from sgaplus.images import load_image
from sgaplus.latent_model import LatentModel, pad
from sgaplus.loss import rd_terms
from sgaplus.refine import Refiner, default_device
from sgaplus.relax import TwoClass
from sgaplus.schedules import get_schedule
from sgaplus.zoo import load_model

KODAK = kodak_dir()
PROFILE_NOTE = (
    "Times are what the profiler clocks inside each op (wall, inflated by the shared CPU's "
    "load); read the shares. `_convolution`/`convolution_backward`/`mkldnn_convolution` are "
    "the transposed and sub-pixel convolutions of g_s and h_s (oneDNN, near the CPU's fp32 "
    "peak); `mm`, `mul`, `pow`, `div_`, `sqrt_`, `addcmul_` are mostly the inverse-GDN "
    "kernel's blocks; the rest is the relaxation, the rates and Adam on the latents.")
OnIter = Callable[[int], None]
#: Called with (iterations done, y, z) after each step: where a caller copies the latents.
OnStep = Callable[[int, Tensor, Tensor], None]
#: Images per batch of the batched GPU variant.
GPU_BATCH = 8


def reference_refine(model: LatentModel, x: Tensor, method: TwoClass, iters: int, *,
                     lr: float = 0.005, seed: int = 0, on_iter: OnIter | None = None,
                     on_step: OnStep | None = None, matched: bool = False) -> tuple[Tensor, Tensor]:
    """The baseline (a); returns the refined (y, z). ``on_step`` sees the latents after every
    step (detached, not to be modified): :func:`reference_log` is the reference code's.

    ``matched``: the noise sgaplus's Refiner draws with ``seed`` instead of
    ``F.gumbel_softmax``'s, each logistic sample L as the Gumbel pair (0, L) (the softmax
    of two sees only their difference, so the law is the same): the loops then differ by
    their code alone, not by their noise.
    """
    torch.manual_seed(seed)  # F.gumbel_softmax draws from the global generator
    gen = torch.Generator(x.device).manual_seed(seed) if matched else None
    schedule = get_schedule(method.default_schedule)
    with torch.no_grad():
        y, z = model.analysis(pad(x))
    y.requires_grad_(True)
    z.requires_grad_(True)
    opt = torch.optim.Adam([y, z], lr=lr)

    def relax(v: Tensor, tau: float) -> Tensor:
        floor, ceil = torch.floor(v), torch.ceil(v)
        d = ops.clamp_distance(torch.stack([v - floor, ceil - v], dim=-1))
        logits = method.log_prob(d) / tau
        if gen is None:
            w = F.gumbel_softmax(logits, tau=tau, hard=False)
        else:
            gumbel = torch.stack([torch.zeros_like(v), method.draw(v, gen)], dim=-1)
            w = ((logits + gumbel) / tau).softmax(-1)
        return w[..., 0] * floor + w[..., 1] * ceil

    for t in range(iters):
        tau = schedule(t)
        z_t = relax(z, tau)
        scales, means = model.hyper_synthesis(z_t, y.shape)
        y_t = relax(y - means, tau) + means
        loss = rd_terms(model, x, y_t, z_t, scales, means)[0].loss(model.lmbda).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(t + 1, y.detach(), z.detach())
        if on_iter is not None:
            on_iter(t + 1)
    return y.detach(), z.detach()


def reference_log(model: LatentModel, x: Tensor) -> OnStep:
    """What the reference code does after every step: the true loss, one no-grad forward
    with hard rounding (part of its cost; it draws no random number, so leaving it out
    does not move the trajectory)."""
    true: list[float] = []

    @torch.no_grad()
    def log(t: int, y: Tensor, z: Tensor) -> None:
        z_h = torch.round(z)
        s_h, m_h = model.hyper_synthesis(z_h, y.shape)
        terms, _ = rd_terms(model, x, torch.round(y - m_h) + m_h, z_h, s_h, m_h)
        true.append(float(terms.loss(model.lmbda).mean()))

    return log


def run_loop(variant: str, model: LatentModel, x: Tensor, method: str, iters: int,
             on_iter: OnIter | None = None, seed: int = 0) -> float:
    """Run ``variant`` for ``iters`` iterations; returns the final true loss (fp32)."""
    dev = default_device()
    if variant.startswith("reference"):
        checker = Refiner(model, method=method, precision="fp32", device=dev)
        model, x = model.to(dev), x.to(dev)
        y, z = reference_refine(model, x, checker.method, iters, seed=seed, on_iter=on_iter,
                                on_step=reference_log(model, x))
        return checker.evaluate(x, model.quantize(y, z))[0][0].loss
    refiner = Refiner(model, method=method, iters=iters, precision=variant.split()[1], seed=seed,
                      device=dev)
    progress = (lambda t, tau, loss: on_iter(t)) if on_iter is not None else None
    return refiner.refine(x, progress).after[0].loss


def timed(variant: str, model: LatentModel, x: Tensor, method: str, warmup: int,
          window: int) -> dict[str, float]:
    """Seconds per iteration and image over ``window`` iterations after ``warmup`` (a
    multiple of 10, so it holds sgaplus's true-loss evaluations in proportion), and peak
    RSS. A variant ending in ``xB`` refines B copies of ``x`` as one batch."""
    marks: dict[str, tuple[float, float]] = {}
    clock: list[_env.Clock] = []

    def on_iter(t: int) -> None:
        if t == warmup:
            clock.append(_env.Clock())
        elif t == warmup + window:
            marks["lap"] = clock[0].lap()

    last = variant.split()[-1]
    batch = int(last[1:]) if last.startswith("x") and last[1:].isdigit() else 1
    _env.reset_peak_rss()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    # One more iteration than the window: the Refiner evaluates the true loss after its last.
    run_loop(variant, model, x.expand(batch, -1, -1, -1).contiguous(), method,
             warmup + window + 1, on_iter)
    wall, cpu = marks["lap"]
    row = {"s_it": wall / window / batch, "cpu_s_it": cpu / window / batch,
           "rss": _env.peak_rss_mib()}
    if torch.cuda.is_available():
        row["cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return row


#: The reference loop in a process set up as sgaplus's CLI sets it up (kept memory): how
#: much of the speed-up is the allocator alone.
REFERENCE_KEPT = "reference (kept memory)"


def timing_image(quick: bool) -> Tensor:
    x = load_image(KODAK / "kodim01.png").x
    return x[..., :256, :256] if quick else x


def timed_in_child(variant: str, method: str, threads: int, quick: bool, warmup: int,
                   window: int) -> dict[str, float]:
    """:func:`timed` in a fresh interpreter, so each loop meets the allocator it would meet
    in use: the reference glibc's default, sgaplus's the kept memory its CLI sets up
    (``sgaplus.allocator``); in one process the first setting would hold for both."""
    spec = dict(variant=variant, method=method, threads=threads, quick=quick, warmup=warmup,
                window=window)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(spec: str) -> None:
    s = json.loads(spec)
    torch.set_num_threads(s["threads"])
    if s["variant"] != "reference":
        keep_freed_memory()
    row = timed(s["variant"], load_model("default"), timing_image(s["quick"]), s["method"],
                s["warmup"], s["window"])
    print(json.dumps(row))


def profile(model: LatentModel, x: Tensor, method: str, top: int = 12) -> str:
    """Self time per op over 3 iterations of the default Refiner, as a markdown table."""
    from torch.profiler import ProfilerActivity, profile as tprofile, schedule

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with tprofile(activities=acts, schedule=schedule(wait=1, warmup=1, active=3, repeat=1)) as prof:
        Refiner(model, method=method, iters=6, device=default_device()).refine(
            x, lambda t, tau, loss: prof.step())
    # On a GPU the kernels' device time is what an iteration waits for.
    attr = "self_device_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
    # ProfilerStep* spans whole iterations: on a GPU its "self" device time is every kernel
    # launched under it (docs/bench/refine_speed_gpu.md, first run), not an op of its own.
    events = sorted((e for e in prof.key_averages() if not e.key.startswith("ProfilerStep")),
                    key=lambda e: getattr(e, attr), reverse=True)
    total = sum(getattr(e, attr) for e in events)
    where = "GPU" if torch.cuda.is_available() else "CPU"
    lines = [f"| op | self {where} ms / iteration | share |", "|---|---:|---:|"]
    for e in events[:top]:
        lines.append(f"| `{e.key}` | {getattr(e, attr) / 3e3:.1f} | "
                     f"{100 * getattr(e, attr) / total:.1f} % |")
    return "\n".join(lines)


def floor_s_it(model: LatentModel, x: Tensor, precision: str, fmt: torch.memory_format,
               kernels: bool, reps: int = 3) -> float:
    """Seconds of one forward+backward of g_s and h_s alone (grads to their inputs), CPU
    time on a CPU and wall time on a GPU: g_s in ``precision`` (with ``kernels``: the loop's
    sgaplus.kernels form), h_s in fp32, network and latents in ``fmt``."""
    r = Refiner(model, precision=precision, device=default_device())
    with torch.no_grad():
        y0, z0 = model.analysis(pad(x.to(r.device)))
    y = y0.clone(memory_format=fmt).requires_grad_(True)
    z = z0.clone(memory_format=fmt).requires_grad_(True)
    model.net.to(memory_format=fmt)
    try:
        for i in range(reps + 1):
            if i == 1:
                clock = _env.Clock()
            params = model.net.h_s(z)
            with r._autocast():
                out = model.loop_synthesis()(y) if kernels else model.synthesis(y)
            (out.float().sum() + params.sum()).backward()
        return clock.lap()[0 if r.device.type == "cuda" else 1] / reps
    finally:
        model.net.to(memory_format=torch.contiguous_format)


def flop_floor(model: LatentModel, x: Tensor) -> tuple[float, float]:
    """(GFLOP of one iteration's products, measured fp32 matmul GFLOP/s on the model's device).

    Counted: every convolution of g_s and h_s forward and backward to its input (the
    weights are frozen, so no weight gradient) and GDN's Γ products (one forward, one
    backward); each 2 FLOPs per multiply-add. Everything else an iteration does is
    elementwise and is left out, so products / peak is a lower bound on its time.
    """
    from compressai.layers import GDN

    macs = [0.0]

    def count(module: torch.nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        x_in = inputs[0]
        if isinstance(module, torch.nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            macs[0] += x_in.numel() * module.out_channels * k
        elif isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            macs[0] += out.numel() * module.in_channels * k
        elif isinstance(module, GDN):
            macs[0] += x_in.numel() * x_in.size(1)

    dev = next(model.net.parameters()).device
    hooks = [m.register_forward_hook(count) for part in (model.net.g_s, model.net.h_s)
             for m in part.modules()]
    try:
        with torch.no_grad():
            y, z = model.analysis(pad(x.to(dev)))
            model.net.g_s(y)
            model.net.h_s(z)
    finally:
        for h in hooks:
            h.remove()
    a = torch.randn(2048, 2048, device=dev)
    torch.mm(a, a)
    clock = _env.Clock()
    for _ in range(5):
        torch.mm(a, a)
    peak = 5 * 2 * 2048**3 / clock.lap()[0] / 1e9
    return 2 * 2 * macs[0] / 1e9, peak


def main() -> None:
    args = _env.parse_args(__doc__, "docs/bench/refine_speed.md", "small crops and few iterations (a smoke run)")
    q = args.quick
    # Timing image, window; quality crop (h, w) and iterations.
    dev = default_device()
    gpu = dev.type == "cuda"
    # A GPU iteration takes milliseconds: longer windows, and a warm-up past cuDNN's first calls.
    warmup, window, rounds = (10, 50, 1 if q else 3) if gpu else (2, 10, 1 if q else 3)
    qh, qw, q_iters = (64, 64, 30) if q else (128, 128, 500)
    x_full = load_image(KODAK / "kodim01.png").x
    x_time = timing_image(q)
    x_qual = x_full[..., 160:160 + qh, 256:256 + qw]
    model = load_model("default")
    variants = ["reference", "sgaplus fp32", "sgaplus bf16"]
    # A GPU runs one 768x512 image far below its capacity (launch-bound), so there the
    # Refiner also runs a batch: per image the same loop (tests/test_refine.py), one launch
    # per op for all of them.
    timed_variants = [variants[0], REFERENCE_KEPT, *variants[1:]] + (
        [f"sgaplus fp32 x{GPU_BATCH}"] if gpu else [])
    default = Refiner(model, device=dev).precision
    report = _env.Report(
        _env.header("Refinement speed: reference loop vs sgaplus Refiner"),
        f"Model `{model.name}` (λ = {model.lmbda}, weights sha256 {model.fingerprint()[:12]}), "
        f"device {dev}, seed 0, each method with its default schedule (ssl: sgaplus, atanh: "
        f"yang). The Refiner's default precision is {default}. sgaplus evaluates the true loss "
        f"every 10 iterations (`log_every`), the reference after every iteration.", "")
    say = report.say

    h, w = x_time.shape[-2:]
    say(f"## Throughput: kodim01 {w}x{h}; median of {rounds} windows of {window} iterations, "
        f"each after {warmup} warm-up iterations")
    say()
    say("Wall times to 500 / 2000 iterations are the timed window's s/it times the count "
        "(the loop only; set-up and the final fp32 evaluation add about one iteration). "
        "CPU s/it is process CPU time (with 2 threads about twice the wall time). Each "
        "window runs in a fresh process: the reference with glibc's default allocator, as its "
        "code runs; sgaplus's loops, and the reference once more for comparison "
        f"(`{REFERENCE_KEPT}`), with the kept memory that sgaplus's CLI sets up "
        "(`sgaplus.allocator`). Speed-ups are against the plain reference."
        + (f" `x{GPU_BATCH}`: a batch of {GPU_BATCH} copies of the image refined together; its "
           f"times are per image (the batch's time / {GPU_BATCH})." if gpu else ""))
    say()
    say("| threads | method | loop | s/it (wall) | CPU s/it | it/s | to 500 it | to 2000 it | "
        "peak RSS MiB | speed-up (wall) | speed-up (CPU) | load |")
    say("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    speed: dict[tuple[str, str], dict[str, float]] = {}
    for threads in [args.threads] if gpu else sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        for method in ("ssl", "atanh"):
            runs: dict[str, list[dict[str, float]]] = {v: [] for v in timed_variants}
            for _ in range(rounds):
                for v in timed_variants:
                    runs[v].append(timed_in_child(v, method, threads, q, warmup, window))
            for v in timed_variants:
                r = {k: statistics.median(row[k] for row in runs[v]) for k in runs[v][0]}
                if threads == args.threads:
                    speed[method, v] = r
                ref = statistics.median(row["s_it"] for row in runs["reference"])
                ref_cpu = statistics.median(row["cpu_s_it"] for row in runs["reference"])
                cuda = f" (CUDA max {r['cuda_mib']:.0f})" if "cuda_mib" in r else ""
                say(f"| {threads} | {method} | {v} | {r['s_it']:.3f} | {r['cpu_s_it']:.3f} | "
                    f"{1 / r['s_it']:.2f} | {500 * r['s_it']:.0f} s | {2000 * r['s_it']:.0f} s | "
                    f"{r['rss']:.0f}{cuda} | {ref / r['s_it']:.2f}x | {ref_cpu / r['cpu_s_it']:.2f}x | "
                    f"{_env.load()} |")
    torch.set_num_threads(args.threads)
    say()
    seeds = (0,) if q else (0, 1, 2)
    say(f"## Final true loss after {q_iters} iterations: kodim01 crop {qw}x{qh}, seeds {seeds}")
    say()
    say("The loops draw their noise differently (one `F.gumbel_softmax` per candidate pair vs "
        "one logistic sample per element), so a single run of each compares two noise draws; "
        "the mean over seeds is what is compared, beside the spread between seeds.")
    say()
    say("| method | loop | true loss (mean) | min-max over seeds | mean vs reference | "
        "wall s per run | load |")
    say("|---|---|---:|---|---:|---:|---|")
    for method in ("ssl", "atanh"):
        ref_mean = None
        for v in variants:
            losses, walls = [], []
            for seed in seeds:
                clock = _env.Clock()
                losses.append(run_loop(v, model, x_qual, method, q_iters, seed=seed))
                walls.append(clock.lap()[0])
            mean = statistics.mean(losses)
            ref_mean = ref_mean if ref_mean is not None else mean
            say(f"| {method} | {v} | {mean:.5f} | {min(losses):.5f}-{max(losses):.5f} | "
                f"{100 * (mean / ref_mean - 1):+.2f} % | {statistics.mean(walls):.1f} | "
                f"{_env.load()} |")
    say()
    keep_freed_memory()  # from here on, as the sgaplus rows of the throughput table ran
    say(f"## Where the time goes: default Refiner (ssl, {default}), kodim01 {w}x{h}, kept memory")
    say()
    say(profile(model, x_time, "ssl"))
    if not gpu:
        say()
        say(PROFILE_NOTE)
    say()
    clock_kind = "wall" if gpu else "CPU"
    say("Floor = one forward+backward of g_s and h_s alone, in the loop's precision and "
        + ("memory format; wall seconds on the GPU, against the wall s/it of the throughput table:"
           if gpu else f"memory format; CPU seconds at {args.threads} thread(s), against the CPU "
           "s/it of the throughput table:"))
    say()
    say(f"| g_s | precision | memory format | floor {clock_kind} s | sgaplus {clock_kind} s/it (ssl) "
        "| iteration / floor |")
    say("|---|---|---|---:|---:|---:|")
    for prec, fmt, kernels in (("fp32", torch.contiguous_format, False),
                               ("fp32", torch.channels_last, False),
                               ("fp32", torch.channels_last, True),
                               ("bf16", torch.channels_last, False)):
        if kernels and gpu:  # the kernels are CPU code
            continue
        f = floor_s_it(model, x_time, prec, fmt, kernels)
        fmt_name = str(fmt).removeprefix("torch.")
        loop = Refiner(model, precision=prec, device=dev)
        g_s = "sgaplus.kernels" if kernels else "CompressAI"
        if fmt == loop.memory_format and kernels == loop.uses_kernels:
            s_it = speed["ssl", f"sgaplus {prec}"]["s_it" if gpu else "cpu_s_it"]
            say(f"| {g_s} | {prec} | {fmt_name} | {f:.3f} | {s_it:.3f} | {s_it / f:.2f} |")
        else:
            say(f"| {g_s} | {prec} | {fmt_name} | {f:.3f} | - | - |")
    say()
    gflop, peak = flop_floor(model, x_time)
    s_it = speed["ssl", "sgaplus fp32"]["s_it"]
    say(f"Arithmetic floor: one iteration's convolutions (g_s and h_s, forward and input "
        f"gradient) and GDN products are {gflop:.1f} GFLOP; at the measured fp32 matmul rate of "
        f"{'the GPU' if gpu else f'{args.threads} CPU thread(s)'} ({peak:.0f} GFLOP/s, "
        f"2048x2048 `torch.mm`) they alone "
        f"take {gflop / peak:.3f} s. The fp32 loop runs {s_it:.3f} s/it, "
        f"{s_it / (gflop / peak):.2f}x that floor; the reference runs "
        f"{speed['ssl', 'reference']['s_it'] / (gflop / peak):.2f}x.")
    say()
    report.write(args.out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        main()
