"""Orthogonal maps that send one unit vector ``a`` to another, ``b``, matrix-free.

Su Jianlin's post "an orthogonal matrix that maps one unit vector to another"
(https://kexue.fm/archives/8453) derives three such maps: the Householder reflection
that swaps ``a`` and ``b`` (:func:`householder_map`, det -1), the rotation in the plane
span(a, b) (:func:`rotation_map`, det +1), and its preferred symmetric form
(:func:`symmetric_map`, det :math:`(-1)^{d-1}`); :func:`stable_map` branches between the
two symmetric ones so that it is accurate for every pair. Each is applied matrix-free
in O(d) per vector and has a dense form (``*_matrix``) and a hand-written VJP
(``*_vjp``). The four are one formula with a table of signs (below); the textbook forms
that define them, plain reflections one after the other, are in
:mod:`refimpl.householder.map_definitions`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import UNIT_NORM_RTOL, check_finite
from refimpl.householder._common import (
    apply_low_rank,
    dot,
    finite_gradients,
    map_inputs,
    norm,
    perpendicular_vjp,
    reflect_unit,
    reflect_unit_vjp,
    unit_pair,
    unit_vjp,
    with_fallback,
)

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
# vector orthogonal to a; see refimpl.householder._common.perpendicular.

_KINDS = {"householder": (1.0, 1.0, False), "rotation": (-1.0, 1.0, True),
          "symmetric": (-1.0, -1.0, False)}

#: ``(s, sigma, then_reflect_a)``: one row of the table above.
_Signs = tuple[float | np.ndarray, float | np.ndarray, bool]


def _map_signs(kind: str, a_hat: np.ndarray, b_hat: np.ndarray) -> _Signs:
    """``(s, sigma, then_reflect_a)`` of the table above; arrays (..., 1) for ``stable``."""
    if kind != "stable":
        return _KINDS[kind]
    s = np.where(dot(a_hat, b_hat) < 0, 1.0, -1.0)
    sign = float(s[0]) if s.ndim == 1 else s  # one map for all vectors: a plain sign
    return sign, sign, False


def _mirror_normal(kind: str, a_hat: np.ndarray,
                   b_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unit mirror normal ``v / ||v||`` for ``v = a - s b`` (or its documented
    fallback), ``||v||``, and the mask of the rows that use the fallback."""
    s, _, _ = _map_signs(kind, a_hat, b_hat)
    v, degenerate = with_fallback(kind, a_hat - s * b_hat, a_hat)
    v_norm = norm(v)
    return v / v_norm, v_norm, degenerate


def _map_matrix(kind: str, a: ArrayLike, b: ArrayLike, rtol: float) -> np.ndarray:
    """Dense ``T = sigma (I - 2 u u^T)``, times ``I - 2 a a^T`` for the rotation."""
    _, _, a_hat, b_hat, _, _ = unit_pair(a, b, rtol)
    _, sigma, then_reflect_a = _map_signs(kind, a_hat, b_hat)
    unit, _, _ = _mirror_normal(kind, a_hat, b_hat)
    eye = np.eye(a_hat.shape[-1])
    T = np.asarray(sigma)[..., None] * (eye - 2.0 * unit[..., :, None] * unit[..., None, :])
    return T @ (eye - 2.0 * a_hat[..., :, None] * a_hat[..., None, :]) if then_reflect_a else T


def _map_apply(kind: str, x: ArrayLike, a: ArrayLike, b: ArrayLike, rtol: float,
               out: np.ndarray | None) -> np.ndarray:
    """Matrix-free ``sigma (x - 2 u <u, x>)``, or for the rotation
    ``H_u H_a x = x + <a, x> (4 <u, a> u - 2 a) - 2 <u, x> u``."""
    x, _, _, a_hat, b_hat, _, _ = map_inputs(x, a, b, rtol)
    _, sigma, then_reflect_a = _map_signs(kind, a_hat, b_hat)
    unit, _, _ = _mirror_normal(kind, a_hat, b_hat)
    if not then_reflect_a:
        right = -2.0 * np.asarray(sigma)[..., None] * unit[..., None, :]
        return apply_low_rank(x, sigma, unit[..., :, None], right, out)
    unit, a_hat = np.broadcast_arrays(unit, a_hat)
    left = np.stack([a_hat, unit], axis=-1)
    right = np.stack([4.0 * dot(unit, a_hat) * unit - 2.0 * a_hat, -2.0 * unit], axis=-2)
    return apply_low_rank(x, 1.0, left, right, out)


