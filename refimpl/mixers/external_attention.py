"""External Attention: attention to ``S`` learned memory slots, normalised twice.

Synthesizer and MLP-Mixer turn the queries and keys into parameters; External Attention
turns the **keys and values** into parameters (Su, kexue.fm/archives/8431). ``A`` is
``n x S``: a softmax over the tokens, then an l1 normalisation over the slots. The
parameters do not depend on ``n``, so any sequence length works, and the token-axis
normaliser makes output ``i`` depend on the other tokens.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from refimpl._broadcasting import cotangent
from refimpl.attention import softmax, softmax_vjp
from refimpl.mixers._common import linear_weight, sequence, weight_gradient

__all__ = ["external_attention", "external_attention_definition", "external_attention_vjp"]


def _memories(x: ArrayLike, memory_keys: ArrayLike,
              memory_values: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked ``x (..., n, d)``, ``M_k (S, d)`` and ``M_v (d_out, S)``."""
    x = sequence(x)
    memory_keys = linear_weight(memory_keys, "memory_keys", x.shape[-1], "S")
    memory_values = linear_weight(memory_values, "memory_values", memory_keys.shape[0], "d_out")
    return x, memory_keys, memory_values


def _log_token_softmax(x: np.ndarray, memory_keys: np.ndarray) -> np.ndarray:
    """``L = B - logsumexp_tokens(B)`` with ``B = X M_k^T``: the log of the token softmax."""
    scores = x @ memory_keys.T
    return scores - logsumexp(scores, axis=-2, keepdims=True)


def external_attention(x: ArrayLike, memory_keys: ArrayLike,
                       memory_values: ArrayLike) -> np.ndarray:
    """External Attention: attention to ``S`` learned memory slots, double-normalised.

    .. math::

        B = X M_k^T \\in \\mathbb{R}^{n \\times S}, \\quad
        \\tilde A_{is} = \\frac{e^{B_{is}}}{\\sum_{t} e^{B_{ts}}}, \\quad
        A_{is} = \\frac{\\tilde A_{is}}{\\sum_{r} \\tilde A_{ir}}, \\quad
        O = A\\,M_v^T

    The first softmax runs over the **token** axis (each slot's column sums to 1), the
    second step is an l1 normalisation over the slots. Keys and values are parameters
    (Su: "K and V turned into parameters"), so any length ``n`` works. Because the
    first normaliser sums over tokens, output ``i`` depends on the other tokens too;
    the map is permutation-equivariant in the tokens.

    Stable form: ``A = softmax_slots(B - logsumexp_tokens(B))``, which equals the
    two-step definition exactly and cannot divide by zero. The reference code divides
    by ``1e-9 + sum`` instead, a relative difference of about ``1e-9``. Defined by
    :func:`external_attention_definition`.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    memory_keys : array_like, shape (S, d)
        ``M_k``, ``(out, in)`` like ``nn.Linear(d, S).weight``; a bias on the scores
        would cancel in the token softmax.
    memory_values : array_like, shape (d_out, S)
        ``M_v``, ``(out, in)`` like ``nn.Linear(S, d_out).weight`` (the paper writes
        ``A M_v`` with its transpose, ``S x d_out``).

    Returns
    -------
    ndarray, shape (..., n, d_out)

    References
    ----------
    Guo et al., "Beyond Self-attention: External Attention using Two Linear Layers for
    Visual Tasks" (arXiv 2105.02358); MenghaoGuo/EANet ``model_torch.py``; the layout of
    xmu-xiaoma666/External-Attention-pytorch (``ExternalAttention``: ``mk = nn.Linear(d, S)``,
    ``mv = nn.Linear(S, d)``).

    Examples
    --------
    >>> external_attention(np.zeros((4, 2)), np.ones((3, 2)), np.eye(3)).round(4)
    array([[0.3333, 0.3333, 0.3333],
           [0.3333, 0.3333, 0.3333],
           [0.3333, 0.3333, 0.3333],
           [0.3333, 0.3333, 0.3333]])
    """
    x, memory_keys, memory_values = _memories(x, memory_keys, memory_values)
    log_token_softmax = _log_token_softmax(x, memory_keys)
    return softmax(log_token_softmax) @ memory_values.T


def external_attention_definition(x: ArrayLike, memory_keys: ArrayLike,
                                  memory_values: ArrayLike) -> np.ndarray:
    """The definition of :func:`external_attention`: the two normalisations, in order.

    .. math::

        \\tilde A = \\frac{e^{B}}{\\mathbf 1^T e^{B}}\\ \\text{(columns)}, \\qquad
        A = \\frac{\\tilde A}{\\tilde A \\mathbf 1}\\ \\text{(rows)}, \\qquad
        O = A M_v^T, \\qquad B = X M_k^T

    Literal, hence not stable: ``exp`` overflows for scores above about 709, and a
    token whose scores all underflow makes the second step ``0/0``.

    Examples
    --------
    >>> external_attention_definition(np.zeros((2, 1)), np.ones((2, 1)), np.eye(2))
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    x, memory_keys, memory_values = _memories(x, memory_keys, memory_values)
    exp_scores = np.exp(x @ memory_keys.T)
    token_softmax = exp_scores / exp_scores.sum(axis=-2, keepdims=True)
    return token_softmax / token_softmax.sum(axis=-1, keepdims=True) @ memory_values.T


def external_attention_vjp(grad: ArrayLike, x: ArrayLike, memory_keys: ArrayLike,
                           memory_values: ArrayLike
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of :func:`external_attention` in ``x``, ``memory_keys`` and ``memory_values``.

    With :math:`L = B - \\operatorname{lse}_{\\text{tokens}}(B)` and
    :math:`A = \\operatorname{softmax}_{\\text{slots}}(L)`:
    :math:`\\bar M_v = \\sum G^T A`, :math:`\\bar L = \\operatorname{softmax\\_vjp}(G M_v, L)`,
    :math:`\\bar B = \\bar L - P \\odot \\operatorname{colsum}(\\bar L)` with
    :math:`P = \\operatorname{softmax}_{\\text{tokens}}(B)`, then
    :math:`\\bar X = \\bar B M_k` and :math:`\\bar M_k = \\sum \\bar B^T X`.

    Returns
    -------
    (grad_x, grad_memory_keys, grad_memory_values)

    Examples
    --------
    >>> gx, gk, gv = external_attention_vjp(np.ones((4, 3)), np.zeros((4, 2)),
    ...                                     np.ones((3, 2)), np.eye(3))
    >>> np.abs(gx).max() < 1e-15  # a constant cotangent sees a constant output
    np.True_
    """
    x, memory_keys, memory_values = _memories(x, memory_keys, memory_values)
    log_token_softmax = _log_token_softmax(x, memory_keys)
    weights = softmax(log_token_softmax)
    grad = cotangent(grad, weights.shape[:-1] + memory_values.shape[:1])
    grad_log = softmax_vjp(grad @ memory_values, log_token_softmax)
    token_softmax = np.exp(log_token_softmax)
    grad_scores = grad_log - token_softmax * np.sum(grad_log, axis=-2, keepdims=True)
    return (grad_scores @ memory_keys, weight_gradient(grad_scores, x),
            weight_gradient(grad, weights))
