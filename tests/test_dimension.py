"""The n > 8.33 ln N formula (kexue.fm 7695/8711) and the JL bounds (8679/8706).

Expected numbers come from the posts (via research note vmf_univae_dimension.md §3),
from the Bessel closed form of h_n, or from a saddle-point expansion derived below;
none were produced by the code under test.
"""

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.optimize import brentq

from refimpl.dimension import (
    ASYMPTOTIC_COEFFICIENT,
    ASYMPTOTIC_SLOPE,
    GOLDEN_RATIO,
    dimension_rule,
    h_n,
    inner_product_deviation_bound,
    jl_dimension,
    jl_failure_bound,
    minimum_dimension,
    norm_deviation_bound,
    pair_entropy,
    random_projection,
    worst_distortion,
)

PHI = (1 + np.sqrt(5)) / 2


# ---------------------------------------------------------------- h_n

@pytest.mark.parametrize("n, printed", [(32, "-7.77471"), (64, "-15.4734"), (96, "-23.1726"),
                                        (128, "-30.8718"), (256, "-61.6692"),
                                        (512, "-123.264")])
def test_h_n_reproduces_the_posts_table_to_printed_digits(n, printed):
    decimals = len(printed.split(".")[1])
    assert f"{float(h_n(n)):.{decimals}f}" == printed


@settings(max_examples=25)  # 40-digit Bessel functions of order ~2500 cost ~10 ms each
@given(st.floats(2, 5000))
def test_h_n_matches_bessel_closed_form(n):
    # The Bessel closed form in 40-digit mpmath (evaluated with SciPy's ive it errs by up
    # to 1.9e-12 at n ~ 5000, more than h_n itself, and depends on SciPy's version).
    # h_n's quadrature is accurate to ~3e-13 relative: allow 1e-12.
    with mpmath.workdps(40):
        order, kappa = mpmath.mpf(n) / 2 - 1, mpmath.mpf(n)
        i0, i1 = mpmath.besseli(order, kappa), mpmath.besseli(order + 1, kappa)
        exact = float(mpmath.loggamma(kappa / 2) + order * mpmath.log(2 / kappa)
                      + mpmath.log(i0) - kappa * i1 / i0)
    assert abs(float(h_n(n)) - exact) <= 1e-12 * abs(exact)


@pytest.mark.parametrize("n", [2, 3.5, 64, 700.1, 4078.625, 10_000])
def test_h_n_matches_high_precision_bessel(n):
    import mpmath as mp
    with mp.workdps(40):
        order, kappa = mp.mpf(n) / 2 - 1, mp.mpf(n)
        i0, i1 = mp.besseli(order, kappa), mp.besseli(order + 1, kappa)
        exact = (mp.loggamma(kappa / 2) + order * mp.log(2 / kappa) + mp.log(i0)
                 - kappa * i1 / i0)
    assert float(h_n(n)) == pytest.approx(float(exact), rel=1e-12)


def test_h_n_is_vectorised_elementwise():
    n = np.array([[2.0, 33.5], [700.0, 4000.0]])
    # the array call equals the scalar calls entry by entry (values are tested elsewhere):
    # both are within h_n's 3e-13 relative accuracy of the truth, so within 6e-13
    elementwise = np.array([[float(h_n(value)) for value in row] for row in n])
    np.testing.assert_allclose(h_n(n), elementwise, rtol=6e-13, atol=0)
    assert h_n(n).shape == (2, 2) and h_n(5.0).shape == ()


@given(st.floats(2, 3000), st.floats(0.01, 100))
def test_h_n_decreases(n, gap):
    assert h_n(n + gap) < h_n(n)


def test_slope_constants_from_the_saddle_point():
    # Laplace: (1/n) ln E[e^{n cos}] -> max_theta g, g = ln sin + cos, and the tilted mean
    # of cos -> cos(theta*); so the slope is g(theta*) - cos(theta*). Found numerically here.
    g = lambda t: np.log(np.sin(t)) + np.cos(t)
    theta = brentq(lambda t: 1 / np.tan(t) - np.sin(t), 0.1, 1.5, xtol=1e-15)  # g' = 0
    assert theta == pytest.approx(0.9045569, abs=1e-6)
    assert np.cos(theta) == pytest.approx(1 / PHI, abs=1e-9)
    assert g(theta) == pytest.approx(0.3774281, abs=1e-7)
    assert ASYMPTOTIC_SLOPE == pytest.approx(g(theta) - np.cos(theta), abs=1e-12)
    assert ASYMPTOTIC_SLOPE == pytest.approx(-0.2406059, abs=1e-7)
    assert ASYMPTOTIC_COEFFICIENT == pytest.approx(8.3123, abs=1e-4)
    assert GOLDEN_RATIO == pytest.approx(PHI)
    assert round(2 / 0.24, 2) == 8.33


