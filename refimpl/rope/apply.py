"""Rotary position embedding in one dimension: angles, the rotation, and its backward pass.

RoPE (Su et al., RoFormer; kexue.fm/archives/8265) rotates each pair of features of a
query or key at position ``p`` by the angle ``p * omega_k``. Because rotations compose,
``<R_m q, R_n k> = <q, R_(n-m) k>``: the attention score sees only the offset.

Pairs are ``(2k, 2k+1)`` in the *interleaved* layout (Meta, GPT-J, the post) and
``(k, k+P)`` in the *half* layout (Hugging Face ``rotate_half``, GPT-NeoX), always within
the leading rotary block of ``2P`` features; the rest pass through (partial rotary).

The same map appears in four forms: the fast one (:func:`apply`, blocked complex
products), the post's elementwise formula (:func:`elementwise_form`), the dense
block-diagonal matrix (:func:`rotation_matrix`) and the complex product of the
derivation (:func:`complex_form`). Tests tie them together.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import sum_to_shape
from refimpl._validation import (
    as_int,
    as_float_array,
    broadcast_batch,
    check_choice,
    check_finite,
    check_ndim,
)

#: The two pair layouts: ``(2k, 2k+1)`` and ``(k, k+P)``.
LAYOUTS = ("interleaved", "half")

#: Largest ``max |Q^T Q - I|`` accepted for ``basis``: a float64 orthogonalisation
#: (QR, expm of a skew matrix) lands near 1e-15; a float32 one (about 1e-7) is rejected.
BASIS_ORTHOGONALITY_TOL = 1e-10

#: Elements per block in :func:`apply` and :func:`apply_vjp` (512 KiB of float64): large
#: enough that the Python loop costs little, small enough that a block's input, output
#: and temporaries stay in a 2 MiB L2 cache (the half layout ran twice as fast as with
#: 2 MiB blocks on the benchmark machine).
BLOCK_SIZE = 1 << 16

__all__ = [
    "LAYOUTS", "BASIS_ORTHOGONALITY_TOL", "angles", "angles_vjp", "inv_freq_vjp",
    "apply", "apply_vjp", "elementwise_form", "complex_form", "rotation_matrix",
]


def angles(positions: ArrayLike, inv_freq: ArrayLike) -> np.ndarray:
    """Rotation angles ``phi[..., k] = positions[...] * inv_freq[k]`` in float64.

    .. math:: \\varphi_{p,k} = p \\, \\omega_k

    Parameters
    ----------
    positions : array_like, shape (...)
        Integer or real positions; negative and fractional values are fine.
    inv_freq : array_like, shape (..., P)
        Inverse frequencies (see :func:`refimpl.rope.inv_freq`); leading axes broadcast
        against ``positions``.

    Returns
    -------
    ndarray, shape broadcast(positions.shape, inv_freq.shape[:-1]) + (P,)

    Notes
    -----
    Hugging Face, Meta and torchtune compute this product in float32 whatever the model
    dtype (research note rope_anchors.md §9): expect differences that grow linearly
    with the position when comparing against them.

    Examples
    --------
    >>> angles([0, 1, -2], [1.0, 0.1])
    array([[ 0. ,  0. ],
           [ 1. ,  0.1],
           [-2. , -0.2]])
    """
    positions = as_float_array(positions, "positions")
    inv_freq = as_float_array(inv_freq, "inv_freq")
    check_ndim(inv_freq, "inv_freq", 1)
    broadcast_batch(positions=positions.shape, inv_freq=inv_freq.shape[:-1])
    return positions[..., None] * inv_freq




def _outer_sum(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``sum over batch of left[..., :, None] * right[..., None, :]`` (batches broadcast)."""
    batch = np.broadcast_shapes(left.shape[:-1], right.shape[:-1])
    left = np.broadcast_to(left, batch + left.shape[-1:]).reshape(-1, left.shape[-1])
    right = np.broadcast_to(right, batch + right.shape[-1:]).reshape(-1, right.shape[-1])
    return left.T @ right


