"""refimpl.vmf.fit: maximum-likelihood (mu, kappa)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vmf_stats import Z_CRITICAL

from refimpl.householder import normalize
from refimpl.vmf.bessel import bessel_iv_ratio_complement
from refimpl.vmf.distribution import mean_resultant_length, mean_resultant_length_derivative
from refimpl.vmf.fit import fit, fit_kappa
from refimpl.vmf.sampling import sample


@given(st.one_of(st.sampled_from([2, 3, 3000, 100000]), st.integers(2, 100000)),
       st.floats(-10, 10).map(lambda e: 10.0 ** e))
def test_fit_kappa_inverts_the_mean_resultant_length(d, kappa):
    """Given exact A_d and 1 - A_d, the solver returns kappa to ~1e-13 relative
    (research note §6.4: (3, 1/2) ... (3, 1e10); SciPy's brentq fails at d = 3000)."""
    r_bar = float(mean_resultant_length(d, kappa))
    complement = float(bessel_iv_ratio_complement(d / 2 - 1, kappa))
    assert fit_kappa(d, r_bar, complement) == pytest.approx(kappa, rel=1e-12)


def test_research_note_newton_sequence_start():
    """Banerjee start for d=16, kappa=32 is 32.29618 (research note §4.6)."""
    r = float(mean_resultant_length(16, 32.0))
    assert r * (16 - r * r) / (1 - r * r) == pytest.approx(32.29618, abs=1e-5)


@pytest.mark.parametrize("d, kappa", [(3, 1.0), (3, 50.0), (10, 1.0), (10, 50.0), (100, 1.0),
                                      (100, 50.0)])
def test_fit_recovers_parameters(d, kappa):
    """6 checks, n = 20000: kappa_hat within 5.7 asymptotic standard errors
    1/sqrt(n A_d'(kappa)) (plus the O(d/n) bias of the MLE); the direction within
    6 standard errors. Power: solving with A_(d+1) instead of A_d is off by 0.34 at
    d = 3, kappa = 1 (25 standard errors) and by 24.7 at kappa = 50. The Banerjee start
    alone (0.47 = 1.3 standard errors at d = 3, kappa = 50) is below this resolution; the
    exact inversion test above catches it."""
    n = 20000
    rng = np.random.default_rng(d)
    mu = normalize(rng.standard_normal(d))
    mu_hat, kappa_hat = fit(sample(mu, kappa, size=n, rng=rng))
    se = 1 / np.sqrt(n * float(mean_resultant_length_derivative(d, kappa)))
    bias = d / n * kappa  # generous bound on the small-sample bias of the MLE
    assert abs(kappa_hat - kappa) <= Z_CRITICAL * se + bias
    a = float(mean_resultant_length(d, kappa))
    angle_se = np.sqrt((d - 1) * a / kappa / n) / a if kappa > 0 else 1.0
    assert np.arccos(min(1.0, mu_hat @ mu)) <= 6 * angle_se


def test_fit_recovers_kappa_at_d_3000():
    """SciPy returns its bracket end 1e-8 here; the MLE from 2000 samples at d = kappa =
    3000 is within 1% (sd of kappa_hat ~ 1.5, small-sample bias ~ 2)."""
    mu = np.zeros(3000)
    mu[7] = 1.0
    _, kappa_hat = fit(sample(mu, 3000.0, size=2000, rng=0))
    assert kappa_hat == pytest.approx(3000.0, rel=0.01)


def test_weights_match_repeated_rows():
    x = sample(normalize([1.0, 2.0, 3.0]), 5.0, size=50, rng=1)
    weights = np.arange(50) % 3
    repeated = np.repeat(x, weights, axis=0)
    mu_w, kappa_w = fit(x, weights)
    mu_r, kappa_r = fit(repeated)
    assert np.allclose(mu_w, mu_r) and kappa_w == pytest.approx(kappa_r, rel=1e-12)


def test_near_uniform_and_very_concentrated_data():
    x = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    mu, kappa = fit(x)
    assert kappa == 0.0 and np.all(np.isfinite(mu))
    x = np.array([[1.0, 1e-9, 0.0], [1.0, -1e-9, 0.0]])
    x = normalize(x)
    _, kappa = fit(x)
    # 1 - r_bar = 1 - cos(1e-9) = 5e-19 = 1 - A_3 ~ (d-1)/(2 kappa) = 1/kappa
    assert kappa == pytest.approx(2e18, rel=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: fit([[1.0, 1.0]]), "X"),
    (lambda: fit([1.0, 0.0]), "X"),
    (lambda: fit([[1.0, 0.0]] * 2), "infinite"),
    (lambda: fit([[1.0, 0.0], [0.0, 1.0]], [1.0, -1.0]), "weights"),
    (lambda: fit([[1.0, 0.0], [0.0, 1.0]], [1.0]), "weights"),
    (lambda: fit_kappa(3, 1.0), "r_bar"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@given(batch=st.sampled_from([(1,), (3,), (2, 2)]), d=st.integers(2, 12),
       n=st.integers(2, 30), seed=st.integers(0, 2**32 - 1))
def test_batch_fit_is_the_fit_of_each_set(batch, d, n, seed):
    # A batch is fitted set by set: the same arithmetic on each set, so equal bit for bit.
    rng = np.random.default_rng(seed)
    X = normalize(rng.standard_normal(batch + (n, d)))
    weights = rng.random(batch + (n,)) + 0.1
    for w in (None, weights, weights[(0,) * len(batch)]):  # per set, or one row for all
        mus, kappas = fit(X, w)
        assert mus.shape == batch + (d,) and kappas.shape == batch
        for index in np.ndindex(batch):
            row = None if w is None else np.broadcast_to(w, batch + (n,))[index]
            mu, kappa = fit(X[index], row)
            assert np.array_equal(mus[index], mu) and kappas[index] == kappa


@pytest.mark.parametrize("X, weights, match", [
    (np.zeros((2, 0, 3)), None, "n >= 1"),
    (np.eye(3)[None].repeat(2, 0), np.ones((2, 2)), r"shape \(\.\.\., 3\)"),
    (np.eye(3)[None].repeat(2, 0), np.ones(1), r"shape \(\.\.\., 3\)"),
    (np.eye(3)[None].repeat(2, 0), 1.0, r"shape \(\.\.\., 3\)"),
    (np.eye(3)[None].repeat(2, 0), [[1.0, 1.0, 1.0], [1.0, -1.0, 1.0]], r"sample set \(1,\)"),
    (np.stack([np.eye(3), np.eye(3)[[0, 0, 0]]]), None, r"sample set \(1,\).*infinite"),
])
def test_batch_fit_names_the_bad_argument_and_set(X, weights, match):
    with pytest.raises(ValueError, match=match):
        fit(X, weights)
