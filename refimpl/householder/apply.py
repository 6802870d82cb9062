r"""Apply the orthogonal factor of a QR factorisation without forming it (LAPACK ``xORMQR``).

``(V, tau)`` in LAPACK's storage (as :func:`~refimpl.householder.householder_qr` and
``xGEQRF`` return them) define :math:`Q = H_1 H_2 \cdots H_k`, an ``r x r`` matrix,
:math:`H_i = I - \tau_i y_i y_i^T`. :func:`householder_apply` computes :math:`Q X`,
:math:`Q^T X`, :math:`X Q` or :math:`X Q^T` in compact-WY blocks of :data:`BLOCK_SIZE`
reflectors, never forming ``Q`` (``O(r p k)`` flops for a ``p``-column ``X`` instead of
``O(r^2 k)`` to form it); :func:`householder_apply_definition` applies the reflectors
one at a time, and :func:`householder_apply_vjp` is the gradient in ``V``, ``tau`` and
``X``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import (
    as_float_array,
    broadcast_batch,
    check_last_axis,
    check_ndim,
    describe,
)
from refimpl.householder._common import (
    block_ranges,
    block_reflector_factor,
    check_no_overflow,
    reflector_gradients,
    reflector_vectors,
)

#: Number of reflectors per compact-WY block in :func:`householder_apply` and its VJP
#: (LAPACK's ``dormqr`` uses 32 too, from ``ilaenv``).
BLOCK_SIZE = 32


def _apply_inputs(V: ArrayLike, tau: ArrayLike, X: ArrayLike, side: str,
                  transpose: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the arguments of :func:`householder_apply`; return ``V``, ``tau`` and
    ``X`` broadcast to their common batch shape."""
    if side not in ("left", "right") or not isinstance(side, str):
        raise ValueError(f"side must be one of 'left', 'right', got {describe(side)} (LAPACK's "
                         f"side='L'/'R' and torch.ormqr's left=True/False are side='left'/'right')")
    if not isinstance(transpose, (bool, np.bool_)):
        raise TypeError(f"transpose must be True or False, got {describe(transpose)} (LAPACK's "
                        f"trans='T' is transpose=True)")
    V, tau, X = as_float_array(V, "V"), as_float_array(tau, "tau"), as_float_array(X, "X")
    check_ndim(V, "V", 2)
    check_ndim(X, "X", 2)
    k = check_last_axis(tau, "tau")
    order, columns = V.shape[-2:]
    if k > min(order, columns):
        raise ValueError(f"tau must hold at most min(r, c) = {min(order, columns)} scalars "
                         f"for V of shape (..., r, c) = {V.shape}, got shape {tau.shape}")
    axis = -2 if side == "left" else -1
    if X.shape[axis] != order:
        which = "rows" if side == "left" else "columns"
        raise ValueError(f"X must have {order} {which} (side={side!r}: Q is {order} x {order}, "
                         f"from the rows of V), got shape {X.shape}")
    batch = broadcast_batch(V=V.shape[:-2], tau=tau.shape[:-1], X=X.shape[:-2])
    return (np.broadcast_to(V, batch + V.shape[-2:]), np.broadcast_to(tau, batch + (k,)),
            np.broadcast_to(X, batch + X.shape[-2:]))