def angles_vjp(grad: ArrayLike, positions: ArrayLike, inv_freq: ArrayLike
               ) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`angles` in ``positions`` and ``inv_freq``.

    .. math::

        \\frac{\\partial L}{\\partial p} = \\sum_k g_{p,k}\\,\\omega_k, \\qquad
        \\frac{\\partial L}{\\partial \\omega_k} = \\sum_p p\\, g_{p,k}

    each summed over broadcast axes so it has its argument's shape.

    Examples
    --------
    >>> angles_vjp([[1.0, 1.0], [1.0, 1.0]], [1.0, 2.0], [1.0, 0.5])
    (array([1.5, 1.5]), array([3., 3.]))
    """
    positions = as_float_array(positions, "positions")
    inv_freq = as_float_array(inv_freq, "inv_freq")
    grad = as_float_array(grad, "grad")
    grad = np.broadcast_to(grad, np.broadcast_shapes(grad.shape, angles(positions, inv_freq).shape))
    grad_positions = sum_to_shape(np.sum(grad * inv_freq, axis=-1), positions.shape)
    grad_inv_freq = sum_to_shape(positions[..., None] * grad, inv_freq.shape)
    return grad_positions, grad_inv_freq


def inv_freq_vjp(grad_angles: ArrayLike, positions: ArrayLike) -> np.ndarray:
    """Gradient of learnable 1-D frequencies: ``sum over positions of p * dL/dphi``.

    .. math:: \\frac{\\partial L}{\\partial \\omega_k} = \\sum_{p} p \\,
              \\frac{\\partial L}{\\partial \\varphi_{p,k}}

    Parameters
    ----------
    grad_angles : array_like, shape (..., P)
        ``dL/dphi`` for ``phi = angles(positions, inv_freq)`` with a 1-D ``inv_freq``,
        e.g. the second output of :func:`apply_vjp`.
    positions : array_like, shape (...)
        The positions used in the forward pass; broadcasts against
        ``grad_angles.shape[:-1]``.

    Returns
    -------
    ndarray, shape (P,)
        Summed over every leading axis.

    Examples
    --------
    >>> inv_freq_vjp([[1.0, 2.0], [3.0, 4.0]], [1.0, -1.0])
    array([-2., -2.])
    """
    grad_angles = as_float_array(grad_angles, "grad_angles")
    positions = as_float_array(positions, "positions")
    check_ndim(grad_angles, "grad_angles", 1)
    broadcast_batch(grad_angles=grad_angles.shape[:-1], positions=positions.shape)
    product = positions[..., None] * grad_angles
    return product.reshape(-1, product.shape[-1]).sum(axis=0)


def _check_finite_fast(array: np.ndarray, name: str, whole: np.ndarray) -> None:
    """:func:`check_finite` of a block of ``whole`` in a single read: the sum is finite
    when every entry is.

    A non-finite sum (a NaN or inf entry, or a harmless overflow) falls back to the full
    check of ``whole``, which names the bad value or passes. The sum is
    ``einsum("i->")``, the quickest single-threaded reduction in NumPy (a BLAS dot
    product is quicker alone, but its threads, spinning between calls, slow the loop
    over blocks).
    """
    flat = array.reshape(-1) if array.flags.c_contiguous else None
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf or an overflow: both
        total = np.sum(array) if flat is None else np.einsum("i->", flat)  # "look closer"
    if not np.isfinite(total):
        check_finite(whole, name)


def _blocks(shape: tuple[int, ...], angles_shape: tuple[int, ...]):
    """Cut the output into blocks of about :data:`BLOCK_SIZE` elements.

    The leading axes that ``angles`` lacks (batch and heads, usually) are flattened into
    rows; a block is some rows, or one row and a span of the next axis (the tokens)
    when a row alone is too big. Returns ``(lead, rows, blocks)`` with ``blocks`` a list
    of ``(row_slice, span_slice)``; see :func:`_as_rows` and :func:`_cut`.
    """
    lead = len(shape) - len(angles_shape)
    rows, inner = math.prod(shape[:lead]), shape[lead:]
    per_row = math.prod(inner)
    if len(inner) < 2 or per_row <= BLOCK_SIZE:
        step = max(1, BLOCK_SIZE // max(per_row, 1))
        return lead, rows, [(slice(r, r + step), slice(None)) for r in range(0, rows, step)]
    span = max(1, BLOCK_SIZE // max(math.prod(inner[1:]), 1))
    return lead, rows, [(slice(r, r + 1), slice(t, t + span))
                        for r in range(rows) for t in range(0, inner[0], span)]


def _as_rows(array: np.ndarray, shape: tuple[int, ...], lead: int, rows: int) -> np.ndarray:
    """``array`` (broadcasting to ``shape``) with its ``lead`` leading axes flattened into
    ``rows``, padded with size-1 axes to ``1 + len(shape) - lead`` dimensions."""
    return array.reshape((rows,) + (1,) * (len(shape) - array.ndim) + array.shape[lead:])


def _cut(array: np.ndarray, rows: slice, span: slice) -> np.ndarray:
    """The block ``[rows, span]`` of an array from :func:`_as_rows`; size-1 axes (broadcast)
    are kept whole."""
    if array.ndim > 2 and array.shape[1] > 1:
        return array[rows if array.shape[0] > 1 else slice(None), span]
    return array[rows if array.shape[0] > 1 else slice(None)]


def _pairs(block: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The two members ``(a_k, c_k)`` of every rotation pair, as views."""
    half = block.shape[-1] // 2
    if layout == "interleaved":
        return block[..., 0::2], block[..., 1::2]
    return block[..., :half], block[..., half:]


