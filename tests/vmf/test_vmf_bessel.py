"""refimpl.vmf.bessel: log I_v, log ive, the ratio I_(v+1)/I_v, its complement and
derivative, against mpmath fixtures, closed forms, SciPy and identities."""

from __future__ import annotations

import decimal
import math

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import special
from vmf_bessel_fixture import BESSEL_FIXTURE

from refimpl.gradcheck import assert_vjp
from refimpl.vmf import bessel

EPS = float(np.finfo(np.float64).eps)

orders = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 49.5, 50.0, 5e4]), st.floats(0, 5e4))
arguments = st.one_of(st.sampled_from([0.0, 1e-10, 2.0**30 * 1.01, 1e10]),
                      st.floats(-10, 10).map(lambda e: 10.0 ** e))


def test_mpmath_fixture_log_and_ratio():
    """50-digit mpmath values (fixture) over v in [0, 5e4], x in [1e-10, 1e10]:
    |err| <= 1e-12 max(1, |log I|), relative 1e-12 on R and on 1 - R (issue targets)."""
    v, x, log_i, ratio, complement = (np.array(c) for c in zip(*BESSEL_FIXTURE, strict=True))
    ours = bessel.log_bessel_iv(v, x)
    assert np.max(np.abs(ours - log_i) / np.maximum(1, np.abs(log_i))) <= 1e-12
    scaled = bessel.log_bessel_ive(v, x)
    # log ive = log I - x is computed directly, not as a difference: its error scales with
    # its own size or log I's, whichever is larger (log I ~ 0 while log ive ~ -x)
    scale = np.maximum(1, np.maximum(np.abs(log_i), np.abs(log_i - x)))
    assert np.max(np.abs(scaled - (log_i - x)) / scale) <= 1e-12
    assert np.max(np.abs(bessel.bessel_iv_ratio(v, x) / ratio - 1)) <= 1e-12
    assert np.max(np.abs(bessel.bessel_iv_ratio_complement(v, x) / complement - 1)) <= 1e-12


def _half_integer_log_iv(n: int, x: float) -> float:
    """log I_(n+1/2)(x) from the closed form (DLMF 10.47.11 with 10.49.12) in 400-digit
    decimal arithmetic, which absorbs the cancellation between its two sums."""
    with decimal.localcontext() as ctx:
        ctx.prec = 400
        X = decimal.Decimal(x)
        terms = [decimal.Decimal(math.factorial(n + k))
                 / (math.factorial(k) * math.factorial(n - k)) / (2 * X) ** k
                 for k in range(n + 1)]
        alternating = sum((-1) ** k * t for k, t in enumerate(terms))
        plain = sum(terms)
        value = (X.exp() * alternating + (-1) ** (n + 1) * (-X).exp() * plain)
        value = value / (2 * decimal.Decimal(math.pi) * X).sqrt()
        return float(value.ln())


@given(st.integers(0, 30), st.floats(-3, 3).map(lambda e: 10.0 ** e))
def test_half_integer_orders_match_closed_form(n, x):
    expected = _half_integer_log_iv(n, x)
    assert abs(bessel.log_bessel_iv(n + 0.5, x) - expected) <= 1e-12 * max(1, abs(expected))


@given(st.floats(0, 200), st.floats(-3, 4).map(lambda e: 10.0 ** e))
def test_agrees_with_scipy_ive_where_it_is_normal(v, x):
    """Wherever scipy's ive is a normal float (no underflow), log ive agrees."""
    reference = special.ive(v, x)
    assume(np.isfinite(reference) and reference > 1e-300)
    expected = np.log(reference)
    # scale: the larger of |log ive| and |log I| (see test_mpmath_fixture_log_and_ratio)
    assert abs(bessel.log_bessel_ive(v, x) - expected) <= 1e-12 * max(1, abs(expected),
                                                                       abs(expected + x))


@given(orders, arguments)
def test_finite_everywhere_and_ratio_in_unit_interval(v, x):
    log_i = bessel.log_bessel_iv(v, x)
    ratio = bessel.bessel_iv_ratio(v, x)
    complement = bessel.bessel_iv_ratio_complement(v, x)
    assert np.isfinite(log_i) or (x == 0 and v > 0 and log_i == -np.inf)
    assert 0 <= ratio < 1 and 0 < complement <= 1
    # R and 1 - R are divided by the same rounded base (up to 3 roundings), which does
    # not cancel in the sum: two divisions, a 2-rounding numerator and the sum give <= 8u
    assert abs(ratio + complement - 1) <= 4 * EPS
    assert bessel.bessel_iv_ratio_derivative(v, x) > 0


