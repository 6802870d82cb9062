"""Cosines of sentence vectors: of each pair, and the matrix of all rows against all rows.

Retrieval with a sentence encoder compares two sentence vectors by their cosine
``<u, v> / (||u|| ||v||)`` (RoFormer-Sim, https://kexue.fm/archives/8454). Cosines are
computed from unit vectors (normalised like :func:`refimpl.householder.normalize`:
where the sum of squares would leave the float64 range, the norm divides by the largest
entry before squaring), so a vector's magnitude, from tiny to huge, does not change its
cosines; a zero vector has no direction and raises ``ValueError``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl.similarity._common import (
    cosine_matrix_backward,
    cosine_matrix_of_units,
    cosine_pair,
    pair_cosine_backward,
    pair_cosine_of_directions,
    sentence_vectors,
    unit_vectors,
)

__all__ = [
    "pair_cosine",
    "pair_cosine_vjp",
    "cosine_similarity_matrix",
    "cosine_similarity_matrix_vjp",
]


def pair_cosine(u: ArrayLike, v: ArrayLike) -> np.ndarray:
    """Cosine of each pair, ``<u, v> / (||u|| ||v||)``.

    Parameters
    ----------
    u, v : array_like, shape (..., d)
        Non-zero sentence vectors; batch shapes broadcast.

    Returns
    -------
    ndarray, shape (...)

    Examples
    --------
    >>> float(pair_cosine([1.0, 0.0], [1.0, 1.0]).round(6))
    0.707107
    """
    u, v = cosine_pair(u, v)
    return pair_cosine_of_directions(unit_vectors(u), unit_vectors(v))


def pair_cosine_vjp(grad: ArrayLike, u: ArrayLike, v: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`pair_cosine` in ``u`` and ``v``.

    .. math:: \\bar u = \\frac{g}{\\|u\\|} (\\hat v - \\cos(u, v)\\, \\hat u)

    and symmetrically for ``v``. The gradient is orthogonal to ``u`` (the cosine does
    not see the length of ``u``).

    Examples
    --------
    >>> pair_cosine_vjp(1.0, [2.0, 0.0], [0.0, 1.0])
    (array([0. , 0.5]), array([1., 0.]))
    """
    u, v = cosine_pair(u, v)
    g = cotangent(grad, np.broadcast_shapes(u.shape, v.shape)[:-1])
    return pair_cosine_backward(g, unit_vectors(u), unit_vectors(v))


def cosine_similarity_matrix(x: ArrayLike) -> np.ndarray:
    """The matrix of cosines between all rows, ``S_ij = cos(x_i, x_j)``.

    .. math:: S = \\hat X \\hat X^\\top, \\qquad \\hat x_i = x_i / \\|x_i\\|

    Parameters
    ----------
    x : array_like, shape (..., n, d)
        ``n`` non-zero sentence vectors per batch entry.

    Returns
    -------
    ndarray, shape (..., n, n)
        Symmetric, with ones on the diagonal (to rounding).

    Examples
    --------
    >>> cosine_similarity_matrix([[1.0, 0.0], [3.0, 3.0]]).round(4)
    array([[1.    , 0.7071],
           [0.7071, 1.    ]])
    """
    unit, _ = unit_vectors(sentence_vectors(x, "x", minimum_ndim=2))
    return cosine_matrix_of_units(unit)


def cosine_similarity_matrix_vjp(grad: ArrayLike, x: ArrayLike) -> np.ndarray:
    """VJP of :func:`cosine_similarity_matrix`.

    .. math:: \\bar{\\hat X} = (G + G^\\top) \\hat X, \\qquad
              \\bar x_i = \\frac{\\bar{\\hat x}_i - \\hat x_i \\langle \\hat x_i,
              \\bar{\\hat x}_i \\rangle}{\\|x_i\\|}

    Examples
    --------
    >>> cosine_similarity_matrix_vjp([[0.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]])
    array([[0. , 1. ],
           [0.5, 0. ]])
    """
    x = sentence_vectors(x, "x", minimum_ndim=2)
    g = cotangent(grad, x.shape[:-1] + (x.shape[-2],))
    return cosine_matrix_backward(g, *unit_vectors(x))
