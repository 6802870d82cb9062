"""refimpl.vmf.distribution: normalizer, mean resultant length, density, entropy, KL."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats
from vmf_bessel_fixture import DISTRIBUTION_FIXTURE

from refimpl.gradcheck import assert_vjp
from refimpl.householder import normalize, normalize_vjp
from refimpl.vmf import distribution as vd
from refimpl.vmf import sample
from refimpl.vmf.bessel import bessel_iv_ratio_complement, log_bessel_iv

dims = st.one_of(st.sampled_from([2, 3, 4, 5, 1000, 100000]), st.integers(2, 100000))
kappas = st.one_of(st.sampled_from([0.0, 1e-10, 1.0, 1e10]),
                   st.floats(-10, 10).map(lambda e: 10.0 ** e))

# Research note vmf_univae_dimension.md §1.8 (mpmath, printed to 9-10 digits).
REFERENCE_TABLE = [
    (2, 1, -2.073791425, 0.446389966, 0.210475607),
    (3, 1, -2.692463609, 0.313035285, 0.151595924),
    (3, 10, -9.535291971, 0.900000004, 1.995732317),
    (8, 20, -15.723456480, 0.836456755, 4.485985874),
    (16, 1, -1.357020878, 0.062284333, 0.031088361),
    (16, 32, -19.020327716, 0.789895225, 7.582144376),
    (64, 32, 33.521364179, 0.415546944, 6.051146371),
    (128, 1.5, 127.044668056, 0.011717166, 0.008787280),
    (768, 32, 1458.055060330, 0.041594765, 0.664941681),
    (1000, 10, 2032.007762750, 0.009999002, 0.049992517),
]


@pytest.mark.parametrize("d, kappa, log_c, a, kl", REFERENCE_TABLE)
def test_research_note_reference_table(d, kappa, log_c, a, kl):
    # the note prints 9-10 digits (its own NumPy code agreed with mpmath to ~1e-11 rel.)
    assert vd.log_normalizer(d, kappa) == pytest.approx(log_c, rel=1e-11, abs=2e-9)
    assert vd.mean_resultant_length(d, kappa) == pytest.approx(a, abs=2e-9)
    assert vd.kl_to_uniform(d, kappa) == pytest.approx(kl, abs=2e-9)


def test_research_note_large_kappa_row():
    assert vd.log_normalizer(10, 1e5) == pytest.approx(-99956.462203, abs=2e-6)
    assert vd.mean_resultant_length(10, 1e5) == pytest.approx(0.999955001, abs=2e-9)
    assert vd.kl_to_uniform(10, 1e5) == pytest.approx(42.276618, abs=2e-6)


def test_vmf_vae_constant_kl():
    """The post's MNIST setting: d = 8, kappa = 20 gives KL = 4.485986 nats."""
    assert round(float(vd.kl_to_uniform(8, 20.0)), 6) == 4.485986


def test_mpmath_fixture_whole_grid():
    """50-digit mpmath over d in {2..1e5} x kappa in {1e-10..1e10}: every value finite and
    within 1e-12 (relative, or absolute below magnitude 1) of the reference."""
    columns = zip(*DISTRIBUTION_FIXTURE, strict=True)
    d, kappa, log_c, a, c, kl, h = (np.array(col, dtype=float) for col in columns)
    for di in np.unique(d):
        rows = d == di
        k = kappa[rows]
        scale = lambda ref: np.maximum(1, np.abs(ref))  # noqa: E731
        log_c_error = np.abs(vd.log_normalizer(int(di), k) - log_c[rows])
        assert np.all(log_c_error <= 1e-12 * scale(log_c[rows]))
        assert np.all(np.abs(vd.entropy(int(di), k) - h[rows]) <= 1e-12 * scale(h[rows]))
        assert np.all(np.abs(vd.mean_resultant_length(int(di), k) / a[rows] - 1) <= 1e-13)
        assert np.all(np.abs(vd.kl_to_uniform(int(di), k) / kl[rows] - 1) <= 1e-11)


