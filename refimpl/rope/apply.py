"""Rotary position embedding in one dimension: angles, the rotation, and its backward pass.

RoPE (Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding", 2021,
arXiv:2104.09864; the post kexue.fm/archives/8265) rotates each pair of features of a
query or key at position ``p`` by the angle ``p * omega_k``. Because rotations compose,
``<R_m q, R_n k> = <q, R_(n-m) k>``: the attention score sees only the offset.

Pairs are ``(2k, 2k+1)`` in the *interleaved* layout (Meta, GPT-J, the post) and
``(k, k+P)`` in the *half* layout (Hugging Face ``rotate_half``, GPT-NeoX), always within
the leading rotary block of ``2P`` features; the rest pass through (partial rotary).

Read :func:`apply_definition` first: it rotates every pair by the 2x2 formula
``(x1 cos phi - x2 sin phi, x1 sin phi + x2 cos phi)``, and :func:`apply_vjp_definition`
writes the backward pass the same way. The other forms compute the same map:

* :func:`apply` and :func:`apply_vjp`, the fast forms: the pairs as complex numbers
  multiplied by ``e^{i phi}`` (on a view of the memory in the interleaved layout), cut into
  cache-sized blocks. Defined by the two definitions, and tested against them.
* :func:`elementwise_form`, the post's and Hugging Face's vector form
  ``x * C + rot(x) * S`` with layout-expanded tables (bitwise ``rotate_half`` in float64).
* :func:`complex_form`, the derivation's ``(x_2k + i x_2k+1) e^{i phi_k}`` (Meta's
  ``apply_rotary_emb``).
* :func:`rotation_matrix`, the dense block-diagonal ``R(phi)`` (ground truth for tests).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_float_array, broadcast_batch, check_finite, check_ndim
from refimpl.rope._arguments import (
    BASIS_ORTHOGONALITY_TOL,
    LAYOUTS,
    check_basis,
    rotation_arguments,
    scaled_cos_sin,
)
from refimpl.rope._kernels import (
    Block,
    apply_block,
    apply_vjp_block,
    as_rows,
    check_finite_fast,
    complex_rotation,
    cut,
    cut_into_blocks,
    magnitude_gradient,
    outer_sum,
    pair_views,
)
from refimpl.rope.reference_forms import complex_form, elementwise_form, rotation_matrix

#: Elements per block in :func:`apply` and :func:`apply_vjp` (512 KiB of float64): large
#: enough that the Python loop costs little, small enough that a block's input, output
#: and temporaries stay in a 2 MiB L2 cache (the half layout ran twice as fast as with
#: 2 MiB blocks on the benchmark machine).
BLOCK_SIZE = 1 << 16

__all__ = [
    "LAYOUTS", "BASIS_ORTHOGONALITY_TOL", "angles", "angles_vjp", "inv_freq_vjp",
    "apply_definition", "apply_vjp_definition", "apply", "apply_vjp", "elementwise_form",
    "complex_form", "rotation_matrix", "check_basis",
]

#: Where :func:`apply_vjp` and :func:`apply_vjp_definition` put each gradient.
Gradients = tuple[np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None"]


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
    Hugging Face transformers 5.24.0 (``LlamaRotaryEmbedding.forward`` in
    ``models/llama/modeling_llama.py``), Meta's ``precompute_freqs_cis``
    (meta-llama/llama ``llama/model.py``) and torchtune 0.6.1
    (``modules/position_embeddings.py``) compute this product in float32 whatever the
    model dtype: expect differences that grow linearly with the position when comparing
    against them.

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


# -- the definitions ---------------------------------------------------------------------

def _rotate_pairs(z: np.ndarray, cos: np.ndarray, sin: np.ndarray, scale: ArrayLike,
                  layout: str, shape: tuple[int, ...]) -> np.ndarray:
    """``scale * (x1 cos - x2 sin, x1 sin + x2 cos)`` for every pair ``(x1, x2)`` of
    ``z``, in an array of ``shape`` (the broadcast of z's batch with the angles')."""
    x1, x2 = pair_views(z, layout)
    out = np.empty(shape)
    y1, y2 = pair_views(out, layout)
    y1[...] = scale * (x1 * cos - x2 * sin)
    y2[...] = scale * (x1 * sin + x2 * cos)
    return out


def apply_definition(x: ArrayLike, angles: ArrayLike, *, layout: str = "interleaved",
                     magnitude: ArrayLike | None = None, basis: ArrayLike | None = None,
                     rotary_dim: int | None = None) -> np.ndarray:
    """The definition of :func:`apply`: every feature pair turned by its own 2x2 rotation.

    For the pair ``(x1, x2) = (x_2k, x_2k+1)`` (interleaved) or ``(x_k, x_k+P)`` (half)
    of the rotary block ``x[..., :2P]``, with angle ``phi_k`` and magnitude ``m_k``
    (default 1):

    .. math::

        \\begin{pmatrix} y_1 \\\\ y_2 \\end{pmatrix}
        = m_k \\begin{pmatrix} \\cos\\varphi_k & -\\sin\\varphi_k \\\\
                               \\sin\\varphi_k & \\cos\\varphi_k \\end{pmatrix}
          \\begin{pmatrix} x_1 \\\\ x_2 \\end{pmatrix}
        = m_k \\begin{pmatrix} x_1\\cos\\varphi_k - x_2\\sin\\varphi_k \\\\
                               x_1\\sin\\varphi_k + x_2\\cos\\varphi_k \\end{pmatrix}

    and ``y_j = x_j`` for the features ``j >= 2P`` (partial rotary). With ``basis = Q``
    the pairs are taken in Q's frame: the rotary block becomes ``Q R(phi) Q^T x``. This
    is the general form of RoPE in RoFormer (Su et al. 2021, arXiv:2104.09864), with
    magnitude and basis added; parameters, shapes and errors are those of :func:`apply`.

    Examples
    --------
    >>> apply_definition([1.0, 0.0, 2.0], [np.pi / 2], rotary_dim=2).round(12)
    array([0., 1., 2.])
    >>> apply_definition([1.0, 2.0, 3.0, 4.0], [np.pi / 2, 0.0], layout="half").round(12)
    array([-3.,  2.,  1.,  4.])
    """
    x, phi, scale, frame, shape = rotation_arguments(x, angles, layout, magnitude, basis,
                                                     rotary_dim)
    check_finite(x, "x")
    rotary = 2 * phi.shape[-1]
    z = x[..., :rotary] if frame is None else x[..., :rotary] @ frame  # Q^T x
    m = 1.0 if scale is None else scale
    y = _rotate_pairs(z, np.cos(phi), np.sin(phi), m, layout, shape[:-1] + (rotary,))
    out = np.empty(shape)
    out[..., :rotary] = y if frame is None else y @ frame.T  # back from Q's frame
    out[..., rotary:] = x[..., rotary:]
    return out


def apply_vjp_definition(grad: ArrayLike, x: ArrayLike, angles: ArrayLike, *,
                         layout: str = "interleaved", magnitude: ArrayLike | None = None,
                         basis: ArrayLike | None = None, rotary_dim: int | None = None
                         ) -> Gradients:
    """The definition of :func:`apply_vjp`: the chain rule through each 2x2 rotation.

    With ``(g1, g2)`` the upstream gradient of the output pair ``y = m R(phi) (x1, x2)``
    (all in Q's frame when a basis is given: ``z = Q^T x``, ``g_w = Q^T g``):

    .. math::

        \\frac{\\partial L}{\\partial (x_1, x_2)} = m R(\\varphi)^\\top g
            = m R(-\\varphi) g
            = m\\,(g_1\\cos\\varphi + g_2\\sin\\varphi,\\; -g_1\\sin\\varphi + g_2\\cos\\varphi)

        \\frac{\\partial L}{\\partial \\varphi} = g \\cdot m \\frac{dR}{d\\varphi} x
            = m\\,[g_1 (-x_1\\sin\\varphi - x_2\\cos\\varphi)
                   + g_2 (x_1\\cos\\varphi - x_2\\sin\\varphi)]

        \\frac{\\partial L}{\\partial m} = g \\cdot R(\\varphi) x, \\qquad
        \\frac{\\partial L}{\\partial Q} = \\sum_{\\text{batch}} g\\, w^\\top
            + x\\, \\Big(\\frac{\\partial L}{\\partial z}\\Big)^\\top

    with ``w = m R(phi) z`` the rotated block in Q's frame. Pass-through features get
    ``g`` unchanged, and each gradient is summed over the axes on which its argument was
    broadcast. Returns ``(grad_x, grad_angles, grad_magnitude, grad_basis)`` exactly as
    :func:`apply_vjp` does.

    Examples
    --------
    >>> gx, ga, gm, gq = apply_vjp_definition([0.0, 1.0], [1.0, 0.0], [np.pi / 2])
    >>> gx.round(12), ga.round(12), gm, gq
    (array([1., 0.]), array([0.]), None, None)
    """
    x, phi, scale, frame, shape = rotation_arguments(x, angles, layout, magnitude, basis,
                                                     rotary_dim)
    check_finite(x, "x")
    grad = cotangent(grad, shape)
    rotary = 2 * phi.shape[-1]
    x_rot, g_rot = x[..., :rotary], grad[..., :rotary]
    z, g = (x_rot, g_rot) if frame is None else (x_rot @ frame, g_rot @ frame)  # Q^T x, Q^T g
    m, cos, sin = 1.0 if scale is None else scale, np.cos(phi), np.sin(phi)
    (x1, x2), (g1, g2) = pair_views(z, layout), pair_views(g, layout)
    grad_z = _rotate_pairs(g, cos, -sin, m, layout, g.shape)  # m R(phi)^T g = m R(-phi) g
    grad_angles = m * (g1 * (-x1 * sin - x2 * cos) + g2 * (x1 * cos - x2 * sin))
    grad_magnitude = g1 * (x1 * cos - x2 * sin) + g2 * (x1 * sin + x2 * cos)
    grad_x = np.concatenate([grad_z if frame is None else grad_z @ frame.T, grad[..., rotary:]],
                            axis=-1)
    grad_basis = None
    if frame is not None:
        w = _rotate_pairs(z, cos, sin, m, layout, g.shape)  # the rotated block in Q's frame
        grad_basis = outer_sum(g_rot, w) + outer_sum(x_rot, grad_z)
    return (sum_to_shape(grad_x, x.shape), sum_to_shape(grad_angles, phi.shape),
            None if scale is None else sum_to_shape(grad_magnitude, scale.shape), grad_basis)


def apply(x: ArrayLike, angles: ArrayLike, *, layout: str = "interleaved",
          magnitude: ArrayLike | None = None, basis: ArrayLike | None = None,
          rotary_dim: int | None = None) -> np.ndarray:
    """Rotate the leading ``2P`` features of ``x`` pair by pair; pass the rest through.

    Defined by :func:`apply_definition`: every pair ``(a_k, c_k)`` of the rotary block
    becomes ``m_k (a_k cos phi_k - c_k sin phi_k, a_k sin phi_k + c_k cos phi_k)``, i.e.
    ``y = x * C + rot(x) * S`` with the layout-expanded ``C = m cos``, ``S = m sin`` (the
    post's elementwise form, :func:`elementwise_form`), or ``y_block = R(phi) x_block``
    with the block-diagonal :func:`rotation_matrix`.
    With ``basis = Q`` the rotary block becomes ``Q R(phi) Q^T x_block``: the learned
    change of basis of Liu et al., "Rethinking RoPE" (2025, arXiv:2504.06308), the
    general form of commuting-generator RoPE (kexue.fm/archives/8397); relativity
    still holds.

    Parameters
    ----------
    x : array_like, shape (..., D)
        Queries or keys, feature last.
    angles : array_like, shape (..., P)
        Angles ``phi``, ``2P = D`` (or ``2P = rotary_dim``), e.g. from :func:`angles`;
        leading axes broadcast against ``x``'s (x ``(B, H, T, D)`` with angles
        ``(T, P)`` is the usual case; angles ``(B, T, P)`` need ``angles[:, None]``).
    layout : {"interleaved", "half"}
        Pairs ``(2k, 2k+1)`` (Meta, GPT-J, the post) or ``(k, k+P)`` (Hugging Face
        ``rotate_half``, GPT-NeoX), both within the rotary block ``x[..., :2P]``.
    magnitude : array_like, optional
        Multiplies cos and sin (Hugging Face ``attention_scaling``, which scales the
        logits by ``m^2``; the xPos scale ``zeta^(p / scale_base)`` of Sun et al., "A
        Length-Extrapolatable Transformer", 2022, arXiv:2212.10554, as lucidrains'
        ``rotary-embedding-torch`` 0.9.1 applies it to queries, its inverse to keys).
        Must broadcast to ``angles``' shape. Pass-through features are never scaled, as
        in Hugging Face.
    basis : array_like, shape (2P, 2P), optional
        Orthogonal change of basis ``Q``, checked to ``max |Q^T Q - I| <=``
        :data:`BASIS_ORTHOGONALITY_TOL` (1e-10). The layout chooses the pairs in
        ``Q``'s frame.
    rotary_dim : int, optional
        Partial rotary, said explicitly: the number ``2P`` of leading features that
        rotate when it is less than ``D``; the rest pass through. Without it ``angles``
        must cover all ``D`` features: a short ``angles`` is refused, never guessed
        (positions passed where angles belong look exactly like partial rotary).

    Returns
    -------
    ndarray, shape broadcast(x.shape[:-1], angles.shape[:-1]) + (D,)

    Raises
    ------
    ValueError
        ``2P != D`` without ``rotary_dim`` (the message shows both shapes and the
        fix), ``rotary_dim != 2P``, an unknown ``layout``, non-finite input, shapes that
        do not broadcast (with a hint for a missing heads axis), a non-orthogonal
        ``basis``.

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
    >>> y = apply([1.0, 0.0, 2.0, 5.0], [np.pi / 2], rotary_dim=2)
    >>> np.round(y, 12)
    array([0., 1., 2., 5.])
    >>> q, k = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, -1.0, 2.0, 1.0])
    >>> inv = np.array([1.0, 0.01])
    >>> score = lambda m, n: apply(q, m * inv) @ apply(k, n * inv)
    >>> bool(np.isclose(score(3, 7), score(10, 14)))
    True
    """
    x, phi, scale, frame, shape = rotation_arguments(x, angles, layout, magnitude, basis,
                                                     rotary_dim)
    cos, sin = scaled_cos_sin(phi, scale)
    out = np.empty(shape)
    lead, rows, blocks = cut_into_blocks(shape, cos.shape, BLOCK_SIZE)
    rows_x, rows_out = as_rows(x, shape, lead, rows), as_rows(out, shape, lead, rows)
    phasor = complex_rotation(cos, sin)[None]
    for block in blocks:
        x_block = cut(rows_x, *block)
        check_finite_fast(x_block, "x", x)
        apply_block(x_block, cut(phasor, *block), layout, frame, cut(rows_out, *block))
    return out


def _check_inputs(grad_angles: np.ndarray, grad: np.ndarray, x: np.ndarray, rotary: int
                  ) -> None:
    """Raise naming ``grad`` or ``x`` when either holds NaN or inf.

    Every rotary entry of both reaches the angle gradient through a product
    (``inf * 0`` is NaN), so a finite ``grad_angles`` proves the rotary blocks finite
    without reading them again; only the pass-through features need their own check.
    A non-finite ``grad_angles`` from finite inputs (an overflow) passes.
    """
    if not np.isfinite(np.einsum("i->", grad_angles.reshape(-1))):
        check_finite(grad, "grad")
        check_finite(x, "x")
    if rotary < x.shape[-1]:
        check_finite(grad[..., rotary:], "grad")
        check_finite(x[..., rotary:], "x")


def _vjp_blocks(blocks: list[Block], rows_grad: np.ndarray, rows_x: np.ndarray,
                rows_grad_x: np.ndarray, turns: tuple[np.ndarray, np.ndarray],
                unit: np.ndarray | None, layout: str, frame: np.ndarray | None,
                angle_rows: np.ndarray, scale_rows: np.ndarray, grad_basis: np.ndarray) -> None:
    """The block loop of :func:`apply_vjp`: writes ``grad_x`` and adds every block's
    angle products, magnitude and basis gradients into the accumulators."""
    for block in blocks:
        grad_block, x_block = cut(rows_grad, *block), cut(rows_x, *block)
        angle_part, basis_part = apply_vjp_block(
            grad_block, x_block, (cut(turns[0], *block), cut(turns[1], *block)), layout, frame,
            cut(rows_grad_x, *block))
        target = cut(angle_rows, *block)
        target += sum_to_shape(angle_part, target.shape)
        if unit is not None:
            part = magnitude_gradient(grad_block, x_block, cut(unit, *block), layout, frame)
            target = cut(scale_rows, *block)
            target += sum_to_shape(part, target.shape)
        if basis_part is not None:
            grad_basis += basis_part


def apply_vjp(grad: ArrayLike, x: ArrayLike, angles: ArrayLike, *, layout: str = "interleaved",
              magnitude: ArrayLike | None = None, basis: ArrayLike | None = None,
              rotary_dim: int | None = None) -> Gradients:
    """Gradients of :func:`apply` in ``x``, ``angles``, ``magnitude`` and ``basis``.

    Defined by :func:`apply_vjp_definition`, which states the equations pair by pair:
    the gradient in ``x`` is the upstream gradient rotated by ``-phi`` (``R(phi)^T =
    R(-phi)``) and scaled by ``m``, pass-through features get ``g`` unchanged, and

    .. math::

        \\frac{\\partial L}{\\partial \\varphi_k} = m_k\\, g \\cdot R'(\\varphi_k) x, \\qquad
        \\frac{\\partial L}{\\partial m_k} = g \\cdot R(\\varphi_k) x, \\qquad
        \\frac{\\partial L}{\\partial Q} = \\sum g\\, w^\\top + x\\, \\bar g^\\top

    per pair (in ``Q``'s frame with a basis; ``w = m R(phi) Q^T x``, ``bar g`` the
    gradient of ``Q^T x``), each summed over the axes on which its argument was
    broadcast. Here ``dL/dphi`` is computed as ``Im(conj(z) gz)`` with ``z`` the input
    pairs as complex numbers and ``gz`` the gradient rotated by ``-phi``. The basis
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
    (grad_x, grad_angles, grad_magnitude, grad_basis)
        Always four entries, one per differentiable argument in argument order, shaped
        like ``x``, ``angles``, ``magnitude`` and ``basis``; ``grad_magnitude`` is
        ``None`` when no magnitude was given and ``grad_basis`` when no basis was. Use
        :func:`inv_freq_vjp` on ``grad_angles`` to learn the frequencies.

    Examples
    --------
    >>> gx, ga, _, _ = apply_vjp([0.0, 1.0], [1.0, 0.0], [np.pi / 2])
    >>> np.round(gx, 12), np.round(ga, 12)
    (array([1., 0.]), array([0.]))
    """
    x, phi, scale, frame, shape = rotation_arguments(x, angles, layout, magnitude, basis,
                                                     rotary_dim)
    cos, sin = scaled_cos_sin(phi, scale)
    grad = as_float_array(grad, "grad", allow_nonfinite=True)
    if grad.shape != shape:
        raise ValueError(f"grad must have the output's shape {shape}, got {grad.shape}")
    if grad.strides[-1] != grad.itemsize:
        grad = np.ascontiguousarray(grad)
    grad_x, angle_sums = np.empty(shape), np.zeros(cos.shape, dtype=np.complex128)
    grad_scale, grad_basis = np.zeros(cos.shape), np.zeros((2 * cos.shape[-1],) * 2)
    lead, rows, blocks = cut_into_blocks(shape, cos.shape, BLOCK_SIZE)
    rows_grad, rows_x, rows_grad_x = (as_rows(a, shape, lead, rows) for a in (grad, x, grad_x))
    turns = complex_rotation(cos, sin)[None], complex_rotation(cos, -sin)[None]  # +phi, -phi
    unit = None if scale is None else complex_rotation(np.cos(phi), -np.sin(phi))[None]
    angle_rows, scale_rows = angle_sums[None], grad_scale[None]  # views: blocks add into them
    with np.errstate(invalid="ignore"):  # inf * 0 from a non-finite input: named below
        _vjp_blocks(blocks, rows_grad, rows_x, rows_grad_x, turns, unit, layout, frame,
                    angle_rows, scale_rows, grad_basis)
    grad_angles = angle_sums.imag.copy()
    _check_inputs(grad_angles, grad, x, 2 * cos.shape[-1])
    return (sum_to_shape(grad_x, x.shape), grad_angles,
            None if scale is None else sum_to_shape(grad_scale, scale.shape),
            None if frame is None else grad_basis)
