"""Householder reflections and orthogonal maps that send one unit vector to another.

A Householder reflection :math:`H_v = I - 2 v v^T / (v^T v)` mirrors space in the
hyperplane orthogonal to ``v``; it is symmetric, orthogonal and its own inverse, and it
costs O(d) per vector to apply without ever forming the d x d matrix. This module
applies reflections matrix-free (:func:`reflect`), builds the orthogonal maps of the
post "an orthogonal matrix that maps one unit vector to another", and provides
Householder products with LAPACK ``xORGQR`` semantics. Every differentiable function
``f`` has a hand-written ``f_vjp``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refimpl._validation import as_float_array, broadcast_batch, check_last_axis

__all__ = [
    "normalize",
    "normalize_vjp",
    "reflect",
    "reflect_vjp",
]


# ----------------------------------------------------------------------------- helpers


def _norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm along the last axis, scaled so tiny or huge entries cannot
    underflow or overflow; keeps the last axis (length 1). Zero vectors give 0."""
    scale = np.max(np.abs(x), axis=-1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    return scale * np.sqrt(np.sum(np.square(x / safe), axis=-1, keepdims=True))


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inner product along the last axis with broadcasting; keeps the last axis."""
    return np.einsum("...i,...i->...", x, y)[..., None]


def _sum_to_shape(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back down to the shape of the argument it belongs to."""
    extra = array.ndim - len(shape)
    if extra:
        array = array.sum(axis=tuple(range(extra)))
    kept = tuple(i for i, n in enumerate(shape) if n == 1 and array.shape[i] != 1)
    return array.sum(axis=kept, keepdims=True) if kept else array


def _nonzero_vectors(x: Any, name: str) -> np.ndarray:
    """Validate ``x`` as finite vectors along the last axis, none of them zero."""
    x = as_float_array(x, name)
    check_last_axis(x, name)
    if x.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last axis, got shape {x.shape}")
    zero = ~np.any(x != 0, axis=-1)
    if np.any(zero):
        where = tuple(int(i) for i in np.argwhere(zero)[0])
        raise ValueError(f"{name} must not contain a zero vector, got one at batch index {where}")
    return x


def _feature_sizes_match(first: np.ndarray, second: np.ndarray, names: str) -> None:
    if first.shape[-1] != second.shape[-1]:
        raise ValueError(f"{names} must have the same last dimension, got shapes "
                         f"{first.shape} and {second.shape}")


# ------------------------------------------------------------------------- normalize


def normalize(x: Any) -> np.ndarray:
    r"""Scale each vector along the last axis to unit Euclidean norm.

    .. math::

        \hat x = x / \lVert x \rVert_2

    The norm is computed after dividing by ``max |x_i|``, so vectors with tiny
    (subnormal) or huge entries normalise without underflow or overflow.

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
    x = _nonzero_vectors(x, "x")
    return x / _norm(x)


def normalize_vjp(grad: Any, x: Any) -> np.ndarray:
    r"""Gradient of :func:`normalize` with respect to ``x``.

    .. math::

        \bar x = \bigl(\bar y - \hat x\, \langle \hat x, \bar y\rangle\bigr) / \lVert x \rVert

    The gradient is orthogonal to ``x``: scaling ``x`` does not change its direction.

    Examples
    --------
    >>> normalize_vjp([1.0, 0.0], [2.0, 0.0])
    array([0., 0.])
    """
    x = _nonzero_vectors(x, "x")
    grad = as_float_array(grad, "grad")
    norm = _norm(x)
    unit = x / norm
    return (grad - unit * _dot(unit, grad)) / norm


# ------------------------------------------------------------------------- reflections


def _reflect_unit(x: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """``x - 2 u <u, x>`` for unit ``u`` (no checks, broadcasting)."""
    return x - 2.0 * unit * _dot(unit, x)


def _reflect_unit_vjp(grad: np.ndarray, x: np.ndarray, unit: np.ndarray):
    """Gradients of ``x - 2 u <u, x>`` in ``x`` and in the unit vector ``u`` (unreduced)."""
    grad_x = _reflect_unit(grad, unit)
    grad_unit = -2.0 * (grad * _dot(unit, x) + x * _dot(unit, grad))
    return grad_x, grad_unit


def _unit_vjp(grad_unit: np.ndarray, unit: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Chain a gradient in ``u = v / ||v||`` back to ``v``."""
    return (grad_unit - unit * _dot(unit, grad_unit)) / norm


def _reflection_inputs(x: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
    x = as_float_array(x, "x")
    check_last_axis(x, "x")
    v = _nonzero_vectors(v, "v")
    _feature_sizes_match(x, v, "x and v")
    broadcast_batch(x=x.shape, v=v.shape)
    return x, v


def reflect(x: Any, v: Any) -> np.ndarray:
    r"""Apply the Householder reflection with normal ``v`` to ``x``, without forming it.

    .. math::

        H_v x = x - 2 \frac{v\, (v^T x)}{v^T v}

    :math:`H_v` is symmetric, orthogonal and involutive (:math:`H_v^2 = I`), with
    eigenvalue -1 on ``v`` and +1 on the hyperplane orthogonal to ``v`` (the mirror), so
    :math:`\det H_v = -1`. ``v`` is normalised first (with a scaled norm), so only its
    direction matters and tiny or huge ``v`` are fine. Cost O(d) per vector.

    Parameters
    ----------
    x : array_like, shape (..., d)
        Vectors to reflect.
    v : array_like, shape (..., d)
        Normals of the mirrors; batch dimensions broadcast against those of ``x``.

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
    return _reflect_unit(x, v / _norm(v))


def reflect_vjp(grad: Any, x: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
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
    grad = as_float_array(grad, "grad")
    norm = _norm(v)
    unit = v / norm
    grad_x, grad_unit = _reflect_unit_vjp(grad, x, unit)
    grad_v = _unit_vjp(grad_unit, unit, norm)
    return _sum_to_shape(grad_x, x.shape), _sum_to_shape(grad_v, v.shape)