@given(st.floats(-8, 6).map(lambda e: 10.0 ** e))
def test_closed_forms_at_d_2_and_3(kappa):
    assert vd.log_normalizer(3, kappa) == pytest.approx(
        np.log(kappa / (4 * np.pi)) - (kappa + np.log(-np.expm1(-2 * kappa) / 2)),
        rel=1e-13, abs=1e-13)
    assert vd.log_normalizer(2, kappa) == pytest.approx(
        -np.log(2 * np.pi * special.i0e(kappa)) - kappa, rel=1e-13, abs=1e-13)
    # A_3 = coth kappa - 1/kappa in 40-digit mpmath (in float64 the difference loses
    # ~eps/kappa^2, more than the code's error): relative 1e-13, no hidden absolute slack
    with mpmath.workdps(40):
        k = mpmath.mpf(kappa)
        a3 = float(mpmath.coth(k) - 1 / k) if kappa > 0 else 0.0
    assert abs(vd.mean_resultant_length(3, kappa) - a3) <= 1e-13 * a3
    assert vd.mean_resultant_length(2, kappa) == pytest.approx(
        special.i1e(kappa) / special.i0e(kappa), rel=1e-13)


def test_uniform_limit():
    for d in (2, 3, 17, 100000):
        assert vd.log_normalizer(d, 0.0) == pytest.approx(-vd.log_sphere_area(d), rel=1e-15)
        assert vd.entropy(d, 0.0) == pytest.approx(vd.log_sphere_area(d), rel=1e-15)
        assert vd.kl_to_uniform(d, 0.0) == 0.0
        assert vd.mean_resultant_length(d, 0.0) == 0.0
        assert vd.mean_resultant_length_derivative(d, 0.0) == pytest.approx(1 / d, rel=1e-15)


@given(dims, kappas)
def test_everything_finite_and_in_range(d, kappa):
    a = vd.mean_resultant_length(d, kappa)
    assert np.isfinite(vd.log_normalizer(d, kappa)) and np.isfinite(vd.entropy(d, kappa))
    assert 0 <= a < 1 and vd.mean_resultant_length_derivative(d, kappa) > 0
    assert vd.kl_to_uniform(d, kappa) >= 0
    assert vd.entropy(d, kappa) <= vd.log_sphere_area(d) + 1e-12 * abs(vd.log_sphere_area(d))


@given(dims, st.floats(-8, 8), st.floats(1e-6, 1))
def test_mean_resultant_length_and_kl_increase_with_kappa(d, log_kappa, relative_step):
    k1 = 10.0 ** log_kappa
    k2 = k1 * (1 + relative_step)
    assert vd.mean_resultant_length(d, k2) > vd.mean_resultant_length(d, k1)
    assert vd.kl_to_uniform(d, k2) > vd.kl_to_uniform(d, k1)


@given(dims, st.floats(-6, 8).map(lambda e: 10.0 ** e))
def test_amos_bounds(d, kappa):
    nu = d / 2 - 1
    a = vd.mean_resultant_length(d, kappa)
    assert kappa / (nu + 0.5 + np.hypot(kappa, nu + 1.5)) * (1 - 1e-14) <= a
    assert a <= kappa / (nu + 0.5 + np.hypot(kappa, nu + 0.5)) * (1 + 1e-14)


@given(dims, st.floats(-10, -4).map(lambda e: 10.0 ** e))
def test_kl_small_kappa(d, kappa):
    """KL = kappa^2/(2d) (1 + O(kappa^2)) as kappa -> 0, to full relative accuracy."""
    assert vd.kl_to_uniform(d, kappa) / (kappa ** 2 / (2 * d)) == pytest.approx(1, abs=kappa)


