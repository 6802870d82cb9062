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
from scipy.linalg import blas

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import (
    UNIT_NORM_RTOL,
    as_float_array,
    as_scalar,
    broadcast_batch,
    check_finite,
    check_last_axis,
    check_unit_norm,
    describe,
)

__all__ = [
    "normalize",
    "normalize_vjp",
    "reflect",
    "reflect_vjp",
    "reflection_matrix",
    "householder_map",
    "householder_map_vjp",
    "householder_map_matrix",
    "rotation_map",
    "rotation_map_vjp",
    "rotation_map_matrix",
    "symmetric_map",
    "symmetric_map_vjp",
    "symmetric_map_matrix",
    "stable_map",
    "stable_map_vjp",
    "stable_map_matrix",
    "householder_product",
    "householder_product_vjp",
    "householder_qr",
]


# ----------------------------------------------------------------------------- helpers


def _norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm along the last axis, keeping it (length 1); zero vectors give 0.

    The plain sum of squares is exact to rounding whenever it lies well inside the
    float64 range (entries whose squares underflow are then below eps of the sum);
    otherwise every norm is recomputed after dividing by ``max |x_i|``, so tiny or huge
    entries can neither underflow nor overflow.
    """
    with np.errstate(over="ignore"):  # an overflowed square sends us to the scaled form
        squares = np.einsum("...i,...i->...", x, x)[..., None]
    if np.all((squares > 1e-280) & (squares < 1e280)):
        return np.sqrt(squares)
    scale = np.max(np.abs(x), axis=-1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    return scale * np.sqrt(np.sum(np.square(x / safe), axis=-1, keepdims=True))


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inner product along the last axis with broadcasting; keeps the last axis."""
    return np.einsum("...i,...i->...", x, y)[..., None]




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



def _finite_gradients(*gradients: np.ndarray,
                      cause: str = "x and grad are too large") -> tuple[np.ndarray, ...]:
    """Return the gradients, or raise (naming ``cause``) if they overflowed float64."""
    if not all(np.all(np.isfinite(gradient)) for gradient in gradients):
        raise ValueError(f"{cause}: the gradients overflow float64")
    return gradients


def _feature_sizes_match(first: np.ndarray, second: np.ndarray, names: str) -> None:
    if first.shape[-1] != second.shape[-1]:
        raise ValueError(f"{names} must have the same last dimension, got shapes "
                         f"{first.shape} and {second.shape}")


#: Bytes of ``x`` per row block when one map is applied to many vectors: a block
#: stays in cache between computing its inner products and writing its result.
BLOCK_BYTES = 2**20


def _output_buffer(out: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Check a caller's ``out`` array (or allocate one) for a result of ``shape``."""
    if out is None:
        return np.empty(shape)
    if not isinstance(out, np.ndarray) or out.dtype != np.float64:
        raise TypeError(f"out must be a float64 numpy array, got {describe(out)}")
    if out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous array of shape {shape}, "
                         f"got {describe(out)}")
    return out


