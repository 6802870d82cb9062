"""vMF KL divergences to relative 1e-13 against mpmath, including tiny KLs between
near-equal concentrations (references: tests/vmf/vmf_kl_fixture.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vmf_kl_fixture import KL_SAME_DIRECTION, KL_TO_UNIFORM

from refimpl import vmf
from refimpl.vmf.bessel import bessel_iv_ratio_derivative

# Error model: every term of the stable forms is O(KL) (at most ~4 KL, module notes of
# kl_to_uniform / _kl_same_direction) and each is computed to a few ulps (the Bessel
# ratios and Debye's sum to ~4e-16), so 1e-13 leaves a factor of > 10 of margin; the old
# forms, which subtracted terms of size ~d log d, missed it by up to 7e2.
RELATIVE = 1e-13


def _unit(d: int) -> np.ndarray:
    mu = np.zeros(d)
    mu[0] = 1.0
    return mu


@pytest.mark.parametrize("d, kappa, expected", KL_TO_UNIFORM)
def test_kl_to_uniform_against_mpmath(d, kappa, expected):
    assert abs(float(vmf.kl_to_uniform(d, kappa)) - expected) <= RELATIVE * expected


@pytest.mark.parametrize("d, kappa1, kappa2, expected", KL_SAME_DIRECTION)
def test_kl_at_equal_directions_against_mpmath(d, kappa1, kappa2, expected):
    mu = _unit(d)
    assert abs(float(vmf.kl(mu, kappa1, mu, kappa2)) - expected) <= RELATIVE * expected


@given(st.sampled_from([2, 3, 10, 1000, 100000]), st.floats(-6, 10).map(lambda e: 10.0 ** e),
       st.floats(-12, -6).map(lambda e: 10.0 ** e), st.booleans())
def test_tiny_kl_is_the_fisher_quadratic(d, kappa, delta, above):
    """KL(kappa || kappa (1 +- delta)) = A'(kappa) Delta^2 / 2 (1 + O(delta)): the KL is
    ~1e-24 of its normalizers here, and must still be relatively accurate. The next term
    of the expansion is A'' Delta^3 / 6 with |A''/A'| <= 2.3/kappa (measured over d in
    [2, 1e5] and kappa in [1e-6, 1e10] by differencing A'), so the relative gap is at most
    2.3 delta / 3 < delta; add 1e-12 for rounding."""
    mu = _unit(d)
    other = kappa * (1.0 + delta) if above else kappa * (1.0 - delta)
    gap = other - kappa  # the Delta actually represented in float64
    fisher = 0.5 * float(bessel_iv_ratio_derivative(0.5 * d - 1.0, kappa)) * gap * gap
    value = float(vmf.kl(mu, kappa, mu, other))
    assert abs(value - fisher) <= (1e-12 + delta) * fisher


def test_kl_between_distinct_directions_adds_the_angular_term():
    """KL(vMF(mu1, k) || vMF(mu2, k)) = k A(k) (1 - <mu1, mu2>): the same-direction part is 0."""
    d, kappa = 50, 7.0
    mu1, mu2 = np.eye(d)[0], np.eye(d)[1]
    expected = kappa * float(vmf.mean_resultant_length(d, kappa))
    assert float(vmf.kl(mu1, kappa, mu2, kappa)) == pytest.approx(expected, rel=1e-14)
