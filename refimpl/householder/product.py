r"""Products of Householder reflectors and the QR factorisation, in LAPACK's storage.

LAPACK stores ``k`` reflectors :math:`H_i = I - \tau_i y_i y_i^T` in the columns of a
matrix ``V`` (``y_i`` is column ``i`` below the diagonal, with an implicit 1 on it) and
a vector ``tau``. :func:`householder_product` forms the first ``n`` columns of
:math:`H_1 \cdots H_k` (``xORGQR``, in compact-WY blocks) with its VJP, defined by the
one-reflector-at-a-time loop :func:`householder_product_definition`;
:func:`householder_qr` computes ``(V, tau)`` for a matrix (``xGEQRF``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_float_array, broadcast_batch, check_last_axis
from refimpl.householder._common import (
    block_reflector_factor,
    check_no_overflow,
    norm,
    reflector_gradients,
    reflector_vectors,
)

#: Number of reflectors per compact-WY block in :func:`householder_product` and its VJP.
BLOCK_SIZE = 32


def _product_inputs(V: ArrayLike, tau: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``V`` (..., m, n) with m >= n and ``tau`` (..., k) with k <= n; return
    both broadcast to their common batch shape."""
    V, tau = as_float_array(V, "V"), as_float_array(tau, "tau")
    if V.ndim < 2:
        raise ValueError(f"V must have at least 2 dimensions (..., m, n), got shape {V.shape}")
    check_last_axis(tau, "tau")
    m, n = V.shape[-2:]
    if m < n:
        raise ValueError(f"V must have at least as many rows as columns (m >= n), got shape "
                         f"{V.shape}; for (V, tau) from the QR of a wide matrix pass V[..., :, :m] "
                         f"(householder_apply multiplies by Q without this restriction)")
    if tau.shape[-1] > n:
        raise ValueError(f"tau must hold at most n = {n} scalars (one per column of V), "
                         f"got shape {tau.shape}")
    batch = broadcast_batch(V=V.shape[:-2], tau=tau.shape[:-1])
    return (np.broadcast_to(V, batch + V.shape[-2:]),
            np.broadcast_to(tau, batch + tau.shape[-1:]))


def _identity_columns(batch: tuple[int, ...], m: int, n: int) -> np.ndarray:
    """``E = I[:, :n]`` broadcast to ``batch``, as a writable array."""
    return np.broadcast_to(np.eye(m, n), batch + (m, n)).copy()


def householder_product(V: ArrayLike, tau: ArrayLike) -> np.ndarray:
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
    Defined by :func:`householder_product_definition`, which applies the reflectors
    one at a time.

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
    Y = reflector_vectors(V, k)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        for j0 in reversed(range(0, k, BLOCK_SIZE)):
            j1 = min(j0 + BLOCK_SIZE, k)
            block = Y[..., j0:, j0:j1]
            T = block_reflector_factor(block, tau[..., j0:j1])
            trailing = Q[..., j0:, j0:]
            trailing -= block @ (T @ (np.swapaxes(block, -1, -2) @ trailing))
    check_no_overflow(Q, "the product")
    return Q


def householder_product_definition(V: ArrayLike, tau: ArrayLike) -> np.ndarray:
    r"""The definition of :func:`householder_product`: one reflector at a time.

    .. math::

        Q = H_1 \bigl(H_2 \cdots \bigl(H_k\, I_{m \times n}\bigr)\bigr), \qquad
        H_i\, M = M - \tau_i\, y_i\, (y_i^T M)

    with :math:`y_i = (0, \dots, 0, 1, V_{i+1, i}, \dots, V_{m-1, i})` (``i`` zeros,
    counting from 0): the product that LAPACK ``xORGQR`` and its unblocked form
    ``xORG2R`` compute from ``V`` and ``tau``. ``O(m n k)`` flops, one rank-one update
    per reflector; arguments and errors as in :func:`householder_product`.

    Examples
    --------
    >>> householder_product_definition([[0.0], [1.0]], [1.0])
    array([[ 0.],
           [-1.]])
    """
    V, tau = _product_inputs(V, tau)
    m, n = V.shape[-2:]
    rows = np.arange(m)
    Q = _identity_columns(V.shape[:-2], m, n)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        for i in reversed(range(tau.shape[-1])):
            y = np.where(rows > i, V[..., :, i], np.where(rows == i, 1.0, 0.0))
            Q = Q - tau[..., i, None, None] * y[..., :, None] * (y[..., None, :] @ Q)
    check_no_overflow(Q, "the product")
    return Q