def _inner_products(x: np.ndarray, left: np.ndarray) -> np.ndarray:
    """``x @ left`` along the last axis, which also checks ``x`` for NaN and inf.

    A NaN or inf entry of ``x`` makes its inner products NaN or inf (``inf * 0`` is
    NaN), so checking these few numbers replaces a full pass of ``check_finite`` over
    ``x``; the warnings are silenced because the error below reports the problem.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        products = x @ left if left.ndim == 2 else np.einsum("...d,...dr->...r", x, left)
    if not np.all(np.isfinite(products)):
        check_finite(x, "x")  # names the bad entry
        raise ValueError("x is too large: its inner products overflow float64")
    return products


def _apply_low_rank(x: np.ndarray, sign: Any, left: np.ndarray, right: np.ndarray,
                    out: Any) -> np.ndarray:
    """``sign * x + (x @ left) @ right`` along the last axis, written into ``out``.

    ``left`` is (..., d, r) and ``right`` (..., r, d) with r = 1 or 2. When one map
    serves every vector (``left`` 2-D, scalar ``sign``), rows are processed in blocks
    of :data:`BLOCK_BYTES`, so ``x`` is read from memory once and ``out`` written
    once, and the update is one multithreaded BLAS call per block. Each block's inner
    products are taken before it is written, so ``out`` may be ``x`` itself.
    """
    shape = np.broadcast_shapes(x.shape, left.shape[:-2] + left.shape[-2:-1],
                                np.shape(sign)[:-1] + x.shape[-1:])
    out = _output_buffer(out, shape)
    if left.ndim == 2 and np.ndim(sign) == 0 and x.shape == shape and x.ndim > 1:
        d = x.shape[-1]
        rows_x, rows_out = x.reshape(-1, d), out.reshape(-1, d)
        rows = max(1, BLOCK_BYTES // (8 * d))
        right_t = np.asfortranarray(right.T)
        for start in range(0, len(rows_x), rows):
            block, out_block = rows_x[start:start + rows], rows_out[start:start + rows]
            coefficients = _inner_products(block, left)  # before writing: out may be x
            if out_block is not block:
                np.copyto(out_block, block)
            # out_block^T <- right^T coefficients^T + sign out_block^T, in place (BLAS gemm)
            updated = blas.dgemm(1.0, right_t, coefficients.T, beta=float(sign),
                                 c=out_block.T, overwrite_c=True)
            if not np.may_share_memory(updated, out_block):  # f2py had to copy
                out_block[...] = updated.T
        return out
    coefficients = _inner_products(x, left)
    update = np.einsum("...r,...rd->...d", coefficients, right)
    np.multiply(x, sign, out=out)
    out += update
    return out


# ------------------------------------------------------------------------- normalize


def normalize(x: Any) -> np.ndarray:
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
    grad = cotangent(grad, x.shape)
    norm = _norm(x)
    unit = x / norm
    with np.errstate(over="ignore", invalid="ignore"):  # reported by _finite_gradients
        grad_x = (grad - unit * _dot(unit, grad)) / norm
    return _finite_gradients(grad_x, cause="grad is too large or x too small")[0]


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
    x = as_float_array(x, "x", allow_nonfinite=True)  # checked where it is used
    check_last_axis(x, "x")
    v = _nonzero_vectors(v, "v")
    _feature_sizes_match(x, v, "x and v")
    broadcast_batch(x=x.shape, v=v.shape)
    return x, v


def reflect(x: Any, v: Any, *, out: np.ndarray | None = None) -> np.ndarray:
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
    unit = v / _norm(v)
    return _apply_low_rank(x, 1.0, unit[..., :, None], -2.0 * unit[..., None, :], out)


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
    check_finite(x, "x")
    grad = cotangent(grad, np.broadcast_shapes(x.shape, v.shape))
    norm = _norm(v)
    unit = v / norm
    with np.errstate(over="ignore", invalid="ignore"):  # reported by _finite_gradients
        grad_x, grad_unit = _reflect_unit_vjp(grad, x, unit)
        grad_v = _unit_vjp(grad_unit, unit, norm)
    return _finite_gradients(sum_to_shape(grad_x, x.shape), sum_to_shape(grad_v, v.shape),
                             cause="x and grad are too large, or v too small")


def reflection_matrix(v: Any) -> np.ndarray:
    r"""The dense Householder matrix :math:`H_v = I - 2 v v^T / (v^T v)`, shape (..., d, d).

    Use :func:`reflect` to apply it; this form is for tests and small problems.

    Examples
    --------
    >>> reflection_matrix([1.0, 1.0])
    array([[ 0., -1.],
           [-1.,  0.]])
    """
    v = _nonzero_vectors(v, "v")
    unit = v / _norm(v)
    return np.eye(v.shape[-1]) - 2.0 * unit[..., :, None] * unit[..., None, :]


# ------------------------------------------------------- orthogonal maps a -> b
#
# All four maps below are one formula with different signs: one or two reflections,
#
#     T x = sigma * H_v x            or, for the rotation,    T x = H_v H_a x,
#     v = a - s b,
#
# with a, b renormalised to unit length first:
#
#     map               s     sigma   then H_a   determinant
#     householder_map   +1    +1      no         -1
#     rotation_map      -1    +1      yes        +1
#     symmetric_map     -1    -1      no         (-1)^(d-1)
#     stable_map        +1 if a.b < 0 else -1 (= sigma), no
#
# (the rotation I + 2 b a^T - (a+b)(a+b)^T/(1+a.b) equals H_{a+b} H_a; as a product of
# two reflections it stays orthogonal to rounding even where the direction of a + b is
# inaccurate, which the literal formula does not). Where v is exactly zero (b = a for
# the reflection, b = -a for the others) the normal v is replaced by a documented
# vector orthogonal to a; see _perpendicular.

_KINDS = {"householder": (1.0, 1.0, False), "rotation": (-1.0, 1.0, True),
          "symmetric": (-1.0, -1.0, False)}


def _unit_pair(a: Any, b: Any, rtol: Any):
    """Validate unit vectors ``a`` and ``b``; return them with their renormalised
    versions and norms: ``(a, b, a_hat, b_hat, a_norm, b_norm)``."""
    rtol = as_scalar(rtol, "rtol", positive=True)
    a, b = as_float_array(a, "a"), as_float_array(b, "b")
    check_last_axis(a, "a")
    check_last_axis(b, "b")
    _feature_sizes_match(a, b, "a and b")
    broadcast_batch(a=a.shape[:-1], b=b.shape[:-1])
    check_unit_norm(a, "a", rtol)
    check_unit_norm(b, "b", rtol)
    a_norm, b_norm = _norm(a), _norm(b)
    return a, b, a / a_norm, b / b_norm, a_norm, b_norm


def _perpendicular(a_hat: np.ndarray) -> np.ndarray:
    """The fallback mirror normal ``e_j - a_j a`` (orthogonal to unit ``a``), where ``j``
    is the first index of the smallest ``|a_j|``; its norm is ``sqrt(1 - a_j^2) >=
    sqrt(1 - 1/d)``, so it is well conditioned for d >= 2."""
    j = np.argmin(np.abs(a_hat), axis=-1)[..., None]
    one_hot = (np.arange(a_hat.shape[-1]) == j).astype(np.float64)
    return one_hot - np.take_along_axis(a_hat, j, axis=-1) * a_hat


def _perpendicular_vjp(grad: np.ndarray, a_hat: np.ndarray) -> np.ndarray:
    """Gradient of :func:`_perpendicular` in ``a_hat``, with the index ``j`` held fixed."""
    j = np.argmin(np.abs(a_hat), axis=-1)[..., None]
    one_hot = (np.arange(a_hat.shape[-1]) == j).astype(np.float64)
    return -np.take_along_axis(a_hat, j, axis=-1) * grad - one_hot * _dot(grad, a_hat)


def _map_signs(kind: str, a_hat: np.ndarray, b_hat: np.ndarray):
    """``(s, sigma, then_reflect_a)`` of the table above; arrays (..., 1) for ``stable``."""
    if kind != "stable":
        return _KINDS[kind]
    s = np.where(_dot(a_hat, b_hat) < 0, 1.0, -1.0)
    s = float(s[0]) if s.ndim == 1 else s  # one map for all vectors: a plain sign
    return s, s, False


def _mirror_normal(kind: str, a_hat: np.ndarray, b_hat: np.ndarray):
    """The unit mirror normal ``v / ||v||`` for ``v = a - s b`` (or its documented
    fallback), ``||v||``, and the mask of the rows that use the fallback."""
    s, _, _ = _map_signs(kind, a_hat, b_hat)
    v = a_hat - s * b_hat
    degenerate = ~np.any(v != 0, axis=-1, keepdims=True)
    if np.any(degenerate):
        if a_hat.shape[-1] == 1:
            which = "b = a" if kind == "householder" else "b = -a"
            raise ValueError(f"{kind}_map is undefined at {which} when d = 1 (no such map "
                             f"exists); got a and b of dimension 1 with {which}")
        v = np.where(degenerate, _perpendicular(a_hat), v)
    norm = _norm(v)
    return v / norm, norm, degenerate


def _map_matrix(kind: str, a: Any, b: Any, rtol: Any) -> np.ndarray:
    """Dense ``T = sigma (I - 2 u u^T)``, times ``I - 2 a a^T`` for the rotation."""
    _, _, a_hat, b_hat, _, _ = _unit_pair(a, b, rtol)
    _, sigma, then_reflect_a = _map_signs(kind, a_hat, b_hat)
    unit, _, _ = _mirror_normal(kind, a_hat, b_hat)
    eye = np.eye(a_hat.shape[-1])
    T = np.asarray(sigma)[..., None] * (eye - 2.0 * unit[..., :, None] * unit[..., None, :])
    return T @ (eye - 2.0 * a_hat[..., :, None] * a_hat[..., None, :]) if then_reflect_a else T


def _map_inputs(x: Any, a: Any, b: Any, rtol: Any):
    a, b, a_hat, b_hat, a_norm, b_norm = _unit_pair(a, b, rtol)
    x = as_float_array(x, "x", allow_nonfinite=True)  # checked where it is used
    check_last_axis(x, "x", size=a.shape[-1])
    broadcast_batch(x=x.shape[:-1], a=a.shape[:-1], b=b.shape[:-1])
    return x, a, b, a_hat, b_hat, a_norm, b_norm


def _map_apply(kind: str, x: Any, a: Any, b: Any, rtol: Any, out: Any) -> np.ndarray:
    """Matrix-free ``sigma (x - 2 u <u, x>)``, or for the rotation
    ``H_u H_a x = x + <a, x> (4 <u, a> u - 2 a) - 2 <u, x> u``."""
    x, _, _, a_hat, b_hat, _, _ = _map_inputs(x, a, b, rtol)
    _, sigma, then_reflect_a = _map_signs(kind, a_hat, b_hat)
    unit, _, _ = _mirror_normal(kind, a_hat, b_hat)
    if not then_reflect_a:
        right = -2.0 * np.asarray(sigma)[..., None] * unit[..., None, :]
        return _apply_low_rank(x, sigma, unit[..., :, None], right, out)
    unit, a_hat = np.broadcast_arrays(unit, a_hat)
    left = np.stack([a_hat, unit], axis=-1)
    right = np.stack([4.0 * _dot(unit, a_hat) * unit - 2.0 * a_hat, -2.0 * unit], axis=-2)
    return _apply_low_rank(x, 1.0, left, right, out)


def _map_vjp(kind: str, grad: Any, x: Any, a: Any, b: Any, rtol: Any):
    """Gradients of :func:`_map_apply` in ``x``, ``a`` and ``b`` (see each public VJP)."""
    x, a, b, a_hat, b_hat, a_norm, b_norm = _map_inputs(x, a, b, rtol)
    check_finite(x, "x")
    grad = cotangent(grad, np.broadcast_shapes(x.shape, a.shape, b.shape))
    with np.errstate(over="ignore", invalid="ignore"):  # reported by _finite_gradients
        return _finite_gradients(*_map_gradients(kind, grad, x, a, b, a_hat, b_hat,
                                                 a_norm, b_norm))


def _map_gradients(kind, grad, x, a, b, a_hat, b_hat, a_norm, b_norm):
    """The chain rule of :func:`_map_vjp` on validated inputs."""
    s, sigma, then_reflect_a = _map_signs(kind, a_hat, b_hat)
    unit, v_norm, degenerate = _mirror_normal(kind, a_hat, b_hat)
    reflected = _reflect_unit(x, a_hat) if then_reflect_a else x
    grad_x, grad_unit = _reflect_unit_vjp(sigma * grad, reflected, unit)
    grad_v = _unit_vjp(grad_unit, unit, v_norm)
    grad_a_hat = np.where(degenerate, _perpendicular_vjp(grad_v, a_hat), grad_v)
    grad_b_hat = np.where(degenerate, 0.0, -s * grad_v)
    if then_reflect_a:
        grad_x, grad_a_unit = _reflect_unit_vjp(grad_x, x, a_hat)
        grad_a_hat = grad_a_hat + grad_a_unit
    return (sum_to_shape(grad_x, x.shape),
            sum_to_shape(_unit_vjp(grad_a_hat, a_hat, a_norm), a.shape),
            sum_to_shape(_unit_vjp(grad_b_hat, b_hat, b_norm), b.shape))


def householder_map(x: Any, a: Any, b: Any, *, rtol: float = UNIT_NORM_RTOL,
                    out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply the Householder reflection that swaps unit vectors ``a`` and ``b``.

    .. math::

        T_{ref} = I - \frac{(a-b)(a-b)^T}{1 - a^T b} = I - 2 u u^T,
        \qquad u = \frac{a - b}{\lVert a - b \rVert}

    computed as ``x - 2 u (u^T x)`` from the difference vector, never dividing by the
    cancelling ``1 - a.b``. :math:`T_{ref}` is symmetric, orthogonal and involutive,
    maps ``a -> b`` and ``b -> a``, fixes span(a, b)^perp, and has determinant -1.
    Cost O(d) per vector.

    **Degenerate input.** At ``b = a`` (exactly, after renormalisation) the formula is
    0/0. We return the reflection whose normal is ``e_j - a_j a`` with ``j`` the first
    index of the smallest ``|a_j|``: its mirror contains ``a``, so ``T a = a = b`` still
    holds and the determinant stays -1. In ``d = 1`` no reflection fixes ``a`` and
    ``b = a`` raises ``ValueError``.

    **Conditioning.** ``T`` is orthogonal to rounding everywhere, but near ``b = a`` the
    direction of ``a - b`` is dominated by rounding: ``||T a - b||`` is at most about
    ``8 eps (sqrt(d) + 1/||a - b||)`` with ``eps = 2^-52`` (measured constant about 4).
    Use :func:`stable_map` when ``b`` may be close to ``a``.

    Parameters
    ----------
    x : array_like, shape (..., d)
        Vectors to map.
    a, b : array_like, shape (..., d)
        Unit vectors (``| ||a|| - 1 | <= rtol``); they are renormalised before use, so
        the map is exactly that of ``a/||a||`` and ``b/||b||``. Batch dimensions of
        ``x``, ``a`` and ``b`` broadcast.
    rtol : float, optional
        Tolerance of the unit-norm check (default 1e-10).
    out : ndarray, optional
        A C-contiguous float64 array of the result's shape to write into (it may be
        ``x`` itself).

    Returns
    -------
    ndarray, shape ``broadcast(x, a, b)``

    References
    ----------
    Post "an orthogonal matrix that maps one unit vector to another" (research note
    rope2d_householder.md §C.4, §C.7).

    Examples
    --------
    >>> householder_map([1.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    array([0., 1.])
    """
    return _map_apply("householder", x, a, b, rtol, out)


