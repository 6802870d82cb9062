"""Array kernels of :mod:`refimpl.rope.apply`: pair views, complex products, cache blocks.

Every form of the rotation reads the pairs of a rotary block through
:func:`pair_views`. The fast forms (:func:`refimpl.rope.apply`,
:func:`refimpl.rope.apply_vjp`) go further: they see a pair ``(a, c)`` as the complex
number ``a + i c`` (a view of the memory in the interleaved layout), rotate it by one
complex product with ``m e^{i phi}``, and run over the output in blocks small enough
for a block's input, output and temporaries to stay in cache. The functions here do no
argument checks; the public functions check first.
"""

from __future__ import annotations

import math

import numpy as np

from refimpl._validation import check_finite

#: A block of rows: ``(row_slice, span_slice)``, see :func:`cut_into_blocks`.
Block = tuple[slice, slice]


def pair_views(block: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The two members ``(x1, x2)`` of every rotation pair of ``block``, as views:
    ``(x_2k, x_2k+1)`` in the interleaved layout, ``(x_k, x_k+P)`` in the half layout."""
    half = block.shape[-1] // 2
    if layout == "interleaved":
        return block[..., 0::2], block[..., 1::2]
    return block[..., :half], block[..., half:]


def outer_sum(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``sum over batch of left[..., :, None] * right[..., None, :]`` (batches broadcast)."""
    batch = np.broadcast_shapes(left.shape[:-1], right.shape[:-1])
    left = np.broadcast_to(left, batch + left.shape[-1:]).reshape(-1, left.shape[-1])
    right = np.broadcast_to(right, batch + right.shape[-1:]).reshape(-1, right.shape[-1])
    return left.T @ right


def check_finite_fast(array: np.ndarray, name: str, whole: np.ndarray) -> None:
    """:func:`~refimpl._validation.check_finite` of a block of ``whole`` in a single
    read: the sum is finite when every entry is.

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


def cut_into_blocks(shape: tuple[int, ...], angles_shape: tuple[int, ...], block_size: int
                    ) -> tuple[int, int, list[Block]]:
    """Cut an output of ``shape`` into blocks of about ``block_size`` elements.

    The leading axes that ``angles`` lacks (batch and heads, usually) are flattened into
    rows; a block is some rows, or one row and a span of the next axis (the tokens)
    when a row alone is too big. Returns ``(lead, rows, blocks)`` with ``blocks`` a list
    of ``(row_slice, span_slice)``; see :func:`as_rows` and :func:`cut`.
    """
    lead = len(shape) - len(angles_shape)
    rows, inner = math.prod(shape[:lead]), shape[lead:]
    per_row = math.prod(inner)
    if len(inner) < 2 or per_row <= block_size:
        step = max(1, block_size // max(per_row, 1))
        return lead, rows, [(slice(r, r + step), slice(None)) for r in range(0, rows, step)]
    span = max(1, block_size // max(math.prod(inner[1:]), 1))
    return lead, rows, [(slice(r, r + 1), slice(t, t + span))
                        for r in range(rows) for t in range(0, inner[0], span)]


def as_rows(array: np.ndarray, shape: tuple[int, ...], lead: int, rows: int) -> np.ndarray:
    """``array`` (broadcasting to ``shape``) with its ``lead`` leading axes flattened into
    ``rows``, padded with size-1 axes to ``1 + len(shape) - lead`` dimensions."""
    return array.reshape((rows,) + (1,) * (len(shape) - array.ndim) + array.shape[lead:])


def cut(array: np.ndarray, rows: slice, span: slice) -> np.ndarray:
    """The block ``[rows, span]`` of an array from :func:`as_rows`; size-1 axes (broadcast)
    are kept whole."""
    if array.ndim > 2 and array.shape[1] > 1:
        return array[rows if array.shape[0] > 1 else slice(None), span]
    return array[rows if array.shape[0] > 1 else slice(None)]


def complex_rotation(cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """The per-pair rotation as a complex number ``cos + i sin`` (magnitude included)."""
    phasor = np.empty(cos.shape, dtype=np.complex128)
    phasor.real, phasor.imag = cos, sin
    return phasor


def complex_pairs(block: np.ndarray, layout: str) -> np.ndarray:
    """The pairs ``(a_k, c_k)`` of ``block`` as complex numbers ``a_k + i c_k``.

    A view for the interleaved layout (float64 pairs are laid out like complex128);
    a copy for the half layout.
    """
    if layout == "interleaved":
        return block.view(np.complex128)
    numbers = np.empty(block.shape[:-1] + (block.shape[-1] // 2,), dtype=np.complex128)
    numbers.real, numbers.imag = pair_views(block, layout)
    return numbers


def rotate(block: np.ndarray, phasor: np.ndarray, layout: str, out: np.ndarray) -> np.ndarray:
    """Write ``a' = a cos - c sin``, ``c' = c cos + a sin`` for every pair into ``out``.

    Computed as the complex product ``(a + i c)(cos + i sin)``: on a view of the pairs
    in the interleaved layout (one pass over memory), on a copy in the half layout.
    NumPy's complex product may round differently from the real formula by an ulp;
    :func:`refimpl.rope.apply_definition` is the real formula, and the tests bound the
    difference. Returns the rotated pairs as complex numbers.
    """
    if layout == "interleaved":
        rotated = out.view(np.complex128)
        np.multiply(block.view(np.complex128), phasor, out=rotated)
        return rotated
    numbers = complex_pairs(block, layout)
    in_place = np.broadcast_shapes(numbers.shape, phasor.shape) == numbers.shape
    rotated = np.multiply(numbers, phasor, out=numbers if in_place else None)
    first, second = pair_views(out, layout)
    first[...], second[...] = rotated.real, rotated.imag
    return rotated


def apply_block(x: np.ndarray, phasor: np.ndarray, layout: str, basis: np.ndarray | None,
                out: np.ndarray) -> None:
    """:func:`refimpl.rope.apply` on one block of rows, written into ``out``."""
    rotary = 2 * phasor.shape[-1]
    if basis is None:
        rotate(x[..., :rotary], phasor, layout, out[..., :rotary])
    else:
        rotated = np.empty(out.shape[:-1] + (rotary,))
        rotate(x[..., :rotary] @ basis, phasor, layout, rotated)
        out[..., :rotary] = rotated @ basis.T
    out[..., rotary:] = x[..., rotary:]


def angle_products(block: np.ndarray, rotated_grad: np.ndarray, layout: str) -> np.ndarray:
    """``conj(a + i c) (gz_a + i gz_c)`` per pair, whose imaginary part is
    ``dL/dphi_k = a_k gz_c - c_k gz_a``.

    ``gz`` is the pair gradient already rotated by ``-phi`` (and scaled by ``m``). The
    complex product is returned whole: summing complex numbers and taking the imaginary
    part once at the end reads memory contiguously, where adding ``.imag`` block by
    block reads every other float (the same additions, so the same result bit for bit).
    """
    numbers = complex_pairs(block, layout)
    product = np.conjugate(numbers, out=numbers if layout == "half" else None)  # half: a copy
    if product.shape == rotated_grad.shape:
        np.multiply(product, rotated_grad, out=product)
    else:
        product = product * rotated_grad
    return product


def magnitude_gradient(grad: np.ndarray, x: np.ndarray, unit: np.ndarray, layout: str,
                       basis: np.ndarray | None) -> np.ndarray:
    """``dL/dm_k = g_w . R(phi) z = Re(conj(z) g_w e^{-i phi})`` per pair, unsummed, for
    one block; ``unit = e^{-i phi}`` (without the magnitude)."""
    rotary = 2 * unit.shape[-1]
    grad_block, block = grad[..., :rotary], x[..., :rotary]
    if basis is not None:
        grad_block, block = grad_block @ basis, block @ basis
    turned = complex_pairs(grad_block, layout) * unit
    return (np.conjugate(complex_pairs(block, layout)) * turned).real


def apply_vjp_block(grad: np.ndarray, x: np.ndarray, phasors: tuple[np.ndarray, np.ndarray],
                    layout: str, basis: np.ndarray | None, grad_x: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`refimpl.rope.apply_vjp` on one block of rows: writes ``grad_x``, returns the
    angle and basis gradients unsummed.

    ``phasors`` rotate by ``+phi`` and ``-phi``. With ``z = a + i c`` the input pairs and
    ``gz`` the pair gradient rotated by ``-phi``, the angle gradient
    ``a gz_c - c gz_a`` is ``Im(conj(z) gz)``; the complex products are returned
    (:func:`angle_products`).
    """
    phasor, inverse = phasors
    rotary = 2 * phasor.shape[-1]
    grad_block, block = grad[..., :rotary], x[..., :rotary]
    if basis is not None:
        grad_block, block = grad_block @ basis, block @ basis
    grad_z = grad_x[..., :rotary] if basis is None else np.empty(grad.shape[:-1] + (rotary,))
    rotated_grad = rotate(grad_block, inverse, layout, grad_z)
    angle_part = angle_products(block, rotated_grad, layout)
    grad_x[..., rotary:] = grad[..., rotary:]
    if basis is None:
        return angle_part, None
    grad_x[..., :rotary] = grad_z @ basis.T
    rotated = np.empty(grad.shape[:-1] + (rotary,))
    rotate(block, phasor, layout, rotated)
    return angle_part, outer_sum(grad[..., :rotary], rotated) + outer_sum(x[..., :rotary], grad_z)
