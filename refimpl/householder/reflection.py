"""The Householder reflection itself, applied without forming it.

:math:`H_v = I - 2 v v^T / (v^T v)` mirrors space in the hyperplane orthogonal to
``v``: symmetric, orthogonal and its own inverse, and O(d) per vector to apply. This
module holds :func:`normalize` (the scaled-norm normalisation every map starts from),
:func:`reflect` with its textbook form :func:`reflect_definition` and its VJP, and the
dense :func:`reflection_matrix`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_float_array, broadcast_batch, check_finite, check_last_axis
from refimpl.householder._common import (
    apply_low_rank,
    dot,
    feature_sizes_match,
    finite_gradients,
    nonzero_vectors,
    norm,
    reflect_unit_vjp,
    unit_vjp,
)

# ------------------------------------------------------------------------- normalize


def normalize(x: ArrayLike) -> np.ndarray:
    r"""Scale each vector along the last axis to unit Euclidean norm.

    .. math::

        \hat x = x / \lVert x \rVert_2

    Vectors with tiny (subnormal) or huge entries normalise without underflow or
    overflow: their norms are computed after dividing by ``max |x_i|``.

    Parameters
    ----------
    x : array_like, shape (..., d)
        Non-zero finite vectors.

    Returns
    -------
    ndarray, shape (..., d)

    Raises
    ------
    ValueError
        If any vector is zero (there is no direction to keep) or not finite.

    Examples
    --------
    >>> normalize([3.0, 4.0])
    array([0.6, 0.8])
    """
    x = nonzero_vectors(x, "x")
    return x / norm(x)


def normalize_vjp(grad: ArrayLike, x: ArrayLike) -> np.ndarray:
    r"""Gradient of :func:`normalize` with respect to ``x``.

    .. math::

        \bar x = \bigl(\bar y - \hat x\, \langle \hat x, \bar y\rangle\bigr) / \lVert x \rVert

    The gradient is orthogonal to ``x``: scaling ``x`` does not change its direction.

    Examples
    --------
    >>> normalize_vjp([1.0, 0.0], [2.0, 0.0])
    array([0., 0.])
    """
    x = nonzero_vectors(x, "x")
    grad = cotangent(grad, x.shape)
    x_norm = norm(x)
    unit = x / x_norm
    with np.errstate(over="ignore", invalid="ignore"):  # reported by finite_gradients
        grad_x = (grad - unit * dot(unit, grad)) / x_norm
    return finite_gradients(grad_x, cause="grad is too large or x too small")[0]


# ------------------------------------------------------------------------- reflections


def _reflection_inputs(x: ArrayLike, v: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``x`` (NaN and inf are checked where it is used) and the normals ``v``."""
    x = as_float_array(x, "x", allow_nonfinite=True)
    check_last_axis(x, "x")
    v = nonzero_vectors(v, "v")
    feature_sizes_match(x, v, "x and v")
    broadcast_batch(x=x.shape, v=v.shape)
    return x, v


