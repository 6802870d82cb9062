"""Reference forms of 1-D RoPE: the post's elementwise formula, the complex product and
the dense matrix.

Each computes what :func:`refimpl.rope.apply` computes, written the way a source writes
it: :func:`elementwise_form` is ``x * C + rot(x) * S`` (the RoPE post and Hugging Face
``rotate_half``, bitwise in float64), :func:`complex_form` is Meta's
``(x_2k + i x_2k+1) e^{i phi_k}`` and :func:`rotation_matrix` the block-diagonal
``R(phi)``, the ground truth of the tests.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_int, check_finite
from refimpl.rope._arguments import rotation_arguments, scaled_cos_sin
from refimpl.rope._kernels import pair_views

__all__ = ["elementwise_form", "complex_form", "rotation_matrix"]


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
                     magnitude: ArrayLike | None = None, rotary_dim: int | None = None
                     ) -> np.ndarray:
    """The post's elementwise formula ``x * C + rot(x) * S``, written out plainly.

    .. math:: y = x \\odot (m\\cos\\varphi)_{\\text{expanded}}
              + \\mathrm{rot}(x) \\odot (m\\sin\\varphi)_{\\text{expanded}}

    ``rot`` sends each pair ``(a, c)`` to ``(-c, a)`` and the per-pair tables are
    expanded as ``[t0, t0, t1, t1, ...]`` (interleaved) or ``[t, t]`` (half), exactly
    as kexue.fm/archives/8265 (its efficient elementwise form) and Hugging Face
    ``rotate_half`` (transformers 5.24.0, ``models/llama/modeling_llama.py``) write it.
    It is :func:`apply_definition` with the pair formula spread over whole vectors;
    it allocates several temporaries, so use :func:`apply` for speed.

    Examples
    --------
    >>> elementwise_form([1.0, 2.0, 3.0, 4.0], [1.0, 0.01]).round(6)
    array([-1.14264 ,  1.922076,  2.959851,  4.0298  ])
    """
    x, phi, scale, _, _ = rotation_arguments(x, angles, layout, magnitude, None, rotary_dim)
    check_finite(x, "x")
    cos, sin = scaled_cos_sin(phi, scale)
    rotary = 2 * cos.shape[-1]
    block = x[..., :rotary]
    rotated = block * _expand(cos, layout) + _rotate_quarter(block, layout) * _expand(sin, layout)
    rest = np.broadcast_to(x[..., rotary:], rotated.shape[:-1] + (x.shape[-1] - rotary,))
    return np.concatenate([rotated, rest], axis=-1)


def complex_form(x: ArrayLike, angles: ArrayLike, *, magnitude: ArrayLike | None = None,
                 rotary_dim: int | None = None) -> np.ndarray:
    """Interleaved RoPE as complex multiplication: ``(x_2k + i x_2k+1) m e^{i phi_k}``.

    .. math:: y_{2k} + i\\, y_{2k+1} = m_k e^{i \\varphi_k} (x_{2k} + i\\, x_{2k+1})

    This is the derivation of kexue.fm/archives/8265 (RoFormer's 2-D case) and Meta's
    ``apply_rotary_emb`` (meta-llama/llama ``llama/model.py``: ``torch.polar`` then a
    complex product). Returns the real array, pass-through features included, shaped
    like :func:`apply`'s output.

    Examples
    --------
    >>> complex_form([1.0, 2.0, 3.0, 4.0], [1.0, 0.01]).round(6)
    array([-1.14264 ,  1.922076,  2.959851,  4.0298  ])
    """
    x, phi, _, _, shape = rotation_arguments(x, angles, "interleaved", magnitude, None, rotary_dim)
    check_finite(x, "x")
    pairs = phi.shape[-1]
    scale = 1.0 if magnitude is None else np.asarray(magnitude, dtype=np.float64)
    phasor = scale * np.exp(1j * phi)
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
    _, phi, scale, _, _ = rotation_arguments(np.zeros(dim), angles, layout, magnitude, None,
                                     2 * pairs)
    cos, sin = scaled_cos_sin(phi, scale)
    pairs = cos.shape[-1]
    first, second = pair_views(np.arange(2 * pairs), layout)
    matrix = np.zeros(cos.shape[:-1] + (dim, dim))
    matrix[..., np.arange(2 * pairs, dim), np.arange(2 * pairs, dim)] = 1.0
    matrix[..., first, first] = cos
    matrix[..., second, second] = cos
    matrix[..., first, second] = -sin
    matrix[..., second, first] = sin
    return matrix