def test_h_n_over_n_tends_to_the_slope_from_below():
    n = np.array([32, 64, 128, 512, 2048, 10_000, 100_000])
    ratio = h_n(n) / n
    assert np.all(ratio < ASYMPTOTIC_SLOPE) and np.all(np.diff(ratio) > 0)
    # The post's printed ratios (-0.24296 ... -0.24075) and its rounded slope -0.24.
    np.testing.assert_allclose(ratio[[0, 3]], [-0.24296, -0.24075], atol=5e-6)


def test_h_n_next_order_term():
    # Second-order Laplace (derived for this test): h_n = -(n/2) ln phi + c + O(1/n) with
    # c = ln(phi) - ln(5)/4 - 2/(5 phi^2); the last term is the O(1) shift of the tilted
    # mean n*E[cos theta] = n/phi + 2/(5 phi^2) + O(1/n). A wrong slope or a missing
    # sin^{n-2} weight makes h_n - slope*n drift linearly and fails this.
    c = np.log(PHI) - np.log(5) / 4 - 2 / (5 * PHI**2)
    for n in (1_000, 10_000, 100_000):
        assert abs(float(h_n(n)) - ASYMPTOTIC_SLOPE * n - c) < 0.1 / n


def test_h_n_rejects_bad_dimensions():
    with pytest.raises(ValueError, match="n must be at least 2"):
        h_n(1.5)
    with pytest.raises(ValueError, match="n must be finite"):
        h_n([32, np.inf])
    with pytest.raises(TypeError, match="n must hold real numbers"):
        h_n("64")


# ---------------------------------------------------------------- entropy, rule, root

def test_pair_entropy_worked_example_and_negative_case():
    assert float(pair_entropy(64, 1e5)) == pytest.approx(7.55245, abs=5e-6)
    assert pair_entropy(128, 1e5) < 0  # the post's "impossible" negative entropy
    with pytest.raises(ValueError, match="vocab_size"):
        pair_entropy(64, 1)


@pytest.mark.parametrize("vocab_size, root, rule", [
    (512, 51.54, 51.97), (1e4, 76.25, 76.72), (1e5, 95.39, 95.90), (5e6, 127.91, 128.49),
    (21128, 82.47, 82.95), (30522, 85.53, 86.02), (50257, 89.67, 90.17)])
def test_roots_and_rule_match_the_research_note(vocab_size, root, rule):
    assert minimum_dimension(vocab_size) == pytest.approx(root, abs=0.005)
    assert float(dimension_rule(vocab_size)) == pytest.approx(rule, abs=0.005)


@given(st.floats(np.log(2), np.log(1e8)))
def test_root_solves_the_entropy_equation(log_vocab):
    root = minimum_dimension(np.exp(log_vocab))
    assert abs(2 * log_vocab + float(h_n(root))) < 1e-8


@given(st.floats(np.log(512), np.log(5e6)))
def test_rule_within_one_of_exact_root(log_vocab):
    vocab = np.exp(log_vocab)
    gap = float(dimension_rule(vocab)) - minimum_dimension(vocab)
    assert 0 < gap < 1
    # With the exact coefficient 4/ln(phi) the rule still overshoots by O(1) only.
    assert abs(float(dimension_rule(vocab, ASYMPTOTIC_COEFFICIENT)) - minimum_dimension(vocab)) < 1


def test_head_size_remark():
    assert round(float(dimension_rule(512))) == 52 < 64


def test_rule_and_root_reject_bad_input():
    with pytest.raises(ValueError, match="vocab_size must be at least 2"):
        minimum_dimension(1.5)
    with pytest.raises(TypeError, match="vocab_size must be a real number"):
        minimum_dimension("512")
    with pytest.raises(ValueError, match="coefficient must be positive"):
        dimension_rule(512, coefficient=0)


# ---------------------------------------------------------------- JL bounds

def test_jl_dimension_numbers_from_the_note():
    assert round(jl_dimension(10**5, 0.5)) == 1105
    assert round(jl_dimension(10**5, 0.1)) == 27631
    assert jl_dimension(10**5, 0.1, "exists") == pytest.approx(16 * np.log(1e5) / 0.01)


@given(st.integers(2, 10**7), st.floats(0.01, 0.99))
def test_union_bound_at_the_jl_dimensions(count, eps):
    probable = int(np.ceil(jl_dimension(count, eps)))
    exists = int(np.ceil(jl_dimension(count, eps, "exists")))
    assert jl_failure_bound(probable, count, eps) <= 1 / count
    assert jl_failure_bound(exists, count, eps) <= 1 - 1 / count


