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