def householder_apply(V: ArrayLike, tau: ArrayLike, X: ArrayLike, *, side: str = "left",
                      transpose: bool = False) -> np.ndarray:
    r"""Multiply ``X`` by :math:`Q = H_1 \cdots H_k` without forming ``Q`` (LAPACK ``xORMQR``).

    .. math::

        Q = H_1 H_2 \cdots H_k, \qquad H_i = I_r - \tau_i\, y_i y_i^T, \qquad
        \text{result} = \begin{cases} Q X \text{ or } Q^T X & \text{side = "left"} \\
        X Q \text{ or } X Q^T & \text{side = "right"} \end{cases}

    with ``y_i`` column ``i`` of ``V`` below the diagonal, 1 on it and 0 above (only the
    strictly lower triangle of the first ``k`` columns of ``V`` is read), exactly as
    ``scipy.linalg.lapack.dormqr(side, trans, V, tau, X)`` and ``torch.ormqr`` define it.
    ``tau`` is used as given (``tau_i = 0`` gives ``H_i = I``; other values than
    ``2 / ||y_i||^2`` give non-orthogonal factors). With ``(V, tau)`` from
    :func:`householder_qr` of an ``r x c`` matrix, ``Q`` is the full ``r x r`` orthogonal
    factor. Defined by :func:`householder_apply_definition`, which applies one reflector
    at a time; here blocks of :data:`BLOCK_SIZE` reflectors ``I - Y T Y^T`` (``T`` from
    ``dlarft``) are applied with three matrix products each, as ``dlarfb`` does.

    Parameters
    ----------
    V : array_like, shape (..., r, c)
    tau : array_like, shape (..., k), k <= min(r, c)
    X : array_like, shape (..., r, p) for side="left", (..., p, r) for side="right"
        Batch dimensions of ``V``, ``tau`` and ``X`` broadcast.
    side : {"left", "right"}
        Multiply from the left (``Q X``) or from the right (``X Q``).
    transpose : bool
        Use :math:`Q^T` instead of ``Q`` (LAPACK's ``trans="T"``).

    Returns
    -------
    ndarray, shaped like ``X`` (with the broadcast batch dimensions)

    Raises
    ------
    ValueError
        If ``X`` does not have ``r`` rows (left) or columns (right), if ``k > min(r, c)``,
        if the batch shapes do not broadcast, if an input is not finite, or if
        non-orthogonal factors take the result past the float64 range.
    TypeError
        If ``transpose`` is not a bool.

    References
    ----------
    LAPACK ``dormqr`` / ``dorm2r`` / ``dlarft`` / ``dlarfb``; Schreiber & Van Loan,
    "A storage-efficient WY representation for products of Householder
    transformations", SIAM J. Sci. Stat. Comput. 10 (1989).

    Examples
    --------
    One reflector with ``y = (1, 2)`` and ``tau = 0.4``: ``Q = I - 0.4 y y^T``.

    >>> householder_apply([[9.0], [2.0]], [0.4], [[1.0], [0.0]])
    array([[ 0.6],
           [-0.8]])
    """
    V, tau, X = _apply_inputs(V, tau, X, side, transpose)
    Y = reflector_vectors(V, tau.shape[-1])
    result = X.copy()
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        _apply_blocks(result, Y, tau, side, bool(transpose))
    check_no_overflow(result, "a result")
    return result


def _apply_blocks(M: np.ndarray, Y: np.ndarray, tau: np.ndarray, side: str,
                  transpose: bool) -> None:
    """``M <- Q M``, ``Q^T M``, ``M Q`` or ``M Q^T`` in place, one compact-WY block at a
    time. ``Q M = H_B1 (... (H_Blast M))`` applies the last block first, ``Q^T M`` the
    first block first with ``T^T``; on the right, ``M Q = ((M H_B1) ...) H_Blast`` the
    first block first, ``M Q^T`` the last first with ``T^T``. Block ``j0:j1`` touches
    only rows (left) or columns (right) ``j0:`` of ``M``."""
    blocks = block_ranges(tau.shape[-1], BLOCK_SIZE)
    first_block_first = transpose == (side == "left")
    for j0, j1 in (blocks if first_block_first else reversed(blocks)):
        Y_B = Y[..., j0:, j0:j1]
        T = block_reflector_factor(Y_B, tau[..., j0:j1])
        T = np.swapaxes(T, -1, -2) if transpose else T
        if side == "left":  # H_B M = M - Y (T (Y^T M))
            rows = M[..., j0:, :]
            rows -= Y_B @ (T @ (np.swapaxes(Y_B, -1, -2) @ rows))
        else:  # M H_B = M - ((M Y) T) Y^T
            columns = M[..., :, j0:]
            columns -= ((columns @ Y_B) @ T) @ np.swapaxes(Y_B, -1, -2)