@given(orders, st.floats(-6, 8).map(lambda e: 10.0 ** e))
def test_ratio_obeys_amos_bounds(v, x):
    """Amos (1974): x/(v+1/2+sqrt(x^2+(v+3/2)^2)) <= R_v <= x/(v+1/2+sqrt(x^2+(v+1/2)^2))."""
    ratio = bessel.bessel_iv_ratio(v, x)
    lower = x / (v + 0.5 + np.hypot(x, v + 1.5))
    upper = x / (v + 0.5 + np.hypot(x, v + 0.5))
    assert lower * (1 - 1e-14) <= ratio <= upper * (1 + 1e-14)


@given(st.floats(1, 5e4), st.floats(-6, 8).map(lambda e: 10.0 ** e))
def test_ratio_recurrence(v, x):
    """I_(v-1) - I_(v+1) = (2v/x) I_v, i.e. 1/R_(v-1) - R_v = 2v/x."""
    inverse, ratio = 1.0 / bessel.bessel_iv_ratio(v - 1, x), bessel.bessel_iv_ratio(v, x)
    # the difference cancels when x >> v: allow the rounding of its two terms
    assert abs(inverse - ratio - 2 * v / x) <= 1e-12 * 2 * v / x + 8 * EPS * (inverse + ratio)


@given(st.floats(1, 5e4), st.floats(-6, 8).map(lambda e: 10.0 ** e))
def test_log_recurrence_through_ratios(v, x):
    """log I_(v+1) - log I_v = log R_v: the regions of log ive agree with each other."""
    difference = bessel.log_bessel_ive(v + 1, x) - bessel.log_bessel_ive(v, x)
    expected = np.log(bessel.bessel_iv_ratio(v, x))
    # the two log ive values each err by ~1e-12 of their own size (~x when I_v(x) ~ 1,
    # where log I cancels to ~0): scale by the operands, not by the cancelled log I
    scale = max(1, abs(bessel.log_bessel_ive(v, x)), abs(bessel.log_bessel_iv(v, x)))
    assert abs(difference - expected) <= 1e-12 * scale


@given(orders, st.floats(-4, 6).map(lambda e: 10.0 ** e))
def test_ratio_derivative_matches_its_definition_where_that_is_stable(v, x):
    """R' = 1 - R^2 - (2v+1) R/x, up to the rounding of that (cancelling) difference."""
    assume(x <= 10 * (v + 1))
    ratio = bessel.bessel_iv_ratio(v, x)
    terms = (1, ratio ** 2, (2 * v + 1) * ratio / x)
    direct = terms[0] - terms[1] - terms[2]
    tolerance = 1e-12 * direct + 4 * EPS * sum(terms)  # the definition's own rounding
    assert abs(bessel.bessel_iv_ratio_derivative(v, x) - direct) <= tolerance


@pytest.mark.parametrize("v", [0.0, 0.5, 4.0, 499.0])
def test_ratio_derivative_asymptotics(v):
    """R'(0) = 1/(2v+2); R'(x) ~ (v + 1/2)/x^2 (1 + O(1/x)) for x >> v."""
    assert bessel.bessel_iv_ratio_derivative(v, 0.0) == pytest.approx(1 / (2 * v + 2), rel=1e-15)
    x = 1e12
    assert bessel.bessel_iv_ratio_derivative(v, x) * x * x == pytest.approx(v + 0.5, rel=1e-8)


@pytest.mark.parametrize("v, x", [(0.0, 0.7), (2.5, 3.0), (60.0, 45.0), (3.0, 5e3)])
def test_vjps(v, x):
    assert_vjp(lambda x: bessel.log_bessel_iv(v, x), lambda g, x: bessel.log_bessel_iv_vjp(g, v, x),
              [np.array([x, 2 * x])], rng=0)
    assert_vjp(lambda x: bessel.bessel_iv_ratio(v, x),
               lambda g, x: bessel.bessel_iv_ratio_vjp(g, v, x),
              [np.array([x, 2 * x])], rng=0)


def test_exact_limits_at_zero():
    assert bessel.log_bessel_iv(0.0, 0.0) == 0.0
    assert bessel.log_bessel_iv([1.0, 5e4], 0.0).tolist() == [-np.inf, -np.inf]
    assert bessel.bessel_iv_ratio(3.0, 0.0) == 0.0
    assert bessel.log_bessel_iv_vjp(1.0, 0.0, 0.0) == 0.0


