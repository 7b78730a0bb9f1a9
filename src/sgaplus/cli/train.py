"""``sgaplus train``: train (or continue training) a mean-scale hyperprior; resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import CLIError

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a mean-scale hyperprior (resumes from OUT/checkpoint.pt)")
    p.add_argument("--out", type=Path, required=True,
                   help="run folder: checkpoint.pt, log.csv, model.pt; an existing checkpoint is resumed")
    p.add_argument("--lambda", dest="lmbda", type=float, required=True, help="λ of λ·255²·MSE + bpp")
    p.add_argument("--init", type=Path, help="warm start: a checkpoint to continue from")
    p.add_argument("--N", type=int, default=128, help="channels of the transforms (default 128)")
    p.add_argument("--M", type=int, default=192, help="channels of y (default 192)")
    p.add_argument("--steps", type=int, default=10000, help="total steps of this run (default 10000; 0 = export --init unchanged)")
    p.add_argument("--batch", type=int, default=8, help="crops per step (default 8)")
    p.add_argument("--crop", type=int, default=128, help="crop side, multiple of 64 (default 128)")
    p.add_argument("--lr", type=float, default=1e-4, help="peak Adam learning rate (default 1e-4)")
    p.add_argument("--lr-min", type=float, default=1e-5, help="final learning rate of the cosine decay")
    p.add_argument("--warmup", type=float, default=0.03, help="warm-up fraction of --steps (default 0.03)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip (default 1.0)")
    p.add_argument("--data", type=Path, action="append",
                   help="training image folder, repeatable (default: ../shared/data bsds500/* and photos_train)")
    p.add_argument("--val-dir", type=Path, help="validation images (default ../shared/data/kodak24)")
    p.add_argument("--no-val", action="store_true", help="skip validation")
    p.add_argument("--val-every", type=int, default=250, help="validate every K steps (default 250)")
    p.add_argument("--val-count", type=int, default=4, help="validation images (default 4)")
    p.add_argument("--val-crop", type=int, default=256, help="validation centre-crop side (default 256)")
    p.add_argument("--ckpt-every", type=float, default=300.0, help="checkpoint interval in seconds")
    p.add_argument("--time-limit", type=float, help="stop (saved, exported) after this many minutes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--amp", default="fp32", choices=("fp32", "bf16"),
                   help="autocast precision (default fp32: bf16 was slower on our CPU, see docs/models.md)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--export", type=Path, help="also write the exported model here (e.g. the bundled default)")
    p.add_argument("--name", default="sgaplus-msh", help="model name stored in the export")
    p.add_argument("--note", default="", help="free text stored in the export's metadata (e.g. run history)")
    p.add_argument("--export-only", action="store_true",
                   help="export OUT/checkpoint.pt as it is (e.g. after --time-limit) without training")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..crops import default_train_dirs, kodak_dir
    from ..train import TrainConfig, Trainer
    from .common import progress_bar

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    val = None if args.no_val else (args.val_dir or kodak_dir())
    if val is not None and not val.is_dir():
        raise CLIError(f"validation folder not found: {val} (use --val-dir or --no-val)")
    cfg = TrainConfig(
        out=args.out, lmbda=args.lmbda, data=args.data or default_train_dirs(), val=val,
        init=args.init, N=args.N, M=args.M, steps=args.steps, batch=args.batch, crop=args.crop,
        lr=args.lr, lr_min=args.lr_min, warmup=args.warmup, clip=args.clip,
        val_every=args.val_every, val_count=args.val_count, val_crop=args.val_crop,
        ckpt_every_s=args.ckpt_every, seed=args.seed, device=device, amp=args.amp,
        time_limit_s=args.time_limit * 60 if args.time_limit else None, name=args.name,
        note=args.note,
    )
    if cfg.init is not None and not cfg.init.is_file():
        raise CLIError(f"--init file not found: {cfg.init}")
    trainer = Trainer(cfg, log=lambda msg: print(f"sgaplus train: {msg}"))
    resumed = trainer.resume()
    if args.export_only and not resumed:
        raise CLIError(f"--export-only: no checkpoint in {cfg.out}")
    if resumed:
        print(f"sgaplus train: resuming {trainer.ckpt_path} at step {trainer.step}")
    with progress_bar(cfg.steps, f"train λ={cfg.lmbda:g}", disable=args.export_only) as bar:
        bar.update(trainer.step)

        def show(row: dict[str, float]) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.3f}", bpp=f"{row['bpp']:.3f}",
                            **({"val_psnr": f"{row['val_psnr']:.2f}"} if "val_psnr" in row else {}))

        if not args.export_only:
            trainer.run(show)
    path = trainer.export()
    print(f"sgaplus train: step {trainer.step}/{cfg.steps}, {trainer.seconds:.0f} s; exported {path}"
          + (f" and {trainer.export(args.export)}" if args.export else ""))
    if trainer.last_val:
        print("sgaplus train: validation " + "  ".join(f"{k} {v:.4f}" for k, v in trainer.last_val.items()))
    return 0
