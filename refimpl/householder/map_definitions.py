r"""The textbook forms of the a -> b maps: plain reflections, one after the other.

Each map of :mod:`refimpl.householder.maps` is one or two Householder reflections
:math:`H_v x = x - 2 v (v^T x) / (v^T v)` (:func:`reflect_definition`) whose normals are
built from the unit vectors ``a`` and ``b``; the functions here write exactly that and
nothing more. The fast forms compute the same maps through a table of signs and BLAS,
and property tests tie each to its definition here.

Arguments are validated as in the fast forms (``a`` and ``b`` unit within ``rtol``, then
renormalised), and the degenerate inputs use the same documented fallback normal
``e_j - a_j a`` (``j`` the first index of the smallest ``|a_j|``) where the normal below
is exactly zero.

References
----------
Su Jianlin, "an orthogonal matrix that maps one unit vector to another" (in Chinese),
2021, https://kexue.fm/archives/8453.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import UNIT_NORM_RTOL, check_finite
from refimpl.householder._common import map_inputs, with_fallback
from refimpl.householder.reflection import reflect_definition


def _unit_inputs(x: ArrayLike, a: ArrayLike, b: ArrayLike,
                 rtol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated finite ``x`` and the renormalised unit vectors ``a``, ``b``."""
    x, _, _, a_hat, b_hat, _, _ = map_inputs(x, a, b, rtol)
    check_finite(x, "x")
    return x, a_hat, b_hat


def householder_map_definition(x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
                               rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""The definition of :func:`householder_map`: the reflection with normal ``a - b``.

    .. math::

        T_{ref}\, x = H_{a - b}\, x

    (normal ``e_j - a_j a`` at ``b = a``; ``d = 1`` with ``b = a`` raises).

    Examples
    --------
    >>> householder_map_definition([1.0, 0.0], [1.0, 0.0], [0.0, 1.0])
    array([0., 1.])
    """
    x, a, b = _unit_inputs(x, a, b, rtol)
    normal, _ = with_fallback("householder", a - b, a)
    return reflect_definition(x, normal)


def rotation_map_definition(x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
                            rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""The definition of :func:`rotation_map`: reflect in ``a``, then in ``w = a + b``.

    .. math::

        T_{rot}\, x = H_w\, (H_a\, x), \qquad w = a + b

    :math:`H_a` sends ``a`` to ``-a``, and :math:`H_w` sends ``-a`` to ``b`` (``w`` is
    the sum of ``a`` and ``b``, so ``-a`` and ``b`` are mirror images in the hyperplane
    orthogonal to it). At ``b = -a`` the normal ``w`` is zero and ``e_j - a_j a`` takes its
    place: a rotation by pi in the plane of ``a`` and ``e_j - a_j a``; ``d = 1`` with
    ``b = -a`` raises.

    Examples
    --------
    Rotating e1 to e2 by 90 degrees sends e2 to -e1:

    >>> rotation_map_definition([0.0, 1.0], [1.0, 0.0], [0.0, 1.0])
    array([-1.,  0.])
    """
    x, a, b = _unit_inputs(x, a, b, rtol)
    w, _ = with_fallback("rotation", a + b, a)
    return reflect_definition(reflect_definition(x, a), w)


def symmetric_map_definition(x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
                             rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""The definition of :func:`symmetric_map`: minus the reflection with normal ``a + b``.

    .. math::

        T_{sym}\, x = -H_{a + b}\, x

    (normal ``e_j - a_j a`` at ``b = -a``; ``d = 1`` with ``b = -a`` raises).

    Examples
    --------
    >>> symmetric_map_definition([1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]) + 0.0
    array([0., 1., 0.])
    """
    x, a, b = _unit_inputs(x, a, b, rtol)
    normal, _ = with_fallback("symmetric", a + b, a)
    return -reflect_definition(x, normal)


def stable_map_definition(x: ArrayLike, a: ArrayLike, b: ArrayLike, *,
                          rtol: float = UNIT_NORM_RTOL) -> np.ndarray:
    r"""The definition of :func:`stable_map`: the symmetric map or the reflection, by
    the sign of :math:`a^T b`.

    .. math::

        T x = \begin{cases} -H_{a + b}\, x & a^T b \ge 0 \\
                            H_{a - b}\, x & a^T b < 0 \end{cases}

    The chosen normal has squared length :math:`2 (1 + |a^T b|) \ge 2`, so there is no
    degenerate input.

    Examples
    --------
    >>> stable_map_definition([1.0, 0.0], [1.0, 0.0], [-1.0, 0.0])
    array([-1.,  0.])
    """
    x, a, b = _unit_inputs(x, a, b, rtol)
    acute = np.sum(a * b, axis=-1, keepdims=True) >= 0
    reflected = reflect_definition(x, np.where(acute, a + b, a - b))
    return np.where(acute, -reflected, reflected)
