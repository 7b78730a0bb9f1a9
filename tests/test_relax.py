"""Generic tests over every relaxation in METHOD_DB, plus the spec's reference values."""

from __future__ import annotations

import math
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from sgaplus.relax import RELAXATIONS, get_relaxation, method_classes
from method_db import METHOD_DB, MethodInfo

README = Path(__file__).parents[1] / "README.md"

ids = [m.name for m in METHOD_DB]


def test_db_covers_registry():
    assert sorted(m.name for m in METHOD_DB) == RELAXATIONS.names()


def awkward_values() -> torch.Tensor:
    """Integers, half-integers, near-integers and large magnitudes."""
    base = torch.tensor([0.0, 1.0, -3.0, 0.5, -0.5, 2.5, 1e-7, 1 - 1e-7, 0.3, -0.7])
    return torch.cat([base, base + 1000.0, base - 12345.0, torch.tensor([1e6, -1e6 + 0.5])])


@pytest.mark.parametrize("info", METHOD_DB, ids=ids)
class TestEveryMethod:
    def make(self, info: MethodInfo):
        return get_relaxation(info.name, **info.params)

    def test_shape_and_finite_values_and_gradients(self, info):
        m = self.make(info)
        for tau in (1.0, 0.5, 0.05):
            v = awkward_values().requires_grad_(True)
            out = m(v, tau, torch.Generator().manual_seed(0))
            assert out.shape == v.shape
            assert torch.isfinite(out).all()
            out.sum().backward()
            assert torch.isfinite(v.grad).all()

    def test_any_shape(self, info):
        m = self.make(info)
        v = torch.randn(2, 3, 4, 5) * 3
        assert m(v, 0.5, torch.Generator().manual_seed(1)).shape == v.shape

    def test_a_slice_with_its_noise_is_that_slice_of_the_whole(self, info):
        """Relaxed in bands of rows with the whole call's numbers (tiling.by_rows), a tensor
        gets what one call gives it: the noise is drawn apart from the function."""
        m = self.make(info)
        v = torch.randn(2, 3, 7, 5) * 3
        whole = m(v, 0.6, torch.Generator().manual_seed(6))
        noise = m.draw(v, torch.Generator().manual_seed(6))
        bands = [m.apply(v[:, :, r:r + 3], 0.6, None if noise is None else noise[:, :, r:r + 3])
                 for r in range(0, 7, 3)]
        torch.testing.assert_close(torch.cat(bands, dim=2), whole, rtol=0, atol=1e-6)

    def test_seeded_generator_reproduces(self, info):
        m = self.make(info)
        v = torch.randn(1000) * 4
        a = m(v, 0.7, torch.Generator().manual_seed(3))
        b = m(v, 0.7, torch.Generator().manual_seed(3))
        assert torch.equal(a, b)

    def test_output_stays_near_input(self, info):
        """A relaxed rounding never moves a value by more than its candidates span."""
        v = torch.randn(5000) * 5
        out = self.make(info)(v, 1.0, torch.Generator().manual_seed(2))
        limit = 1.5 if self.make(info).classes == 3 else 1.0
        assert (out - v).abs().max() <= limit + 1e-4

    def test_low_temperature_is_hard_rounding(self, info):
        if not info.hardens:
            pytest.skip("uniform noise does not anneal")
        v = torch.linspace(-4.9, 4.9, 997)  # avoids exact half-integers
        out = self.make(info)(v, 1e-3, torch.Generator().manual_seed(4))
        assert torch.allclose(out, torch.round(v), atol=1e-4)

    def test_integers_stay_put(self, info):
        v = torch.arange(-5.0, 6.0)
        out = self.make(info)(v, 0.8, torch.Generator().manual_seed(5))
        if info.keeps_integers:
            assert torch.equal(out, v)
        elif self.make(info).classes == 3:
            # Symmetric candidates: integers stay put only as the temperature goes to 0.
            out = self.make(info)(v, 1e-3, torch.Generator().manual_seed(5))
            assert torch.allclose(out, v, atol=1e-4)

    def test_invalid_parameters_raise(self, info):
        for bad in info.bad_params:
            with pytest.raises(ValueError, match="must be a number above 0, not"):
                get_relaxation(info.name, **{**info.params, **bad})
        with pytest.raises(ValueError, match="does not take"):
            get_relaxation(info.name, bogus=1.0)

    def test_config_round_trip(self, info):
        m = self.make(info)
        cfg = m.config()
        assert get_relaxation(cfg.pop("method"), **cfg) == m

    def test_normalised_probabilities_sum_to_one(self, info):
        method = self.make(info)
        if not (method.normalised or method.classes == 3):
            pytest.skip("no normalised candidate probabilities")
        v = torch.linspace(-3, 3, 601)
        _, p = method.candidates(v)
        assert torch.allclose(p.sum(-1), torch.ones_like(v), atol=1e-5)

    def test_metadata(self, info):
        """What the class declares, which figures, reports and ``sgaplus methods`` read."""
        method = self.make(info)
        assert method.label and method.about and method.family and method.rank > 0
        if method.classes:
            c, p = method.candidates(torch.linspace(-2, 2, 9))
            assert c.shape[-1] == p.shape[-1] == method.classes
        else:
            with pytest.raises(NotImplementedError):
                method.candidates(torch.zeros(1))


