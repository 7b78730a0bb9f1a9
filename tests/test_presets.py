"""compress -q / --effort: the scales map to what docs/bench/presets.md tabulates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sgaplus.cli.main import main
from sgaplus.presets import DEFAULT_EFFORT, EFFORT_ITERS, PAPER_EFFORT, QUALITIES, effort, quality
from sgaplus.schedules import budgeted

TABLE = Path(__file__).parents[1] / "docs" / "bench" / "presets.md"


def table_rows(header: str) -> list[list[str]]:
    """The cells of the markdown table under the line starting with ``header``."""
    lines = TABLE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("|") and not re.match(r"\|[-:|]+\|?$", line) and not line.startswith("| -q") \
                and not line.startswith("| effort"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_the_quality_table_is_the_scale():
    rows = table_rows("### Quality")
    assert [int(r[0]) for r in rows] == sorted(QUALITIES)
    for r in rows:
        spec, lmbda = quality(int(r[0]))
        assert r[1] == spec and float(r[2]) == lmbda
    bpp = [float(r[3]) for r in rows]
    assert bpp == sorted(bpp)  # the scale runs from the smallest files to the largest


def test_the_effort_table_is_the_scale():
    rows = table_rows("### Effort")
    assert [(int(r[0]), int(r[2])) for r in rows] == list(enumerate(EFFORT_ITERS))


def test_effort_settings():
    assert effort(0)["iters"] == 0
    assert effort(DEFAULT_EFFORT) == budgeted(EFFORT_ITERS[DEFAULT_EFFORT])
    paper = effort(PAPER_EFFORT)
    assert (paper["iters"], paper["lr"], paper["lr_decay"], paper["schedule"]) == (2000, 0.005, "constant", None)
    with pytest.raises(ValueError, match="0 .no refinement. to 9"):
        effort(10)
    with pytest.raises(ValueError, match="1 .smallest files. to 9"):
        quality(0)


def compress(capsys, photo_png, out, *extra):
    capsys.readouterr()
    assert main(["compress", str(photo_png), "-o", str(out), "--device", "cpu", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("q", [1, 5, 9])
def test_quality_picks_the_tables_model_and_lambda(tmp_path, capsys, photo_png, q):
    row = compress(capsys, photo_png, tmp_path / "q.sgp", "-q", str(q), "--effort", "1")
    spec, lmbda = quality(q)
    assert row["model"] == spec.replace(":", "-q") and row["lmbda"] == lmbda
    assert row["iters"] == EFFORT_ITERS[1]


def test_effort_zero_is_no_refine(tmp_path, capsys, photo_png):
    a = compress(capsys, photo_png, tmp_path / "a.sgp", "--effort", "0")
    b = compress(capsys, photo_png, tmp_path / "b.sgp", "--no-refine")
    assert (tmp_path / "a.sgp").read_bytes() == (tmp_path / "b.sgp").read_bytes()
    assert a["iters"] == b["iters"] == 0 and a["method"] == "none"


def test_the_default_is_effort_5_and_iters_the_papers_settings(tmp_path, capsys, photo_png, monkeypatch):
    """No flag: the budgeted settings for 250 iterations; --iters N: the Refiner's own
    (the paper's) for N."""
    from sgaplus.refine import Refiner

    seen = []
    refine = Refiner.refine
    monkeypatch.setattr(Refiner, "refine", lambda self, x, progress=None, **kw:
                        seen.append(self.config) or refine(self, x, progress, **kw))
    from sgaplus.stopping import StopRule

    monkeypatch.setattr(StopRule, "done", lambda self, t, elapsed: t >= min(self.max_iters, 2))  # 2 suffice
    compress(capsys, photo_png, tmp_path / "d.sgp")
    compress(capsys, photo_png, tmp_path / "i.sgp", "--iters", "40")
    default, expert = seen
    assert default.iters == EFFORT_ITERS[DEFAULT_EFFORT] and default.lr_decay == "linear"
    assert default.schedule == "budget" and dict(default.schedule_params)["iters"] == 250
    assert default.lr == budgeted(250)["lr"]
    assert expert.iters == 40 and expert.lr == 0.005 and expert.lr_decay == "constant"
    assert expert.schedule == "sgaplus"


@pytest.mark.parametrize("field, value", [("iters", "9"), ("lr", "0.01"), ("lr_decay", "linear"),
                                          ("schedule", "constant"), ("schedule_params", "t_max=0.5")])
def test_effort_and_an_expert_flag_are_refused_by_the_librarys_check(capsys, field, value):
    """files.EXPERT_FIELDS is the one list: each field is a compress flag, and the CLI's
    message is the library's conflict (EffortConflict) named by that flag, before any work."""
    from sgaplus.cli.common import flag
    from sgaplus.files import EXPERT_FIELDS, EffortConflict, compress_config

    assert field in EXPERT_FIELDS
    with pytest.raises(EffortConflict) as exc:
        compress_config(3, **{field: {"t_max": 0.5} if field == "schedule_params" else value})
    assert exc.value.field == field
    for given, said in ((["--effort", "3"], f"drop {flag(field)} (or --effort)"),
                        (["--no-refine"], f"--no-refine is effort 0; drop {flag(field)}")):
        capsys.readouterr()
        assert main(["compress", "missing.png", *given, flag(field), value]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sgaplus: error: ") and said in err and len(err.splitlines()) == 1
