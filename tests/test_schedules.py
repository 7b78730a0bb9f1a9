import math

import pytest

from sgaplus.schedules import SCHEDULES, get_schedule


def test_sgaplus_reference_values():
    s = get_schedule("sgaplus")
    assert s(0) == 1.0
    assert s(500) == pytest.approx(0.61, abs=5e-3)
    assert s(2000) == pytest.approx(0.14, abs=5e-3)
    assert get_schedule("sgaplus", t_max=0.5)(0) == 0.5


def test_yang_is_flat_then_decays():
    s = get_schedule("yang")
    assert s(0) == s(700) == 0.5
    assert s(1700) == pytest.approx(0.5 * math.exp(-1.0))


def test_danneal_is_capped_and_floored():
    s = get_schedule("danneal")
    assert s(0) == 0.2
    assert s(1000) == pytest.approx(math.exp(-4.0))
    assert s(10**7) == 1e-8


def test_official_schedules_of_atanh():
    """The two schedules the official code runs atanh with (issue 17), against their formulas
    written out: Yang et al.'s, flat at 0.5 for 700 steps (so a 500-iteration run never
    anneals), and the reference code's min(exp(−4e-3 t), 0.2), which anneals from t = 403."""
    yang, official = get_schedule("yang"), get_schedule("danneal")
    for t in (0, 1, 402, 403, 500, 700, 701, 1000, 2000):
        assert yang(t) == min(0.5 * math.exp(-1e-3 * (t - 700)), 0.5)
        assert official(t) == min(math.exp(-4e-3 * t), 0.2)
    assert yang(499) == 0.5 and official(402) == 0.2 > official(403)


def test_constant_and_monotone():
    assert get_schedule("constant", value=0.3)(12345) == 0.3
    for name in SCHEDULES.names():
        s = get_schedule(name)
        values = [s(t) for t in range(0, 3000, 50)]
        assert all(a >= b for a, b in zip(values, values[1:])), name
        assert all(v > 0 for v in values), name


def test_invalid_schedule_parameters():
    with pytest.raises(ValueError, match="r must be a number 0 or more, not -1"):
        get_schedule("sgaplus", r=-1)
    with pytest.raises(ValueError, match="does not take"):
        get_schedule("yang", a=1)
    with pytest.raises(ValueError, match="unknown schedule"):
        get_schedule("cosine-ish")


def test_config_round_trip():
    for name in SCHEDULES.names():
        cfg = get_schedule(name).config()
        assert get_schedule(cfg.pop("schedule"), **cfg) == get_schedule(name)


def test_budget_schedule_spans_its_budget():
    s = get_schedule("budget", iters=250, t_max=1.25, t_end=0.3)
    assert s(0) == 1.25 and s(250) == pytest.approx(0.3) and s(125) == pytest.approx((1.25 * 0.3) ** 0.5)
    assert get_schedule("budget", iters=250).spanning(500)(500) == pytest.approx(0.3)
    # The paper's schedule is the budget schedule of 2000 iterations from 1 to e^-2.
    paper = get_schedule("sgaplus")
    stretched = get_schedule("budget", iters=2000, t_max=1.0, t_end=math.exp(-2))
    assert all(stretched(t) == pytest.approx(paper(t)) for t in range(0, 2500, 50))
    with pytest.raises(ValueError, match="t_end <= t_max"):
        get_schedule("budget", t_end=2.0)


def test_budgeted_settings_tie_everything_to_the_budget():
    from sgaplus.schedules import budgeted
    from sgaplus.schedules.budget import BUDGET_LR

    from sgaplus.refine_config import RefineConfig

    kw = budgeted(100)
    assert kw["iters"] == 100 and kw["lr"] == BUDGET_LR and kw["lr_decay"] == "linear"
    schedule = RefineConfig(**kw).temperature()  # the schedule spans the budget
    assert schedule(0) == schedule.t_max and schedule(100) == pytest.approx(0.3)
    assert budgeted(0)["iters"] == 0  # no refinement: the schedule is never asked
