"""Linear attention (Katharopoulos et al. 2020) with RoPE in the numerator only.

Replacing ``exp(q.k)`` by ``phi(q).phi(k)`` with a positive feature map makes the cost
linear in the length: the keys and values are summed once into a state
``S = phi(K)^T V``. The RoPE post (Su 2021, https://kexue.fm/archives/8265, RoFormer
§3.3) puts the rotation in the numerator only, where relativity survives, and keeps the
denominator positive. Leading axes of q, k, v broadcast by NumPy's rules.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl import rope
from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_float_array, check_choice
from refimpl.attention._common import attention_shapes, rotary_angles, rotate, rotate_transpose

__all__ = ["linear_attention", "linear_attention_vjp"]

_Parts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _inputs(q: ArrayLike, k: ArrayLike, v: ArrayLike, angles: ArrayLike | None,
            key_angles: ArrayLike | None, layout: str, rotary_dim: object
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None,
                       np.ndarray | None, tuple[int, ...]]:
    """Validate q, k, v and the angles; also return the output shape."""
    q, k, v = (as_float_array(a, n) for a, n in ((q, "q"), (k, "k"), (v, "v")))
    shapes = attention_shapes(q, k, v)
    check_choice(layout, "layout", rope.LAYOUTS)
    query_angles = rotary_angles(angles, "angles", q.shape[-1], rotary_dim)
    key_rotation = query_angles if key_angles is None or query_angles is None else \
        rotary_angles(key_angles, "key_angles", q.shape[-1], 2 * query_angles.shape[-1])
    if key_angles is not None and query_angles is None:
        raise ValueError("key_angles were given without angles (the queries' angles)")
    return q, k, v, query_angles, key_rotation, shapes.output


def _feature_map(x: np.ndarray) -> np.ndarray:
    """``elu(x) + 1``: ``x + 1`` for ``x > 0`` and ``exp(x)`` otherwise; always positive."""
    return np.where(x > 0.0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def _feature_map_derivative(x: np.ndarray) -> np.ndarray:
    """Derivative of ``elu(x) + 1``: 1 for ``x > 0`` and ``exp(x)`` otherwise."""
    return np.exp(np.minimum(x, 0.0))


def _linear_attention_parts(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                            angles: np.ndarray | None, key_angles: np.ndarray | None,
                            layout: str) -> _Parts:
    """Features, rotated features, ``S = (R phi(K))^T V``, ``z = sum_j phi(k_j)``, den."""
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        features_q, features_k = _feature_map(q), _feature_map(k)
        state = np.swapaxes(rotate(features_k, key_angles, layout), -1, -2) @ v
        key_sum = np.sum(features_k, axis=-2)
        denominator = features_q @ key_sum[..., None]
    if not (np.all(np.isfinite(state)) and np.all(np.isfinite(denominator))):
        raise ValueError("linear attention overflowed: q, k or v are beyond the float64 range")
    if k.shape[-2] == 0 and q.shape[-2] > 0:
        raise ValueError(f"linear attention needs at least one key (its output is 0/0 "
                         f"without), got k of shape {k.shape}")
    if np.any(denominator <= 0.0):
        raise ValueError("linear attention's denominator phi(q).sum_j phi(k_j) underflowed "
                         "to 0: q and k are too negative for the elu + 1 feature map")
    return features_q, features_k, state, key_sum, denominator


def linear_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike, *,
                     angles: ArrayLike | None = None, key_angles: ArrayLike | None = None,
                     layout: str = "interleaved", rotary_dim: int | None = None) -> np.ndarray:
    """Linear attention with RoPE in the numerator only (non-causal).

    .. math::

        o_i = \\frac{\\sum_j [R_{m_i} \\phi(q_i)]^T [R_{n_j} \\phi(k_j)]\\, v_j}
                    {\\sum_j \\phi(q_i)^T \\phi(k_j)}, \\qquad \\phi(x) = \\operatorname{elu}(x) + 1

    computed as ``(R phi(Q)) ((R phi(K))^T V) / (phi(Q) sum_j phi(k_j))`` in
    ``O((Tq + Tk) d dv)``. The feature map is positive, so the denominator is positive;
    the rotation is kept out of it because rotated features can make it zero or negative.
    The weights in the numerator are therefore not a probability distribution (they
    may be negative and need not sum to 1). Shifting every position by a constant leaves
    the output unchanged, since :math:`R_m^T R_n = R_{n-m}`.

    Parameters
    ----------
    q : array_like, shape (..., Tq, d)
    k : array_like, shape (..., Tk, d)
    v : array_like, shape (..., Tk, dv)
    angles, key_angles, layout, rotary_dim
        RoPE, as in :func:`refimpl.attention.scaled_dot_product_attention`.

    Returns
    -------
    ndarray, shape (..., Tq, dv)

    Raises
    ------
    ValueError
        If a denominator underflows to 0 (every product ``phi(q_i) phi(k_j)`` below
        about ``1e-308``, i.e. entries of q and k near ``-350`` or below).

    References
    ----------
    Katharopoulos et al., "Transformers are RNNs", ICML 2020; Su, "RoFormer" (2021) §3.3
    and https://kexue.fm/archives/8265.

    Examples
    --------
    >>> out = linear_attention(np.zeros((1, 2)), np.zeros((3, 2)), np.eye(3, 2))
    >>> out  # phi(0) = 1: uniform weights over the three keys
    array([[0.33333333, 0.33333333]])
    """
    q, k, v, angles, key_angles, _ = _inputs(q, k, v, angles, key_angles, layout, rotary_dim)
    features_q, _, state, _, denominator = _linear_attention_parts(
        q, k, v, angles, key_angles, layout)
    return (rotate(features_q, angles, layout) @ state) / denominator


def linear_attention_vjp(grad: ArrayLike, q: ArrayLike, k: ArrayLike, v: ArrayLike, *,
                         angles: ArrayLike | None = None, key_angles: ArrayLike | None = None,
                         layout: str = "interleaved", rotary_dim: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of :func:`linear_attention` in ``q``, ``k`` and ``v``.

    With :math:`A = R\\phi(Q)`, :math:`B = R\\phi(K)`, :math:`S = B^T V`,
    :math:`z = \\sum_j \\phi(k_j)`, :math:`\\delta = \\phi(Q) z` and output
    :math:`O = A S / \\delta`:

    .. math::

        \\bar N = G / \\delta, \\quad
        \\bar\\delta = -\\operatorname{rowsum}(G \\odot O) / \\delta, \\quad
        \\bar V = B \\, (A^T \\bar N), \\quad
        \\overline{\\phi(Q)} = R^T(\\bar N S^T) + \\bar\\delta z^T, \\quad
        \\overline{\\phi(K)} = R^T(V (A^T \\bar N)^T) + \\mathbf 1 (\\phi(Q)^T \\bar\\delta)^T

    then :math:`\\bar Q = \\overline{\\phi(Q)} \\odot \\phi'(Q)` and likewise for K.

    Returns
    -------
    (grad_q, grad_k, grad_v)

    Examples
    --------
    >>> gq, gk, gv = linear_attention_vjp(np.ones((1, 2)), np.zeros((1, 2)),
    ...                                   np.zeros((3, 2)), np.eye(3, 2))
    >>> gv
    array([[0.33333333, 0.33333333],
           [0.33333333, 0.33333333],
           [0.33333333, 0.33333333]])
    """
    q, k, v, angles, key_angles, shape = _inputs(q, k, v, angles, key_angles, layout,
                                                 rotary_dim)
    upstream = cotangent(grad, shape)
    features_q, features_k, state, key_sum, denominator = _linear_attention_parts(
        q, k, v, angles, key_angles, layout)
    rotated_q = rotate(features_q, angles, layout)
    rotated_k = rotate(features_k, key_angles, layout)
    output = (rotated_q @ state) / denominator
    grad_numerator = upstream / denominator
    grad_denominator = -np.sum(upstream * output, axis=-1, keepdims=True) / denominator
    grad_state = np.swapaxes(rotated_q, -1, -2) @ grad_numerator
    grad_v = rotated_k @ grad_state
    grad_features_q = (rotate_transpose(grad_numerator @ np.swapaxes(state, -1, -2), angles,
                                        layout)
                       + grad_denominator * key_sum[..., None, :])
    grad_key_sum = np.sum(grad_denominator * features_q, axis=-2)
    grad_features_k = (rotate_transpose(v @ np.swapaxes(grad_state, -1, -2), key_angles,
                                        layout)
                       + grad_key_sum[..., None, :])
    return (sum_to_shape(grad_features_q, q.shape) * _feature_map_derivative(q),
            sum_to_shape(grad_features_k, k.shape) * _feature_map_derivative(k),
            sum_to_shape(grad_v, v.shape))
