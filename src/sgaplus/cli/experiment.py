"""``sgaplus experiment NAME|all``: reproduce the paper's experiments (spec §6)
under a protocol and write ``docs/results/<protocol>/report.md``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import CLIError


def register(sub: argparse._SubParsersAction) -> None:
    from ..experiments import ORDER, PROTOCOLS

    p = sub.add_parser("experiment", help="run the paper's experiments and write a report")
    p.add_argument("name", choices=[*ORDER, "all"], metavar="NAME",
                   help=f"one of: {', '.join(ORDER)}, or all")
    p.add_argument("--protocol", default="quick", choices=list(PROTOCOLS),
                   help="quick: CI-scale check; medium: about 3 h on 2 CPU cores; full: the paper's "
                        "refinement settings on all of Kodak (GPU; not the paper's λ count, data sets or models)")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="the λ family: model names, NAME:LOW..HIGH ranges (mbt2018-mean:1..8: "
                        "CompressAI's official weights) or checkpoint files; default sgaplus-msh:1..4, "
                        "falling back to the warm-start checkpoints")
    p.add_argument("--train-lambda", dest="train_lmbdas", type=float, nargs="+", metavar="λ",
                   help="the training λ of each --models entry, in order, for checkpoints that do "
                        "not record it (a model that records its λ must be given that λ)")
    p.add_argument("--out", type=Path, help="result folder (default docs/results/<protocol>)")
    p.add_argument("--data", type=Path, help="Kodak folder (default ../shared/data/kodak24)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--report-only", action="store_true",
                   help="refine nothing; rewrite the report from the stored units")
    p.add_argument("--plan", action="store_true",
                   help="print the units the run would refine and its estimated time, and stop")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="refine the missing units as Ray tasks: on a local Ray runtime, or on the "
                        "cluster at ADDRESS (host:port of `ray start --head`); put it last or write "
                        "--ray=ADDRESS")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..allocator import keep_freed_memory
    from ..experiments import ORDER, get_protocol
    from ..crops import kodak_dir
    from ..experiments.harness.runner import build_context, run as run_experiments

    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads must be at least 1, not {args.threads}")
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # the refinement loop reuses its large buffers (sgaplus.allocator)
    protocol = get_protocol(args.protocol)
    out = args.out or Path("docs") / "results" / protocol.name
    if args.train_lmbdas and not args.models:
        raise CLIError("--train-lambda needs --models")
    ctx, head = build_context(protocol, out, args.data or kodak_dir(), args.models,
                              args.device, args.train_lmbdas)
    names = list(ORDER) if args.name == "all" else [args.name]
    if args.plan:
        from ..experiments.harness.cost import plan_cost

        print(plan_cost(ctx, names).describe())
        return 0
    if args.ray is None or args.report_only:
        sections = run_experiments(names, ctx, head, ORDER, refine=not args.report_only)
    else:
        from ..distributed import runtime

        with runtime(args.ray or None):
            sections = run_experiments(names, ctx, head, ORDER, distributed=True)
    for name in names:
        s = sections[name]
        print(f"{name}: {'complete' if s.complete else 'partial'}")
    print(f"report: {out / 'report.md'}")
    return 0
