"""ALiBi (refimpl/attention/alibi.py): the slopes of the paper's rule, the bias, and its
invariances under softmax."""

import math

import numpy as np
import pytest
from attention_cases import seeds
from hypothesis import given
from hypothesis import strategies as st

from refimpl.attention import alibi_bias, alibi_slopes, attention_weights
from refimpl.masks import causal_mask


def paper_slopes(n):
    """The recursion of Press et al.'s reference code, written from its description:
    a geometric sequence from 2^(-8/n) for a power of two, else the slopes of the
    power of two below n followed by every other slope of twice that power."""
    if math.log2(n).is_integer():
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]
    below = 2 ** math.floor(math.log2(n))
    return paper_slopes(below) + paper_slopes(2 * below)[0::2][:n - below]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 40, 64, 96])
def test_slopes_follow_the_paper_rule(n):
    # start ** (i + 1) rounds once per multiplication: at most 64 roundings, 64 eps
    np.testing.assert_allclose(alibi_slopes(n), paper_slopes(n), rtol=64 * 2.3e-16, atol=0)


def test_published_slopes():
    # Press et al. (2022) §3: for 8 heads the slopes are 1/2, 1/4, ..., 1/256
    np.testing.assert_array_equal(alibi_slopes(8), 0.5 ** np.arange(1, 9))
    # 16 heads: 1/sqrt(2), 1/2, ..., 1/256
    np.testing.assert_allclose(alibi_slopes(16), 2.0 ** (-0.5 * np.arange(1, 17)),
                               rtol=4e-16)
    np.testing.assert_array_equal(alibi_slopes(1), [2.0 ** -8])


@given(seeds, st.integers(1, 5), st.integers(1, 6), st.integers(-100, 100))
def test_bias_is_minus_slope_times_distance_and_shift_invariant(seed, heads, length, shift):
    rng = np.random.default_rng(seed)
    slopes = alibi_slopes(heads)
    positions = np.sort(rng.integers(0, 50, length))
    bias = alibi_bias(slopes, positions)
    assert bias.shape == (heads, length, length)
    i, j = rng.integers(0, length, 2)
    h = rng.integers(0, heads)
    assert bias[h, i, j] == -slopes[h] * (positions[i] - positions[j])
    np.testing.assert_array_equal(alibi_bias(slopes, positions + shift), bias)


@given(seeds, st.integers(1, 4), st.integers(1, 6))
def test_key_only_form_gives_the_same_causal_weights(seed, heads, length):
    # BLOOM and the paper's code add m * j instead of -m (i - j): the rows differ by the
    # constant m * i, which the softmax removes. Both give weights O(1); the shift
    # changes the rounding of the exponentials by a few eps.
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, heads, length, 4))
    slopes = alibi_slopes(heads)
    key_only = slopes[:, None, None] * np.arange(length)[None, None, :]
    mask = causal_mask(length)
    np.testing.assert_allclose(
        attention_weights(q, k, mask, alibi_bias(slopes, np.arange(length))),
        attention_weights(q, k, mask, np.broadcast_to(key_only, (heads, length, length))),
        rtol=0, atol=1e-14)


def test_bias_between_new_queries_and_cached_keys():
    bias = alibi_bias([1.0], [3], [0, 1, 2, 3])
    np.testing.assert_array_equal(bias, [[[-3.0, -2.0, -1.0, 0.0]]])


def test_bias_errors():
    with pytest.raises(ValueError, match="one slope per head"):
        alibi_bias(np.ones((2, 2)), [0, 1])
    with pytest.raises(ValueError, match="n_heads"):
        alibi_slopes(0)
