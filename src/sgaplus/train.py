"""Training mean-scale hyperpriors (the base models sgaplus refines).

    crops ─▶ net(x) (uniform-noise proxy) ─▶ λ·255²·MSE + bpp ─▶ Adam (warm-up, cosine decay, clip)
                                           └▶ aux loss (entropy-bottleneck quantiles) ─▶ its own Adam

Everything a step depends on lives in the checkpoint: weights, both optimizers,
the step (the learning rate is a pure function of it), the crop generator and
torch's global RNG (CompressAI draws its training noise from it). Resuming
therefore continues bit for bit where the run stopped (same device and threads).
Ctrl-C or SIGTERM finish the current step, save and exit; a killed process
loses at most one checkpoint interval.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import math
import signal
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from compressai.models import MeanScaleHyperprior

from .crops import CropSampler, val_crops
from .latent_model import HardLatents, LatentModel, pad
from .loss import evaluate
from .util import atomic_write, hardware
from .zoo import load_file, save_model

#: Settings a resumed run must share with its checkpoint (``steps`` may change: it rescales the schedule).
FIXED_ON_RESUME = ("lmbda", "N", "M", "batch", "crop", "seed")

CSV_FIELDS = ["step", "lr", "loss", "mse", "bpp", "aux", "grad_norm", "seconds",
              "val_loss", "val_bpp", "val_psnr"]


@dataclass
class TrainConfig:
    """One training run. ``steps`` counts *our* steps (the warm start's are in ``init_meta``)."""

    out: Path
    lmbda: float
    data: list[Path]
    val: Path | None
    init: Path | None = None
    N: int = 128
    M: int = 192
    steps: int = 10000
    batch: int = 8
    crop: int = 128
    lr: float = 1e-4
    lr_min: float = 1e-5
    warmup: float = 0.03
    aux_lr: float = 1e-3
    clip: float = 1.0
    val_every: int = 250
    val_count: int = 4
    val_crop: int = 256
    ckpt_every_s: float = 300.0
    seed: int = 0
    device: str = "cpu"
    amp: str = "fp32"
    time_limit_s: float | None = None
    name: str = "sgaplus-msh"
    note: str = ""

    def as_meta(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else [str(p) for p in v] if k == "data" else v)
                for k, v in d.items()}


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up over ``warmup`` of the steps, then cosine decay to ``lr_min``."""
    warm = max(1, round(cfg.warmup * cfg.steps))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * min(t, 1.0)))




def frozen_copy(net: MeanScaleHyperprior, lmbda: float, meta: dict[str, Any]) -> LatentModel:
    """A LatentModel of a copy of ``net`` on the CPU (freezing it must not touch the training net)."""
    return LatentModel(copy.deepcopy(net).cpu(), name=meta.get("name", "sgaplus-msh"),
                       lmbda=lmbda, meta=meta).prepare()


@dataclass
class Trainer:
    """Owns the net, the optimizers and the sampling state of one run."""

    cfg: TrainConfig
    log: Callable[[str], None] = print
    step: int = 0
    seconds: float = 0.0
    last_val: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cfg = self.cfg
        if cfg.amp not in ("fp32", "bf16"):
            raise ValueError(f"--amp must be fp32 or bf16, not {cfg.amp!r}")
        if cfg.steps < 0 or cfg.batch < 1 or cfg.crop < 64 or cfg.crop % 64:
            raise ValueError("need --steps >= 0, --batch >= 1 and --crop a multiple of 64")
        self.device = torch.device(cfg.device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(cfg.seed)
        self.init_meta: dict[str, Any] = {}
        if cfg.init is not None:
            warm = load_file(cfg.init, require_lambda=False)  # only its weights are used
            net, self.init_meta = warm.net, {**warm.meta, "file": cfg.init.name}
            if (net.N, net.M) != (cfg.N, cfg.M):
                self.log(f"--init has N={net.N}, M={net.M}; using those")
                cfg.N, cfg.M = int(net.N), int(net.M)
        else:
            net = MeanScaleHyperprior(cfg.N, cfg.M)
        self.net = net.to(self.device).train().requires_grad_(True)
        # The quantiles belong to the aux loss alone: their (stale) gradients must not enter
        # the main optimizer or the clipping norm.
        self.main_params = [p for n, p in self.net.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in self.net.named_parameters() if n.endswith("quantiles")]
        self.opt = torch.optim.Adam(self.main_params, lr=cfg.lr)
        self.aux_opt = torch.optim.Adam(aux, lr=cfg.aux_lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        # Loading ~540 images takes a while; an export of the warm start (0 steps) needs none.
        self.sampler = CropSampler(cfg.data, cfg.crop) if cfg.steps else None
        self.val_x = val_crops(cfg.val, cfg.val_crop, cfg.val_count) if cfg.val else None
        cfg.out.mkdir(parents=True, exist_ok=True)

    # -- paths ----------------------------------------------------------------
    @property
    def ckpt_path(self) -> Path:
        return self.cfg.out / "checkpoint.pt"

    @property
    def csv_path(self) -> Path:
        return self.cfg.out / "log.csv"

    @property
    def model_path(self) -> Path:
        return self.cfg.out / "model.pt"

    # -- checkpoint -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "aux_opt": self.aux_opt.state_dict(), "step": self.step, "seconds": self.seconds,
                "gen": self.gen.get_state(), "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "last_val": self.last_val, "config": self.cfg.as_meta(), "init_meta": self.init_meta}

    def save(self) -> None:
        atomic_write(self.ckpt_path, lambda tmp: torch.save(self.state(), tmp))

    def resume(self) -> bool:
        """Load ``out/checkpoint.pt`` if there is one; drop CSV rows written after it."""
        if not self.ckpt_path.is_file():
            return False
        # Loaded to the CPU whatever the device: the RNG states must be CPU byte tensors, and
        # load_state_dict copies weights and optimizer state onto the parameters' device.
        st = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
        changed = [k for k in FIXED_ON_RESUME if st["config"][k] != getattr(self.cfg, k)]
        if changed:
            raise ValueError(f"{self.ckpt_path} was trained with other {', '.join(changed)}; use another --out")
        self.net.load_state_dict(st["net"])
        self.opt.load_state_dict(st["opt"])
        self.aux_opt.load_state_dict(st["aux_opt"])
        self.step, self.seconds, self.last_val = st["step"], st["seconds"], st["last_val"]
        self.init_meta = st["init_meta"]
        self.gen.set_state(st["gen"])
        torch.set_rng_state(st["rng"])
        if st["cuda_rng"]:
            torch.cuda.set_rng_state_all(st["cuda_rng"])
        if self.csv_path.is_file():
            with open(self.csv_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
            self._write_csv(rows, "w")
        return True

    def _write_csv(self, rows: list[dict[str, Any]], mode: str = "a") -> None:
        new = mode == "w" or not self.csv_path.is_file()
        with open(self.csv_path, mode, newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            if new:
                w.writeheader()
            w.writerows(rows)

    # -- one step -----------------------------------------------------------------
    def _autocast(self):
        if self.cfg.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        lr = lr_at(self.step, cfg)
        for g in self.opt.param_groups:
            g["lr"] = lr
        assert self.sampler is not None  # steps > 0
        x = self.sampler.sample(cfg.batch, self.gen).to(self.device)
        with self._autocast():
            out = self.net(x)
        pixels = x.size(0) * x.size(2) * x.size(3)
        bpp = sum(-torch.log2(lik.float()).sum() for lik in out["likelihoods"].values()) / pixels
        mse = (out["x_hat"].float() - x).pow(2).mean()
        loss = cfg.lmbda * 255.0**2 * mse + bpp
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.main_params, cfg.clip)
        self.opt.step()
        aux = self.net.aux_loss()
        self.aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        self.aux_opt.step()
        self.step += 1
        return {"step": self.step, "lr": lr, "loss": loss.item(), "mse": mse.item(),
                "bpp": bpp.item(), "aux": aux.item(), "grad_norm": grad_norm.item()}

    def validate(self) -> dict[str, float]:
        """Mean figures on the fixed validation crops, hard rounding, estimated bits."""
        if self.val_x is None:
            return {}
        rows = evaluate(frozen_copy(self.net, self.cfg.lmbda, {}), self.val_x, self.cfg.lmbda)
        n = len(rows)
        self.last_val = {"val_loss": sum(r.loss for r in rows) / n,
                         "val_bpp": sum(r.bpp for r in rows) / n,
                         "val_psnr": sum(r.psnr for r in rows) / n}
        return self.last_val

    # -- the loop ---------------------------------------------------------------
    def run(self, progress: Callable[[dict[str, float]], None] | None = None) -> bool:
        """Train up to ``cfg.steps``; True when finished, False when stopped early (saved)."""
        stop: list[int] = []
        handler = lambda signum, frame: stop.append(signum)  # noqa: E731
        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        start = time.monotonic()
        rows: list[dict[str, Any]] = []
        if self.step == 0 and self.val_x is not None:
            rows.append({"step": 0, **self.validate()})  # the starting point, for the log
        t0 = last_save = time.monotonic()
        try:
            while self.step < self.cfg.steps and not stop:
                row = self.train_step()
                now = time.monotonic()
                self.seconds += now - t0
                t0 = now
                row["seconds"] = round(self.seconds, 2)
                if self.step % self.cfg.val_every == 0 or self.step == self.cfg.steps:
                    row.update(self.validate())
                    t0 = time.monotonic()  # validation time is not training time
                rows.append(row)
                if progress is not None:
                    progress(row)
                over = self.cfg.time_limit_s is not None and now - start > self.cfg.time_limit_s
                if now - last_save > self.cfg.ckpt_every_s or self.step == self.cfg.steps or over:
                    self._write_csv(rows)
                    rows = []
                    self.save()
                    last_save = t0 = time.monotonic()
                if over:
                    self.log(f"time limit reached at step {self.step}; checkpoint saved")
                    return False
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        if stop:
            self._write_csv(rows)
            self.save()
            self.log(f"stopped at step {self.step}; checkpoint saved, rerun the same command to resume")
            return False
        return True

    def export(self, path: Path | None = None) -> Path:
        """Write the weights-only model (fp16 parameters, fp32 buffers, CDF tables) with metadata
        (validation figures of exactly these weights)."""
        path = path or self.model_path
        self.validate()
        cfg, init = self.cfg, self.init_meta
        meta = {
            "name": cfg.name, "arch": "mbt2018-mean", "steps": self.step, "batch": cfg.batch,
            "crop": cfg.crop, "seconds": round(self.seconds, 1),
            "hardware": hardware(self.device), "date": dt.date.today().isoformat(),
            "data": f"{len(self.sampler)} images: " + ", ".join(map(str, cfg.data))
                    if self.sampler else "none (0 steps)",
            "init": init.get("file") or (cfg.init.name if cfg.init else None),
            # all steps behind the init file: its own plus those of its own warm start
            "init_steps": init.get("steps", 0) + init.get("init_steps", 0),
            "steps_note": "steps = steps trained by sgaplus; init_steps = steps of the warm start before that",
            "lr_peak": cfg.lr, "lr_min": cfg.lr_min, "amp": cfg.amp, "note": cfg.note,
            "validation": {"set": f"{cfg.val_count} centre crops {cfg.val_crop}px of {cfg.val}",
                           **{k: round(v, 4) for k, v in self.last_val.items()}},
        }
        model = frozen_copy(self.net, cfg.lmbda, meta)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: save_model(model, tmp))
        return path
