"""The masked softmax (refimpl/attention/softmax.py): distribution, closed forms, VJP."""

import numpy as np
from attention_cases import seeds
from hypothesis import given
from hypothesis import strategies as st

from refimpl.attention import softmax, softmax_vjp
from refimpl.gradcheck import assert_vjp


@given(seeds, st.sampled_from([1.0, 30.0, 1e3, 1e300]))
def test_softmax_is_a_distribution_and_shift_invariant(seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 5)) * scale
    s = softmax(x)
    assert np.all(s >= 0) and np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-14)
    if scale < 1e300:
        np.testing.assert_allclose(softmax(x + 123.0), s, rtol=1e-9, atol=1e-300)


def test_softmax_closed_forms_and_axis():
    np.testing.assert_allclose(softmax([0.0, np.log(3.0)]), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(softmax([[0.0, 0.0], [np.log(3.0), 0.0]], axis=0),
                               [[0.25, 0.5], [0.75, 0.5]], rtol=1e-15)
    np.testing.assert_array_equal(softmax([-1e308, 1e308]), [0.0, 1.0])


def test_masked_softmax_and_fully_masked_rows():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = np.array([[True, False, True], [False, False, False]])
    s = softmax(x, mask=mask)
    np.testing.assert_allclose(s[0], [1 / (1 + np.e**2), 0.0, np.e**2 / (1 + np.e**2)])
    np.testing.assert_array_equal(s[1], 0.0)
    np.testing.assert_array_equal(softmax_vjp(np.ones((2, 3)) * [1, 2, 3], x, mask=mask)[1], 0)


@given(seeds, st.sampled_from([0, 1, -1]), st.booleans())
def test_softmax_vjp(seed, axis, masked):
    rng = np.random.default_rng(seed)
    x = 3.0 * rng.standard_normal((3, 4))
    mask = rng.random((3, 4)) < 0.6 if masked else None
    assert_vjp(lambda x: softmax(x, axis, mask=mask),
              lambda g, x: softmax_vjp(g, x, axis, mask=mask), [x], rng=rng)
