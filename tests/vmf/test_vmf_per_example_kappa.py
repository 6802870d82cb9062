"""Per-example kappa: arrays of distinct concentrations go through one vectorised pass
(refimpl.vmf.angle_quadrature) and agree with one call per kappa; the marginal law meets
its accuracy targets against mpmath on a grid (tests/vmf/vmf_marginal_fixture.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vmf_marginal_fixture import MARGINAL_FIXTURE

from refimpl import vmf
from refimpl.vmf import angle_quadrature
from refimpl.vmf import marginal as vm

EPS = np.finfo(float).eps
# Two evaluations of the same quadrature in different array layouts may differ by the
# summation order of the 20-node dot products and of the panel sums (~20 terms of size
# <= 1, each rounded): |F_array - F_scalar| <= 64 eps. The quantile inherits that
# through 1/p(theta) and is exact to a few ulps of theta on top.
AGREE = 64 * EPS

dims = st.sampled_from([2, 3, 4, 7, 64, 1000])
kappa_arrays = st.lists(st.one_of(st.just(0.0), st.floats(-6, 6).map(lambda e: 10.0 ** e)),
                        min_size=1, max_size=6)


@given(dims, kappa_arrays, st.floats(0, 1))
def test_marginal_functions_take_per_example_kappa(d, kappas, u):
    """Each entry of a kappa array gets the value of a scalar call (to summation order)."""
    kappa = np.array(kappas)
    w = np.cos(vm.quantile_angle(np.full(kappa.shape, u), d, kappa))
    cdf, derivative = vm.marginal_cdf(w, d, kappa), vm.marginal_cdf_kappa_derivative(w, d, kappa)
    for i, k in enumerate(kappas):
        assert abs(cdf[i] - vm.marginal_cdf(w[i], d, k)) <= AGREE
        scalar = vm.marginal_cdf_kappa_derivative(w[i], d, k)
        assert abs(derivative[i] - scalar) <= AGREE * (1.0 + abs(scalar))


@given(st.sampled_from([2, 4, 64]), kappa_arrays, st.floats(1e-9, 1 - 1e-9))
def test_quantile_with_per_example_kappa_inverts_each_cdf(d, kappas, u):
    """theta(u; kappa_i) from one array call solves F = u for its own kappa_i."""
    kappa = np.array(kappas)
    theta = vm.quantile_angle(np.full(kappa.shape, u), d, kappa)
    for i, k in enumerate(kappas):
        upper, lower = vm.angle_integrals(theta[i], d, k)
        residual = lower - u if u <= 0.5 else upper - (1.0 - u)
        density = angle_quadrature.angle_density(theta[i], d, k)
        # residual = p(theta) * (theta error); theta error <= 8 ulps of theta, plus AGREE
        assert abs(residual) <= AGREE + 8 * EPS * density * theta[i]


@pytest.mark.parametrize("d", [2, 3, 5, 64])
@pytest.mark.parametrize("tangent", ["householder", "projection"])
def test_transform_and_vjp_with_per_example_kappa_match_scalar_calls(d, tangent):
    """transform / transform_vjp with n distinct kappas equal n calls with one kappa each.
    x is a unit vector built from (cos theta, sin theta): an angle error of a few ulps
    moves it by ~1e-15; grad_kappa = dtheta/dkappa * <g, dx/dtheta> inherits the
    relative accuracy of the two quadratures (AGREE) over its size."""
    rng = np.random.default_rng(7)
    n = 12
    kappa = np.concatenate([[0.0, 1e-8], 10.0 ** rng.uniform(-3, 5, n - 2)])
    mu = rng.standard_normal((n, d))
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    noise = vmf.draw_noise(d, size=n, rng=3)
    grad = rng.standard_normal((n, d))
    x = vmf.transform(noise, mu, kappa, tangent)
    grad_mu, grad_kappa = vmf.transform_vjp(grad, noise, mu, kappa, tangent)
    for i in range(n):
        assert np.max(np.abs(x[i] - vmf.transform(noise[i], mu[i], kappa[i], tangent))) <= 1e-14
        one_mu, one_kappa = vmf.transform_vjp(grad[i], noise[i], mu[i], kappa[i], tangent)
        scale = np.max(np.abs(grad[i])) * (1.0 + np.max(np.abs(one_mu)))
        assert np.max(np.abs(grad_mu[i] - one_mu)) <= 1e-13 * scale
        assert abs(grad_kappa[i] - one_kappa) <= 1e-12 * (abs(one_kappa) + 1e-300) + 1e-300


def test_distinct_kappas_share_one_vectorised_layout(monkeypatch):
    """No Python loop over kappa values: 500 distinct kappas build one quadrature layout
    (of 500 rows) for transform and one for transform_vjp."""
    calls = []
    original = angle_quadrature.angle_layout

    def counting(d, kappa):
        calls.append(np.size(kappa))
        return original(d, kappa)

    monkeypatch.setattr(angle_quadrature, "angle_layout", counting)
    n, d = 500, 16
    kappa = np.geomspace(0.1, 1e4, n)
    noise = vmf.draw_noise(d, size=n, rng=0)
    mu = np.eye(d)[1]
    vmf.transform(noise, mu, kappa)
    vmf.transform_vjp(np.ones((n, d)), noise, mu, kappa)
    assert calls == [n, n]


@pytest.mark.parametrize("method", ["wood", "inverse"])
def test_sample_with_per_example_kappa_follows_each_law(method):
    """sample(mu, kappa array): the draws of the k-th kappa have that kappa's law of w.
    Two-sample-free check: the probability-integral transform F_k(w) of all draws pooled
    is uniform (KS test at n = 4000: false alarm 1e-7 with the threshold 2.88 / sqrt(n))."""
    d, n = 8, 4000
    kappa = np.tile([0.5, 5.0, 50.0, 500.0], n // 4)
    mu = np.eye(d)[0]
    x = vmf.sample(mu, kappa, rng=11, method=method)
    pit = np.sort(vm.marginal_cdf(x[:, 0], d, kappa))
    grid = np.arange(1, n + 1) / n
    statistic = max(np.max(grid - pit), np.max(pit - (grid - 1.0 / n)))
    assert statistic <= 2.88 / np.sqrt(n)


# Error models for the grid. CDF: the quadrature is exact to rounding; rounding enters
# through the relative density at each node (a few eps of O(1) terms) and through
# theta = arccos(w) (relative error ~1.5 eps, moving F by 1.5 eps p(theta) theta, which
# exceeds 1e-14 only at large d and kappa: 5.9e-14 at d = 1e5, kappa = 1e6, w = 0.95).
# Quantile: Newton stops when its step is below 1e-9 sd, leaving the rounding of F over
# p(theta): w = cos(theta) within 4 ulps of w, or the angle within relative 1e-14 (the
# angle form is the sharper one near w = 0, the w form where theta is far below the
# mode and theta = mode + z keeps only eps * mode absolutely).
@pytest.mark.parametrize("d, kappa, u, theta, w, cdf", MARGINAL_FIXTURE)
def test_marginal_cdf_and_quantile_against_mpmath(d, kappa, u, theta, w, cdf):
    conditioning = 1.5 * EPS * float(angle_quadrature.angle_density(np.arccos(w), d, kappa))
    assert abs(vm.marginal_cdf(w, d, kappa) - cdf) <= max(1e-14, conditioning * np.arccos(w))
    ours = float(vm.quantile_angle(np.array([u]), d, kappa)[0])
    exact_w = np.cos(theta)
    w_ulps = abs(float(vm.marginal_quantile(u, d, kappa)) - exact_w) / np.spacing(abs(exact_w))
    assert w_ulps <= 4 or abs(ours - theta) <= 1e-14 * theta


def test_a_fixed_kappa_table_refuses_several_kappas():
    """method='table' builds one table for one kappa: an array of distinct kappas is an
    error naming the count (it would otherwise sample every draw from the first kappa)."""
    with pytest.raises(ValueError, match="method='table' needs one kappa"):
        vmf.sample(np.eye(4)[0], [1.0, 2.0], rng=0, method="table")
    same = vmf.sample(np.eye(4)[0], [3.0, 3.0], rng=0, method="table")
    assert same.shape == (2, 4)
