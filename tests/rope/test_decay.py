"""Tests of refimpl.rope.decay: the post's long-range decay indicator and the Abel bound."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.rope import angles, apply, decay_indicator, inv_freq


def test_table_of_the_post():
    """The decay values of kexue.fm/archives/8265 (d = 128, base 10000), four decimals."""
    distances = [0, 1, 2, 5, 10, 20, 50, 100, 200, 256, 1000, 10000]
    expected = [32.5, 31.5382, 28.9560, 20.8454, 17.9541, 15.2424, 12.6295, 10.2273, 7.2448,
                6.5431, 4.4708, 3.8585]
    np.testing.assert_allclose(decay_indicator(distances), expected, rtol=0, atol=5e-5)


@given(st.integers(1, 128).map(lambda n: 2 * n))
def test_zero_distance_gives_the_mean_of_one_to_half_d(dim):
    assert np.isclose(decay_indicator(0.0, dim), (dim / 2 + 1) / 2, rtol=1e-15)


@given(st.floats(-1e5, 1e5), st.integers(1, 64).map(lambda n: 2 * n))
def test_even_in_the_distance(distance, dim):
    assert np.isclose(decay_indicator(distance, dim), decay_indicator(-distance, dim),
                      rtol=1e-12)


@given(st.integers(0, 2**32 - 1), st.integers(-300, 300), st.integers(-300, 300))
def test_abel_bound_holds_for_actual_scores(seed, m, n):
    """(R_m q).(R_n k) = Re sum_i h_i e^{i(m-n)theta_i} and its modulus is at most
    max_i |h_(i+1) - h_i| * (d/2) * indicator(m - n), with h_(d/2) = 0 (post, Abel summation)."""
    rng = np.random.default_rng(seed)
    dim = 16
    q, k = rng.standard_normal((2, dim))
    omega = inv_freq(dim)
    score = apply(q, angles(m, omega)) @ apply(k, angles(n, omega))
    h = (q[0::2] + 1j * q[1::2]) * np.conj(k[0::2] + 1j * k[1::2])
    complex_score = np.sum(h * np.exp(1j * (m - n) * omega))
    assert np.isclose(score, complex_score.real, rtol=0, atol=1e-12 * np.sum(np.abs(h)))
    steps = np.abs(np.diff(np.append(h, 0.0)))
    bound = np.max(steps) * (dim / 2) * decay_indicator(m - n, dim)
    assert abs(complex_score) <= bound * (1 + 1e-12)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="dim=7"):
        decay_indicator(1.0, 7)
    with pytest.raises(ValueError, match="relative_distance"):
        decay_indicator([np.inf])
    with pytest.raises(ValueError, match="base"):
        decay_indicator(1.0, 8, base=1.0)