def householder_apply_definition(V: ArrayLike, tau: ArrayLike, X: ArrayLike, *,
                                 side: str = "left", transpose: bool = False) -> np.ndarray:
    r"""The definition of :func:`householder_apply`: one reflector at a time.

    .. math::

        Q X = H_1 (H_2 \cdots (H_k X)), \quad Q^T X = H_k (\cdots (H_1 X)), \quad
        X Q = ((X H_1) H_2) \cdots H_k, \quad X Q^T = ((X H_k) \cdots) H_1

    with :math:`H_i M = M - \tau_i y_i (y_i^T M)` and :math:`M H_i = M - \tau_i (M y_i)
    y_i^T` (each :math:`H_i` is symmetric), and ``y_i`` as in :func:`householder_apply`
    (LAPACK ``dorm2r``, the unblocked ``xORMQR``). Arguments and errors as there.

    Examples
    --------
    >>> householder_apply_definition([[9.0], [2.0]], [0.4], [[1.0, 0.0]], side="right")
    array([[ 0.6, -0.8]])
    """
    V, tau, X = _apply_inputs(V, tau, X, side, transpose)
    k = tau.shape[-1]
    Y = reflector_vectors(V, k)
    M = X.copy()
    first_reflector_first = (side == "left") == transpose
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        for i in (range(k) if first_reflector_first else reversed(range(k))):
            y, tau_i = Y[..., :, i], tau[..., i, None, None]
            if side == "left":
                M = M - tau_i * y[..., :, None] * (y[..., None, :] @ M)
            else:
                M = M - tau_i * (M @ y[..., :, None]) * y[..., None, :]
    check_no_overflow(M, "a result")
    return M


def householder_apply_vjp(grad: ArrayLike, V: ArrayLike, tau: ArrayLike, X: ArrayLike, *,
                          side: str = "left", transpose: bool = False,
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Gradients of :func:`householder_apply` in ``V``, ``tau`` and ``X``.

    The gradient in ``X`` multiplies ``grad`` by the transposed factor on the same side:
    :math:`\bar X = Q^T \bar R` for :math:`R = Q X`, :math:`Q \bar R` for :math:`Q^T X`,
    :math:`\bar R Q^T` for :math:`X Q` and :math:`\bar R Q` for :math:`X Q^T`. For ``V``
    and ``tau``, every case is :math:`\langle C, Q A\rangle` for some ``A`` and ``C``
    (:math:`\langle \bar R, Q^T X\rangle = \langle X, Q \bar R\rangle`,
    :math:`\langle \bar R, X Q\rangle = \langle X^T, Q \bar R^T\rangle`, and so on),
    whose gradient is that of :func:`householder_product_vjp` with ``I[:, :n]`` replaced by
    ``A``: per compact-WY block ``B``, :math:`\bar Y_B = -(L_B S_B^T Y_B T_B^T + S_B L_B^T
    Y_B T_B)` plus the chain through ``T_B``, with :math:`S_B` the later blocks applied to
    ``A`` and :math:`L_B` the earlier ones, transposed, applied to ``C``. Nothing is
    inverted, so the gradient is finite for every ``tau``.

    Returns
    -------
    (grad_V, grad_tau, grad_X), shaped like ``V``, ``tau`` and ``X`` (broadcast
    dimensions summed; ``grad_V`` is 0 outside the strictly lower part of the first
    ``k`` columns, the entries that are read).

    Examples
    --------
    ``Q X = X - tau y (y^T X)`` with ``y = (1, 0)``: the first entry is ``(1 - tau) X_0``.

    >>> grad_V, grad_tau, grad_X = householder_apply_vjp([[1.0], [0.0]], [[5.0], [0.0]],
    ...                                                   [0.5], [[2.0], [7.0]])
    >>> grad_tau, grad_X
    (array([-2.]), array([[0.5],
           [0. ]]))
    """
    V_in, tau_in = as_float_array(V, "V"), as_float_array(tau, "tau")
    X_in = as_float_array(X, "X")
    V, tau, X = _apply_inputs(V_in, tau_in, X_in, side, transpose)
    R = cotangent(grad, X.shape)
    k = tau.shape[-1]
    grad_X = householder_apply(V, tau, R, side=side, transpose=not transpose)
    flip = lambda M: np.swapaxes(M, -1, -2)  # noqa: E731
    A, C = {("left", False): (X, R), ("left", True): (R, X),
            ("right", False): (flip(R), flip(X)), ("right", True): (flip(X), flip(R))}[
                (side, bool(transpose))]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        grad_Y, grad_tau = reflector_gradients(reflector_vectors(V, k), tau, C, A, BLOCK_SIZE)
    check_no_overflow(grad_Y, "gradients")
    check_no_overflow(grad_tau, "gradients")
    grad_V = np.zeros(V.shape)
    grad_V[..., :k] = np.tril(grad_Y, -1)
    return (sum_to_shape(grad_V, V_in.shape), sum_to_shape(grad_tau, tau_in.shape),
            sum_to_shape(grad_X, X_in.shape))
