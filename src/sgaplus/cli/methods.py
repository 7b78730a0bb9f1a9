"""``sgaplus methods``: list relaxation methods and temperature schedules with parameters.

What it says of a method is the metadata its entry in :mod:`sgaplus.methods` declares
(``label``, ``about``, ``family``, ``classes``, ``default_schedule``), read without importing
torch; ``--markdown`` prints the README's table of methods, which a test holds to this output.
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list relaxation methods and schedules with their parameters")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--markdown", action="store_true", help="the methods as the README's table")
    p.set_defaults(func=run)


def _doc(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


def _params(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in params.items())


def catalogue() -> dict[str, dict[str, dict[str, Any]]]:
    """Methods (in rank order) and schedules, each with its parameters' defaults."""
    from dataclasses import fields

    from ..methods import ranked
    from ..schedules import SCHEDULES

    methods = {m.name: {"params": {f.name: f.default for f in fields(m)}, "schedule": m.default_schedule,
                        "label": m.label, "about": m.about, "family": m.family, "classes": m.classes}
               for m in ranked()}
    schedules = {n: {"params": {f.name: f.default for f in fields(SCHEDULES.get(n))},
                     "about": _doc(SCHEDULES.get(n))} for n in SCHEDULES.names()}
    return {"methods": methods, "schedules": schedules}


def markdown(methods: dict[str, dict[str, Any]]) -> str:
    """The README's table of methods."""
    lines = ["| method | what | family | candidates | parameters | default schedule |",
             "|---|---|---|---|---|---|"]
    for name, m in methods.items():
        about = m["about"].replace("|", "\\|")  # a bar inside a cell would end it
        lines.append(f"| `{name}` | {about} | {m['family']} | {m['classes'] or '—'} | "
                     f"{_params(m['params']) or '—'} | `{m['schedule']}` |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    found = catalogue()
    if args.json:
        print_json(found)
        return 0
    if args.markdown:
        print(markdown(found["methods"]))
        return 0
    print("methods (--method NAME --param KEY=VALUE):")
    for name, info in found["methods"].items():
        print(f"  {name:10} params: {_params(info['params']) or '-':28} default schedule: "
              f"{info['schedule']:9} {info['about']}")
    print("schedules (--schedule NAME --schedule-param KEY=VALUE):")
    for name, info in found["schedules"].items():
        print(f"  {name:10} params: {_params(info['params']) or '-':28} {info['about']}")
    return 0
