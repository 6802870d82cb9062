"""The Synthesizer: an attention matrix that is learned (random) or written by each token
on its own (dense), never computed from query-key products.

Both keep attention's ``O = A V`` with ``A`` a row softmax and ``V = X W_v^T + b_v``;
only the logits change. ``A`` is ``n x n`` and tied to absolute positions, so the
sequence length is fixed by the parameters. Su's round-up (kexue.fm/archives/8431)
takes the random Synthesizer as the anchor of the 2021 MLP models: MLP-Mixer's token
map is this ``A`` with the softmax removed.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl.activations import relu
from refimpl.attention import softmax, softmax_vjp
from refimpl.mixers._common import (
    ACTIVATIONS,
    bias_gradient,
    channel_mlp,
    channel_mlp_vjp,
    exact_shape,
    linear_weight,
    sequence,
    token_sized,
    weight_gradient,
)

__all__ = ["synthesizer_random", "synthesizer_random_vjp", "synthesizer_dense",
           "synthesizer_dense_vjp"]


def _values(x: np.ndarray, value_weight: ArrayLike,
            value_bias: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Checked value projection ``W_v (d_v, d)``, ``b_v (d_v,)``."""
    weight = linear_weight(value_weight, "value_weight", x.shape[-1], "d_v")
    return weight, exact_shape(value_bias, "value_bias", weight.shape[:1])


def synthesizer_random(x: ArrayLike, logits: ArrayLike, value_weight: ArrayLike,
                       value_bias: ArrayLike) -> np.ndarray:
    """Random Synthesizer: one learned attention matrix shared by every input.

    .. math::

        O = \\operatorname{softmax}(R)\\,(X W_v^T + b_v), \\qquad R \\in \\mathbb{R}^{n \\times n}

    The softmax runs over each row (the keys). ``R`` is a free parameter, trained or
    frozen after a random draw ("fixed random"); it does not look at ``X`` at all, so
    the layer is not permutation-equivariant and only accepts sequences of length ``n``.
    Su: MLP-Mixer's token map is this layer with the softmax removed.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    logits : array_like, shape (n, n)
        ``R``; row ``i`` holds the scores of query position ``i`` over key positions.
    value_weight : array_like, shape (d_v, d)
        ``(out, in)``, like ``nn.Linear(d, d_v).weight``.
    value_bias : array_like, shape (d_v,)

    Returns
    -------
    ndarray, shape (..., n, d_v)

    References
    ----------
    Tay et al., "Synthesizer: Rethinking Self-Attention in Transformer Models", ICML 2021
    (arXiv 2005.00743); google-research/long-range-arena ``synthesizer_attention.py``.

    Examples
    --------
    >>> x = np.arange(6.0).reshape(3, 2)
    >>> synthesizer_random(x, np.zeros((3, 3)), np.eye(2), np.zeros(2))  # uniform A
    array([[2., 3.],
           [2., 3.],
           [2., 3.]])
    """
    x = sequence(x)
    n = x.shape[-2]
    logits = token_sized(logits, "logits", n, (n, n))
    value_weight, value_bias = _values(x, value_weight, value_bias)
    return softmax(logits) @ (x @ value_weight.T + value_bias)