def _map_vjp(kind: str, grad: ArrayLike, x: ArrayLike, a: ArrayLike, b: ArrayLike,
             rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`_map_apply` in ``x``, ``a`` and ``b`` (see each public VJP)."""
    x, a, b, a_hat, b_hat, a_norm, b_norm = map_inputs(x, a, b, rtol)
    check_finite(x, "x")
    grad = cotangent(grad, np.broadcast_shapes(x.shape, a.shape, b.shape))
    with np.errstate(over="ignore", invalid="ignore"):  # reported by finite_gradients
        grad_x, grad_a, grad_b = finite_gradients(*_map_gradients(
            kind, grad, x, a, b, a_hat, b_hat, a_norm, b_norm))
    return grad_x, grad_a, grad_b


def _map_gradients(kind: str, grad: np.ndarray, x: np.ndarray, a: np.ndarray, b: np.ndarray,
                   a_hat: np.ndarray, b_hat: np.ndarray, a_norm: np.ndarray,
                   b_norm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The chain rule of :func:`_map_vjp` on validated inputs."""
    s, sigma, then_reflect_a = _map_signs(kind, a_hat, b_hat)
    unit, v_norm, degenerate = _mirror_normal(kind, a_hat, b_hat)
    reflected = reflect_unit(x, a_hat) if then_reflect_a else x
    grad_x, grad_unit = reflect_unit_vjp(sigma * grad, reflected, unit)
    grad_v = unit_vjp(grad_unit, unit, v_norm)
    grad_a_hat = np.where(degenerate, perpendicular_vjp(grad_v, a_hat), grad_v)
    grad_b_hat = np.where(degenerate, 0.0, -s * grad_v)
    if then_reflect_a:
        grad_x, grad_a_unit = reflect_unit_vjp(grad_x, x, a_hat)
        grad_a_hat = grad_a_hat + grad_a_unit
    return (sum_to_shape(grad_x, x.shape),
            sum_to_shape(unit_vjp(grad_a_hat, a_hat, a_norm), a.shape),
            sum_to_shape(unit_vjp(grad_b_hat, b_hat, b_norm), b.shape))


def householder_map(x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
                    rtol: float = UNIT_NORM_RTOL, out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply the Householder reflection that swaps unit vectors ``a`` and ``b``.

    .. math::

        T_{ref} = I - \frac{(a-b)(a-b)^T}{1 - a^T b} = I - 2 u u^T,
        \qquad u = \frac{a - b}{\lVert a - b \rVert}

    computed as ``x - 2 u (u^T x)`` from the difference vector, never dividing by the
    cancelling ``1 - a.b``. :math:`T_{ref}` is symmetric, orthogonal and involutive,
    maps ``a -> b`` and ``b -> a``, fixes span(a, b)^perp, and has determinant -1.
    Cost O(d) per vector. Defined by :func:`householder_map_definition`; this fast form
    goes through the sign table of this module and, for one map applied to many
    vectors, one BLAS matrix product per block of rows.

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
    Su Jianlin, "an orthogonal matrix that maps one unit vector to another" (in
    Chinese), 2021, https://kexue.fm/archives/8453.

    Examples
    --------
    >>> householder_map([1.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    array([0., 1.])
    """
    return _map_apply("householder", x, a, b, rtol, out)


def householder_map_vjp(grad: ArrayLike, x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
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


def householder_map_matrix(a: ArrayLike, b: ArrayLike, *,
                           rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""Dense form of :func:`householder_map`: ``I - 2 u u^T``, shape (..., d, d).

    Same stable form, degenerate choice and conditioning as :func:`householder_map`.

    Examples
    --------
    >>> householder_map_matrix([1.0, 0.0], [0.0, 1.0])
    array([[0., 1.],
           [1., 0.]])
    """
    return _map_matrix("householder", a, b, rtol)


def rotation_map(x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
                 rtol: float = UNIT_NORM_RTOL, out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply the rotation in the plane span(a, b) that takes unit ``a`` to unit ``b``.

    .. math::

        T_{rot} = I + 2 b a^T - \frac{(a+b)(a+b)^T}{1 + a^T b}
                = H_w H_a, \qquad w = \frac{a + b}{\lVert a + b \rVert}

    computed matrix-free as the two reflections ``H_w (H_a x)`` (``1 + a.b`` is never
    formed, and a product of two reflections is orthogonal to rounding even where the
    direction of ``a + b`` is inaccurate, unlike the literal formula). Defined by
    :func:`rotation_map_definition`, which applies the two reflections one after the
    other; this fast form goes through the sign table of this module and folds both into
    one rank-2 update, one BLAS matrix product per block of rows. It rotates by the angle
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
    Su Jianlin, "an orthogonal matrix that maps one unit vector to another" (in
    Chinese), 2021, https://kexue.fm/archives/8453.

    Examples
    --------
    Rotating e1 to e2 by 90 degrees sends e2 to -e1:

    >>> rotation_map([[1.0, 0.0], [0.0, 1.0]], [1.0, 0.0], [0.0, 1.0]).round(15) + 0.0
    array([[ 0.,  1.],
           [-1.,  0.]])
    """
    return _map_apply("rotation", x, a, b, rtol, out)


def rotation_map_vjp(grad: ArrayLike, x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
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


def rotation_map_matrix(a: ArrayLike, b: ArrayLike, *, rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""Dense form of :func:`rotation_map`: ``H_w H_a``, shape (..., d, d).

    Same stable form, degenerate choice and conditioning as :func:`rotation_map`.

    Examples
    --------
    >>> rotation_map_matrix([1.0, 0.0], [0.0, 1.0]).round(15) + 0.0
    array([[ 0., -1.],
           [ 1.,  0.]])
    """
    return _map_matrix("rotation", a, b, rtol)


def symmetric_map(x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
                  rtol: float = UNIT_NORM_RTOL, out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply the post's preferred symmetric map from unit ``a`` to unit ``b``.

    .. math::

        T_{sym} = \frac{(a+b)(a+b)^T}{1 + a^T b} - I = 2 w w^T - I = -H_{a+b},
        \qquad w = \frac{a + b}{\lVert a + b \rVert}

    computed as ``2 w (w^T x) - x``. It is symmetric, orthogonal and involutive, maps
    ``a <-> b``, is ``+1`` on ``a + b`` and ``-1`` on everything orthogonal to it
    (so it *negates* span(a, b)^perp), and has determinant :math:`(-1)^{d-1}`. In
    ``d = 2`` it equals :func:`householder_map`. Defined by
    :func:`symmetric_map_definition` (the fast form goes through the sign table and BLAS).

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
    Su Jianlin, "an orthogonal matrix that maps one unit vector to another" (in
    Chinese), 2021, https://kexue.fm/archives/8453, its "simplest form".

    Examples
    --------
    >>> symmetric_map([1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    array([0., 1., 0.])
    """
    return _map_apply("symmetric", x, a, b, rtol, out)


def symmetric_map_vjp(grad: ArrayLike, x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
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


def symmetric_map_matrix(a: ArrayLike, b: ArrayLike, *, rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""Dense form of :func:`symmetric_map`: ``2 w w^T - I``, shape (..., d, d).

    Same stable form, degenerate choice and conditioning as :func:`symmetric_map`.

    Examples
    --------
    >>> T = symmetric_map_matrix([1.0, 0.0], [0.0, 1.0])
    >>> np.allclose(T, [[0.0, 1.0], [1.0, 0.0]], rtol=0, atol=1e-15)
    True
    """
    return _map_matrix("symmetric", a, b, rtol)


def stable_map(x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
               rtol: float = UNIT_NORM_RTOL, out: np.ndarray | None = None) -> np.ndarray:
    r"""Apply an orthogonal ``T`` with ``T a = b``, accurate for every pair of unit vectors.

    The default map. It branches on the sign of :math:`c = a^T b`:

    .. math::

        T = \begin{cases}
            T_{sym} = 2 w w^T - I, \; w = \frac{a+b}{\lVert a+b \rVert} & c \ge 0 \\
            T_{ref} = I - 2 u u^T, \; u = \frac{a-b}{\lVert a-b \rVert} & c < 0
        \end{cases}

    so the normal is always built from a vector of squared length ``2 (1 + |c|) >= 2``:
    no cancellation and no degenerate input. Both branches are symmetric involutions
    with ``T a = b`` and ``T b = a``. Defined by :func:`stable_map_definition` (the fast
    form goes through the sign table and BLAS).

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
    The two branches are :func:`symmetric_map` and :func:`householder_map` from
    https://kexue.fm/archives/8453. Choosing the sign that adds instead of cancels is
    the choice of LAPACK ``dlarfg`` for a Householder vector (Golub & Van Loan,
    *Matrix Computations*, 4th ed., §5.1.3).

    Examples
    --------
    >>> stable_map([1.0, 0.0], [1.0, 0.0], [-1.0, 0.0])
    array([-1.,  0.])
    """
    return _map_apply("stable", x, a, b, rtol, out)


def stable_map_vjp(grad: ArrayLike, x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
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


def stable_map_matrix(a: ArrayLike, b: ArrayLike, *, rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""Dense form of :func:`stable_map`, shape (..., d, d); same branches and determinant.

    Examples
    --------
    >>> T = stable_map_matrix([1.0, 0.0], [0.0, -1.0])
    >>> np.allclose(T, [[0.0, -1.0], [-1.0, 0.0]], rtol=0, atol=1e-15)
    True
    """
    return _map_matrix("stable", a, b, rtol)
