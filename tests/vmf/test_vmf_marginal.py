"""refimpl.vmf.marginal: the law of w = <mu, x>: density, CDF, quantile, dF/dkappa."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import integrate, stats

from refimpl.vmf import marginal as vm
from refimpl.vmf.angle_quadrature import angle_density
from refimpl.vmf.distribution import (
    log_normalizer,
    mean_resultant_length,
    mean_resultant_length_derivative,
)

dims = st.one_of(st.sampled_from([2, 3, 4, 5, 1000]), st.integers(2, 100000))
kappas = st.one_of(st.sampled_from([0.0, 1e-12, 1.0]), st.floats(-6, 4).map(lambda e: 10.0 ** e))


def _tanh_sinh(f, a, b):
    """SciPy's vectorised tanh-sinh quadrature (independent of our Gauss-Legendre panels)."""
    result = integrate.tanhsinh(f, a, b, atol=1e-15, rtol=1e-13)
    assert np.all(result.success)
    return result.integral


@pytest.mark.parametrize("d, kappa", [(3, 0.5), (4, 2.0), (8, 20.0), (16, 32.0), (100, 50.0),
                                      (1000, 10.0)])
def test_density_normalized_with_mean_and_variance(d, kappa):
    """Tanh-sinh quadrature of p, w p, (w - m)^2 p over [-1, 1], split at the mean."""
    peak = float(mean_resultant_length(d, kappa))
    p = lambda w: vm.marginal_pdf(w, d, kappa)  # noqa: E731
    quad = lambda f: _tanh_sinh(f, -1, peak) + _tanh_sinh(f, peak, 1)  # noqa: E731
    assert quad(p) == pytest.approx(1.0, abs=1e-10)
    m1 = quad(lambda w: w * p(w))
    assert m1 == pytest.approx(mean_resultant_length(d, kappa), abs=1e-10)
    variance = quad(lambda w: (w - m1) ** 2 * p(w))
    assert variance == pytest.approx(mean_resultant_length_derivative(d, kappa), rel=1e-8)


@given(st.floats(-1, 1), st.floats(-8, 3).map(lambda e: 10.0 ** e))
def test_d3_density_closed_form(w, kappa):
    expected = kappa * np.exp(kappa * (w - 1)) / -np.expm1(-2 * kappa)
    assert vm.marginal_pdf(w, 3, kappa) == pytest.approx(expected, rel=1e-12)


@given(st.floats(-1, 1), st.sampled_from([0.0, 1e-12, 1e-3, 1.0, 10.0, 1e3, 1e8]))
def test_angle_quadrature_matches_d3_closed_form(w, kappa):
    """The general quadrature (used for every d != 3) reproduces the d = 3 closed form."""
    theta = vm.angle_from_w(np.array(w))
    upper, lower = vm.angle_integrals(theta, 3, kappa)
    exact = vm.marginal_cdf(w, 3, kappa)
    assert lower == pytest.approx(exact, abs=4e-15)
    assert upper == pytest.approx(1 - exact, abs=4e-15)


@given(st.floats(-1, 1), st.floats(-3, np.log10(20)).map(lambda e: 10.0 ** e))
def test_d2_cdf_matches_scipy_vonmises(w, kappa):
    """At d = 2, P(w <= c) = P(|angle| >= arccos c) under the circular von Mises. (SciPy's
    von Mises CDF switches to a normal approximation for large kappa and is off by
    ~1e-6 at kappa = 100, so the comparison stops at kappa = 20; see the next test.)"""
    expected = 2 * stats.vonmises.sf(np.arccos(w), kappa)
    assert vm.marginal_cdf(w, 2, kappa) == pytest.approx(expected, abs=1e-12)


def test_d2_cdf_mpmath_values_at_large_kappa():
    """30-digit mpmath quadrature of exp(kappa cos t) over the angle, kappa = 100."""
    assert vm.marginal_cdf(0.9, 2, 100.0) == pytest.approx(7.955609713977205e-06, rel=1e-12)
    assert vm.marginal_cdf(0.99, 2, 100.0) == pytest.approx(0.15782235804199468, rel=1e-12)


@given(st.integers(3, 100000), st.floats(0, 1))
def test_uniform_limit_is_a_beta_law(d, t):
    """kappa = 0: t = (1 + w)/2 ~ Beta((d-1)/2, (d-1)/2) (d >= 3; w = 2t - 1 rounds by
    at most 1.1e-16 and the density of w is bounded there)."""
    expected = stats.beta.cdf(t, (d - 1) / 2, (d - 1) / 2)
    density_bound = np.sqrt(d)  # the density of w is below ~sqrt(d/(2 pi)) for d >= 3
    assert abs(vm.marginal_cdf(2 * t - 1, d, 0.0) - expected) <= 1e-12 + density_bound * 2.3e-16


@given(st.floats(-1, 1))
def test_uniform_limit_at_d2_is_the_arcsine_law(w):
    """kappa = 0, d = 2: the angle is uniform on [0, pi], so F(w) = 1 - arccos(w)/pi."""
    assert vm.marginal_cdf(w, 2, 0.0) == pytest.approx(1 - np.arccos(w) / np.pi, abs=1e-15)