@given(st.integers(2, 100000), st.floats(0, 10))
def test_large_kappa_asymptotics(d, extra):
    """1 - A_d ~ (d-1)/(2 kappa) and A_d' ~ (d-1)/(2 kappa^2) for kappa >> d^2."""
    kappa = 1e6 * d * d * 10.0 ** extra
    complement = bessel_iv_ratio_complement(d / 2 - 1, kappa)
    assert complement == pytest.approx((d - 1) / (2 * kappa), rel=1e-5)
    # the Gaussian limit of the tangent part: H -> ((d-1)/2) log(2 pi e / kappa)
    limit = (d - 1) / 2 * np.log(2 * np.pi * np.e / kappa)
    assert abs(vd.entropy(d, kappa) - limit) <= 1e-5 * max(1.0, abs(limit))
    derivative = vd.mean_resultant_length_derivative(d, kappa)
    assert derivative * kappa ** 2 == pytest.approx((d - 1) / 2, rel=1e-5)


@given(dims, st.floats(-5, 5).map(lambda e: 10.0 ** e))
def test_derivative_of_log_normalizer_is_minus_a(d, kappa):
    """-d/dkappa log C_d = A_d, by central differences in log kappa."""
    h = 1e-5
    up, down = vd.log_normalizer(d, kappa * np.exp(h)), vd.log_normalizer(d, kappa * np.exp(-h))
    numerical = -(up - down) / (kappa * 2 * np.sinh(h))
    scale = max(abs(vd.log_normalizer(d, kappa)), 1.0) / kappa
    assert abs(numerical - vd.mean_resultant_length(d, kappa)) <= 1e-7 * (1 + scale)


@pytest.mark.parametrize("d, kappa", [(2, 0.3), (3, 5.0), (16, 32.0), (1000, 2000.0), (10, 1e5)])
def test_kappa_vjps(d, kappa):
    k = np.array([kappa, 1.5 * kappa])
    for f, f_vjp in [(vd.log_normalizer, vd.log_normalizer_vjp),
                     (vd.mean_resultant_length, vd.mean_resultant_length_vjp),
                     (vd.entropy, vd.entropy_vjp), (vd.kl_to_uniform, vd.kl_to_uniform_vjp)]:
        assert_vjp(lambda k, f=f: f(d, k), lambda g, k, f_vjp=f_vjp: f_vjp(g, d, k), [k], rng=0,
                  eps=1e-6 / max(1.0, kappa) ** 0.5)


def test_variance_identity_against_quadrature():
    """A_d' = Var[w] with the w-density integrated by scipy.integrate.quad (d=16, kappa=32)."""
    from scipy import integrate
    d, kappa = 16, 32.0
    density = lambda w: np.exp(kappa * (w - 1)) * (1 - w * w) ** ((d - 3) / 2)  # noqa: E731
    z = integrate.quad(density, -1, 1, epsabs=0, epsrel=1e-13)[0]
    m1 = integrate.quad(lambda w: w * density(w), -1, 1, epsabs=0, epsrel=1e-13)[0] / z
    m2 = integrate.quad(lambda w: w * w * density(w), -1, 1, epsabs=0, epsrel=1e-13)[0] / z
    assert vd.mean_resultant_length(d, kappa) == pytest.approx(m1, rel=1e-11)
    assert vd.mean_resultant_length_derivative(d, kappa) == pytest.approx(m2 - m1 ** 2, rel=1e-9)
    assert vd.mean_resultant_length_derivative(16, 32.0) == pytest.approx(0.0058021477, abs=1e-10)


def _unit(rng, shape):
    return normalize(rng.standard_normal(shape))


@given(st.integers(2, 50), st.floats(-3, 3).map(lambda e: 10.0 ** e), st.integers(0, 2**32 - 1))
def test_logpdf_properties(d, kappa, seed):
    rng = np.random.default_rng(seed)
    mu, x = _unit(rng, d), _unit(rng, (4, d))
    log_f = vd.logpdf(x, mu, kappa)
    expected = vd.log_normalizer(d, kappa) + kappa * x @ mu
    assert np.allclose(log_f, expected, rtol=1e-12, atol=1e-12 * (1 + kappa))
    log_ratio = vd.logpdf(mu, mu, kappa) - vd.logpdf(-mu, mu, kappa)
    assert log_ratio == pytest.approx(2 * kappa, rel=1e-12)
    rotation = stats.ortho_group.rvs(d, random_state=seed % 1000) if d > 1 else np.eye(1)
    assert np.allclose(vd.logpdf(x @ rotation.T, mu @ rotation.T, kappa), log_f,
                       rtol=1e-10, atol=1e-10 * (1 + kappa))
    assert np.allclose(vd.pdf(x, mu, kappa), np.exp(log_f))


