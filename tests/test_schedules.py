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


def test_constant_and_monotone():
    assert get_schedule("constant", value=0.3)(12345) == 0.3
    for name in SCHEDULES.names():
        s = get_schedule(name)
        values = [s(t) for t in range(0, 3000, 50)]
        assert all(a >= b for a, b in zip(values, values[1:])), name
        assert all(v > 0 for v in values), name


def test_invalid_schedule_parameters():
    with pytest.raises(ValueError, match="Invalid r"):
        get_schedule("sgaplus", r=-1)
    with pytest.raises(ValueError, match="does not take"):
        get_schedule("yang", a=1)
    with pytest.raises(ValueError, match="unknown schedule"):
        get_schedule("cosine-ish")


def test_config_round_trip():
    for name in SCHEDULES.names():
        cfg = get_schedule(name).config()
        assert get_schedule(cfg.pop("schedule"), **cfg) == get_schedule(name)
