"""The loss of the reference Transformer (refimpl/transformer/loss.py): the token
cross-entropy's closed forms and VJP, and loss_and_grad against finite differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformer_cases import lookup, random_params, tiny, with_leaves

from refimpl.gradcheck import assert_vjp
from refimpl.masks import causal_mask
from refimpl.transformer import loss_and_grad, token_cross_entropy, token_cross_entropy_vjp


@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_grad_matches_finite_differences_of_the_loss(seed):
    config = tiny(n_layers=1, activation="swiglu", norm="rmsnorm")
    rng = np.random.default_rng(seed)
    params = random_params(config, rng)
    tokens, targets = rng.integers(0, 7, (2, 3)), rng.integers(0, 7, (2, 3))
    weights = rng.random((2, 3))
    path = ("layers", 0, "attn", "wq")

    def loss(wq):
        return np.array(loss_and_grad(with_leaves(params, [path], [wq]), config, tokens,
                                      targets, weights, causal_mask(3))[0])

    def loss_vjp(g, wq):
        _, grads = loss_and_grad(with_leaves(params, [path], [wq]), config, tokens, targets,
                                 weights, causal_mask(3))
        return g * lookup(grads, path)

    assert_vjp(loss, loss_vjp, [lookup(params, path)], rng=rng)

def test_cross_entropy_closed_forms():
    # uniform logits: log V; the gradient of the mean is (1/V - onehot) / N
    assert token_cross_entropy(np.zeros((2, 4)), [1, 3]) == pytest.approx(np.log(4), rel=1e-15)
    np.testing.assert_allclose(token_cross_entropy_vjp(1.0, np.zeros((1, 2)), [0]),
                               [[-0.5, 0.5]])
    # weights: a weighted mean of per-position losses log(1 + e^1) and log(1 + e^-1)
    logits = np.array([[0.0, 1.0], [0.0, 1.0]])
    expected = (3 * np.log1p(np.e) + 1 * np.log1p(np.exp(-1.0))) / 4
    assert token_cross_entropy(logits, [0, 1], [3.0, 1.0]) == pytest.approx(expected, rel=1e-14)
    assert token_cross_entropy([[1e308, -1e308]], [0]) == 0.0   # no overflow
    # a loss beyond float64 raises; an excluded (weight 0) position cannot make it NaN
    with pytest.raises(ValueError, match="cross-entropy overflowed"):
        token_cross_entropy([[1e308, -1e308]], [1])
    assert token_cross_entropy([[1e308, -1e308], [0.0, 0.0]], [1, 0], [0.0, 1.0]) == \
        pytest.approx(np.log(2), rel=1e-15)

@given(st.integers(0, 2**32 - 1))
def test_cross_entropy_vjp(seed):
    rng = np.random.default_rng(seed)
    logits, targets, weights = rng.standard_normal((2, 3, 5)), rng.integers(0, 5, (2, 3)), \
        rng.random((2, 3))
    assert_vjp(lambda x: np.array(token_cross_entropy(x, targets, weights)),
              lambda g, x: token_cross_entropy_vjp(g, x, targets, weights), [logits], rng=rng)