def test_logpdf_matches_scipy_where_scipy_is_finite():
    mu = np.array([0.0, 0.6, 0.8, 0.0, 0.0])
    x = _unit(np.random.default_rng(0), (6, 5))
    for kappa in (1e-3, 1.0, 100.0, 5000.0):
        expected = stats.vonmises_fisher(mu, kappa).logpdf(x)
        assert np.allclose(vd.logpdf(x, mu, kappa), expected, rtol=1e-12, atol=1e-12 * kappa)


def test_entropy_is_minus_expected_logpdf():
    """H = -E[log f] by quadrature of the w-marginal (d = 5, kappa = 3)."""
    from scipy import integrate

    from refimpl.vmf.marginal import marginal_pdf
    d, kappa = 5, 3.0
    log_c = vd.log_normalizer(d, kappa)
    expected = -integrate.quad(lambda w: (log_c + kappa * w) * marginal_pdf(w, d, kappa), -1, 1,
                               epsabs=1e-14)[0]
    assert vd.entropy(d, kappa) == pytest.approx(expected, rel=1e-12)


@given(st.integers(2, 30), st.floats(-3, 3), st.floats(-3, 3), st.integers(0, 2**32 - 1))
def test_kl_between_vmfs(d, log_k1, log_k2, seed):
    rng = np.random.default_rng(seed)
    k1, k2 = 10.0 ** log_k1, 10.0 ** log_k2
    mu1, mu2 = _unit(rng, d), _unit(rng, d)
    value = vd.kl(mu1, k1, mu2, k2)
    assert value >= -1e-12 * (1 + k1 + k2)
    assert vd.kl(mu1, k1, mu1, k1) == 0.0
    assert vd.kl(mu1, k1, mu2, 0.0) == pytest.approx(vd.kl_to_uniform(d, k1), rel=1e-12, abs=1e-14)
    # the definition E_1[log f_1 - log f_2] with E_1[x] = A_1 mu1
    a1 = vd.mean_resultant_length(d, k1)
    direct = (vd.log_normalizer(d, k1) + k1 * a1 - vd.log_normalizer(d, k2) - k2 * a1 * mu1 @ mu2)
    assert value == pytest.approx(direct, rel=1e-9, abs=1e-9 * (1 + k1 + k2))


@pytest.mark.parametrize("d, k1, k2", [(3, 2.0, 5.0), (8, 20.0, 1.0), (20, 100.0, 80.0)])
def test_kl_and_logpdf_vjps(d, k1, k2):
    """Kappa gradients directly; mu/x gradients through normalize (tangent parts)."""
    rng = np.random.default_rng(d)
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)

    def f(m1, a, m2, b):
        return vd.kl(normalize(m1), a, normalize(m2), b)

    def f_vjp(g, m1, a, m2, b):
        g1, ga, g2, gb = vd.kl_vjp(g, normalize(m1), a, normalize(m2), b)
        return normalize_vjp(g1, m1), ga, normalize_vjp(g2, m2), gb

    assert_vjp(f, f_vjp, [m1, np.array(k1), m2, np.array(k2)], rng=0)

    def g(x, m, k):
        return vd.logpdf(normalize(x), normalize(m), k)

    def g_vjp(c, x, m, k):
        gx, gm, gk = vd.logpdf_vjp(c, normalize(x), normalize(m), k)
        return normalize_vjp(gx, x), normalize_vjp(gm, m), gk

    assert_vjp(g, g_vjp, [rng.standard_normal((3, d)), m1, np.array([k1, k2, 1.0])], rng=0)
    assert_vjp(lambda k: vd.pdf(normalize(m2), normalize(m1), k),
              lambda c, k: vd.pdf_vjp(c, normalize(m2), normalize(m1), k)[2],
              [np.array([0.5, 2.0])], rng=0)