@pytest.mark.parametrize("d, kappa", [(4, 3.0), (10, 100.0), (300, 30.0)])
def test_cdf_against_direct_quadrature_of_the_density(d, kappa):
    w = np.linspace(-0.9, 0.999, 9)
    expected = _tanh_sinh(lambda t: vm.marginal_pdf(t, d, kappa), -1.0, w)
    assert np.allclose(vm.marginal_cdf(w, d, kappa), expected, rtol=1e-9, atol=1e-13)


@given(dims, kappas, st.floats(0, 1))
def test_quantile_inverts_cdf(d, kappa, u):
    theta = vm.quantile_angle(np.array([u]), d, kappa)
    assert np.all((theta >= 0) & (theta <= np.pi))
    upper, lower = vm.angle_integrals(theta, d, kappa)
    residual = lower - u if u <= 0.5 else upper - (1 - u)
    # the quantile is exact to a few ulps of theta: the CDF moves by p(theta) * theta * eps
    density = angle_density(theta, d, kappa)
    assert np.all(np.abs(residual) <= 1e-14 + 1e-14 * density * theta)


@given(dims, kappas)
def test_cdf_monotone_with_exact_ends(d, kappa):
    w = np.linspace(-1, 1, 41)
    cdf = vm.marginal_cdf(w, d, kappa)
    assert cdf[0] == pytest.approx(0, abs=1e-15) and cdf[-1] == pytest.approx(1, abs=1e-15)
    assert np.all(np.diff(cdf) >= -1e-15)


@given(st.floats(0, 1), st.floats(-6, 3).map(lambda e: 10.0 ** e))
@example(u=4e-16, kappa=10.0)  # 1 - u must not be used where u is tiny
@example(u=0.0, kappa=1000.0)  # e^(-2 kappa) ~ 1e-869: the u = 0 end, in the far tail
@example(u=1.0 - 2.0**-53, kappa=15.9)
def test_d3_quantile_closed_form_against_textbook_form(u, kappa):
    """w against the textbook w = 1 + log(u + (1-u) e^(-2 kappa)) / kappa, evaluated in
    50-digit mpmath so that it is valid on the whole domain (u = 0, e^(-2 kappa) far
    below float64's range). Error model: the code computes 1 - w to a few ulps of itself
    and w = 1 - (1 - w) adds half an ulp of 1, so |w - w_exact| <= 4 eps absolutely."""
    with mpmath.workdps(50):
        u_, kappa_ = mpmath.mpf(u), mpmath.mpf(kappa)
        textbook = 1 + mpmath.log(u_ + (1 - u_) * mpmath.exp(-2 * kappa_)) / kappa_
        error = abs(mpmath.mpf(float(vm.marginal_quantile(u, 3, kappa))) - textbook)
    assert error <= 4 * np.finfo(float).eps


@pytest.mark.parametrize("d", [2, 3, 7])
@pytest.mark.parametrize("kappa", [0.0, 1.0, 400.0, 1e4, 1e10])
def test_quantile_ends_are_exact(d, kappa):
    """u = 0 gives w = -1 (theta = pi) and u = 1 gives w = 1, also where e^(-2 kappa)
    underflows (the d = 3 closed form took log(0) there and returned -inf)."""
    assert vm.marginal_quantile([0.0, 1.0], d, kappa).tolist() == [-1.0, 1.0]
    assert vm.quantile_angle(np.array([0.0, 1.0]), d, kappa).tolist() == [np.pi, 0.0]


@pytest.mark.parametrize("d", [2, 3, 6])
def test_quantile_keeps_the_shape_of_u(d):
    """A scalar u gives a 0-d result (it raised IndexError for d != 3), a 2-D u a 2-D one."""
    u = np.array([[0.1, 0.5], [0.9, 0.3]])
    w = vm.marginal_quantile(u, d, 4.0)
    assert w.shape == (2, 2)
    assert vm.marginal_quantile(0.5, d, 4.0).shape == ()
    # the same quadrature in two array layouts may reduce in another order (BLAS kernels
    # differ by shape): the quantile agrees to a few ulps of theta, so w to 8 eps
    assert abs(float(vm.marginal_quantile(0.5, d, 4.0)) - w[0, 1]) <= 8 * np.finfo(float).eps


def test_d3_quantile_tiny_kappa_is_uniform():
    u = np.linspace(0, 1, 11)
    assert np.allclose(vm.marginal_quantile(u, 3, 1e-15), 2 * u - 1, atol=1e-14)


@pytest.mark.parametrize("d, kappa", [(2, 1.5), (3, 2.0), (5, 2.0), (16, 32.0), (200, 80.0)])
def test_cdf_kappa_derivative_against_finite_differences(d, kappa):
    w = np.array([-0.5, 0.1, mean_resultant_length(d, kappa), 0.95])
    h = 1e-5 * kappa
    numerical = (vm.marginal_cdf(w, d, kappa + h) - vm.marginal_cdf(w, d, kappa - h)) / (2 * h)
    assert np.allclose(vm.marginal_cdf_kappa_derivative(w, d, kappa), numerical,
                       rtol=1e-6, atol=1e-11)


