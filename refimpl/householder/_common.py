"""Low-level pieces shared by the reflections, the a -> b maps and the QR code.

Norms and inner products along the last axis, the input and overflow checks the public
functions share (with those of the a -> b maps and their documented fallback normal),
the chain rule of one reflection ``x - 2 u <u, x>`` and of the normalisation
``u = v / ||v||``, :func:`apply_low_rank`, the one matrix-free kernel behind every
map: ``sign * x + (x @ left) @ right`` with a rank of 1 or 2, blocked in rows of
:data:`BLOCK_BYTES` and written into an optional ``out`` buffer, and the compact-WY
blocks shared by the Householder products and their application to a matrix: the
reflector vectors of LAPACK's storage, the block factor ``T`` (``dlarft``) with its
gradient, and :func:`reflector_gradients`, the blocked backward of ``Q A``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import blas

from refimpl._validation import (
    as_float_array,
    as_scalar,
    broadcast_batch,
    check_finite,
    check_last_axis,
    check_unit_norm,
    describe,
)

#: Bytes of ``x`` per row block when one map is applied to many vectors: a block
#: stays in cache between computing its inner products and writing its result.
BLOCK_BYTES = 2**20


def norm(x: np.ndarray) -> np.ndarray:
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


def dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inner product along the last axis with broadcasting; keeps the last axis."""
    return np.einsum("...i,...i->...", x, y)[..., None]


def nonzero_vectors(x: ArrayLike, name: str) -> np.ndarray:
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


def feature_sizes_match(first: np.ndarray, second: np.ndarray, names: str) -> None:
    """Raise unless ``first`` and ``second`` have the same last dimension (``names``
    reads e.g. ``"x and v"``)."""
    if first.shape[-1] != second.shape[-1]:
        raise ValueError(f"{names} must have the same last dimension, got shapes "
                         f"{first.shape} and {second.shape}")


def finite_gradients(*gradients: np.ndarray,
                     cause: str = "x and grad are too large") -> tuple[np.ndarray, ...]:
    """Return the gradients, or raise (naming ``cause``) if they overflowed float64."""
    if not all(np.all(np.isfinite(gradient)) for gradient in gradients):
        raise ValueError(f"{cause}: the gradients overflow float64")
    return gradients


# ------------------------------------------- inputs of the a -> b maps, their fallback


def unit_pair(a: ArrayLike, b: ArrayLike, rtol: float) -> tuple[np.ndarray, ...]:
    """Validate unit vectors ``a`` and ``b``; return them with their renormalised
    versions and norms: ``(a, b, a_hat, b_hat, a_norm, b_norm)``."""
    rtol = as_scalar(rtol, "rtol", positive=True)
    a, b = as_float_array(a, "a"), as_float_array(b, "b")
    check_last_axis(a, "a")
    check_last_axis(b, "b")
    feature_sizes_match(a, b, "a and b")
    broadcast_batch(a=a.shape[:-1], b=b.shape[:-1])
    for vector, name in ((a, "a"), (b, "b")):
        try:
            check_unit_norm(vector, name, rtol)
        except ValueError as error:
            raise ValueError(f"{error}; normalise it first with "
                             f"refimpl.householder.normalize({name})") from None
    a_norm, b_norm = norm(a), norm(b)
    return a, b, a / a_norm, b / b_norm, a_norm, b_norm


def map_inputs(x: ArrayLike, a: ArrayLike, b: ArrayLike,
               rtol: float) -> tuple[np.ndarray, ...]:
    """Validate the arguments of an a -> b map: :func:`unit_pair` and vectors ``x`` of
    the same dimension (NaN and inf are checked where ``x`` is used); returns
    ``(x, a, b, a_hat, b_hat, a_norm, b_norm)``."""
    a, b, a_hat, b_hat, a_norm, b_norm = unit_pair(a, b, rtol)
    x = as_float_array(x, "x", allow_nonfinite=True)
    check_last_axis(x, "x", size=a.shape[-1])
    broadcast_batch(x=x.shape[:-1], a=a.shape[:-1], b=b.shape[:-1])
    return x, a, b, a_hat, b_hat, a_norm, b_norm


