"""Activations: closed forms, identities between them, VJPs, saturation, errors."""

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.activations import (
    gelu,
    gelu_tanh,
    gelu_tanh_vjp,
    gelu_vjp,
    relu,
    relu_vjp,
    silu,
    silu_vjp,
)
from refimpl.gradcheck import assert_vjp

PAIRS = [(relu, relu_vjp), (gelu, gelu_vjp), (gelu_tanh, gelu_tanh_vjp), (silu, silu_vjp)]
finite = st.floats(-1e300, 1e300, allow_nan=False)
moderate = st.floats(-30.0, 30.0, allow_nan=False)
seeds = st.integers(0, 2**32 - 1)


@given(st.lists(moderate, min_size=1, max_size=6))
def test_against_high_precision_formulas(values):
    # 30-digit mpmath evaluations of the defining formulas, with 1 + tanh(u) written as
    # 2 / (1 + exp(-2u)) so that the reference itself does not cancel
    for x in values:
        with mpmath.workdps(30):  # local precision: never the process-wide default
            m = mpmath.mpf(x)
            u = mpmath.sqrt(2 / mpmath.pi) * (m + mpmath.mpf("0.044715") * m**3)
            exact = {
                gelu: float(m * mpmath.erfc(-m / mpmath.sqrt(2)) / 2),
                gelu_tanh: float(m / (1 + mpmath.exp(-2 * u))),
                silu: float(m / (1 + mpmath.exp(-m))),
            }
        # far in the negative tail the functions are ill-conditioned (relative condition
        # number |x f'(x) / f(x)| ~ x^2, about 900 at x = -30), so allow 1e-12 there
        rel = 1e-14 if abs(x) <= 5 else 1e-12
        for f, value in exact.items():
            assert f([x])[0] == pytest.approx(value, rel=rel, abs=1e-300), f.__name__
        assert relu([x])[0] == max(x, 0.0)


@given(st.lists(moderate, min_size=1, max_size=6))
def test_gelu_tanh_approximates_gelu(values):
    # the tanh form differs from the erf form by less than 5e-4 everywhere (Hendrycks-Gimpel)
    x = np.array(values)
    assert np.max(np.abs(gelu_tanh(x) - gelu(x))) < 5e-4


@given(st.lists(finite, min_size=1, max_size=8))
def test_finite_everywhere_and_saturating(values):
    x = np.array(values)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for f, f_vjp in PAIRS:
            y, dy = f(x), f_vjp(np.ones_like(x), x)
            assert np.all(np.isfinite(y)) and np.all(np.isfinite(dy))
            big = np.abs(x) > 50
            # far from 0 every activation is relu, and its slope is the step function
            np.testing.assert_allclose(y[big], relu(x[big]), rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(dy[big], (x[big] > 0).astype(float), atol=1e-15)


def test_pinned_values():
    # Phi(1) = 0.8413447460685429; sigmoid(2) = 0.8807970779778823
    np.testing.assert_allclose(gelu([1.0, -1.0]), [0.8413447460685429, -0.15865525393145707],
                               rtol=1e-14)
    np.testing.assert_allclose(silu([2.0]), [2 * 0.8807970779778823], rtol=1e-14)
    # derivatives at 0 are 1/2 for gelu, gelu_tanh and silu
    for f_vjp in (gelu_vjp, gelu_tanh_vjp, silu_vjp):
        assert f_vjp([1.0], [0.0])[0] == pytest.approx(0.5, abs=1e-15)
    assert relu_vjp([1.0], [0.0])[0] == 0.0


@pytest.mark.parametrize("f, f_vjp", PAIRS)
@given(seed=seeds)
def test_vjps(f, f_vjp, seed):
    rng = np.random.default_rng(seed)
    x = 4.0 * rng.standard_normal((3, 4))
    x = np.where(np.abs(x) < 1e-3, 0.5, x)  # keep relu's kink away from the stencil
    assert_vjp(f, f_vjp, [x], rng=rng)


@pytest.mark.parametrize("f, f_vjp", PAIRS)
def test_vjp_check_has_power(f, f_vjp):
    # a VJP scaled by 1.01 (or with a dropped term) is rejected
    x = np.array([0.3, -1.2, 2.5])
    with pytest.raises(AssertionError, match="disagrees"):
        assert_vjp(f, lambda g, x: 1.01 * f_vjp(g, x), [x], rng=0)


@pytest.mark.parametrize("f, f_vjp", PAIRS)
def test_bad_input(f, f_vjp):
    with pytest.raises(ValueError, match="x must be finite"):
        f([0.0, np.inf])
    with pytest.raises(TypeError, match="x must hold real numbers"):
        f(["a"])
    with pytest.raises(ValueError, match="grad"):
        f_vjp(np.ones(2), np.ones(3))
