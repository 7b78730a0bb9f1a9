"""``sgaplus methods``: list relaxation methods and temperature schedules with parameters."""

from __future__ import annotations

import argparse
from dataclasses import fields

from .common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list relaxation methods and schedules with their parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _doc(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


def run(args: argparse.Namespace) -> int:
    from ..relax import RELAXATIONS
    from ..schedules import SCHEDULES

    methods = {n: {"params": {f.name: f.default for f in fields(RELAXATIONS.get(n))},
                   "schedule": RELAXATIONS.get(n).default_schedule} for n in RELAXATIONS.names()}
    schedules = {n: {"params": {f.name: f.default for f in fields(SCHEDULES.get(n))},
                     "about": _doc(SCHEDULES.get(n))} for n in SCHEDULES.names()}
    if args.json:
        print_json({"methods": methods, "schedules": schedules})
        return 0
    print("methods (--method NAME --param KEY=VALUE):")
    for name, info in methods.items():
        params = ", ".join(f"{k}={v:g}" for k, v in info["params"].items()) or "-"
        print(f"  {name:10} params: {params:28} default schedule: {info['schedule']}")
    print("schedules (--schedule NAME --schedule-param KEY=VALUE):")
    for name, info in schedules.items():
        params = ", ".join(f"{k}={v:g}" for k, v in info["params"].items()) or "-"
        print(f"  {name:10} params: {params:28} {info['about']}")
    return 0