def _vector_times_matrix(y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``y^T M`` for stacks: (..., m) and (..., m, n) -> (..., n), through BLAS."""
    return (y[..., None, :] @ M)[..., 0, :]


def _apply_reflector(M: np.ndarray, y: np.ndarray, tau_i: np.ndarray, i: int) -> None:
    """``M <- (I - tau_i y y^T) M`` in place, touching only rows ``i:`` (where ``y`` lives)."""
    rows = M[..., i:, :]
    coefficients = _vector_times_matrix(y[..., i:], rows)
    rows -= tau_i[..., None, None] * y[..., i:, None] * coefficients[..., None, :]


def householder_product_vjp(grad: ArrayLike, V: ArrayLike,
                            tau: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradients of :func:`householder_product` in ``V`` and ``tau``, in compact-WY blocks.

    Defined by :func:`householder_product_vjp_definition` (one reflector at a time); here
    the reflectors go in blocks of :data:`BLOCK_SIZE`, like the forward pass. For block
    ``B`` (reflectors ``j0 <= i < j1``) with :math:`H_B = I - Y_B T_B Y_B^T`, write
    :math:`Q = P_B H_B S_B` (:math:`P_B` the blocks before, :math:`S_B` the blocks after,
    applied to :math:`E = I_{m \times n}`) and :math:`L_B = P_B^T G`. The gradient of
    :math:`\langle G, Q\rangle` in the matrix :math:`H_B` is :math:`L_B S_B^T`, so with
    :math:`P^S_B = S_B^T Y_B` and :math:`P^L_B = L_B^T Y_B`:

    .. math::

        \bar Y_B = -\bigl(L_B P^S_B T_B^T + S_B P^L_B T_B\bigr) + Y_B (\bar U + \bar U^T),
        \qquad \bar T_B = -(P^L_B)^T P^S_B

    and :math:`\bar\tau_B`, :math:`\bar U` (the strict upper triangle of
    :math:`Y_B^T Y_B`) follow from :math:`T_B = (I + D U)^{-1} D`, :math:`D =
    \operatorname{diag}(\tau_B)`, the closed form of ``dlarft``'s recurrence:
    :math:`\bar\tau_B = \operatorname{diag}(A (I - U T_B)^T)`, :math:`\bar U =
    -D A T_B^T` with :math:`A = (I - T_B U)^T \bar T_B`. The gradient in ``V`` is
    :math:`\bar Y` on the strictly lower part of the first ``k`` columns, 0 elsewhere.

    Three passes of matrix products: all :math:`P^S_B` at once (the later block
    reflectors applied to ``Y``), :math:`L_B` forwards, and all :math:`S_B P^L_B T_B` at
    once (the later block reflectors applied to the stacked :math:`E P^L_B T_B`); only
    the trailing parts that can be nonzero are touched. About 2.5 times the flops of the
    forward pass. Nothing is inverted or divided, so the gradient is finite for every
    ``tau`` (PyTorch's backward divides by ``tau_i ||y_i||^2 - 1``).

    Returns
    -------
    (grad_V, grad_tau), shaped like ``V`` and ``tau`` (broadcast dimensions summed).

    References
    ----------
    Schreiber & Van Loan, "A storage-efficient WY representation for products of
    Householder transformations", SIAM J. Sci. Stat. Comput. 10 (1989); LAPACK
    ``dlarft`` / ``dlarfb``.

    Examples
    --------
    ``Q[0, 0] = 1 - tau_1`` here, so its derivative in ``tau_1`` is -1:

    >>> grad_V, grad_tau = householder_product_vjp([[1.0], [0.0]], [[0.0], [1.0]], [1.0])
    >>> grad_tau
    array([-1.])
    """
    return _product_vjp(grad, V, tau, blocked=True)


def householder_product_vjp_definition(grad: ArrayLike, V: ArrayLike,
                                       tau: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    r"""The definition of :func:`householder_product_vjp`: one reflector at a time.

    Write :math:`Q = P_i H_i S_i` with :math:`P_i = H_1 \cdots H_{i-1}` and
    :math:`S_i = H_{i+1} \cdots H_k E`, and let :math:`L_i = P_i^T G` for the output
    cotangent ``G``. With :math:`p_i = S_i^T y_i` and :math:`q_i = L_i^T y_i`:

    .. math::

        \bar\tau_i = -p_i^T q_i, \qquad
        \bar y_i = -\tau_i \bigl(S_i q_i + L_i p_i\bigr)

    and the gradient in ``V`` is :math:`\bar y_i` on the strictly lower part of column
    ``i < k``, 0 elsewhere (the diagonal, the upper triangle and columns ``>= k`` are not
    read). Three sweeps of rank-one updates (``S`` backwards, ``L`` forwards, ``S``
    backwards) give all ``p_i``, ``q_i``; no reflector is ever inverted. Arguments,
    returns and errors as in :func:`householder_product_vjp`.

    References
    ----------
    PyTorch ``householder_product_backward`` (FunctionsManual.cpp) states the same
    formulas with ``K_i = S_i G^T P_i``.

    Examples
    --------
    >>> grad_V, grad_tau = householder_product_vjp_definition([[1.0], [0.0]],
    ...                                                       [[0.0], [1.0]], [1.0])
    >>> grad_tau
    array([-1.])
    """
    return _product_vjp(grad, V, tau, blocked=False)


def _product_vjp(grad: ArrayLike, V: ArrayLike, tau: ArrayLike,
                 blocked: bool) -> tuple[np.ndarray, np.ndarray]:
    """Validate, run the blocked or the one-at-a-time backward, mask and reduce."""
    V_in, tau_in = as_float_array(V, "V"), as_float_array(tau, "tau")
    V, tau = _product_inputs(V_in, tau_in)
    n, k = V.shape[-1], tau.shape[-1]
    G = cotangent(grad, V.shape)
    Y = reflector_vectors(V, k)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        if blocked:
            grad_Y, grad_tau = reflector_gradients(Y, tau, G, None, BLOCK_SIZE)
        else:
            grad_Y, grad_tau = _product_sweeps(G.copy(), Y, tau, n)
    check_no_overflow(grad_Y, "gradients")
    check_no_overflow(grad_tau, "gradients")
    grad_V = np.zeros(V.shape)
    grad_V[..., :k] = np.tril(grad_Y, -1)
    return sum_to_shape(grad_V, V_in.shape), sum_to_shape(grad_tau, tau_in.shape)


def _product_sweeps(G: np.ndarray, Y: np.ndarray, tau: np.ndarray,
                    n: int) -> tuple[np.ndarray, np.ndarray]:
    """The three sweeps of :func:`householder_product_vjp_definition`; returns the
    gradients in the reflector vectors ``Y`` (full columns) and in ``tau``."""
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


def householder_qr(A: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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
        x_norm = norm(x)[..., 0]
        reflect_here = x_norm > 0
        beta = -np.copysign(np.hypot(alpha, x_norm), alpha)
        safe_beta = np.where(reflect_here, beta, 1.0)
        tau[..., j] = np.where(reflect_here, (beta - alpha) / safe_beta, 0.0)
        x /= np.where(reflect_here, alpha - beta, 1.0)[..., None]
        R[..., j, j] = np.where(reflect_here, beta, alpha)
        y = np.concatenate([np.ones(R.shape[:-2] + (1,)), x], axis=-1)
        _apply_reflector(R[..., j:, j + 1:], y, tau[..., j], 0)
    return R, tau