def _phasor(cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """The per-pair rotation as a complex number ``cos + i sin`` (magnitude included)."""
    phasor = np.empty(cos.shape, dtype=np.complex128)
    phasor.real, phasor.imag = cos, sin
    return phasor


def _complex_pairs(block: np.ndarray, layout: str) -> np.ndarray:
    """The pairs ``(a_k, c_k)`` of ``block`` as complex numbers ``a_k + i c_k``.

    A view for the interleaved layout (float64 pairs are laid out like complex128);
    a copy for the half layout.
    """
    if layout == "interleaved":
        return block.view(np.complex128)
    pairs = np.empty(block.shape[:-1] + (block.shape[-1] // 2,), dtype=np.complex128)
    pairs.real, pairs.imag = _pairs(block, layout)
    return pairs


def _rotate(block: np.ndarray, phasor: np.ndarray, layout: str, out: np.ndarray) -> np.ndarray:
    """Write ``a' = a cos - c sin``, ``c' = c cos + a sin`` for every pair into ``out``.

    Computed as the complex product ``(a + i c)(cos + i sin)``: on a view of the pairs
    in the interleaved layout (one pass over memory), on a copy in the half layout.
    NumPy's complex product may round differently from the real formula by an ulp;
    :func:`elementwise_form` is the real formula, and the tests bound the difference.
    Returns the rotated pairs as complex numbers.
    """
    if layout == "interleaved":
        rotated = out.view(np.complex128)
        np.multiply(block.view(np.complex128), phasor, out=rotated)
        return rotated
    pairs = _complex_pairs(block, layout)
    in_place = np.broadcast_shapes(pairs.shape, phasor.shape) == pairs.shape
    rotated = np.multiply(pairs, phasor, out=pairs if in_place else None)
    first, second = _pairs(out, layout)
    first[...], second[...] = rotated.real, rotated.imag
    return rotated


def _prepare(x, angles, layout, magnitude, basis):
    """Validate the arguments of :func:`apply`; return x, cos, sin, basis, output shape.

    Only the finiteness of ``x`` is left to the caller (:func:`apply` checks it block by
    block, while the block is in cache).
    """
    check_choice(layout, "layout", LAYOUTS)
    x = as_float_array(x, "x", allow_nonfinite=True)
    check_ndim(x, "x", 1)
    if x.strides[-1] != x.itemsize:
        x = np.ascontiguousarray(x)
    angles = as_float_array(angles, "angles")
    check_ndim(angles, "angles", 1)
    pairs, dim = angles.shape[-1], x.shape[-1]
    if 2 * pairs > dim:
        raise ValueError(f"angles has P={pairs} pairs, so the rotary block 2P={2 * pairs} "
                         f"exceeds x's last dimension D={dim}")
    batch = broadcast_batch(x=x.shape[:-1], angles=angles.shape[:-1])
    cos, sin = np.cos(angles), np.sin(angles)
    if magnitude is not None:
        magnitude = as_float_array(magnitude, "magnitude")
        if np.broadcast_shapes(magnitude.shape, angles.shape) != angles.shape:
            raise ValueError(f"magnitude of shape {magnitude.shape} must broadcast to "
                             f"angles' shape {angles.shape}")
        cos, sin = cos * magnitude, sin * magnitude
    if basis is not None:
        basis = _check_basis(basis, 2 * pairs)
    return x, cos, sin, basis, batch + (dim,)


def _check_basis(basis, size: int) -> np.ndarray:
    """Return ``basis`` as float64 after checking it is an orthogonal (size, size) matrix."""
    basis = as_float_array(basis, "basis")
    if basis.shape != (size, size):
        raise ValueError(f"basis must have shape ({size}, {size}) to match 2P={size} "
                         f"rotary features, got shape {basis.shape}")
    error = float(np.max(np.abs(basis.T @ basis - np.eye(size)), initial=0.0))
    if error > BASIS_ORTHOGONALITY_TOL:
        raise ValueError(f"basis must be orthogonal: max |Q^T Q - I| = {error:.3g} exceeds "
                         f"{BASIS_ORTHOGONALITY_TOL:g}")
    return basis


def apply(x: ArrayLike, angles: ArrayLike, *, layout: str = "interleaved",
          magnitude: ArrayLike | None = None, basis: ArrayLike | None = None) -> np.ndarray:
    """Rotate the leading ``2P`` features of ``x`` pair by pair; pass the rest through.

    For every pair ``(a_k, c_k)`` of the rotary block, with angle ``phi_k`` and
    magnitude ``m_k`` (default 1):

    .. math::

        a_k' = m_k (a_k \\cos\\varphi_k - c_k \\sin\\varphi_k), \\qquad
        c_k' = m_k (c_k \\cos\\varphi_k + a_k \\sin\\varphi_k)

    i.e. ``y = x * C + rot(x) * S`` with the layout-expanded ``C = m cos``,
    ``S = m sin`` (the post's elementwise form, :func:`elementwise_form`), or
    ``y_block = R(phi) x_block`` with the block-diagonal :func:`rotation_matrix`.
    With ``basis = Q`` the rotary block becomes ``Q R(phi) Q^T x_block``: the general
    commuting-generator RoPE (rope2d note §B.7); relativity still holds.

    Parameters
    ----------
    x : array_like, shape (..., D)
        Queries or keys, feature last.
    angles : array_like, shape (..., P)
        Angles ``phi``, ``2P <= D``, e.g. from :func:`angles`; leading axes broadcast
        against ``x``'s (x ``(B, H, T, D)`` with angles ``(T, P)`` is the usual case).
    layout : {"interleaved", "half"}
        Pairs ``(2k, 2k+1)`` (Meta, GPT-J, the post) or ``(k, k+P)`` (Hugging Face
        ``rotate_half``, GPT-NeoX), both within the rotary block ``x[..., :2P]``.
    magnitude : array_like, optional
        Multiplies cos and sin (Hugging Face ``attention_scaling``, which scales the
        logits by ``m^2``; the xPos scale ``zeta^(p / scale_base)`` of lucidrains for
        queries, its inverse for keys). Must broadcast to ``angles``' shape. Pass-through
        features are never scaled, as in Hugging Face.
    basis : array_like, shape (2P, 2P), optional
        Orthogonal change of basis ``Q``, checked to ``max |Q^T Q - I| <=``
        :data:`BASIS_ORTHOGONALITY_TOL` (1e-10). The layout chooses the pairs in
        ``Q``'s frame.

    Returns
    -------
    ndarray, shape broadcast(x.shape[:-1], angles.shape[:-1]) + (D,)

    Raises
    ------
    ValueError
        ``2P > D``, an unknown ``layout``, non-finite input, shapes that do not
        broadcast, a non-orthogonal ``basis``.

    Notes
    -----
    Computed as the complex product ``(a + i c)(m cos + i m sin)``, on a view of the
    pairs in the interleaved layout (one pass over memory) and on a gathered copy in
    the half layout, block by block so temporaries stay in cache. NumPy's complex
    product may round differently from the real formula by about an ulp; use
    :func:`elementwise_form` for results bit-identical to ``x * cos + rotate_half(x) *
    sin`` in float64. The two layouts are related by ``half(pi x) = pi interleaved(x)``
    (see :func:`refimpl.rope.layout_permutation`).

    With ``basis`` every block costs two small matrix products, i.e. two BLAS calls,
    and a multithreaded BLAS (OpenBLAS) wakes its threads for each: on a machine whose
    cores are busy with other work this made ``basis=`` 10-80x slower than without
    (measured on a shared 2-core machine), against about 2-3x with one BLAS thread
    (``OPENBLAS_NUM_THREADS=1`` or ``threadpoolctl``).

    Examples
    --------
    >>> y = apply([1.0, 0.0, 2.0, 5.0], [np.pi / 2])
    >>> np.round(y, 12)
    array([0., 1., 2., 5.])
    >>> q, k = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, -1.0, 2.0, 1.0])
    >>> inv = np.array([1.0, 0.01])
    >>> score = lambda m, n: apply(q, m * inv) @ apply(k, n * inv)
    >>> bool(np.isclose(score(3, 7), score(10, 14)))
    True
    """
    x, cos, sin, basis, shape = _prepare(x, angles, layout, magnitude, basis)
    out = np.empty(shape)
    lead, rows, blocks = _blocks(shape, cos.shape)
    rows_x, rows_out = _as_rows(x, shape, lead, rows), _as_rows(out, shape, lead, rows)
    phasor = _phasor(cos, sin)[None]
    for block in blocks:
        x_block = _cut(rows_x, *block)
        _check_finite_fast(x_block, "x", x)
        _apply_block(x_block, _cut(phasor, *block), layout, basis, _cut(rows_out, *block))
    return out


def _apply_block(x, phasor, layout: str, basis, out: np.ndarray) -> None:
    """:func:`apply` on one block of rows, written into ``out``."""
    rotary = 2 * phasor.shape[-1]
    if basis is None:
        _rotate(x[..., :rotary], phasor, layout, out[..., :rotary])
    else:
        rotated = np.empty(out.shape[:-1] + (rotary,))
        _rotate(x[..., :rotary] @ basis, phasor, layout, rotated)
        out[..., :rotary] = rotated @ basis.T
    out[..., rotary:] = x[..., rotary:]


def apply_vjp(grad: ArrayLike, x: ArrayLike, angles: ArrayLike, *, layout: str = "interleaved",
              magnitude: ArrayLike | None = None, basis: ArrayLike | None = None
              ) -> tuple[np.ndarray, ...]:
    """Gradients of :func:`apply` in ``x``, ``angles`` (and ``basis`` when given).

    With ``z`` the rotary block of ``x`` (in ``Q``'s frame, ``z = Q^T x``) and ``g_w``
    the upstream gradient of the rotated block (``Q^T g``):

    .. math::

        \\frac{\\partial L}{\\partial z} = m R(-\\varphi)\\, g_w, \\qquad
        \\frac{\\partial L}{\\partial \\varphi_k} = a_k\\, \\bar g_{c_k} - c_k\\, \\bar g_{a_k},
        \\qquad
        \\frac{\\partial L}{\\partial Q} = \\sum g\\, w^\\top + x\\, \\bar g^\\top

    where ``bar g = dL/dz`` and ``w = m R(phi) z``. The gradient in ``x`` is the
    upstream gradient rotated by ``-phi`` (and scaled by ``m``); pass-through features
    get ``g`` unchanged. Each gradient is summed over the axes on which its argument
    was broadcast. ``magnitude`` is treated as a constant (no gradient). The basis
    gradient is the Euclidean gradient of ``Q R Q^T x`` as a function of a free matrix
    ``Q``; project it onto the tangent space yourself if you optimise on O(2P).

    Parameters
    ----------
    grad : array_like
        Upstream gradient, the shape of ``apply(x, angles, ...)``.
    x, angles, layout, magnitude, basis
        As for :func:`apply`.

    Returns
    -------
    (grad_x, grad_angles) or (grad_x, grad_angles, grad_basis)
        Shaped like ``x``, ``angles`` and ``basis``. Use :func:`inv_freq_vjp` on
        ``grad_angles`` to learn the frequencies.

    Examples
    --------
    >>> gx, ga = apply_vjp([0.0, 1.0], [1.0, 0.0], [np.pi / 2])
    >>> np.round(gx, 12), np.round(ga, 12)
    (array([1., 0.]), array([0.]))
    """
    x, cos, sin, basis, shape = _prepare(x, angles, layout, magnitude, basis)
    grad = as_float_array(grad, "grad", allow_nonfinite=True)
    if grad.shape != shape:
        raise ValueError(f"grad must have the output's shape {shape}, got {grad.shape}")
    if grad.strides[-1] != grad.itemsize:
        grad = np.ascontiguousarray(grad)
    grad_x, grad_angles = np.empty(shape), np.zeros(cos.shape)
    grad_basis = None if basis is None else np.zeros(basis.shape)
    lead, rows, blocks = _blocks(shape, cos.shape)
    rows_grad, rows_x, rows_grad_x = (_as_rows(a, shape, lead, rows) for a in (grad, x, grad_x))
    phasors = _phasor(cos, sin)[None], _phasor(cos, -sin)[None]  # rotate by +phi, -phi
    angle_rows = grad_angles[None]  # a view: blocks add into grad_angles through it
    for block in blocks:
        grad_block, x_block = _cut(rows_grad, *block), _cut(rows_x, *block)
        _check_finite_fast(grad_block, "grad", grad)
        _check_finite_fast(x_block, "x", x)
        angle_part, basis_part = _apply_vjp_block(
            grad_block, x_block, tuple(_cut(p, *block) for p in phasors), layout, basis,
            _cut(rows_grad_x, *block))
        target = _cut(angle_rows, *block)
        target += sum_to_shape(angle_part, target.shape)
        if basis is not None:
            grad_basis += basis_part
    grad_x = sum_to_shape(grad_x, x.shape)
    return (grad_x, grad_angles) if basis is None else (grad_x, grad_angles, grad_basis)


def _angle_gradient(block: np.ndarray, rotated_grad: np.ndarray, layout: str) -> np.ndarray:
    """``dL/dphi_k = a_k gz_c - c_k gz_a = Im(conj(a + i c) (gz_a + i gz_c))`` per pair.

    ``gz`` is the pair gradient already rotated by ``-phi`` (and scaled by ``m``).
    """
    pairs = _complex_pairs(block, layout)
    product = np.conjugate(pairs, out=pairs if layout == "half" else None)  # half: a copy
    if product.shape == rotated_grad.shape:
        np.multiply(product, rotated_grad, out=product)
    else:
        product = product * rotated_grad
    return product.imag


def _apply_vjp_block(grad, x, phasors, layout: str, basis, grad_x: np.ndarray):
    """:func:`apply_vjp` on one block of rows: writes ``grad_x``, returns the rest unsummed.

    ``phasors`` rotate by ``+phi`` and ``-phi``. With ``z = a + i c`` the input pairs and
    ``gz`` the pair gradient rotated by ``-phi``, the angle gradient
    ``a gz_c - c gz_a`` is ``Im(conj(z) gz)``.
    """
    phasor, inverse = phasors
    rotary = 2 * phasor.shape[-1]
    grad_block, block = grad[..., :rotary], x[..., :rotary]
    if basis is not None:
        grad_block, block = grad_block @ basis, block @ basis
    grad_z = grad_x[..., :rotary] if basis is None else np.empty(grad.shape[:-1] + (rotary,))
    rotated_grad = _rotate(grad_block, inverse, layout, grad_z)
    angle_part = _angle_gradient(block, rotated_grad, layout)
    grad_x[..., rotary:] = grad[..., rotary:]
    if basis is None:
        return angle_part, None
    grad_x[..., :rotary] = grad_z @ basis.T
    rotated = np.empty(grad.shape[:-1] + (rotary,))
    _rotate(block, phasor, layout, rotated)
    return angle_part, _outer_sum(grad[..., :rotary], rotated) + _outer_sum(x[..., :rotary], grad_z)


def _expand(table: np.ndarray, layout: str) -> np.ndarray:
    """Per-pair values laid out per feature: ``[t0, t0, t1, t1, ...]`` or ``[t, t]``."""
    if layout == "interleaved":
        return np.repeat(table, 2, axis=-1)
    return np.concatenate([table, table], axis=-1)


def _rotate_quarter(block: np.ndarray, layout: str) -> np.ndarray:
    """The post's ``rot(x)``: every pair ``(a, c)`` becomes ``(-c, a)``."""
    if layout == "interleaved":
        return np.stack([-block[..., 1::2], block[..., 0::2]], axis=-1).reshape(block.shape)
    half = block.shape[-1] // 2
    return np.concatenate([-block[..., half:], block[..., :half]], axis=-1)


def elementwise_form(x: ArrayLike, angles: ArrayLike, *, layout: str = "interleaved",
                     magnitude: ArrayLike | None = None) -> np.ndarray:
    """The post's elementwise formula ``x * C + rot(x) * S``, written out plainly.

    .. math:: y = x \\odot (m\\cos\\varphi)_{\\text{expanded}}
              + \\mathrm{rot}(x) \\odot (m\\sin\\varphi)_{\\text{expanded}}

    ``rot`` sends each pair ``(a, c)`` to ``(-c, a)`` and the per-pair tables are
    expanded as ``[t0, t0, t1, t1, ...]`` (interleaved) or ``[t, t]`` (half), exactly
    as kexue.fm/archives/8265 (§A.4 of the rope2d note) and Hugging Face
    ``rotate_half`` write it. This is the definition :func:`apply` is tested against;
    it allocates several temporaries, so use :func:`apply` for speed.

    Examples
    --------
    >>> elementwise_form([1.0, 2.0, 3.0, 4.0], [1.0, 0.01]).round(6)
    array([-1.14264 ,  1.922076,  2.959851,  4.0298  ])
    """
    x, cos, sin, _, _ = _prepare(x, angles, layout, magnitude, None)
    check_finite(x, "x")
    rotary = 2 * cos.shape[-1]
    block = x[..., :rotary]
    rotated = block * _expand(cos, layout) + _rotate_quarter(block, layout) * _expand(sin, layout)
    rest = np.broadcast_to(x[..., rotary:], rotated.shape[:-1] + (x.shape[-1] - rotary,))
    return np.concatenate([rotated, rest], axis=-1)


def complex_form(x: ArrayLike, angles: ArrayLike, *, magnitude: ArrayLike | None = None
                 ) -> np.ndarray:
    """Interleaved RoPE as complex multiplication: ``(x_2k + i x_2k+1) m e^{i phi_k}``.

    .. math:: y_{2k} + i\\, y_{2k+1} = m_k e^{i \\varphi_k} (x_{2k} + i\\, x_{2k+1})

    This is the derivation of kexue.fm/archives/8265 (§A.2 of the rope2d note) and
    Meta's ``apply_rotary_emb`` (``torch.polar`` then a complex product). Returns the
    real array, pass-through features included, shaped like :func:`apply`'s output.

    Examples
    --------
    >>> complex_form([1.0, 2.0, 3.0, 4.0], [1.0, 0.01]).round(6)
    array([-1.14264 ,  1.922076,  2.959851,  4.0298  ])
    """
    x, cos, _, _, shape = _prepare(x, angles, "interleaved", magnitude, None)
    check_finite(x, "x")
    pairs = cos.shape[-1]
    scale = 1.0 if magnitude is None else np.asarray(magnitude, dtype=np.float64)
    phasor = scale * np.exp(1j * np.asarray(angles, dtype=np.float64))
    rotated = (x[..., 0:2 * pairs:2] + 1j * x[..., 1:2 * pairs:2]) * phasor
    out = np.empty(shape)
    out[..., 0:2 * pairs:2], out[..., 1:2 * pairs:2] = rotated.real, rotated.imag
    out[..., 2 * pairs:] = x[..., 2 * pairs:]
    return out


def rotation_matrix(angles: ArrayLike, dim: int, layout: str = "interleaved", *,
                    magnitude: ArrayLike | None = None) -> np.ndarray:
    """The dense block-diagonal RoPE matrix ``R(phi)``, shape ``(..., dim, dim)``.

    .. math::

        R_{a_k a_k} = R_{c_k c_k} = m_k\\cos\\varphi_k, \\quad
        R_{a_k c_k} = -m_k\\sin\\varphi_k, \\quad R_{c_k a_k} = m_k\\sin\\varphi_k

    for every pair ``(a_k, c_k)`` of the layout, and the identity on the pass-through
    features ``2P..dim-1``; ``apply(x, phi) = R(phi) @ x``. Ground truth for tests
    (``O(dim^2)`` memory per angle vector; never use it for speed).

    Examples
    --------
    >>> rotation_matrix([np.pi / 2], 3).round(12)
    array([[ 0., -1.,  0.],
           [ 1.,  0.,  0.],
           [ 0.,  0.,  1.]])
    """
    dim = as_int(dim, "dim", minimum=0)
    pairs = np.shape(angles)[-1] if np.ndim(angles) else 0
    if 2 * pairs > dim:
        raise ValueError(f"angles has P={pairs} pairs, so the rotary block 2P={2 * pairs} "
                         f"exceeds dim={dim}")
    _, cos, sin, _, _ = _prepare(np.zeros(dim), angles, layout, magnitude, None)
    pairs = cos.shape[-1]
    first, second = _pairs(np.arange(2 * pairs), layout)
    matrix = np.zeros(cos.shape[:-1] + (dim, dim))
    matrix[..., np.arange(2 * pairs, dim), np.arange(2 * pairs, dim)] = 1.0
    matrix[..., first, first] = cos
    matrix[..., second, second] = cos
    matrix[..., first, second] = -sin
    matrix[..., second, first] = sin
    return matrix