@given(st.integers(1, 2000), st.floats(0.01, 0.99))
def test_norm_bound_dominates_the_exact_chi_square_tail(n, eps):
    # |u|^2 ~ chi2_n / n exactly, so the Chernoff bound must cover the true two-sided tail.
    exact = stats.chi2.sf((1 + eps) * n, n) + stats.chi2.cdf((1 - eps) * n, n)
    assert exact <= norm_deviation_bound(n, eps)
    assert inner_product_deviation_bound(n, eps) == pytest.approx(
        min(1.0, 2 * norm_deviation_bound(n, eps)))


def test_norm_and_inner_product_bounds_hold_empirically():
    # Monte Carlo as in the note (n=64, eps=0.5: empirical 0.006 <= bound 0.271). Alarm if the
    # count exceeds the Binomial(T, bound) quantile at 1 - 1e-7 (two cases: < 1e-6 overall).
    # Power: a bound with exponent eps^2 n / 2 (2e^-8 = 7e-4) would fail the norm case
    # (true rate ~0.006, i.e. ~120 hits vs a limit of ~40).
    rng = np.random.default_rng(20260)
    trials, n, eps = 20_000, 64, 0.5
    u, v = rng.standard_normal((2, trials, n)) / np.sqrt(n)
    norm_hits = np.sum(np.abs(np.sum(u * u, axis=1) - 1) >= eps)
    inner_hits = np.sum(np.abs(np.sum(u * v, axis=1)) >= eps)
    for hits, bound in ((norm_hits, norm_deviation_bound(n, eps)),
                        (inner_hits, inner_product_deviation_bound(n, eps))):
        assert hits <= stats.binom.ppf(1 - 1e-7, trials, bound)
    assert norm_hits > stats.binom.ppf(1 - 1e-7, trials, 2 * np.exp(-eps**2 * n / 2))


def test_random_projection_has_the_chi_square_law():
    # |A x|^2 / |x|^2 ~ chi2_n / n for A with N(0, 1/n) entries. KS test on 20000 draws at
    # p < 1e-7. Power: a 1/(n-1) variance or a missing 1/sqrt(n) shifts the CDF by > 0.05,
    # far above the KS critical distance (~0.02).
    rng = np.random.default_rng(11)
    x, n = rng.standard_normal(7), 16
    ratios = [np.sum(random_projection(x, n, rng=rng) ** 2) / np.sum(x * x)
              for _ in range(20_000)]
    assert stats.kstest(np.array(ratios) * n, stats.chi2(n).cdf).pvalue > 1e-7


def test_jl_guarantee_holds_empirically():
    # N = 10 points, eps = 0.5 at n = ceil(24 ln N / eps^2) = 222: P(fail) <= 1/N. Alarm
    # when the failures exceed the Binomial(200, 1/10) quantile at 1 - 1e-7. Power: an
    # unscaled projection (entries N(0, 1)) fails every trial.
    rng = np.random.default_rng(5)
    count, eps, trials = 10, 0.5, 200
    n = int(np.ceil(jl_dimension(count, eps)))
    failures = 0
    for _ in range(trials):
        points = rng.standard_normal((count, 40))
        failures += worst_distortion(points, random_projection(points, n, rng=rng)) > eps
    assert failures <= stats.binom.ppf(1 - 1e-7, trials, 1 / count)


def test_worst_distortion_of_known_maps():
    x = np.random.default_rng(3).standard_normal((6, 4))
    assert worst_distortion(x, x) == 0
    assert worst_distortion(x, 2 * x) == pytest.approx(3.0)      # |2d|^2 / |d|^2 - 1
    q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((4, 4)))
    assert worst_distortion(x, x @ q) < 1e-13                      # rotations are isometries
    # One pair squeezed: only that pair's ratio moves.
    y = x.copy()
    y[1] = x[0] + 0.5 * (x[1] - x[0])
    assert worst_distortion(x[:2], y[:2]) == pytest.approx(0.75)


def test_jl_functions_reject_bad_input():
    with pytest.raises(ValueError, match="distortion must be in"):
        jl_dimension(10, 1.0)
    with pytest.raises(ValueError, match="guarantee must be one of"):
        jl_dimension(10, 0.5, "always")
    with pytest.raises(ValueError, match="distortion=1e-160 is too small"):
        jl_dimension(10, 1e-160)                   # no inf (nor a divide-by-zero warning)
    assert np.isfinite(jl_dimension(10, 1e-153))
    with pytest.raises(ValueError, match="num_points must be at least 2"):
        jl_failure_bound(10, 1, 0.5)
    with pytest.raises(ValueError, match="dimension must be at least 1"):
        random_projection(np.ones(3), 0)
    with pytest.raises(ValueError, match="points must be distinct"):
        worst_distortion(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="projected must have one row per point"):
        worst_distortion(np.eye(3), np.eye(2))
    with pytest.raises(ValueError, match="points must have shape"):
        worst_distortion(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="rng"):
        random_projection(np.ones(3), 2, rng="seed")