@pytest.mark.parametrize("call, error, match", [
    (lambda: vd.log_normalizer(1, 1.0), ValueError, "d"),
    (lambda: vd.log_normalizer(2.5, 1.0), TypeError, "d"),
    (lambda: vd.log_normalizer(3, -1.0), ValueError, "kappa"),
    (lambda: vd.entropy(3, np.inf), ValueError, "kappa"),
    (lambda: vd.logpdf([1.0, 1.0], [1.0, 0.0], 1.0), ValueError, "x"),
    (lambda: vd.logpdf([1.0, 0.0], [0.6, 0.7], 1.0), ValueError, "mu"),
    (lambda: vd.logpdf([1.0, 0.0], [1.0, 0.0, 0.0], 1.0), ValueError, "mu"),
    (lambda: vd.logpdf(np.eye(3)[:2], np.eye(3), 1.0), ValueError, "shapes"),
    (lambda: vd.kl(np.eye(2), 1.0, [0.0, 1.0], [1.0, 2.0, 3.0]), ValueError, "kappa2"),
    (lambda: vd.logpdf([1.0], [1.0], 1.0), ValueError, "x"),
    # a cotangent larger than the output used to give a gradient larger than kappa
    (lambda: vd.log_normalizer_vjp(np.ones((2, 2)), 3, [1.0, 2.0]), ValueError, "grad"),
    (lambda: vd.entropy_vjp(np.ones(3), 3, [1.0, 2.0]), ValueError, "grad"),
    (lambda: vd.logpdf_vjp(np.ones(5), np.eye(3), [1.0, 0.0, 0.0], 1.0), ValueError, "grad"),
    (lambda: vd.pdf(np.eye(2000)[0], np.eye(2000)[0], 0.0), ValueError, "pdf exceeds float64"),
    (lambda: vd.pdf_vjp(1.0, np.eye(2000)[0], np.eye(2000)[0], 0.0), ValueError, "pdf"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_pdf_vjp_raises_where_only_the_gradient_overflows():
    """d = 410, kappa = 1e6 at log density 705: the density (~1e306) is finite, its
    gradient in x (kappa times the density) is not."""
    d, kappa = 410, 1e6
    mu = np.eye(d)[0]
    w = 1 - (float(vd.logpdf(mu, mu, kappa)) - 705) / kappa
    x = np.zeros(d)
    x[:2] = w, np.sqrt(1 - w * w)
    assert np.isfinite(vd.pdf(x, mu, kappa))
    with pytest.raises(ValueError, match="gradient"):
        vd.pdf_vjp(1.0, x, mu, kappa)


@pytest.mark.parametrize("d", [2, 3, 10, 1000])
def test_finite_up_to_the_documented_kappa_bound_and_refused_beyond(d):
    """kappa up to 1e100 gives finite values (RuntimeWarnings are errors in tests);
    beyond it, where the stable forms would square kappa and overflow, a ValueError."""
    for kappa in (1e10, 1e50, 1e100):
        values = [vd.log_normalizer(d, kappa), vd.mean_resultant_length(d, kappa),
                  vd.entropy(d, kappa), vd.kl_to_uniform(d, kappa)]
        assert np.all(np.isfinite(values))
        mu = np.eye(d)[0]
        z = sample(mu, kappa, size=4, rng=0)
        assert np.all(np.isfinite(z)) and np.all(np.isfinite(vd.logpdf(z, mu, kappa)))
    for function in (lambda k: vd.log_normalizer(d, k), lambda k: sample(np.eye(d)[0], k, rng=0)):
        with pytest.raises(ValueError, match=r"kappa must lie in \[0, 1e\+100\]"):
            function(2e154)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1e\+100\]"):
        log_bessel_iv(d / 2 - 1, 1e101)