@given(st.floats(1e-6, 1 - 1e-6), st.floats(-3, 3).map(lambda e: 10.0 ** e))
def test_angle_kappa_derivative_matches_explicit_d3_formula(u, kappa):
    """Research note §6.2: dw/dkappa = -log(q)/kappa^2 - 2(1-u)e^(-2k)/(kappa q),
    q = u + (1-u) e^(-2 kappa); and dtheta/dkappa = -(dw/dkappa)/sin(theta)."""
    q = u + (1 - u) * np.exp(-2 * kappa)
    log_q = np.log1p((1 - u) * np.expm1(-2 * kappa))  # log q without rounding q first
    first, second = -log_q / kappa ** 2, 2 * (1 - u) * np.exp(-2 * kappa) / (kappa * q)
    theta = vm.quantile_angle(np.array([u]), 3, kappa)
    implicit = vm.quantile_angle_kappa_derivative(theta, 3, kappa)
    # the explicit formula cancels for small kappa: allow its own rounding error
    tolerance = 1e-8 * abs(first - second) + 1e-14 * (abs(first) + abs(second))
    assert abs(-implicit[0] * np.sin(theta[0]) - (first - second)) <= tolerance


def test_implicit_gradient_research_note_values():
    """§1.10 (d=16, kappa=32): dw/dkappa at u = 0.1, 0.5, 0.9 = 0.0085675, 0.0055674, 0.0033427."""
    u = np.array([0.1, 0.5, 0.9])
    theta = vm.quantile_angle(u, 16, 32.0)
    dw = -vm.quantile_angle_kappa_derivative(theta, 16, 32.0) * np.sin(theta)
    assert np.allclose(dw, [0.0085675, 0.0055674, 0.0033427], atol=1e-7)


def test_logpdf_limits_and_normalizer_link():
    assert vm.marginal_logpdf(1.0, 5, 2.0) == -np.inf
    assert vm.marginal_logpdf(1.0, 2, 2.0) == np.inf
    # p(1) at d = 3 is C_3 |S^1| e^kappa
    assert vm.marginal_logpdf(1.0, 3, 2.0) == pytest.approx(
        log_normalizer(3, 2.0) + np.log(2 * np.pi) + 2.0, rel=1e-14)


@pytest.mark.parametrize("call, error, match", [
    (lambda: vm.marginal_cdf(1.5, 3, 1.0), ValueError, "w"),
    (lambda: vm.marginal_cdf(0.5, 1, 1.0), ValueError, "d"),
    (lambda: vm.marginal_cdf(0.5, 3, -1.0), ValueError, "kappa"),
    (lambda: vm.marginal_cdf([0.1, 0.2, 0.5], 3, [1.0, 2.0]), ValueError, "do not broadcast"),
    (lambda: vm.marginal_quantile(1.5, 3, 1.0), ValueError, "u"),
    (lambda: vm.marginal_pdf(np.nan, 3, 1.0), ValueError, "w"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


EPS = np.finfo(float).eps


@given(d=st.sampled_from([2, 3, 4, 7, 50]), seed=st.integers(0, 2**32 - 1),
       shapes=st.sampled_from([((5,), (5,)), ((4, 1), (3,)), ((), (2, 2)), ((3,), (1,))]))
def test_every_marginal_function_broadcasts_kappa_like_scalar_calls(d, seed, shapes):
    # An array of kappas is evaluated once per distinct value on the entries sharing it,
    # by the scalar call's formulas; only the batch size differs, so only the summation
    # order of the 20-node quadrature sums (and NumPy's SIMD exp/log) can change.
    # Error model: 64 eps relative, plus the documented 1e-15 absolute accuracy of F and
    # dF/dkappa (a tiny value is not compared relatively to round-off).
    rng = np.random.default_rng(seed)
    x_shape, k_shape = shapes
    kappa = rng.choice([0.0, 0.7, 12.0, 400.0], size=k_shape)
    w = rng.uniform(-1.0, 1.0, size=x_shape)
    u = rng.uniform(0.0, 1.0, size=x_shape)
    for fn, x in [(vm.marginal_logpdf, w), (vm.marginal_pdf, w), (vm.marginal_cdf, w),
                  (vm.marginal_cdf_kappa_derivative, w), (vm.marginal_quantile, u)]:
        out = fn(x, d, kappa)
        xb, kb = np.broadcast_arrays(x, kappa)
        assert out.shape == xb.shape
        for index in np.ndindex(out.shape):
            ref = fn(xb[index], d, float(kb[index]))
            slack = 0.0 if fn in (vm.marginal_logpdf, vm.marginal_pdf) else 1e-15
            assert abs(out[index] - ref) <= 64 * EPS * abs(ref) + slack
