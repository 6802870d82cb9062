"""Shared machinery of the RoFormer-Sim objectives: unit vectors, cosines, masked softmax.

Every cosine in :mod:`refimpl.similarity` is computed from unit vectors, so a vector's
magnitude, from tiny to huge, does not change its cosines; the helpers here normalise
once and chain gradients back through the normalisation. The masked cross-entropy is
shared by the pair classifier (one task's head columns) and the in-batch contrastive
loss (every row but the diagonal).

The functions here take arrays that the public functions have already validated (except
:func:`sentence_vectors` and :func:`cosine_pair`, which validate) and do no checks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import sum_to_shape
from refimpl._validation import as_float_array, broadcast_batch, check_last_axis, check_ndim

#: A vector's direction as :func:`unit_vectors` returns it: ``(x / ||x||, ||x||)``, the
#: norm with its last axis kept.
Direction = tuple[np.ndarray, np.ndarray]


def sentence_vectors(value: ArrayLike, name: str, minimum_ndim: int = 1) -> np.ndarray:
    """Float64 sentence vectors (feature axis last) with no zero vector among them.

    A zero vector has no direction, so its cosine with anything is undefined: it raises
    ``ValueError`` naming ``name`` and the batch index of the first one.
    """
    vectors = as_float_array(value, name)
    check_ndim(vectors, name, minimum_ndim)
    if vectors.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last (feature) axis, got shape "
                         f"{vectors.shape}")
    zero = ~np.any(vectors != 0, axis=-1)
    if np.any(zero):
        index = tuple(int(i) for i in np.argwhere(zero)[0])
        raise ValueError(f"{name} holds a zero vector at batch index {index}; its cosine "
                         "with anything is undefined")
    return vectors


def cosine_pair(u: ArrayLike, v: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated non-zero sentence vectors of the same size with broadcasting batches."""
    u = sentence_vectors(u, "u")
    v = sentence_vectors(v, "v")
    check_last_axis(v, "v", size=u.shape[-1])
    broadcast_batch(u=u.shape[:-1], v=v.shape[:-1])
    return u, v


def unit_vectors(x: np.ndarray) -> Direction:
    """``x / ||x||`` and ``||x||`` (last axis kept) of validated non-zero finite vectors.

    The plain sum of squares is exact to rounding while it lies well inside the float64
    range; otherwise every norm is recomputed after dividing by ``max |x_i|`` (non-zero
    here), so tiny or huge entries neither underflow nor overflow. The same norm as
    :func:`refimpl.householder.normalize`.
    """
    with np.errstate(over="ignore"):  # an overflowed square sends us to the scaled form
        squares = np.einsum("...i,...i->...", x, x)[..., None]
    if np.all((squares > 1e-280) & (squares < 1e280)):
        norm = np.sqrt(squares)
    else:
        largest = np.max(np.abs(x), axis=-1, keepdims=True)
        norm = largest * np.sqrt(np.sum(np.square(x / largest), axis=-1, keepdims=True))
    return x / norm, norm


def unit_vectors_vjp(grad_unit: np.ndarray, unit: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Chain a gradient in ``x / ||x||`` back to ``x``: ``(g - x_hat <x_hat, g>) / ||x||``."""
    return (grad_unit - unit * np.einsum("...i,...i->...", unit, grad_unit)[..., None]) / norm


def pair_cosine_of_directions(u_direction: Direction, v_direction: Direction) -> np.ndarray:
    """Cosines ``<u_hat, v_hat>`` from the directions of :func:`unit_vectors`."""
    return np.sum(u_direction[0] * v_direction[0], axis=-1)


def pair_cosine_backward(
    g: np.ndarray, u_direction: Direction, v_direction: Direction
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients in ``u`` and ``v`` of the cosines, from their cotangent ``g``.

    ``g`` has the broadcast batch shape; the unit vectors' Jacobian is the same for
    every broadcast copy of a vector, so the copies are summed first.
    """
    (unit_u, norm_u), (unit_v, norm_v) = u_direction, v_direction
    g = g[..., None]
    grad_u = unit_vectors_vjp(sum_to_shape(g * unit_v, unit_u.shape), unit_u, norm_u)
    grad_v = unit_vectors_vjp(sum_to_shape(g * unit_u, unit_v.shape), unit_v, norm_v)
    return grad_u, grad_v


def cosine_matrix_of_units(unit: np.ndarray) -> np.ndarray:
    """``U U^T`` for rows of unit vectors ``U``."""
    return unit @ np.swapaxes(unit, -1, -2)


def cosine_matrix_backward(g: np.ndarray, unit: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Gradient in ``x`` of ``U U^T`` (``U`` the unit rows of ``x``) from its cotangent ``g``."""
    return unit_vectors_vjp((g + np.swapaxes(g, -1, -2)) @ unit, unit, norm)


def masked_cross_entropy(
    logits: np.ndarray, allowed: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over the ``allowed`` entries and ``-log p[target]``, accurate when tiny.

    ``-log p_t = log(1 + sum_{j != t} exp(z_j - z_t))``: when the target holds the
    largest logit every term is at most 1 and ``log1p`` keeps a loss of ``1e-9`` to
    full relative precision (``logsumexp(z) - z_t`` would lose half the digits);
    otherwise the loss exceeds ``max(z) - z_t > 0`` and the usual form is exact enough.
    ``target`` is a boolean one-hot array shaped like ``logits``; the softmax is exactly
    zero off ``allowed``.
    """
    shifted = np.where(allowed, logits, -np.inf)
    peak = np.max(shifted, axis=-1, keepdims=True)
    weights = np.exp(shifted - peak)
    target_weight = np.sum(np.where(target, weights, 0.0), axis=-1)
    others = np.sum(np.where(target, 0.0, weights), axis=-1)
    total = target_weight + others
    gap = peak[..., 0] - np.sum(np.where(target, logits, 0.0), axis=-1)
    loss = np.where(gap <= 0, np.log1p(others), gap + np.log(total))
    return weights / total[..., None], loss
