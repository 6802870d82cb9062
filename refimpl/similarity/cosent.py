"""CoSENT: a ranking loss on pair cosines.

Every pair ``i`` labelled more similar than a pair ``j`` should have the higher cosine;
CoSENT penalises each violated order smoothly through a log-sum-exp of the scaled
cosine gaps, ``lambda = 20`` (https://kexue.fm/archives/8847). Only the order of the
labels matters, so binary, NLI-derived and graded labels train one model.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_float_array, as_scalar, broadcast_batch, check_ndim
from refimpl.similarity._common import (
    Direction,
    cosine_pair,
    pair_cosine_backward,
    pair_cosine_of_directions,
    unit_vectors,
)

__all__ = ["cosent_loss", "cosent_loss_vjp"]


def _cosent_forward(
    u: ArrayLike, v: ArrayLike, labels: ArrayLike, scale: float
) -> tuple[Direction, Direction, float, np.ndarray, np.ndarray]:
    """Both sides' ``(unit, norm)``, the softmax weights of the ranked terms, the loss."""
    scale = as_scalar(scale, "scale", positive=True)
    u, v = cosine_pair(u, v)
    u_direction, v_direction = unit_vectors(u), unit_vectors(v)
    cosines = pair_cosine_of_directions(u_direction, v_direction)
    if cosines.ndim < 1:
        raise ValueError(f"u and v must hold a batch of n pairs (shape (..., n, d)), got "
                         f"shapes {u.shape} and {v.shape}")
    labels = as_float_array(labels, "labels")
    check_ndim(labels, "labels", 1)
    batch = broadcast_batch(pairs=cosines.shape, labels=labels.shape)
    cosines, labels = np.broadcast_to(cosines, batch), np.broadcast_to(labels, batch)
    # term (i, j) is present when pair i is labelled more similar than pair j
    ranked = labels[..., :, None] > labels[..., None, :]
    margins = scale * (cosines[..., None, :] - cosines[..., :, None])
    exponents = np.where(ranked, margins, -np.inf)
    peak = np.maximum(np.max(exponents, axis=(-2, -1)), 0.0)[..., None, None]
    terms = np.exp(exponents - peak)  # zero where not ranked
    peak, ranked_sum = peak[..., 0, 0], np.sum(terms, axis=(-2, -1))
    total = np.exp(-peak) + ranked_sum
    # log1p keeps the relative accuracy of a tiny loss (all terms far below exp(0) = 1)
    loss = np.where(peak > 0, peak + np.log(total), np.log1p(ranked_sum))
    return u_direction, v_direction, scale, terms / total[..., None, None], loss


def cosent_loss(u: ArrayLike, v: ArrayLike, labels: ArrayLike, scale: float = 20.0) -> np.ndarray:
    """CoSENT: a ranking loss on pair cosines (kexue.fm/archives/8847).

    With ``c_i = cos(u_i, v_i)`` and label ``y_i`` (binary, NLI-derived or graded; only
    the order matters),

    .. math::

        L = \\log\\Big(1 + \\sum_{(i, j):\\, y_i > y_j}
            e^{\\lambda (c_j - c_i)}\\Big), \\qquad \\lambda = 20

    computed as a log-sum-exp over ``{0} U {lambda (c_j - c_i)}`` so that it does not
    overflow, and with ``log1p`` when every term is below 1 so that a tiny loss keeps
    its relative accuracy. Pairs with equal labels are not compared; with fewer
    than two distinct labels the loss is exactly 0.

    Parameters
    ----------
    u, v : array_like, shape (..., n, d)
        Sentence vectors of ``n`` pairs per batch entry.
    labels : array_like, shape (..., n)
        Real-valued similarity labels; broadcasts with the batch.
    scale : float
        ``lambda`` (20 in the post).

    Returns
    -------
    ndarray, shape (...)

    Examples
    --------
    Two pairs, the first labelled more similar, with cosines 1/sqrt(2) and 0:

    >>> loss = cosent_loss([[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 1.0]], [1, 0])
    >>> bool(np.isclose(loss, np.log1p(np.exp(-20 / np.sqrt(2))), rtol=1e-12))
    True
    """
    return _cosent_forward(u, v, labels, scale)[-1]


def cosent_loss_vjp(
    grad: ArrayLike, u: ArrayLike, v: ArrayLike, labels: ArrayLike, scale: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`cosent_loss` in ``u`` and ``v`` (labels are not differentiable).

    With ``w_ij`` the softmax weight of term ``(i, j)`` in the log-sum-exp,

    .. math:: \\bar c_k = \\lambda g \\Big( \\sum_i w_{ik} - \\sum_j w_{kj} \\Big)

    then :func:`~refimpl.similarity.pair_cosine_vjp`. When every ranked pair is already
    ordered by a wide margin, every ``w_ij`` is below ``exp(-lambda * margin)`` and the
    gradient vanishes.

    Examples
    --------
    >>> grad_u, grad_v = cosent_loss_vjp(1.0, [[1.0, 0.0], [1.0, 0.0]],
    ...                                  [[1.0, 0.0], [-1.0, 0.0]], [1, 0])
    >>> bool(np.abs(grad_u).max() < 1e-16)
    True
    """
    u_direction, v_direction, scale, weights, loss = _cosent_forward(u, v, labels, scale)
    g = cotangent(grad, loss.shape)[..., None]
    grad_cosines = scale * g * (np.sum(weights, axis=-2) - np.sum(weights, axis=-1))
    cosine_shape = np.broadcast_shapes(u_direction[0].shape, v_direction[0].shape)[:-1]
    return pair_cosine_backward(sum_to_shape(grad_cosines, cosine_shape),
                                u_direction, v_direction)
