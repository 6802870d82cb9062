"""Random and dense Synthesizer (Tay et al. 2021, arXiv 2005.00743): VJPs, the dense form
with constant rows, convex rows, and the PyTorch weight layout."""

import numpy as np
from hypothesis import given, settings
from mixers_cases import GRAD_EXAMPLES, normal, seeds, sizes

from refimpl import mixers as mx
from refimpl.gradcheck import assert_vjp

EPS = np.finfo(np.float64).eps


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds)
def test_vjps_of_the_synthesizers(seed):
    # Split from test_vjps_of_the_attention_like_mixers (one test per module).
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x = normal(rng, b, n, d)
    value = (normal(rng, 3, d), normal(rng, 3))
    assert_vjp(mx.synthesizer_random, mx.synthesizer_random_vjp,
              [x, 2 * normal(rng, n, n), *value], rng=rng)
    assert_vjp(mx.synthesizer_dense, mx.synthesizer_dense_vjp,
              [x, normal(rng, 4, d), normal(rng, 4), normal(rng, n, 4), normal(rng, n), *value],
              rng=rng)


@given(seeds)
def test_dense_synthesizer_with_constant_rows_is_a_random_synthesizer(seed):
    # With W_2 = 0 every token writes the same logit row b_2, so A = softmax(1 b_2^T):
    # the random synthesizer with R = 1 b_2^T.
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x, row = normal(rng, b, n, d), normal(rng, n)
    value = (normal(rng, 2, d), normal(rng, 2))
    dense = mx.synthesizer_dense(x, normal(rng, 3, d), normal(rng, 3), np.zeros((n, 3)), row,
                                 *value)
    np.testing.assert_allclose(dense, mx.synthesizer_random(x, np.tile(row, (n, 1)), *value),
                               atol=1e-12)


def test_random_synthesizer_rows_are_convex_combinations():
    x = np.array([[0.0], [10.0]])
    out = mx.synthesizer_random(x, [[0.0, np.log(3.0)], [np.log(4.0), 0.0]], np.eye(1), [0.0])
    np.testing.assert_allclose(out, [[7.5], [2.0]])  # 3/4 * 10 and 1/5 * 10


def test_dense_synthesizer_takes_pytorch_linear_weights_as_stored():
    # A port in torch's nn.Linear convention (y = x @ W.T + b, W stored (out, in)) of the
    # single-head dense Synthesizer: hidden = Linear(d, h), logits = Linear(h, n),
    # values = Linear(d, d_v). The weights go in exactly as stored, with no transpose.
    rng = np.random.default_rng(5)
    n, d, h, d_v = 4, 3, 5, 2
    w1, b1, w2, b2 = normal(rng, h, d), normal(rng, h), normal(rng, n, h), normal(rng, n)
    wv, bv = normal(rng, d_v, d), normal(rng, d_v)
    x = normal(rng, 2, n, d)
    logits = np.maximum(x @ w1.T + b1, 0.0) @ w2.T + b2
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    expected = weights / weights.sum(axis=-1, keepdims=True) @ (x @ wv.T + bv)
    # Error model (round-off only, two orders of the same sums): a logit is a sum of
    # h + 1 terms bounded by L, so it is off by <= (h + d + 2) eps L; the softmax turns an
    # absolute logit error into a relative weight error of twice that; the values are off
    # by <= (d + 1) eps |V|, and the n-term convex sum adds n eps |V|.
    hidden = np.maximum(x @ w1.T + b1, 0.0)
    logit_bound = (np.abs(hidden) @ np.abs(w2.T) + np.abs(b2)).max()
    value_bound = np.abs(x @ wv.T + bv).max()
    tolerance = 2 * (h + d + 2) * EPS * logit_bound * value_bound + (n + d + 1) * EPS * value_bound
    np.testing.assert_allclose(mx.synthesizer_dense(x, w1, b1, w2, b2, wv, bv), expected,
                               rtol=0, atol=4 * tolerance)