def synthesizer_random_vjp(grad: ArrayLike, x: ArrayLike, logits: ArrayLike,
                           value_weight: ArrayLike, value_bias: ArrayLike
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """VJP of :func:`synthesizer_random` in every argument.

    With :math:`A = \\operatorname{softmax}(R)`, :math:`V = X W_v^T + b_v` and upstream
    :math:`G`: :math:`\\bar V = A^T G`, :math:`\\bar A = \\sum_{\\text{batch}} G V^T`,
    :math:`\\bar R = A \\odot (\\bar A - \\operatorname{rowsum}(\\bar A \\odot A))`,
    :math:`\\bar X = \\bar V W_v`, :math:`\\bar W_v = \\sum \\bar V^T X`,
    :math:`\\bar b_v = \\sum \\bar V`.

    Returns
    -------
    (grad_x, grad_logits, grad_value_weight, grad_value_bias)

    Examples
    --------
    >>> gx, gr, gw, gb = synthesizer_random_vjp(np.ones((2, 1)), np.zeros((2, 1)),
    ...                                         np.zeros((2, 2)), np.eye(1), np.zeros(1))
    >>> gb
    array([2.])
    """
    x = sequence(x)
    n = x.shape[-2]
    logits = token_sized(logits, "logits", n, (n, n))
    value_weight, value_bias = _values(x, value_weight, value_bias)
    values = x @ value_weight.T + value_bias
    weights = softmax(logits)
    grad = cotangent(grad, values.shape)
    grad_values = weights.T @ grad
    grad_weights = weight_gradient(np.swapaxes(grad, -1, -2), np.swapaxes(values, -1, -2))
    return (grad_values @ value_weight, softmax_vjp(grad_weights, logits),
            weight_gradient(grad_values, x), bias_gradient(grad_values))


def _dense_parts(x: ArrayLike, hidden_weight: ArrayLike, hidden_bias: ArrayLike,
                 logit_weight: ArrayLike, logit_bias: ArrayLike, value_weight: ArrayLike,
                 value_bias: ArrayLike) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Checked input and parameters ``(W_1, b_1, W_2, b_2, W_v, b_v)`` of the dense form."""
    x = sequence(x)
    n, d = x.shape[-2:]
    w1 = linear_weight(hidden_weight, "hidden_weight", d, "hidden")
    hidden = w1.shape[0]
    params = (w1, exact_shape(hidden_bias, "hidden_bias", (hidden,)),
              token_sized(logit_weight, "logit_weight", n, (n, hidden)),
              token_sized(logit_bias, "logit_bias", n, (n,)), *_values(x, value_weight, value_bias))
    return x, params


def synthesizer_dense(x: ArrayLike, hidden_weight: ArrayLike, hidden_bias: ArrayLike,
                      logit_weight: ArrayLike, logit_bias: ArrayLike, value_weight: ArrayLike,
                      value_bias: ArrayLike) -> np.ndarray:
    """Dense Synthesizer: each token writes its own row of attention logits.

    .. math::

        B_i = \\operatorname{relu}(x_i W_1^T + b_1) W_2^T + b_2 \\in \\mathbb{R}^n, \\qquad
        O = \\operatorname{softmax}(B)\\,(X W_v^T + b_v)

    Row ``i`` of ``A`` depends only on token ``i`` (no query-key product), and column
    ``j`` is tied to absolute position ``j`` through ``W_2``, so ``n`` is fixed.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    hidden_weight : (h, d); hidden_bias : (h,)
    logit_weight : (n, h); logit_bias : (n,)
    value_weight : (d_v, d); value_bias : (d_v,)
        Every weight ``(out, in)``, like an ``nn.Linear`` weight.

    Returns
    -------
    ndarray, shape (..., n, d_v)

    References
    ----------
    Tay et al. 2021 (arXiv 2005.00743), §3.1; long-range-arena ``synthesizer_attention.py``
    (mode ``"dense"``, single head here).

    Examples
    --------
    >>> x = np.ones((2, 1))
    >>> synthesizer_dense(x, np.ones((1, 1)), [0.0], [[0.0], [50.0]], [0.0, 0.0],
    ...                   np.eye(1), [0.0]).round(6)  # every row attends to token 1
    array([[1.],
           [1.]])
    """
    x, (w1, b1, w2, b2, wv, bv) = _dense_parts(
        x, hidden_weight, hidden_bias, logit_weight, logit_bias, value_weight, value_bias)
    logits = relu(x @ w1.T + b1) @ w2.T + b2
    return softmax(logits) @ (x @ wv.T + bv)


def synthesizer_dense_vjp(grad: ArrayLike, x: ArrayLike, hidden_weight: ArrayLike,
                          hidden_bias: ArrayLike, logit_weight: ArrayLike, logit_bias: ArrayLike,
                          value_weight: ArrayLike, value_bias: ArrayLike
                          ) -> tuple[np.ndarray, ...]:
    """VJP of :func:`synthesizer_dense` in every argument.

    Backward through ``O = A V``: :math:`\\bar V = A^T G`, :math:`\\bar A = G V^T`,
    then the softmax (:func:`refimpl.attention.softmax_vjp`), the two-layer logit MLP,
    and the value projection; ``x`` receives the sum of both paths.

    Returns
    -------
    (grad_x, grad_hidden_weight, grad_hidden_bias, grad_logit_weight, grad_logit_bias,
    grad_value_weight, grad_value_bias)

    Examples
    --------
    >>> grads = synthesizer_dense_vjp(np.ones((2, 1)), np.ones((2, 1)), np.ones((1, 1)),
    ...                               [0.0], np.zeros((2, 1)), [0.0, 0.0], np.eye(1), [0.0])
    >>> grads[-1]  # d(sum O)/d b_v: each output row sums its weights to 1
    array([2.])
    """
    x, (w1, b1, w2, b2, wv, bv) = _dense_parts(
        x, hidden_weight, hidden_bias, logit_weight, logit_bias, value_weight, value_bias)
    logits, pre = channel_mlp(x, w1, b1, w2, b2, ACTIVATIONS["relu"])
    weights, values = softmax(logits), x @ wv.T + bv
    grad = cotangent(grad, values.shape)
    grad_values = np.swapaxes(weights, -1, -2) @ grad
    grad_logits = softmax_vjp(grad @ np.swapaxes(values, -1, -2), logits)
    gx, gw1, gb1, gw2, gb2 = channel_mlp_vjp(grad_logits, x, w1, w2, pre, ACTIVATIONS["relu"])
    return (gx + grad_values @ wv, gw1, gb1, gw2, gb2, weight_gradient(grad_values, x),
            bias_gradient(grad_values))