def test_broadcasting():
    out = bessel.log_bessel_iv(np.array([[0.0], [60.0]]), np.array([1.0, 100.0, 1e7]))
    assert out.shape == (2, 3)
    assert out[1, 1] == bessel.log_bessel_iv(60.0, 100.0)


@pytest.mark.parametrize("call, match", [
    (lambda: bessel.log_bessel_iv(-1.0, 1.0), "v"),
    (lambda: bessel.log_bessel_iv(1.0, -1.0), "x"),
    (lambda: bessel.bessel_iv_ratio(1.0, np.nan), "x"),
    (lambda: bessel.bessel_iv_ratio([1.0, 2.0], [1.0, 2.0, 3.0]), "v"),
    (lambda: bessel.log_hyp0f1(1.0, 9.0), "q"),
    (lambda: bessel.log_bessel_iv_vjp(np.ones(4), 1.0, [1.0, 2.0]), "grad"),
    (lambda: bessel.bessel_iv_ratio_vjp(np.ones((2, 2)), 1.0, [1.0, 2.0]), "grad"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------ boundaries the mutation run found untested


def test_argument_bound_is_inclusive():
    # x = ARGUMENT_MAX is accepted (and finite); the next float above it is refused
    assert np.isfinite(bessel.log_bessel_ive(2.0, bessel.ARGUMENT_MAX))
    assert np.isfinite(bessel.log_bessel_iv(bessel.ARGUMENT_MAX, 1.0))
    above = np.nextafter(bessel.ARGUMENT_MAX, np.inf)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1e\+100\]"):
        bessel.log_bessel_ive(2.0, above)
    with pytest.raises(ValueError, match=r"v \(the order\) must lie in \[0, 1e\+100\]"):
        bessel.log_bessel_iv(above, 1.0)


def test_zero_argument_gives_minus_infinity_without_a_warning():
    # I_v(0) = 0 for v > 0 (log -inf), I_0(0) = 1; no RuntimeWarning (an error here)
    assert bessel.log_bessel_iv(0.5, 0.0) == -np.inf
    assert bessel.log_bessel_iv(3.0, 0.0) == -np.inf
    assert bessel.log_bessel_iv(0.0, 0.0) == 0.0


def test_vjps_broadcast_a_scalar_grad():
    # the vMF VJPs document that grad broadcasts to the output shape
    v, x = np.array([0.5, 2.0, 7.0]), np.array([0.3, 4.0, 50.0])
    full = bessel.log_bessel_iv_vjp(np.full(3, 2.0), v, x)
    np.testing.assert_array_equal(bessel.log_bessel_iv_vjp(2.0, v, x), full)
    full = bessel.bessel_iv_ratio_vjp(np.full(3, 2.0), v, x)
    np.testing.assert_array_equal(bessel.bessel_iv_ratio_vjp(2.0, v, x), full)
    with pytest.raises(ValueError, match="grad must broadcast to"):
        bessel.log_bessel_iv_vjp(np.ones(2), v, x)


@pytest.mark.parametrize("b", [1e-3, 0.5, 1.5, 10.0, 1e4])
@pytest.mark.parametrize("fraction", [0.0, 1e-12, 0.01, 0.5, 1.0])
def test_log_hyp0f1_against_mpmath(b, fraction):
    # the positive series: each term carries a few roundings and log1p keeps q -> 0 exact,
    # so a few ulps of |log 0F1| (b < 1 included: (b + k) - 1 used to lose b's digits)
    q = 8 * b * fraction
    with mpmath.workdps(40):
        exact = float(mpmath.log(mpmath.hyp0f1(b, q)))
    value = float(bessel.log_hyp0f1(b, q))
    assert abs(value - exact) <= 8 * EPS * abs(exact) + (0.0 if q else 1e-300)


def test_log_hyp0f1_domain_errors_name_the_argument():
    with pytest.raises(ValueError, match="b must be > 0, got a minimum of 0.0"):
        bessel.log_hyp0f1(0.0, 0.0)
    with pytest.raises(ValueError, match=r"q must lie in \[0, 8 b\]"):
        bessel.log_hyp0f1(1.0, 8.5)
    with pytest.raises(ValueError, match=r"q must lie in \[0, 8 b\]"):
        bessel.log_hyp0f1(1.0, -1e-9)
    assert float(bessel.log_hyp0f1(1.0, 8.0)) > 0  # q = 8 b is inside
