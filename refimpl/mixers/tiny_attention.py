"""aMLP's tiny attention: one small softmax-attention head whose output is added to the
gate of gMLP's spatial gating unit (the "a" in aMLP).

Here ``A = softmax(Q K^T / sqrt a)`` is computed from the input, as in a Transformer;
``a = 64`` in the paper, much smaller than the model width. Su
(kexue.fm/archives/8431): aMLP puts a little attention back into gMLP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl.attention import scaled_dot_product_attention, scaled_dot_product_attention_vjp
from refimpl.mixers._common import (
    bias_gradient,
    check_params,
    exact_shape,
    linear_weight,
    sequence,
    weight_gradient,
)

__all__ = ["TinyAttentionParams", "tiny_attention", "tiny_attention_vjp"]


@dataclass(frozen=True, eq=False)
class TinyAttentionParams:
    """aMLP's single-head attention, weights ``(out, in)``: ``qkv_weight (3a, d)`` (rows
    ``q``, then ``k``, then ``v``, like a fused ``nn.Linear(d, 3a)``), ``qkv_bias (3a,)``,
    ``out_weight (e, a)``, ``out_bias (e,)``; the paper uses ``a = 64``."""

    qkv_weight: ArrayLike
    qkv_bias: ArrayLike
    out_weight: ArrayLike
    out_bias: ArrayLike


def _tiny_parts(x: ArrayLike, p: TinyAttentionParams, causal: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                           np.ndarray, np.ndarray | None]:
    """Checked input and weights, the projections ``q, k, v`` and the causal mask."""
    x = sequence(x)
    d, n = x.shape[-1], x.shape[-2]
    qkv_weight = linear_weight(p.qkv_weight, "qkv_weight", d, "3a", multiple=3)
    width = qkv_weight.shape[0] // 3
    qkv_bias = exact_shape(p.qkv_bias, "qkv_bias", (3 * width,))
    out_weight = linear_weight(p.out_weight, "out_weight", width, "e")
    out_bias = exact_shape(p.out_bias, "out_bias", out_weight.shape[:1])
    q, k, v = np.split(x @ qkv_weight.T + qkv_bias, 3, axis=-1)
    mask = np.tril(np.ones((n, n), dtype=bool)) if causal else None
    return x, qkv_weight, out_weight, out_bias, q, k, v, mask


def tiny_attention(x: ArrayLike, params: TinyAttentionParams,
                   causal: bool = False) -> np.ndarray:
    """aMLP's tiny attention: single-head softmax attention projected to the gate width.

    .. math::

        [Q, K, V] = X W_{qkv}^T + b_{qkv}, \\qquad
        O = \\operatorname{softmax}\\!\\left(\\frac{Q K^T}{\\sqrt a}\\right) V\\, W_o^T + b_o

    (:func:`refimpl.attention.scaled_dot_product_attention`; causal mask when asked).

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    params : TinyAttentionParams
    causal : bool

    Returns
    -------
    ndarray, shape (..., n, e)

    References
    ----------
    Liu et al. 2021 (arXiv 2105.08050), §4.3 and Fig. 5 (``tiny_attn``, ``d_attn = 64``).

    Examples
    --------
    >>> p = TinyAttentionParams(np.zeros((3, 2)), [0.0, 0.0, 1.0], np.ones((2, 1)), np.zeros(2))
    >>> tiny_attention(np.ones((3, 2)), p)  # v = 1 everywhere
    array([[1., 1.],
           [1., 1.],
           [1., 1.]])
    """
    x, _, out_weight, out_bias, q, k, v, mask = _tiny_parts(
        x, check_params(params, TinyAttentionParams), causal)
    return scaled_dot_product_attention(q, k, v, mask) @ out_weight.T + out_bias


def tiny_attention_vjp(grad: ArrayLike, x: ArrayLike, params: TinyAttentionParams,
                       causal: bool = False) -> tuple[np.ndarray, TinyAttentionParams]:
    """VJP of :func:`tiny_attention`: ``(grad_x, grad_params)``.

    Output projection backward, :func:`refimpl.attention.scaled_dot_product_attention_vjp`,
    then the fused ``qkv`` projection.

    Examples
    --------
    >>> p = TinyAttentionParams(np.zeros((3, 2)), [0.0, 0.0, 1.0], np.ones((2, 1)), np.zeros(2))
    >>> gx, gp = tiny_attention_vjp(np.ones((3, 2)), np.ones((3, 2)), p)
    >>> gp.out_bias
    array([3., 3.])
    """
    x, qkv_weight, out_weight, out_bias, q, k, v, mask = _tiny_parts(
        x, check_params(params, TinyAttentionParams), causal)
    attended = scaled_dot_product_attention(q, k, v, mask)
    grad = cotangent(grad, attended.shape[:-1] + out_bias.shape)
    gq, gk, gv, _ = scaled_dot_product_attention_vjp(grad @ out_weight, q, k, v, mask)
    g_qkv = np.concatenate([gq, gk, gv], axis=-1)
    return g_qkv @ qkv_weight, TinyAttentionParams(
        weight_gradient(g_qkv, x), bias_gradient(g_qkv), weight_gradient(grad, attended),
        bias_gradient(grad))
