"""The frozen VonMisesFisher: tied to the function API, and compared with SciPy's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from refimpl import vmf
from refimpl.householder import normalize
from refimpl.vmf import VonMisesFisher

dims = st.integers(2, 40)
kappas = st.one_of(st.just(0.0), st.floats(1e-8, 1e6))


def _direction(d: int, seed: int) -> np.ndarray:
    return normalize(np.random.default_rng(seed).standard_normal(d))


@given(d=dims, kappa=kappas, seed=st.integers(0, 2**32 - 1))
def test_every_method_is_the_function_of_the_same_name(d, kappa, seed):
    # The class only forwards, so the values are the functions' own, bit for bit.
    mu = _direction(d, seed)
    x = normalize(np.random.default_rng(seed + 1).standard_normal((5, d)))
    p = VonMisesFisher(mu, kappa)
    assert p.d == d and p.kappa == kappa and np.array_equal(p.mu, mu)
    assert np.array_equal(p.logpdf(x), vmf.logpdf(x, mu, kappa))
    assert p.entropy() == vmf.entropy(d, kappa)
    assert p.mean_resultant_length() == vmf.mean_resultant_length(d, kappa)
    assert np.array_equal(p.mean(), vmf.mean_resultant_length(d, kappa) * mu)
    other = VonMisesFisher(_direction(d, seed + 2), 2.0 * kappa + 1.0)
    assert p.kl(other) == vmf.kl(mu, kappa, other.mu, other.kappa)
    assert np.array_equal(p.rvs(size=(3, 2), rng=seed), vmf.sample(mu, kappa, size=(3, 2),
                                                                    rng=seed))


def test_pdf_and_rvs_options_are_forwarded():
    mu = _direction(3, 0)
    p = VonMisesFisher(mu, 4.0)
    x = normalize(np.random.default_rng(1).standard_normal((7, 3)))
    assert np.array_equal(p.pdf(x), vmf.pdf(x, mu, 4.0))
    for method in ("wood", "exact", "inverse"):
        assert np.array_equal(p.rvs(size=50, rng=3, method=method),
                              vmf.sample(mu, 4.0, size=50, rng=3, method=method))


def test_fit_is_the_maximum_likelihood_function():
    X = vmf.sample(_direction(6, 2), 12.0, size=500, rng=4)
    weights = np.random.default_rng(5).random(500)
    for w in (None, weights):
        p = VonMisesFisher.fit(X, weights=w)
        mu, kappa = vmf.fit(X, w)
        assert np.array_equal(p.mu, mu) and p.kappa == kappa


@pytest.mark.parametrize("d", [2, 3, 5, 16, 128, 1000])
@pytest.mark.parametrize("kappa", [1e-3, 0.5, 10.0, 300.0, 1e4])
def test_agrees_with_scipy_vonmises_fisher_wherever_scipy_is_finite(d, kappa):
    # SciPy computes log C_d from log ive as we do, by other formulas (its own code, not
    # ours). Error model: each side is within ~100 ulps of the largest term it sums
    # (kappa, |log C_d| or |entropy|), so the two agree within 1e-13 * (1 + that term).
    # SciPy's ive(d/2 - 1, kappa) underflows to 0 for large d and small kappa (d = 1000,
    # kappa <= 10 here): it returns inf and nan there, and we must stay finite (our values
    # are checked against 50-digit mpmath in test_vmf_distribution.py).
    mu = _direction(d, d)
    x = normalize(np.random.default_rng(d + 1).standard_normal((8, d)))
    x[0] = mu
    ours, theirs = VonMisesFisher(mu, kappa), stats.vonmises_fisher(mu, kappa)
    with np.errstate(all="ignore"):
        ref, h = theirs.logpdf(x), theirs.entropy()
        a_ref = special.ive(d / 2, kappa) / special.ive(d / 2 - 1, kappa)
    assert np.all(np.isfinite(ours.logpdf(x))) and np.isfinite(ours.entropy())
    assert np.all(np.isfinite(ours.mean()))
    scipy_finite = bool(np.all(np.isfinite(ref)) and np.isfinite(h) and np.isfinite(a_ref))
    assert scipy_finite == (d < 1000 or kappa > 10.0)  # the cases where SciPy fails, pinned
    if not scipy_finite:
        return
    scale = 1.0 + kappa + np.abs(ref)
    assert np.all(np.abs(ours.logpdf(x) - ref) <= 1e-13 * scale)
    assert abs(ours.entropy() - h) <= 1e-13 * (1.0 + kappa + abs(h))
    # E[x] = A_d(kappa) mu with A_d = I_(d/2)/I_(d/2-1): SciPy's ive ratio, each ive within
    # ~1e-14 relative where it neither underflows nor overflows.
    assert np.allclose(ours.mean(), a_ref * mu, rtol=1e-12, atol=0.0)


def test_frozen_and_hashable():
    p = VonMisesFisher([0.0, 1.0], 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.kappa = 3.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        p.mu[0] = 1.0
    assert p == VonMisesFisher(np.array([0.0, 1.0]), 2) and hash(p) == hash(
        VonMisesFisher([0.0, 1.0], 2.0))
    assert p != VonMisesFisher([0.0, 1.0], 2.5)
    assert repr(p) == "VonMisesFisher(mu=[0.0, 1.0], kappa=2.0)"


@pytest.mark.parametrize("mu, kappa, error, words", [
    ([0.0, 2.0], 1.0, ValueError, "mu"),                       # not a unit vector
    ([[0.0, 1.0], [1.0, 0.0]], 1.0, ValueError, "shape (d,)"),  # a batch of directions
    ([1.0], 1.0, ValueError, "mu"),                             # d = 1
    ([0.0, 1.0], -1.0, ValueError, "kappa"),
    ([0.0, 1.0], [1.0, 2.0], ValueError, "kappa must be a scalar"),
    ([0.0, 1.0], float("nan"), ValueError, "kappa"),
])
def test_bad_parameters_are_named(mu, kappa, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        VonMisesFisher(mu, kappa)


def test_kl_needs_a_distribution_on_the_same_sphere():
    p = VonMisesFisher([0.0, 0.0, 1.0], 1.0)
    with pytest.raises(TypeError, match="VonMisesFisher"):
        p.kl(stats.vonmises_fisher([0.0, 0.0, 1.0], 1.0))
    with pytest.raises(ValueError, match="S\\^1"):
        p.kl(VonMisesFisher([0.0, 1.0], 1.0))