def reflect(x: ArrayLike, v: ArrayLike, *, out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply the Householder reflection with normal ``v`` to ``x``, without forming it.

    .. math::

        H_v x = x - 2 \frac{v\, (v^T x)}{v^T v}

    Defined by :func:`reflect_definition`. :math:`H_v` is symmetric, orthogonal and
    involutive (:math:`H_v^2 = I`), with eigenvalue -1 on ``v`` and +1 on the hyperplane
    orthogonal to ``v`` (the mirror), so :math:`\det H_v = -1`. ``v`` is normalised
    first (with a scaled norm), so only its direction matters and tiny or huge ``v`` are
    fine. Cost O(d) per vector; one ``v`` for many vectors is applied in row blocks,
    one BLAS matrix product per block.

    Parameters
    ----------
    x : array_like, shape (..., d)
        Vectors to reflect.
    v : array_like, shape (..., d)
        Normals of the mirrors; batch dimensions broadcast against those of ``x``.
    out : ndarray, optional
        A C-contiguous float64 array of the result's shape to write into (saves
        allocating a large result; it may be ``x`` itself).

    Returns
    -------
    ndarray, shape ``broadcast(x, v)``

    Raises
    ------
    ValueError
        If ``v`` contains a zero vector (no mirror is defined), if the last
        dimensions differ, or if the batch shapes do not broadcast.

    References
    ----------
    A. S. Householder, "Unitary triangularization of a nonsymmetric matrix", J. ACM
    5 (1958); LAPACK ``dlarf``.

    Examples
    --------
    >>> reflect([1.0, 2.0, 3.0], [0.0, 0.0, 5.0])
    array([ 1.,  2., -3.])
    """
    x, v = _reflection_inputs(x, v)
    unit = v / norm(v)
    return apply_low_rank(x, 1.0, unit[..., :, None], -2.0 * unit[..., None, :], out)


def reflect_definition(x: ArrayLike, v: ArrayLike) -> np.ndarray:
    r"""The definition of :func:`reflect`: the reflection's formula, term by term.

    .. math::

        H_v x = x - 2 \frac{v\, (v^T x)}{v^T v}

    ``v`` is first divided by ``max |v_i|`` (:math:`H_v` depends only on the direction
    of ``v``), which keeps :math:`v^T v` in ``[1, d]``: tiny or huge ``v`` neither
    underflow nor overflow. Arguments are validated as in :func:`reflect`.

    Raises
    ------
    ValueError
        As :func:`reflect`; also if ``x`` is so large that the formula overflows.

    Examples
    --------
    >>> reflect_definition([1.0, 2.0, 3.0], [0.0, 0.0, 5.0])
    array([ 1.,  2., -3.])
    """
    x, v = _reflection_inputs(x, v)
    check_finite(x, "x")
    w = v / np.max(np.abs(v), axis=-1, keepdims=True)  # the direction of v, max |w_i| = 1
    with np.errstate(over="ignore", invalid="ignore"):  # reported below
        y = x - 2.0 * w * (np.sum(w * x, axis=-1, keepdims=True)
                           / np.sum(w * w, axis=-1, keepdims=True))
    if not np.all(np.isfinite(y)):
        raise ValueError("x is too large: H_v x overflows float64 in this form")
    return y


def reflect_vjp(grad: ArrayLike, x: ArrayLike, v: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradients of :func:`reflect` in ``x`` and ``v``.

    With :math:`u = v/\lVert v\rVert`, :math:`y = x - 2u\,(u^T x)` and upstream
    gradient :math:`\bar y`:

    .. math::

        \bar x = H_v \bar y, \qquad
        \bar u = -2\bigl((u^T x)\, \bar y + (u^T \bar y)\, x\bigr), \qquad
        \bar v = \bigl(\bar u - u\,(u^T \bar u)\bigr) / \lVert v \rVert

    Both gradients are summed over broadcast dimensions, so they have the shapes of
    ``x`` and ``v``. ``\bar v`` is orthogonal to ``v`` (the reflection does not depend
    on the length of ``v``).

    Returns
    -------
    (grad_x, grad_v) : tuple of ndarray, shaped like ``x`` and ``v``

    Examples
    --------
    >>> grad_x, grad_v = reflect_vjp([1.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    >>> grad_x, grad_v
    (array([1., 0.]), array([0., 0.]))
    """
    x, v = _reflection_inputs(x, v)
    check_finite(x, "x")
    grad = cotangent(grad, np.broadcast_shapes(x.shape, v.shape))
    v_norm = norm(v)
    unit = v / v_norm
    with np.errstate(over="ignore", invalid="ignore"):  # reported by finite_gradients
        grad_x, grad_unit = reflect_unit_vjp(grad, x, unit)
        grad_v = unit_vjp(grad_unit, unit, v_norm)
    grad_x, grad_v = finite_gradients(sum_to_shape(grad_x, x.shape),
                                      sum_to_shape(grad_v, v.shape),
                                      cause="x and grad are too large, or v too small")
    return grad_x, grad_v


def reflection_matrix(v: ArrayLike) -> np.ndarray:
    r"""The dense Householder matrix :math:`H_v = I - 2 v v^T / (v^T v)`, shape (..., d, d).

    Use :func:`reflect` to apply it; this form is for tests and small problems.

    Examples
    --------
    >>> reflection_matrix([1.0, 1.0])
    array([[ 0., -1.],
           [-1.,  0.]])
    """
    v = nonzero_vectors(v, "v")
    unit = v / norm(v)
    return np.eye(v.shape[-1]) - 2.0 * unit[..., :, None] * unit[..., None, :]