def test_every_module_registers_without_an_import_list():
    """A new file in relax/ is imported (and its methods registered) by the package itself."""
    import sgaplus.relax as package

    files = {p.stem for p in Path(package.__file__).parent.glob("*.py")} - {"__init__"}
    assert all(f"sgaplus.relax.{name}" in sys.modules for name in files)
    assert {cls.__module__.rpartition(".")[2] for cls in method_classes()} == files - {"base"}


def test_ranks_give_one_order():
    classes = method_classes()
    assert len({cls.rank for cls in classes}) == len(classes) == len(RELAXATIONS.names())
    assert [cls.rank for cls in classes] == sorted(cls.rank for cls in classes)
    # a three-class method's family has a two-class Gumbel method (Fig. 1, the 2- vs 3-class table)
    for three in (cls for cls in classes if cls.classes == 3):
        assert any(two.family == three.family and two.classes == 2 and two.stochastic for two in classes)


def test_the_readme_table_is_the_registrys():
    """README's methods table is ``sgaplus methods --markdown``: regenerate it when a method changes."""
    from sgaplus.cli.methods import catalogue, markdown

    assert markdown(catalogue()["methods"]) in README.read_text()


def test_each_implementation_is_its_torch_free_entry_plus_arithmetic():
    """``sgaplus.methods`` (no torch: ``sgaplus methods`` reads it) says what a method is; its
    class in ``relax/`` subclasses that entry and restates none of it, so the two cannot drift."""
    from sgaplus.methods import METHODS, Method
    from sgaplus.relax.base import TwoClass
    from sgaplus.relax.three_class import ThreeClass

    declared = {name for name, value in vars(Method).items() if not name.startswith("_")
                and not callable(value)} - {"kind"}
    assert RELAXATIONS.names() == METHODS.names()
    for cls in method_classes():
        entry = METHODS.get(cls.name)
        assert issubclass(cls, entry)
        assert [(f.name, f.default) for f in fields(cls)] == [(f.name, f.default) for f in fields(entry)]
        for impl in (k for k in cls.__mro__ if k not in entry.__mro__):
            assert not declared & set(vars(impl)) - {"name"}, f"{impl.__name__} restates metadata"
            assert not vars(impl).get("__annotations__", {}).keys() & {f.name for f in fields(entry)}
        assert (cls.classes == 2) == issubclass(cls, TwoClass)
        assert (cls.classes == 3) == issubclass(cls, ThreeClass)


def test_an_implementation_needs_an_entry():
    from sgaplus.relax import TwoClass, register_relaxation

    with pytest.raises(TypeError, match="sgaplus.methods"):
        @register_relaxation
        class Stray(TwoClass):
            def log_prob(self, d):
                return d
    assert "Stray" not in str(RELAXATIONS.names())


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        get_relaxation("nope")


def test_atanh_is_not_normalised():
    _, p = get_relaxation("atanh").candidates(torch.tensor([0.3]))
    assert abs(float(p.sum()) - 1) > 0.1


