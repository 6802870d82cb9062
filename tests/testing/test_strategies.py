"""The public Hypothesis strategies generate what their docstrings promise."""

import numpy as np
from hypothesis import given

from refimpl.testing import strategies as rst
from refimpl.transformer import TransformerConfig


@given(rst.unit_vectors())
def test_unit_vectors_are_unit(v):
    assert v.ndim == 1 and abs(np.linalg.norm(v) - 1.0) <= 4e-16 * np.sqrt(v.size)


@given(rst.unit_vector_pairs())
def test_pairs_are_unit_and_same_dimension(pair):
    a, b = pair
    assert a.shape == b.shape
    assert np.allclose([np.linalg.norm(a), np.linalg.norm(b)], 1.0, atol=1e-15)


def test_pairs_include_the_adversarial_kinds():
    """Near-equal, near-opposite and exactly opposite pairs all occur among the draws."""
    seen = set()

    @given(rst.unit_vector_pairs(8))
    def collect(pair):
        a, b = pair
        c = float(a @ b)
        seen.add("equal" if np.array_equal(a, b) else "opposite" if np.array_equal(a, -b)
                 else "near-equal" if c > 1 - 1e-6 else "near-opposite" if c < -1 + 1e-6
                 else "other")

    from hypothesis import settings
    settings(max_examples=150, derandomize=True)(collect)()
    assert {"equal", "opposite", "near-equal", "near-opposite", "other"} <= seen


@given(rst.positions(6, kind="large", max_position=2**20))
def test_large_positions_are_integers_in_range(p):
    assert p.shape == (6,) and np.all((p >= 0) & (p <= 2**20)) and np.all(p == np.round(p))


@given(rst.positions(4, kind="real", width=32))
def test_real_positions_exact_in_float32(p):
    assert np.array_equal(p.astype(np.float32).astype(np.float64), p)


@given(rst.orthonormal_bases())
def test_bases_are_orthonormal(Q):
    assert np.allclose(Q.T @ Q, np.eye(Q.shape[0]), atol=1e-13)


@given(rst.vmf_parameters())
def test_vmf_parameters_span_the_range(parameters):
    d, kappa = parameters
    assert 2 <= d <= 100_000 and (kappa == 0 or 1e-10 <= kappa <= 1e10)


@given(rst.rope_conventions())
def test_rope_conventions_are_valid(convention):
    assert convention.rotary_dim <= convention.head_dim
    omega = convention.frequencies[0]
    assert np.all(omega > 0) and np.all(np.diff(omega) < 0)


@given(rst.transformer_configs())
def test_transformer_configs_are_valid(config):
    assert isinstance(config, TransformerConfig)
    assert config.d_model <= 16 and config.head_dim <= 8 and config.n_layers <= 2


# --- the Case strategies of the properties ----------------------------------------------

import pytest  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from refimpl.testing.properties import Case  # noqa: E402
from refimpl.testing.properties.vjp import case_arguments  # noqa: E402


@given(rst.rope_cases(12, rows=3, max_position=2**10, integer=True))
def test_rope_cases_shapes_and_integer_positions(case):
    assert isinstance(case, Case)
    assert case.x.shape == case.q.shape == case.k.shape == (3, 12)
    for name in ("positions", "m", "n", "shift"):
        p = getattr(case, name)
        assert p.shape == (3,) and np.all(p == np.round(p)) and np.all(np.abs(p) <= 4096)
    assert np.all(case.positions <= 2**10)


@given(rst.rope_nd_cases(8, 3, reach=5.0, integer=False))
def test_rope_nd_cases_shapes(case):
    assert case.x.shape == (3, 8) and case.p.shape == case.q.shape == (3, 3)
    assert np.all(np.abs(case.p) <= 5.0)


@given(rst.map_cases(4))
def test_map_cases_are_unit_pairs_with_rows(case):
    assert case.a.shape == case.b.shape == (4,) and case.z.shape == (3, 4)
    assert np.allclose([np.linalg.norm(case.a), np.linalg.norm(case.b)], 1.0, atol=1e-15)


@given(rst.product_cases(max_m=9))
def test_product_cases_satisfy_xorgqr_shapes(case):
    m, n = case.V.shape
    assert m >= n >= len(case.tau) >= 1 and case.noise.shape == (m, n)
    assert np.all((case.tau >= 0) & (case.tau <= 2))


@given(rst.attention_cases())
def test_attention_cases_shapes(case):
    n_q, d = case.q.shape
    n_k, d_v = case.v.shape
    assert case.k.shape == (n_k, d) and case.mask.shape == (n_q, n_k)
    assert case.mask.dtype == bool and case.changed.shape == (n_k,)


@given(rst.normalizer_cases())
def test_normalizer_cases(case):
    assert 2 <= case.d <= 100_000 and 0 <= case.kappa <= 1e10


@given(st.data())
def test_vjp_arguments_fit_every_reference(data):
    from refimpl.testing.properties.vjp import VJP_REFERENCES

    for name, (forward, _) in VJP_REFERENCES.items():
        case = data.draw(rst.vjp_arguments(name))
        assert np.all(np.isfinite(forward(*case_arguments(case))))


def test_vjp_arguments_of_an_unknown_reference():
    with pytest.raises(ValueError, match="no argument strategy"):
        rst.vjp_arguments("rope.nope")


@given(rst.rope_cases(4))
def test_case_repr_prints_shapes_not_lambdas(case):
    text = repr(case)
    assert "shape (4, 4) float64" in text and "lambda" not in text


@pytest.mark.parametrize("strategy, shown", [
    (rst.unit_vector_pairs(3), "array(["), (rst.map_cases(3), "a=shape (3,) float64"),
    (rst.normalizer_cases(), "d="), (rst.vjp_arguments("rope.apply"), "arg0=shape"),
])
def test_falsifying_examples_print_values_not_lambdas(strategy, shown):
    """The issue's complaint: ``pair=(lambda t: ...)((0, 0, -1.0))``. Hypothesis prints a
    value built by ``.map(lambda)`` as that call; the strategies build in a composite."""
    from hypothesis import Phase, settings

    @settings(database=None, max_examples=5, phases=[Phase.generate, Phase.shrink])
    @given(strategy)
    def fails(value):
        raise AssertionError("always")

    with pytest.raises(AssertionError) as raised:
        fails()
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert shown in notes and "lambda" not in notes, notes