def householder_map_vjp(grad: Any, x: Any, a: Any, b: Any, *,
                        rtol: float = UNIT_NORM_RTOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of :func:`householder_map` in ``x``, ``a`` and ``b``.

    With :math:`v = \hat a - \hat b` and :math:`(\bar x, \bar v)` from
    :func:`reflect_vjp`, :math:`\bar{\hat a} = \bar v`, :math:`\bar{\hat b} = -\bar v`,
    chained through the renormalisation (:func:`normalize_vjp`), so the gradients in
    ``a`` and ``b`` are tangent to the sphere. At the degenerate point ``b = a`` the
    map is discontinuous; the gradient returned there is that of the documented
    fallback (normal ``e_j - a_j a``, ``j`` held fixed), which does not depend on ``b``.

    Returns
    -------
    (grad_x, grad_a, grad_b), shaped like ``x``, ``a`` and ``b`` (broadcast dimensions summed).

    Examples
    --------
    >>> gx, ga, gb = householder_map_vjp([1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    >>> gx
    array([0., 1.])
    """
    return _map_vjp("householder", grad, x, a, b, rtol)


def householder_map_matrix(a: Any, b: Any, *, rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""Dense form of :func:`householder_map`: ``I - 2 u u^T``, shape (..., d, d).

    Same stable form, degenerate choice and conditioning as :func:`householder_map`.

    Examples
    --------
    >>> householder_map_matrix([1.0, 0.0], [0.0, 1.0])
    array([[0., 1.],
           [1., 0.]])
    """
    return _map_matrix("householder", a, b, rtol)


def rotation_map(x: Any, a: Any, b: Any, *, rtol: float = UNIT_NORM_RTOL,
                 out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply the rotation in the plane span(a, b) that takes unit ``a`` to unit ``b``.

    .. math::

        T_{rot} = I + 2 b a^T - \frac{(a+b)(a+b)^T}{1 + a^T b}
                = H_w H_a, \qquad w = \frac{a + b}{\lVert a + b \rVert}

    computed matrix-free as the two reflections ``H_w (H_a x)`` (``1 + a.b`` is never
    formed, and a product of two reflections is orthogonal to rounding even where the
    direction of ``a + b`` is inaccurate, unlike the literal formula). It rotates by the angle
    :math:`\theta = \arccos(a^T b)` in span(a, b) and is the identity on
    span(a, b)^perp; :math:`\det = +1`, :math:`T^T b = a`, and
    :math:`T_{rot} = H_b H_{a+b} = \exp(\theta K / \sin\theta)` with
    :math:`K = b a^T - a b^T`. In 3-D this is the minimal rotation of
    ``scipy.spatial.transform.Rotation.align_vectors``.

    **Degenerate input.** At ``b = -a`` the rotation plane is not determined. We
    rotate by pi in the plane spanned by ``a`` and ``p = e_j - a_j a`` (``j`` the first
    index of the smallest ``|a_j|``): ``T = I - 2 a a^T - 2 p p^T/||p||^2``. This needs
    ``d >= 2``; in ``d = 1``, ``b = -a`` raises ``ValueError``.

    **Conditioning.** Orthogonal to rounding everywhere (``det = +1`` exactly in exact
    arithmetic for any computed ``w``); near ``b = -a`` the plane is
    ill-determined and ``||T a - b||`` is at most about
    ``8 eps (sqrt(d) + 1/||a + b||)``. A det +1 map cannot avoid this (only a
    convention fixes the plane at ``b = -a``).

    Parameters
    ----------
    x : array_like, shape (..., d)
        Vectors to map.
    a, b : array_like, shape (..., d)
        Unit vectors (``| ||a|| - 1 | <= rtol``); they are renormalised before use, so
        the map is exactly that of ``a/||a||`` and ``b/||b||``. Batch dimensions of
        ``x``, ``a`` and ``b`` broadcast.
    rtol : float, optional
        Tolerance of the unit-norm check (default 1e-10).
    out : ndarray, optional
        A C-contiguous float64 array of the result's shape to write into (it may be
        ``x`` itself).

    Returns
    -------
    ndarray, shape ``broadcast(x, a, b)``

    References
    ----------
    Post "an orthogonal matrix that maps one unit vector to another" (research note
    rope2d_householder.md §C.4, §C.7).

    Examples
    --------
    Rotating e1 to e2 by 90 degrees sends e2 to -e1:

    >>> rotation_map([[1.0, 0.0], [0.0, 1.0]], [1.0, 0.0], [0.0, 1.0]).round(15) + 0.0
    array([[ 0.,  1.],
           [-1.,  0.]])
    """
    return _map_apply("rotation", x, a, b, rtol, out)


def rotation_map_vjp(grad: Any, x: Any, a: Any, b: Any, *,
                     rtol: float = UNIT_NORM_RTOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of :func:`rotation_map` in ``x``, ``a`` and ``b``.

    With :math:`y = H_s (H_{\hat a} x)`, :math:`s = \hat a + \hat b`, the chain rule
    through the two reflections (:func:`reflect_vjp` of each) gives :math:`\bar x`,
    :math:`\bar s` and a direct term in :math:`\hat a`; then
    :math:`\bar{\hat a} \mathrel{+}= \bar s`, :math:`\bar{\hat b} = \bar s`, chained through
    the renormalisation of ``a`` and ``b``. At ``b = -a`` the gradient is that of the
    documented fallback plane (``j`` fixed).

    Returns
    -------
    (grad_x, grad_a, grad_b), shaped like ``x``, ``a`` and ``b``.

    Examples
    --------
    >>> gx, ga, gb = rotation_map_vjp([0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    >>> gx
    array([1., 0.])
    """
    return _map_vjp("rotation", grad, x, a, b, rtol)


def rotation_map_matrix(a: Any, b: Any, *, rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""Dense form of :func:`rotation_map`: ``H_w H_a``, shape (..., d, d).

    Same stable form, degenerate choice and conditioning as :func:`rotation_map`.

    Examples
    --------
    >>> rotation_map_matrix([1.0, 0.0], [0.0, 1.0]).round(15) + 0.0
    array([[ 0., -1.],
           [ 1.,  0.]])
    """
    return _map_matrix("rotation", a, b, rtol)


def symmetric_map(x: Any, a: Any, b: Any, *, rtol: float = UNIT_NORM_RTOL,
                  out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply the post's preferred symmetric map from unit ``a`` to unit ``b``.

    .. math::

        T_{sym} = \frac{(a+b)(a+b)^T}{1 + a^T b} - I = 2 w w^T - I = -H_{a+b},
        \qquad w = \frac{a + b}{\lVert a + b \rVert}

    computed as ``2 w (w^T x) - x``. It is symmetric, orthogonal and involutive, maps
    ``a <-> b``, is ``+1`` on ``a + b`` and ``-1`` on everything orthogonal to it
    (so it *negates* span(a, b)^perp), and has determinant :math:`(-1)^{d-1}`. In
    ``d = 2`` it equals :func:`householder_map`.

    **Degenerate input.** At ``b = -a`` the formula is 0/0. We use ``w = p/||p||`` with
    ``p = e_j - a_j a`` (``j`` the first index of the smallest ``|a_j|``), giving
    ``T = 2 w w^T - I``, which still maps ``a -> -a = b`` with the same determinant.
    In ``d = 1``, ``b = -a`` raises ``ValueError`` (the only map is -1, of determinant -1).

    **Conditioning.** Orthogonal to rounding everywhere; ``||T a - b||`` is at most about
    ``8 eps (sqrt(d) + 1/||a + b||)``, so it is accurate whenever ``a.b >= 0``.

    Parameters
    ----------
    x : array_like, shape (..., d)
        Vectors to map.
    a, b : array_like, shape (..., d)
        Unit vectors (``| ||a|| - 1 | <= rtol``); they are renormalised before use, so
        the map is exactly that of ``a/||a||`` and ``b/||b||``. Batch dimensions of
        ``x``, ``a`` and ``b`` broadcast.
    rtol : float, optional
        Tolerance of the unit-norm check (default 1e-10).
    out : ndarray, optional
        A C-contiguous float64 array of the result's shape to write into (it may be
        ``x`` itself).

    Returns
    -------
    ndarray, shape ``broadcast(x, a, b)``

    References
    ----------
    Post "an orthogonal matrix that maps one unit vector to another", "the simplest
    form" (research note rope2d_householder.md §C.5, §C.7).

    Examples
    --------
    >>> symmetric_map([1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    array([0., 1., 0.])
    """
    return _map_apply("symmetric", x, a, b, rtol, out)


def symmetric_map_vjp(grad: Any, x: Any, a: Any, b: Any, *,
                      rtol: float = UNIT_NORM_RTOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of :func:`symmetric_map` in ``x``, ``a`` and ``b``.

    :math:`y = -H_s x` with :math:`s = \hat a + \hat b`: :math:`(\bar x, \bar s)` is
    :func:`reflect_vjp` of :math:`-\bar y`, :math:`\bar{\hat a} = \bar{\hat b} = \bar s`,
    chained through the renormalisation. At ``b = -a`` the gradient is that of the
    documented fallback (``j`` fixed).

    Returns
    -------
    (grad_x, grad_a, grad_b), shaped like ``x``, ``a`` and ``b``.

    Examples
    --------
    >>> gx, ga, gb = symmetric_map_vjp([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0],
    ...                                [0.0, 1.0, 0.0])
    >>> gx + 0.0
    array([ 0.,  0., -1.])
    """
    return _map_vjp("symmetric", grad, x, a, b, rtol)


def symmetric_map_matrix(a: Any, b: Any, *, rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""Dense form of :func:`symmetric_map`: ``2 w w^T - I``, shape (..., d, d).

    Same stable form, degenerate choice and conditioning as :func:`symmetric_map`.

    Examples
    --------
    >>> T = symmetric_map_matrix([1.0, 0.0], [0.0, 1.0])
    >>> np.allclose(T, [[0.0, 1.0], [1.0, 0.0]], rtol=0, atol=1e-15)
    True
    """
    return _map_matrix("symmetric", a, b, rtol)


def stable_map(x: Any, a: Any, b: Any, *, rtol: float = UNIT_NORM_RTOL,
               out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply an orthogonal ``T`` with ``T a = b``, accurate for every pair of unit vectors.

    The default map. It branches on the sign of :math:`c = a^T b`:

    .. math::

        T = \begin{cases}
            T_{sym} = 2 w w^T - I, \; w = \frac{a+b}{\lVert a+b \rVert} & c \ge 0 \\
            T_{ref} = I - 2 u u^T, \; u = \frac{a-b}{\lVert a-b \rVert} & c < 0
        \end{cases}

    so the normal is always built from a vector of squared length ``2 (1 + |c|) >= 2``:
    no cancellation and no degenerate input. Both branches are symmetric involutions
    with ``T a = b`` and ``T b = a``.

    **Determinant.** :math:`(-1)^{d-1}` where ``a.b >= 0`` and -1 where ``a.b < 0``: for
    even ``d`` always -1; for odd ``d`` it jumps from +1 to -1 across ``a.b = 0``. The
    matrix itself is discontinuous at ``a.b = 0`` in every ``d``. Use
    :func:`rotation_map` or :func:`householder_map` when a fixed determinant matters.

    **Conditioning.** ``||T a - b||`` is at most about ``8 eps sqrt(d)`` for all unit
    ``a``, ``b`` (``eps = 2^-52``), and ``T`` is orthogonal to rounding.

    Parameters
    ----------
    x : array_like, shape (..., d)
        Vectors to map.
    a, b : array_like, shape (..., d)
        Unit vectors (``| ||a|| - 1 | <= rtol``); they are renormalised before use, so
        the map is exactly that of ``a/||a||`` and ``b/||b||``. Batch dimensions of
        ``x``, ``a`` and ``b`` broadcast.
    rtol : float, optional
        Tolerance of the unit-norm check (default 1e-10).
    out : ndarray, optional
        A C-contiguous float64 array of the result's shape to write into (it may be
        ``x`` itself).

    Returns
    -------
    ndarray, shape ``broadcast(x, a, b)``

    References
    ----------
    Research note rope2d_householder.md §C.7 ("branch on the sign of c").

    Examples
    --------
    >>> stable_map([1.0, 0.0], [1.0, 0.0], [-1.0, 0.0])
    array([-1.,  0.])
    """
    return _map_apply("stable", x, a, b, rtol, out)


def stable_map_vjp(grad: Any, x: Any, a: Any, b: Any, *,
                   rtol: float = UNIT_NORM_RTOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of :func:`stable_map` in ``x``, ``a`` and ``b``: those of
    :func:`symmetric_map_vjp` where ``a.b >= 0`` and of :func:`householder_map_vjp`
    where ``a.b < 0`` (the map is discontinuous at ``a.b = 0``).

    Returns
    -------
    (grad_x, grad_a, grad_b), shaped like ``x``, ``a`` and ``b``.

    Examples
    --------
    >>> gx, ga, gb = stable_map_vjp([1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-1.0, 0.0])
    >>> gx
    array([-1.,  0.])
    """
    return _map_vjp("stable", grad, x, a, b, rtol)


def stable_map_matrix(a: Any, b: Any, *, rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""Dense form of :func:`stable_map`, shape (..., d, d); same branches and determinant.

    Examples
    --------
    >>> T = stable_map_matrix([1.0, 0.0], [0.0, -1.0])
    >>> np.allclose(T, [[0.0, -1.0], [-1.0, 0.0]], rtol=0, atol=1e-15)
    True
    """
    return _map_matrix("stable", a, b, rtol)



# ----------------------------------------------------------- Householder products
#
# LAPACK stores k reflectors H_i = I - tau_i y_i y_i^T in the columns of V: y_i is column
# i of V with an implicit 1 on the diagonal and zeros above it (the diagonal and upper
# triangle of V hold something else, e.g. R, and are never read).

#: Number of reflectors per compact-WY block in :func:`householder_product`.
BLOCK_SIZE = 32


def _product_inputs(V: Any, tau: Any) -> tuple[np.ndarray, np.ndarray]:
    V, tau = as_float_array(V, "V"), as_float_array(tau, "tau")
    if V.ndim < 2:
        raise ValueError(f"V must have at least 2 dimensions (..., m, n), got shape {V.shape}")
    check_last_axis(tau, "tau")
    m, n = V.shape[-2:]
    if m < n:
        raise ValueError(f"V must have at least as many rows as columns (m >= n), "
                         f"got shape {V.shape}")
    if tau.shape[-1] > n:
        raise ValueError(f"tau must hold at most n = {n} scalars (one per column of V), "
                         f"got shape {tau.shape}")
    batch = broadcast_batch(V=V.shape[:-2], tau=tau.shape[:-1])
    return (np.broadcast_to(V, batch + V.shape[-2:]),
            np.broadcast_to(tau, batch + tau.shape[-1:]))


def _reflector_vectors(V: np.ndarray, k: int) -> np.ndarray:
    """The vectors ``y_i`` as the columns of an (..., m, k) unit lower-trapezoidal array."""
    Y = np.tril(V[..., :k], -1)
    Y[..., np.arange(k), np.arange(k)] = 1.0
    return Y


def _block_reflector_factor(Y: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Upper-triangular ``T`` with ``H_1 ... H_b = I - Y T Y^T`` (LAPACK ``dlarft``,
    forward, columnwise): ``T[:i, i] = -tau_i T[:i, :i] (Y[:, :i]^T y_i)``."""
    gram = np.swapaxes(Y, -1, -2) @ Y
    T = np.zeros(tau.shape + tau.shape[-1:])
    for i in range(tau.shape[-1]):
        T[..., i, i] = tau[..., i]
        T[..., :i, i] = -tau[..., i, None] * np.einsum(
            "...ij,...j->...i", T[..., :i, :i], gram[..., :i, i])
    return T


def _identity_columns(batch: tuple[int, ...], m: int, n: int) -> np.ndarray:
    """``E = I[:, :n]`` broadcast to ``batch``, as a writable array."""
    return np.broadcast_to(np.eye(m, n), batch + (m, n)).copy()


def householder_product(V: Any, tau: Any) -> np.ndarray:
    r"""First ``n`` columns of a product of ``k`` Householder reflectors (LAPACK ``xORGQR``).

    .. math::

        Q = H_1 H_2 \cdots H_k \, I_{m \times n}, \qquad
        H_i = I_m - \tau_i\, y_i y_i^T

    where ``y_i`` is column ``i`` of ``V`` with the entries above the diagonal replaced
    by 0 and the diagonal entry by 1 (only the strictly lower triangle of the first
    ``k`` columns is read). ``tau`` is used as given: ``tau_i = 0`` gives ``H_i = I``,
    and a ``tau_i`` other than ``2 / ||y_i||^2`` gives a well-defined non-orthogonal
    factor. This is the definition of ``xORGQR`` / ``scipy.linalg.lapack.dorgqr`` and of
    ``torch.linalg.householder_product``; with ``(V, tau)`` from :func:`householder_qr`
    (``xGEQRF``) the result is the ``Q`` of the reduced QR factorisation of the input.

    Computed in compact-WY blocks of :data:`BLOCK_SIZE` reflectors, last block first:
    each block is ``I - Y T Y^T`` (``T`` from the ``dlarft`` recurrence) applied with
    matrix products to the trailing part ``Q[j0:, j0:]``, the only part it changes
    (columns ``c < j0`` are still ``e_c`` and rows ``< j0`` of later columns are still 0).
    ``O(m n k)`` flops.

    Parameters
    ----------
    V : array_like, shape (..., m, n), m >= n
    tau : array_like, shape (..., k), k <= n
        Batch dimensions of ``V`` and ``tau`` broadcast.

    Returns
    -------
    ndarray, shape (..., m, n)

    Raises
    ------
    ValueError
        If ``m < n`` or ``k > n``, if the batch shapes do not broadcast, if an input is
        not finite, or if the product of non-orthogonal factors exceeds the float64
        range (LAPACK would return inf there).

    References
    ----------
    LAPACK ``dorgqr`` / ``dorg2r`` / ``dlarft`` / ``dlarfb``; Schreiber & Van Loan,
    "A storage-efficient WY representation for products of Householder
    transformations", SIAM J. Sci. Stat. Comput. 10 (1989).

    Examples
    --------
    >>> householder_product([[0.0], [1.0]], [1.0])
    array([[ 0.],
           [-1.]])
    """
    V, tau = _product_inputs(V, tau)
    m, n = V.shape[-2:]
    k = tau.shape[-1]
    Q = _identity_columns(V.shape[:-2], m, n)
    Y = _reflector_vectors(V, k)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        for j0 in reversed(range(0, k, BLOCK_SIZE)):
            j1 = min(j0 + BLOCK_SIZE, k)
            block = Y[..., j0:, j0:j1]
            T = _block_reflector_factor(block, tau[..., j0:j1])
            trailing = Q[..., j0:, j0:]
            trailing -= block @ (T @ (np.swapaxes(block, -1, -2) @ trailing))
    _check_no_overflow(Q, "the product")
    return Q


def _check_no_overflow(result: np.ndarray, what: str) -> None:
    """Raise if non-orthogonal factors (``tau_i != 2 / ||y_i||^2``) grew ``result`` past
    the float64 range; orthogonal factors never do."""
    if not np.all(np.isfinite(result)):
        raise ValueError(f"V and tau give {what} too large for float64 (factors with "
                         f"tau_i != 2/||y_i||^2 are not orthogonal and can grow)")


def _vector_times_matrix(y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``y^T M`` for stacks: (..., m) and (..., m, n) -> (..., n), through BLAS."""
    return (y[..., None, :] @ M)[..., 0, :]


def _apply_reflector(M: np.ndarray, y: np.ndarray, tau_i: np.ndarray, i: int) -> None:
    """``M <- (I - tau_i y y^T) M`` in place, touching only rows ``i:`` (where ``y`` lives)."""
    rows = M[..., i:, :]
    coefficients = _vector_times_matrix(y[..., i:], rows)
    rows -= tau_i[..., None, None] * y[..., i:, None] * coefficients[..., None, :]


def householder_product_vjp(grad: Any, V: Any, tau: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradients of :func:`householder_product` in ``V`` and ``tau``.

    Write :math:`Q = P_i H_i S_i` with :math:`P_i = H_1 \cdots H_{i-1}` and
    :math:`S_i = H_{i+1} \cdots H_k E`, and let :math:`L_i = P_i^T G` for the output
    cotangent ``G``. With :math:`p_i = S_i^T y_i` and :math:`q_i = L_i^T y_i`:

    .. math::

        \bar\tau_i = -p_i^T q_i, \qquad
        \bar y_i = -\tau_i \bigl(S_i q_i + L_i p_i\bigr)

    and the gradient in ``V`` is :math:`\bar y_i` on the strictly lower part of column
    ``i < k``, 0 elsewhere (the diagonal, the upper triangle and columns ``>= k`` are not
    read). Three sweeps of rank-one updates (``S`` backwards, ``L`` forwards, ``S``
    backwards) give all ``p_i``, ``q_i``; no reflector is ever inverted, so the gradient
    is finite for every ``tau`` (PyTorch's backward divides by ``tau_i ||y_i||^2 - 1``).

    Returns
    -------
    (grad_V, grad_tau), shaped like ``V`` and ``tau`` (broadcast dimensions summed).

    References
    ----------
    PyTorch ``householder_product_backward`` (FunctionsManual.cpp) states the same
    formulas with ``K_i = S_i G^T P_i``.

    Examples
    --------
    ``Q[0, 0] = 1 - tau_1`` here, so its derivative in ``tau_1`` is -1:

    >>> grad_V, grad_tau = householder_product_vjp([[1.0], [0.0]], [[0.0], [1.0]], [1.0])
    >>> grad_tau
    array([-1.])
    """
    V_in, tau_in = as_float_array(V, "V"), as_float_array(tau, "tau")
    V, tau = _product_inputs(V_in, tau_in)
    n, k = V.shape[-1], tau.shape[-1]
    G = cotangent(grad, V.shape).copy()
    Y = _reflector_vectors(V, k)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        grad_Y, grad_tau = _product_sweeps(G, Y, tau, n)
    _check_no_overflow(grad_Y, "gradients")
    _check_no_overflow(grad_tau, "gradients")
    grad_V = np.zeros(V.shape)
    grad_V[..., :k] = np.tril(grad_Y, -1)
    return sum_to_shape(grad_V, V_in.shape), sum_to_shape(grad_tau, tau_in.shape)


def _product_sweeps(G: np.ndarray, Y: np.ndarray, tau: np.ndarray, n: int):
    """The three sweeps of :func:`householder_product_vjp`; returns the gradients in
    the reflector vectors ``Y`` (full columns) and in ``tau``."""
    m, k = Y.shape[-2:]
    project = lambda M, i: _vector_times_matrix(Y[..., i:, i], M[..., i:, :])  # noqa: E731
    times = lambda M, vector: (M @ vector[..., :, None])[..., 0]  # noqa: E731
    p, q = np.empty(tau.shape + (n,)), np.empty(tau.shape + (n,))
    grad_Y, grad_tau = np.zeros(Y.shape), np.empty(tau.shape)
    S = _identity_columns(Y.shape[:-2], m, n)
    for i in reversed(range(k)):
        p[..., i, :] = project(S, i)
        _apply_reflector(S, Y[..., :, i], tau[..., i], i)
    for i in range(k):
        q[..., i, :] = project(G, i)
        grad_tau[..., i] = -np.sum(p[..., i, :] * q[..., i, :], axis=-1)
        grad_Y[..., :, i] = -tau[..., i, None] * times(G, p[..., i, :])
        _apply_reflector(G, Y[..., :, i], tau[..., i], i)
    S = _identity_columns(Y.shape[:-2], m, n)
    for i in reversed(range(k)):
        grad_Y[..., :, i] -= tau[..., i, None] * times(S, q[..., i, :])
        _apply_reflector(S, Y[..., :, i], tau[..., i], i)
    return grad_Y, grad_tau


def householder_qr(A: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Householder QR factorisation in LAPACK ``xGEQRF`` storage.

    Returns ``(V, tau)`` with ``A = H_1 \cdots H_k R``, ``k = min(m, n)``: ``R`` is the
    upper triangle of ``V``, and reflector ``i`` is ``H_i = I - tau_i y_i y_i^T`` with
    ``y_i = (0, ..., 0, 1, V[i+1:, i])``. Each reflector follows ``dlarfg``: for the
    column ``(alpha, x)`` below the diagonal,

    .. math::

        \beta = -\operatorname{sign}(\alpha) \sqrt{\alpha^2 + \lVert x\rVert^2}, \quad
        \tau = \frac{\beta - \alpha}{\beta}, \quad
        v = \frac{x}{\alpha - \beta}, \quad R_{ii} = \beta

    (``alpha - beta`` never cancels), and ``x = 0`` gives ``tau = 0`` (``H_i = I``) with
    ``R_ii = alpha`` of either sign. So ``householder_product(V[..., :, :k], tau)`` is the
    ``Q`` of the reduced QR factorisation (for ``m >= n``, ``V`` itself), and ``R`` has the
    signs of ``scipy.linalg.qr`` and ``numpy.linalg.qr``, both of which call ``xGEQRF``.

    Parameters
    ----------
    A : array_like, shape (..., m, n)

    Returns
    -------
    V : ndarray, shape (..., m, n)
    tau : ndarray, shape (..., min(m, n))

    References
    ----------
    LAPACK ``dgeqrf`` / ``dgeqr2`` / ``dlarfg``; Golub & Van Loan, *Matrix
    Computations*, §5.2.

    Examples
    --------
    >>> V, tau = householder_qr([[3.0], [4.0]])
    >>> V, tau
    (array([[-5. ],
           [ 0.5]]), array([1.6]))
    """
    R = as_float_array(A, "A")
    if R.ndim < 2:
        raise ValueError(f"A must have at least 2 dimensions (..., m, n), got shape {R.shape}")
    R = R.copy()
    m, n = R.shape[-2:]
    tau = np.zeros(R.shape[:-2] + (min(m, n),))
    for j in range(min(m, n) - (m <= n)):  # a 1-row column needs no reflector (tau = 0)
        alpha, x = R[..., j, j], R[..., j + 1:, j]
        x_norm = _norm(x)[..., 0]
        reflect_here = x_norm > 0
        beta = -np.copysign(np.hypot(alpha, x_norm), alpha)
        safe_beta = np.where(reflect_here, beta, 1.0)
        tau[..., j] = np.where(reflect_here, (beta - alpha) / safe_beta, 0.0)
        x /= np.where(reflect_here, alpha - beta, 1.0)[..., None]
        R[..., j, j] = np.where(reflect_here, beta, alpha)
        y = np.concatenate([np.ones(R.shape[:-2] + (1,)), x], axis=-1)
        _apply_reflector(R[..., j:, j + 1:], y, tau[..., j], 0)
    return R, tau