def perpendicular(a_hat: np.ndarray) -> np.ndarray:
    """The fallback mirror normal ``e_j - a_j a`` (orthogonal to unit ``a``), where ``j``
    is the first index of the smallest ``|a_j|``; its norm is ``sqrt(1 - a_j^2) >=
    sqrt(1 - 1/d)``, so it is well conditioned for d >= 2."""
    j = np.argmin(np.abs(a_hat), axis=-1)[..., None]
    one_hot = (np.arange(a_hat.shape[-1]) == j).astype(np.float64)
    return one_hot - np.take_along_axis(a_hat, j, axis=-1) * a_hat


def perpendicular_vjp(grad: np.ndarray, a_hat: np.ndarray) -> np.ndarray:
    """Gradient of :func:`perpendicular` in ``a_hat``, with the index ``j`` held fixed."""
    j = np.argmin(np.abs(a_hat), axis=-1)[..., None]
    one_hot = (np.arange(a_hat.shape[-1]) == j).astype(np.float64)
    return -np.take_along_axis(a_hat, j, axis=-1) * grad - one_hot * dot(grad, a_hat)


def with_fallback(kind: str, v: np.ndarray,
                  a_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mirror normal ``v`` of ``{kind}_map``, with every exactly zero row replaced by
    :func:`perpendicular` (the documented fallback), and the mask of those rows.

    Raises ``ValueError`` in ``d = 1``, where no map of that kind exists at the
    degenerate input (``b = a`` for the reflection, ``b = -a`` for the others)."""
    degenerate = ~np.any(v != 0, axis=-1, keepdims=True)
    if np.any(degenerate):
        if a_hat.shape[-1] == 1:
            which = "b = a" if kind == "householder" else "b = -a"
            raise ValueError(f"{kind}_map is undefined at {which} when d = 1 (no such map "
                             f"exists); got a and b of dimension 1 with {which}")
        v = np.where(degenerate, perpendicular(a_hat), v)
    return v, degenerate


# --------------------------------------------------- one reflection and its chain rule


def reflect_unit(x: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """``x - 2 u <u, x>`` for unit ``u`` (no checks, broadcasting)."""
    return x - 2.0 * unit * dot(unit, x)


def reflect_unit_vjp(grad: np.ndarray, x: np.ndarray,
                     unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``x - 2 u <u, x>`` in ``x`` and in the unit vector ``u`` (unreduced)."""
    grad_x = reflect_unit(grad, unit)
    grad_unit = -2.0 * (grad * dot(unit, x) + x * dot(unit, grad))
    return grad_x, grad_unit


def unit_vjp(grad_unit: np.ndarray, unit: np.ndarray, v_norm: np.ndarray) -> np.ndarray:
    """Chain a gradient in ``u = v / ||v||`` back to ``v`` (``v_norm`` is ``||v||``)."""
    return (grad_unit - unit * dot(unit, grad_unit)) / v_norm


# ------------------------------------------------------ the matrix-free low-rank kernel


def output_buffer(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """Check a caller's ``out`` array (or allocate one) for a result of ``shape``."""
    if out is None:
        return np.empty(shape)
    if not isinstance(out, np.ndarray) or out.dtype != np.float64:
        raise TypeError(f"out must be a float64 numpy array, got {describe(out)}")
    if out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous array of shape {shape}, "
                         f"got {describe(out)}")
    return out


def inner_products(x: np.ndarray, left: np.ndarray) -> np.ndarray:
    """``x @ left`` along the last axis, which also checks ``x`` for NaN and inf
    (:func:`check_inner_products`)."""
    with np.errstate(invalid="ignore", over="ignore"):
        products = x @ left if left.ndim == 2 else np.einsum("...d,...dr->...r", x, left)
    check_inner_products(products, x)
    return products


def check_inner_products(products: np.ndarray, x: np.ndarray) -> None:
    """Raise if the inner products of ``x`` are not finite.

    A NaN or inf entry of ``x`` makes its inner products NaN or inf (``inf * 0`` is
    NaN), so checking these few numbers replaces a full pass of ``check_finite`` over
    ``x``; the warnings are silenced where the products are taken, because the error
    here reports the problem.
    """
    if not np.all(np.isfinite(products)):
        check_finite(x, "x")  # names the bad entry
        raise ValueError("x is too large: its inner products overflow float64")


def apply_low_rank(x: np.ndarray, sign: float | np.ndarray, left: np.ndarray,
                   right: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``sign * x + (x @ left) @ right`` along the last axis, written into ``out``.

    ``left`` is (..., d, r) and ``right`` (..., r, d) with r = 1 or 2. When one map
    serves every vector (``left`` 2-D, scalar ``sign``), rows are processed in blocks
    of :data:`BLOCK_BYTES` (:func:`apply_low_rank_blocked`). If ``x`` holds NaN or inf,
    ``ValueError`` is raised after the pass, with the contents of ``out`` unspecified.
    """
    shape = np.broadcast_shapes(x.shape, left.shape[:-2] + left.shape[-2:-1],
                                np.shape(sign)[:-1] + x.shape[-1:])
    out = output_buffer(out, shape)
    if left.ndim == 2 and np.ndim(sign) == 0 and x.shape == shape and x.ndim > 1:
        return apply_low_rank_blocked(x, float(sign), left, right, out)
    coefficients = inner_products(x, left)
    update = np.einsum("...r,...rd->...d", coefficients, right)
    np.multiply(x, sign, out=out)
    with np.errstate(over="ignore"):  # checked next
        out += update
    check_result(out, coefficients, right)
    return out


def check_result(out: np.ndarray, coefficients: np.ndarray, right: np.ndarray) -> None:
    """Raise if ``sign x + coefficients @ right`` overflowed (``x`` and the inner products
    being finite). An update below 1e291 cannot carry a finite ``sign x`` past the largest
    float (1.8e308, whose half-ulp is 1e292), so ``out`` is only scanned when the bound
    ``rank max|coefficients| max|right|`` reaches that: never for ordinary inputs."""
    bound = (coefficients.shape[-1] * float(np.max(np.abs(coefficients), initial=0.0))
             * float(np.max(np.abs(right), initial=0.0)))
    if bound >= 1e291 and not np.all(np.isfinite(out)):
        raise ValueError("x is too large: the result overflows float64 (a Householder map "
                         "preserves the norm, and ||x|| exceeds the largest float)")


def apply_low_rank_blocked(x: np.ndarray, sign: float, left: np.ndarray, right: np.ndarray,
                           out: np.ndarray) -> np.ndarray:
    """:func:`apply_low_rank` for one map and many vectors, in row blocks.

    Each block of :data:`BLOCK_BYTES` stays in cache between its inner products (a BLAS
    ``gemv`` for rank 1, ``gemm`` for rank 2, taken before the block is written, so
    ``out`` may be ``x`` itself), its copy into ``out`` (skipped in place) and the
    rank-r update ``out_block^T <- right^T coefficients^T + sign out_block^T`` (one BLAS
    ``gemm``), so ``x`` is read from memory once and ``out`` written once. The inner
    products are checked once, after the pass.
    """
    d, rank = x.shape[-1], left.shape[-1]
    rows_x, rows_out = x.reshape(-1, d), out.reshape(-1, d)
    in_place = rows_x.ctypes.data == rows_out.ctypes.data
    rows = max(1, BLOCK_BYTES // (8 * d))
    right_t = np.asfortranarray(right.T)
    vector = np.ascontiguousarray(left[:, 0])  # rank 1: gemv, not a (d, 1) gemm
    coefficients = np.empty((len(rows_x), rank))
    with np.errstate(invalid="ignore", over="ignore"):  # checked after the loop
        for start in range(0, len(rows_x), rows):
            block, out_block = rows_x[start:start + rows], rows_out[start:start + rows]
            products = coefficients[start:start + rows]
            if rank == 1:
                np.matmul(block, vector, out=products[:, 0])
            else:
                np.matmul(block, left, out=products)
            if not in_place:
                np.copyto(out_block, block)
            updated = blas.dgemm(1.0, right_t, products.T, beta=sign, c=out_block.T,
                                 overwrite_c=True)
            if not np.may_share_memory(updated, out_block):  # f2py had to copy
                out_block[...] = updated.T
    check_inner_products(coefficients, x)
    check_result(out, coefficients, right)
    return out


# ------------------------------------------------- compact-WY blocks of LAPACK reflectors
#
# LAPACK stores k reflectors H_i = I - tau_i y_i y_i^T in the columns of V: y_i is column
# i of V with an implicit 1 on the diagonal and zeros above it (the diagonal and upper
# triangle of V hold something else, e.g. R, and are never read). A block of consecutive
# reflectors j0 <= i < j1 multiplies out to I - Y T Y^T (Schreiber & Van Loan 1989), with
# Y = y_j0 ... y_{j1-1} and T upper triangular: T^{-1} = diag(1/tau) + striu(Y^T Y), or,
# without dividing by tau (which may be 0), T = (I + diag(tau) striu(Y^T Y))^{-1} diag(tau).


def reflector_vectors(V: np.ndarray, k: int) -> np.ndarray:
    """The vectors ``y_i`` as the columns of an (..., m, k) unit lower-trapezoidal array."""
    Y = np.tril(V[..., :k], -1)
    Y[..., np.arange(k), np.arange(k)] = 1.0
    return Y


def block_ranges(k: int, size: int) -> list[tuple[int, int]]:
    """The column ranges ``(j0, j1)`` of ``k`` reflectors cut into blocks of ``size``."""
    return [(j0, min(j0 + size, k)) for j0 in range(0, k, size)]


def block_reflector_factor(Y: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Upper-triangular ``T`` with ``H_1 ... H_b = I - Y T Y^T`` (LAPACK ``dlarft``,
    forward, columnwise): ``T[:i, i] = -tau_i T[:i, :i] (Y[:, :i]^T y_i)``."""
    gram = np.swapaxes(Y, -1, -2) @ Y
    T = np.zeros(tau.shape + tau.shape[-1:])
    for i in range(tau.shape[-1]):
        T[..., i, i] = tau[..., i]
        T[..., :i, i] = -tau[..., i, None] * np.einsum(
            "...ij,...j->...i", T[..., :i, :i], gram[..., :i, i])
    return T


def block_reflector_factor_vjp(grad_T: np.ndarray, Y: np.ndarray, tau: np.ndarray,
                               T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`block_reflector_factor` in ``tau`` and in ``Y``'s Gram matrix.

    With ``U = striu(Y^T Y)`` and ``N = I + diag(tau) U``, ``T = N^{-1} diag(tau)``, and
    ``N^{-1} = I - T U``, ``(I + U diag(tau))^{-1} = I - U T`` (push-through), so with
    ``A = (I - T U)^T triu(grad_T)``: ``grad_tau = diag(A (I - U T)^T)`` and
    ``grad_U = -diag(tau) A T^T`` on the strict upper triangle. Returns ``grad_tau`` and
    ``S = grad_U + grad_U^T``, so that the gradient in ``Y`` is ``Y S`` (``dU`` is the
    strict upper part of ``dY^T Y + Y^T dY``). No division: finite for every ``tau``.
    """
    U = np.triu(np.swapaxes(Y, -1, -2) @ Y, 1)
    eye = np.eye(tau.shape[-1])
    A = np.swapaxes(eye - T @ U, -1, -2) @ np.triu(grad_T)
    grad_tau = np.einsum("...ij,...ij->...i", A, eye - U @ T)
    grad_U = np.triu(-tau[..., :, None] * (A @ np.swapaxes(T, -1, -2)), 1)
    return grad_tau, grad_U + np.swapaxes(grad_U, -1, -2)


def check_no_overflow(result: np.ndarray, what: str) -> None:
    """Raise if non-orthogonal factors (``tau_i != 2 / ||y_i||^2``) grew ``result`` past
    the float64 range; orthogonal factors never do."""
    if not np.all(np.isfinite(result)):
        raise ValueError(f"V and tau give {what} too large for float64 (factors with "
                         f"tau_i != 2/||y_i||^2 are not orthogonal and can grow)")


def _transposed(M: np.ndarray) -> np.ndarray:
    return np.swapaxes(M, -1, -2)


def _apply_to_earlier_columns(R: np.ndarray, Y: np.ndarray, factors: list[np.ndarray],
                              blocks: list[tuple[int, int]], transpose: bool) -> None:
    """Apply block reflector ``q`` (``I - Y_q T_q Y_q^T``, or its transpose) to the
    columns of the blocks before ``q``, for every block ``q > 0``, in place: ascending
    with ``transpose`` (then column block ``B`` ends as ``H_last^T ... H_{B+1}^T R_B``),
    descending without (``H_{B+1} ... H_last R_B``). One matrix product per block."""
    order = range(1, len(blocks)) if transpose else reversed(range(1, len(blocks)))
    for q in order:
        j0, j1 = blocks[q]
        Y_q, T_q = Y[..., j0:, j0:j1], factors[q]
        rows = R[..., j0:, :j0]
        rows -= Y_q @ ((_transposed(T_q) if transpose else T_q) @ (_transposed(Y_q) @ rows))


def reflector_gradients(Y: np.ndarray, tau: np.ndarray, C: np.ndarray, A: np.ndarray | None,
                        block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Gradients in ``Y`` (full columns) and ``tau`` of ``<C, Q A>``, ``Q = H_1 ... H_k``.

    ``A`` is (..., m, p); ``None`` stands for ``I[:, :p]`` (``Q A`` is then
    :func:`~refimpl.householder.householder_product`, and only trailing parts are
    touched). For block ``B`` (reflectors ``j0 <= i < j1``, ``H_B = I - Y_B T_B Y_B^T``)
    write ``Q A = P_B H_B S_B`` and ``L_B = P_B^T C``; the gradient of ``<C, Q A>`` in the
    matrix ``H_B`` is ``L_B S_B^T``, so with ``Ps_B = S_B^T Y_B`` and ``Pl_B = L_B^T Y_B``:
    ``grad Y_B = -(L_B Ps_B T_B^T + S_B Pl_B T_B)`` plus the chain through ``T_B``, whose
    gradient is ``-Pl_B^T Ps_B``. Three passes: every ``Ps_B`` at once (later block
    reflectors applied to ``Y``), ``L_B`` forwards (``L_{B+1} = H_B^T L_B``), and every
    ``S_B Pl_B T_B`` at once (later block reflectors applied to ``A [Pl_B T_B]_B``).
    """
    k, p = Y.shape[-1], C.shape[-1]
    blocks = block_ranges(k, block_size)
    factors = [block_reflector_factor(Y[..., j0:, j0:j1], tau[..., j0:j1]) for j0, j1 in blocks]
    R = Y.copy()
    _apply_to_earlier_columns(R, Y, factors, blocks, transpose=True)
    Ps = R[..., :p, :] if A is None else _transposed(A) @ R  # rows < j0 of Ps_B are 0 if A = E
    grad_Y, grad_tau = np.zeros(Y.shape), np.empty(tau.shape)
    Pl_T = np.zeros(Y.shape[:-2] + (p, k))  # column block B holds Pl_B T_B
    L = C.copy()
    for (j0, j1), T_B in zip(blocks, factors, strict=True):
        c0 = j0 if A is None else 0  # with A = E, columns < j0 of L_B never matter
        Y_B, L_B, Ps_B = Y[..., j0:, j0:j1], L[..., j0:, c0:], Ps[..., c0:, j0:j1]
        W = _transposed(Y_B) @ L_B  # Pl_B^T
        grad_T = -(W @ Ps_B)
        grad_tau[..., j0:j1], gram_gradient = block_reflector_factor_vjp(
            grad_T, Y_B, tau[..., j0:j1], T_B)
        grad_Y[..., j0:, j0:j1] = Y_B @ gram_gradient - L_B @ (Ps_B @ _transposed(T_B))
        Pl_T[..., c0:, j0:j1] = _transposed(W) @ T_B
        L_B -= Y_B @ (_transposed(T_B) @ W)
    if A is None:
        Z = np.zeros(Y.shape)
        Z[..., :p, :] = Pl_T
    else:
        Z = A @ Pl_T
    _apply_to_earlier_columns(Z, Y, factors, blocks, transpose=False)
    grad_Y -= Z
    return grad_Y, grad_tau
