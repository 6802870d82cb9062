"""refimpl.vmf.sampling: the samplers, both tangent routes, the table and the transform.

Statistical checks use the Bonferroni level of vmf_stats (every check at ALPHA = 5e-9, at
most 200 checks in tests/vmf: total false-alarm rate < 1e-6). Power is stated per test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from vmf_stats import ALPHA, Z_CRITICAL, ks2_pvalue, ks_pvalue, z_mean, z_variance

from refimpl.gradcheck import assert_vjp, numerical_vjp
from refimpl.householder import normalize, normalize_vjp, rotation_map
from refimpl.vmf import sampling as vs
from refimpl.vmf.bessel import bessel_iv_ratio_complement
from refimpl.vmf.distribution import mean_resultant_length, mean_resultant_length_derivative
from refimpl.vmf.marginal import marginal_cdf


def _mu(d: int, seed: int = 0) -> np.ndarray:
    return normalize(np.random.default_rng(seed).standard_normal(d))


# --- the law of w -------------------------------------------------------------------------

KS_GRID = [(d, k) for d in (2, 3, 5, 10, 100, 1000) for k in (0.01, 1.0, 30.0, 1e4)]


@pytest.mark.parametrize("d, kappa", KS_GRID)
def test_ks_default_sampler_against_exact_cdf(d, kappa):
    """24 checks, n = 20000: at ALPHA the KS test rejects a CDF error above ~0.022, e.g.
    s-vae's envelope (mean 0.335 instead of 0.416 at d=64, kappa=32) or a w drawn without
    the (1 - w^2)^((d-3)/2) factor."""
    w = vs.sample_marginal(d, kappa, size=20000, rng=d * 7 + int(kappa * 100))
    assert ks_pvalue(w, lambda t: marginal_cdf(np.clip(t, -1, 1), d, kappa)) > ALPHA


METHOD_GRID = [(d, k, m) for d in (2, 3, 7, 200) for k in (0.5, 50.0)
               for m in ("wood", "table", "inverse") + (("exact",) if d <= 3 else ())]


@pytest.mark.parametrize("d, kappa, method", METHOD_GRID)
def test_ks_every_method_against_exact_cdf(d, kappa, method):
    """28 checks; same power as above (n = 20000; inverse n = 5000, critical D ~ 0.044)."""
    n = 5000 if method == "inverse" else 20000
    w = vs.sample_marginal(d, kappa, size=n, rng=11 + d, method=method)
    assert ks_pvalue(w, lambda t: marginal_cdf(np.clip(t, -1, 1), d, kappa)) > ALPHA


MOMENT_GRID = [(d, k) for d in (2, 3, 5, 64, 1000) for k in (0.1, 10.0, 1e3)]


@pytest.mark.parametrize("d, kappa", MOMENT_GRID)
def test_mean_and_variance_of_w(d, kappa):
    """30 checks, n = 50000: mean of w against A_d and variance against A_d'. Power: a
    bias of 5.7 standard errors, e.g. scipy's rounding of Wood's envelope at large kappa
    or an error of 3% in the variance at kappa = 10."""
    w = vs.sample_marginal(d, kappa, size=50000, rng=3 * d + 1)
    variance = float(mean_resultant_length_derivative(d, kappa))
    assert abs(z_mean(w, float(mean_resultant_length(d, kappa)), variance)) < Z_CRITICAL
    assert abs(z_variance(w, variance)) < Z_CRITICAL


def test_post_table_bias_at_d2_is_fixed():
    """The post's w-grid table under-weights the singular end w -> 1 at d = 2: mean
    0.974781 +- 3.6e-5 vs A_2(20) = 0.974671 (the table of kexue.fm/archives/8404 rebuilt
    in float64: grid step 1e-7, left Riemann sum, 1e6 draws). With n = 8e6 the standard error
    is 1.3e-5, so that bias (8.6 standard errors) would fail; ours (angle table) passes."""
    w = vs.sample_marginal(2, 20.0, size=8_000_000, rng=2, method="table")
    assert abs(z_mean(w, float(mean_resultant_length(2, 20.0)),
                      float(mean_resultant_length_derivative(2, 20.0)))) < Z_CRITICAL


@pytest.mark.parametrize("d", [2, 3, 50])
def test_kappa_zero_is_uniform(d):
    """3 checks: (1 + w)/2 ~ Beta((d-1)/2, (d-1)/2); full vectors have mean ~ 0."""
    w = vs.sample_marginal(d, 0.0, size=20000, rng=d)
    assert ks_pvalue((1 + w) / 2, stats.beta((d - 1) / 2, (d - 1) / 2).cdf) > ALPHA
    x = vs.sample(_mu(d), 0.0, size=2000, rng=d)
    assert np.all(np.abs(x.mean(axis=0)) < 6 / np.sqrt(2000 * d))  # d checks at 6 sd


def test_tiny_kappa_at_d3_is_near_uniform_not_nan():
    """kappa = 1e-12 at d = 3 (SciPy returns NaN or collapses onto mu below ~1e-15): w is
    uniform on [-1, 1] (1 check, n = 20000)."""
    for kappa in (1e-12, 1e-300):
        x = vs.sample(_mu(3), kappa, size=20000, rng=4)
        assert np.all(np.isfinite(x))
    w = x @ _mu(3)
    assert ks_pvalue(w, stats.uniform(-1, 2).cdf) > ALPHA


def test_kappa_1e8_mean_of_kappa_times_gap():
    """d = 5, kappa = 1e8: E[kappa (1 - w)] = kappa (1 - A) ~ (d-1)/2 = 2. SciPy gets
    1.981 +- 0.0014 from its rounded envelope; with n = 4e5 the standard error is 0.0022,
    so a bias of 0.019 (8.5 standard errors) would fail (1 check)."""
    kappa = 1e8
    w = vs.sample_marginal(5, kappa, size=400_000, rng=8, method="wood")
    exact = kappa * float(bessel_iv_ratio_complement(1.5, kappa))
    assert exact == pytest.approx(2.0, rel=1e-7)
    variance = kappa ** 2 * float(mean_resultant_length_derivative(5, kappa))
    assert abs(z_mean(kappa * (1 - w), exact, variance)) < Z_CRITICAL


# --- full vectors ---------------------------------------------------------------------------

@pytest.mark.parametrize("tangent", vs.TANGENTS)
@pytest.mark.parametrize("d", [2, 3, 10, 100])
def test_ks_of_full_vectors(d, tangent):
    """8 checks: <mu, x> of full samples (mu random) against the exact CDF, n = 20000."""
    mu = _mu(d, d)
    x = vs.sample(mu, 5.0, size=20000, rng=d, tangent=tangent)
    assert ks_pvalue(x @ mu, lambda t: marginal_cdf(np.clip(t, -1, 1), d, 5.0)) > ALPHA


@pytest.mark.parametrize("tangent", vs.TANGENTS)
@pytest.mark.parametrize("d", [3, 5])
def test_tangent_part_is_isotropic(d, tangent):
    """16 checks (d = 3 and 5, kappa = 3, n = 50000): for orthonormal u1, u2 orthogonal to mu,
    E[u.x] = 0, E[(u1.x)^2] = E[(u2.x)^2] = (1 - E w^2)/(d - 1), E[(u1.x)(u2.x)] = 0.
    Power: a tangent drawn on the full sphere without projection (the Stack Exchange
    sampler) or a reflection that does not fix the tangent law."""
    kappa, n = 3.0, 50000
    mu = _mu(d, 1)
    basis = np.linalg.qr(np.column_stack([mu, np.random.default_rng(2).standard_normal((d, 2))]))[0]
    u1, u2 = basis[:, 1], basis[:, 2]
    x = vs.sample(mu, kappa, size=n, rng=5, tangent=tangent)
    a, b = x @ u1, x @ u2
    second = (1 - mean_resultant_length_derivative(d, kappa) - mean_resultant_length(d, kappa) ** 2)
    expected = float(second / (d - 1))
    assert abs(z_mean(a, 0.0, expected)) < Z_CRITICAL
    assert abs(z_mean(a * b, 0.0, float(np.var(a * b)))) < Z_CRITICAL
    for c in (a, b):
        assert abs(z_mean(c * c, expected, float(np.var(c * c)))) < Z_CRITICAL
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=4e-16 * d)


@pytest.mark.parametrize("tangent", vs.TANGENTS)
def test_invariant_under_rotations_fixing_mu(tangent):
    """2 checks: for a = cos(t) mu + sin(t) u1 and b = R a = cos(t) mu + sin(t) u2 (R a
    rotation fixing mu), <a, x> and <b, x'> have the same law (two-sample KS, n = 20000
    each). Power: a sampler whose tangent part depends on the coordinate axes."""
    d, kappa = 4, 2.0
    mu = _mu(d, 3)
    basis = np.linalg.qr(np.column_stack([mu, np.random.default_rng(4).standard_normal((d, 2))]))[0]
    a = np.cos(1.0) * mu + np.sin(1.0) * basis[:, 1]
    b = np.cos(1.0) * mu + np.sin(1.0) * basis[:, 2]
    x1 = vs.sample(mu, kappa, size=20000, rng=6, tangent=tangent)
    x2 = vs.sample(mu, kappa, size=20000, rng=7, tangent=tangent)
    assert ks2_pvalue(x1 @ a, x2 @ b) > ALPHA


def test_samplers_agree_with_one_another():
    """4 checks: the two tangent routes (full vectors, statistic <a, x> for a fixed a) and
    Wood / exact / table for w at d = 3 (two-sample KS, n = 20000 each)."""
    d, kappa = 6, 4.0
    mu, a = _mu(d, 5), _mu(d, 6)
    x1 = vs.sample(mu, kappa, size=20000, rng=1, tangent="householder")
    x2 = vs.sample(mu, kappa, size=20000, rng=2, tangent="projection")
    assert ks2_pvalue(x1 @ a, x2 @ a) > ALPHA
    draws = {m: vs.sample_marginal(3, 7.0, size=20000, rng=9, method=m)
             for m in ("wood", "exact", "table")}
    assert ks2_pvalue(draws["wood"], draws["exact"]) > ALPHA
    assert ks2_pvalue(draws["wood"], draws["table"]) > ALPHA
    assert ks2_pvalue(draws["exact"], draws["table"]) > ALPHA


# --- deterministic properties ----------------------------------------------------------------

special_mus = st.sampled_from(["random", "e1", "-e1", "near_e1", "near_-e1"])


def _special_mu(kind: str, d: int, seed: int) -> np.ndarray:
    if kind == "random":
        return _mu(d, seed)
    sign = -1.0 if kind.endswith("-e1") else 1.0
    mu = np.zeros(d)
    mu[0] = sign
    if kind.startswith("near"):
        mu[-1] = 1e-9
        mu = normalize(mu)
    return mu


@given(st.integers(2, 300), st.one_of(st.just(0.0), st.floats(-12, 10).map(lambda e: 10.0 ** e)),
       special_mus, st.sampled_from(vs.TANGENTS), st.sampled_from(["auto", "wood", "table"]),
       st.integers(0, 1000))
def test_unit_norm_finite_and_deterministic(d, kappa, kind, tangent, method, seed):
    mu = _special_mu(kind, d, seed)
    x = vs.sample(mu, kappa, size=7, rng=seed, method=method, tangent=tangent)
    assert x.shape == (7, d) and np.all(np.isfinite(x))
    # rounding: the reflection x - 2u(u.x) rounds each coordinate by ~3u (the constant
    # term), the d-term dot products in the placement and in this check add ~sqrt(d) u
    # each; measured worst 8 eps at d <= 30, 20 eps at d = 300
    eps = np.finfo(float).eps
    assert np.max(np.abs(np.einsum("ij,ij->i", x, x) - 1)) <= (16 + 2 * d ** 0.5) * eps
    again = vs.sample(mu, kappa, size=7, rng=np.random.default_rng(seed), method=method,
                      tangent=tangent)
    assert np.array_equal(x, again)


def test_mu_equal_to_e1_uses_the_identity_and_minus_e1_the_reflection():
    x = vs.sample(np.eye(4)[0], 1e6, size=3, rng=0)
    assert np.all(x[:, 0] > 0.99)
    y = vs.sample(-np.eye(4)[0], 1e6, size=3, rng=0)
    assert np.all(y[:, 0] < -0.99)


def test_extreme_dimension_and_concentration_are_finite():
    """d = 1e5 with kappa = 1 (and 1e10), and kappa = 1e10 at d = 2 and 3."""
    for d, kappa in [(100000, 1.0), (100000, 1e10), (2, 1e10), (3, 1e10)]:
        mu = np.zeros(d)
        mu[1] = 1.0
        for tangent in vs.TANGENTS:
            x = vs.sample(mu, kappa, size=3, rng=0, tangent=tangent)
            assert np.all(np.isfinite(x))
            assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-14)


def test_shapes_and_broadcasting():
    mus = np.stack([_mu(5, 1), _mu(5, 2)])
    assert vs.sample(mus, 3.0, size=4, rng=0).shape == (4, 2, 5)
    assert vs.sample(mus, [[1.0], [2.0], [3.0]], size=(2,), rng=0).shape == (2, 3, 2, 5)
    assert vs.sample(_mu(5), 3.0, rng=0).shape == (5,)
    assert vs.sample_marginal(4, [1.0, 2.0], size=3, rng=0).shape == (3, 2)
    assert vs.sample(_mu(3), np.ones((0,)), size=2, rng=0).shape == (2, 0, 3)
    assert vs.sample(_mu(6), 1.0, size=0, rng=0).shape == (0, 6)
    # each batch entry follows its own kappa
    x = vs.sample(np.eye(3)[[0, 0]], [0.0, 1e6], size=2000, rng=0)
    assert abs(x[:, 0, 0].mean()) < 0.1 and x[:, 1, 0].min() > 0.99


def test_table_is_reusable_and_checked():
    table = vs.inverse_cdf_table(8, 20.0)
    a = vs.sample(_mu(8), 20.0, size=5, rng=1, method="table", table=table)
    b = vs.sample(_mu(8), 20.0, size=5, rng=1, method="table")
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="table"):
        vs.sample(_mu(8), 21.0, size=5, rng=1, method="table", table=table)
    with pytest.raises(ValueError, match="kappa"):
        vs.sample(_mu(8), [1.0, 2.0], size=5, rng=1, method="table")


# --- transform and its gradients ---------------------------------------------------------

@pytest.mark.parametrize("tangent", vs.TANGENTS)
@pytest.mark.parametrize("d, kappa", [(2, 3.0), (3, 0.7), (5, 20.0), (16, 32.0)])
def test_transform_vjp(d, kappa, tangent):
    """mu through normalize (the tangent part of the ambient gradient), kappa directly."""
    noise = vs.draw_noise(d, size=3, rng=d)
    m = np.random.default_rng(1).standard_normal(d)

    def f(m, k):
        return vs.transform(noise, normalize(m), k, tangent=tangent)

    def f_vjp(g, m, k):
        grad_mu, grad_kappa = vs.transform_vjp(g, noise, normalize(m), k, tangent=tangent)
        return normalize_vjp(grad_mu, m), grad_kappa

    assert_vjp(f, f_vjp, [m, np.array(kappa)], rng=0)


def test_transform_has_the_vmf_law():
    """1 check: transform(draw_noise) is distributed as vMF (KS of <mu, x>, n = 5000)."""
    d, kappa = 7, 4.0
    mu = _mu(d)
    x = vs.transform(vs.draw_noise(d, size=5000, rng=3), mu, kappa, tangent="projection")
    assert ks_pvalue(x @ mu, lambda t: marginal_cdf(np.clip(t, -1, 1), d, kappa)) > ALPHA


@pytest.mark.parametrize("d, kappa", [(3, 2.0), (5, 2.0), (16, 32.0)])
def test_implicit_kappa_gradient_is_unbiased(d, kappa):
    """3 checks, n = 20000: the Monte-Carlo mean of dw/dkappa equals d/dkappa E[w] = A_d'.
    Power: the s-vae pathwise estimate (through Wood's b only) is 13% low at d=5, kappa=2
    (0.1277 vs 0.1474), about 25 standard errors here."""
    mu = _mu(d)
    noise = vs.draw_noise(d, size=20000, rng=d)
    theta_grad = vs.transform_vjp(np.broadcast_to(mu, (20000, d)), noise, mu,
                                  np.full(20000, kappa))[1]
    assert abs(z_mean(theta_grad, float(mean_resultant_length_derivative(d, kappa)),
                      float(np.var(theta_grad)))) < Z_CRITICAL


@pytest.mark.parametrize("call, error, match", [
    (lambda: vs.sample([1.0, 1.0], 1.0), ValueError, "mu"),
    (lambda: vs.sample([1.0], 1.0), ValueError, "mu"),
    (lambda: vs.sample([1.0, 0.0], -1.0), ValueError, "kappa"),
    (lambda: vs.sample([1.0, 0.0], np.inf), ValueError, "kappa"),
    (lambda: vs.sample(np.eye(3)[:2], [1.0, 2.0, 3.0]), ValueError, "shapes"),
    (lambda: vs.sample([1.0, 0.0], 1.0, method="best"), ValueError, "method"),
    (lambda: vs.sample([1.0, 0.0], 1.0, tangent="qr"), ValueError, "tangent"),
    (lambda: vs.sample([1.0, 0.0, 0.0, 0.0], 1.0, method="exact"), ValueError, "d=4"),
    (lambda: vs.sample([1.0, 0.0], 1.0, size=-1), ValueError, "size"),
    (lambda: vs.sample([1.0, 0.0], 1.0, rng="seed"), TypeError, "rng"),
    (lambda: vs.sample_marginal(1, 1.0), ValueError, "d"),
    (lambda: vs.transform(np.zeros((2, 3)), [1.0, 0.0], 1.0), ValueError, "noise"),
    (lambda: vs.transform(np.full(3, 2.0), [1.0, 0.0], 1.0), ValueError, "noise"),
    (lambda: vs.transform_vjp(np.ones((3, 2)), np.full((2, 3), 0.5), [1.0, 0.0], 1.0),
     ValueError, "grad"),
    (lambda: vs.sample([1.0, 0.0], 1.0, method="wood", table=vs.inverse_cdf_table(2, 1.0)),
     ValueError, "table"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("d, method", [(2, "auto"), (3, "auto"), (6, "wood"), (6, "table"),
                                       (40, "inverse")])
def test_sample_marginal_gives_the_same_w_as_sample(d, method):
    """w is drawn first, so <mu, sample(...)> equals sample_marginal(...) for one seed."""
    mu = _mu(d, 9)
    x = vs.sample(mu, 3.0, size=50, rng=12, method=method)
    w = vs.sample_marginal(d, 3.0, size=50, rng=12, method=method)
    assert np.allclose(x @ mu, w, atol=1e-14)


def test_d3_exponential_path_with_one_kappa_per_column():
    """2 checks: at d = 3 with every kappa >= 1, 1 - w is drawn as a truncated
    exponential (rate kappa per column); KS of each column against its CDF, n = 20000."""
    kappas = np.array([1.0, 50.0])
    w = vs.sample_marginal(3, kappas, size=20000, rng=21)
    for column, kappa in enumerate(kappas):
        assert ks_pvalue(w[:, column],
                         lambda t, kappa=kappa: marginal_cdf(np.clip(t, -1, 1), 3, kappa)) > ALPHA


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("d", [2, 3, 6])
def test_householder_transform_vjp_near_e1(d, sign):
    """mu within 1e-3 of +-e_1, where the reflection's mu-gradient is of order 1e3
    (it grows like 1/||mu - e_1||); a smaller step resolves it."""
    noise = vs.draw_noise(d, size=3, rng=d)
    tilt = np.random.default_rng(3).standard_normal(d)
    tilt[0] = 0.0
    m = sign * np.eye(d)[0] + 1e-3 * tilt

    def f(m):
        return vs.transform(noise, normalize(m), 2.0)

    def f_vjp(g, m):
        return normalize_vjp(vs.transform_vjp(g, noise, normalize(m), 2.0)[0], m)

    assert_vjp(f, f_vjp, [m], rng=0, eps=1e-8)


@pytest.mark.parametrize("d", [2, 3, 6])
def test_householder_transform_vjp_at_e1_is_that_of_the_rotation(d):
    """At mu = e_1 exactly the reflection (no limit there) is replaced by the identity;
    its gradient is that of the minimal rotation e_1 -> mu applied to the same point,
    a smooth family equal to the identity at e_1 (finite differences of rotation_map).
    The w mu path alone would give w g, and the former zero gradient is wrong too."""
    e1 = np.eye(d)[0]
    noise = vs.draw_noise(d, size=4, rng=d)
    g = np.random.default_rng(d).standard_normal((4, d))
    y = vs.transform(noise, e1, 2.0)
    expected = numerical_vjp(lambda m: rotation_map(y, e1, normalize(m)), [e1], g)[0]
    grad_mu = normalize_vjp(vs.transform_vjp(g, noise, e1, 2.0)[0], e1)
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(grad_mu, expected, atol=1e-8)