def test_ssl_with_a_one_equals_linear():
    v = torch.linspace(-3, 3, 1201)
    _, p_ssl = get_relaxation("ssl", a=1.0).candidates(v)
    _, p_lin = get_relaxation("linear").candidates(v)
    assert torch.allclose(p_ssl, p_lin, atol=1e-4)
    a = get_relaxation("ssl", a=1.0)(v, 0.6, torch.Generator().manual_seed(0))
    b = get_relaxation("linear")(v, 0.6, torch.Generator().manual_seed(0))
    assert torch.allclose(a, b, atol=1e-4)


def test_ssl_large_a_approaches_hard_rounding():
    _, p = get_relaxation("ssl", a=50.0).candidates(torch.tensor([0.2, 0.8]))
    assert torch.allclose(p, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), atol=1e-6)


def test_linear3_at_integer_matches_spec():
    _, p = get_relaxation("linear3").candidates(torch.tensor([0.0]))
    assert torch.allclose(p[0], torch.tensor([0.003, 0.994, 0.003]), atol=5e-4)


def test_reference_function_values():
    """Spot values of the spec's table at d_f = 0.25 (floor candidate) and d_c = 0.75."""
    v = torch.tensor([0.25])
    expect = {
        "linear": [0.75, 0.25],
        "cosine": [math.cos(math.pi / 8) ** 2, math.cos(3 * math.pi / 8) ** 2],
        "atanh": [math.exp(-math.atanh(0.25)), math.exp(-math.atanh(0.75))],
        "ssl": [1 / (1 + (1 / 3) ** 2.3), 1 / (1 + 3**2.3)],
    }
    for name, values in expect.items():
        _, p = get_relaxation(name).candidates(v)
        assert torch.allclose(p[0], torch.tensor(values), atol=1e-5), name


def test_gumbel_softmax_closed_form_matches_stacked_softmax_in_distribution():
    """The logistic-sigmoid form equals F.gumbel_softmax over two logits in law."""
    m = get_relaxation("ssl")
    v = torch.full((200_000,), 0.3)
    tau = 0.7
    ours = m(v, tau, torch.Generator().manual_seed(0))
    _, p = m.candidates(v[:1])
    logits = (p.log() / tau).expand(v.numel(), 2)
    torch.manual_seed(0)
    w = torch.nn.functional.gumbel_softmax(logits, tau=tau, hard=False)
    ref = w[:, 1]  # floor 0, ceil 1
    assert abs(ours.mean() - ref.mean()) < 3e-3
    assert abs(ours.std() - ref.std()) < 3e-3


@pytest.mark.parametrize("name", ["ssl", "atanh", "linear"])
def test_closed_form_keeps_the_gradient_of_a_saturated_weight(name):
    """Where one candidate's weight is ~1 (either side), the closed form's fp32 gradient is
    the stacked softmax's with the same noise (Gumbel pair (0, L)), taken in float64: fp32
    sigmoid saturates at 1 above ~17, and a weight taken as sigmoid(x) there had gradient
    exactly 0 on the ceiling side only; Adam turns such gradients (~1e-8) into steps of
    about its lr."""
    m = get_relaxation(name)
    tau = 0.35  # logits / tau^2 of 7-75: weights from unsaturated to 1 - 1e-32
    v = torch.tensor([2.02, 2.1, 2.3, 2.7, 2.9, 2.98, -1.03, -1.97])
    noise = torch.tensor([0.5, -1.0, 2.0, -2.0, 1.0, -0.5, 0.3, -0.3])
    ours = v.clone().requires_grad_(True)
    m.apply(ours, tau, noise).sum().backward()
    ref = v.double().requires_grad_(True)
    floor, ceil = torch.floor(ref), torch.ceil(ref)
    d = torch.stack([ref - floor, ceil - ref], dim=-1).clamp(-1 + 1e-5, 1 - 1e-5)
    gumbel = torch.stack([torch.zeros_like(ref), noise.double()], dim=-1)
    w = ((m.log_prob(d) / tau + gumbel) / tau).softmax(-1)
    (w[..., 0] * floor + w[..., 1] * ceil).sum().backward()
    assert (ref.grad != 0).all()  # some as small as 1e-28: still fp32 numbers
    torch.testing.assert_close(ours.grad.double(), ref.grad, rtol=1e-2, atol=0)
