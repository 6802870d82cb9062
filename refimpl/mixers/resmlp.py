"""ResMLP: a single linear token map (no activation) and a channel MLP, with the per-channel
affine map ``Aff`` in place of LayerNorm and LayerScale on both residual branches.

Su (kexue.fm/archives/8431): no essential difference from MLP-Mixer; the token map is
one ``n x n`` matrix ``A``, which fixes the sequence length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl.mixers._common import (
    Activation,
    activation_functions,
    bias_gradient,
    channel_mlp,
    channel_mlp_params,
    channel_mlp_vjp,
    check_params,
    exact_shape,
    sequence,
    token_sized,
    weight_gradient,
)

__all__ = ["ResMLPParams", "resmlp_block", "resmlp_block_vjp"]


@dataclass(frozen=True, eq=False)
class ResMLPParams:
    """Parameters of one ResMLP block (``n`` tokens, ``d`` channels), weights ``(out, in)``.

    affine1_alpha, affine1_beta : (d,)
        ``Aff(x) = alpha * x + beta``, which replaces LayerNorm (init 1 and 0).
    token_weight : (n, n); token_bias : (n,)
        The single linear token map ``A`` (``nn.Linear(n, n)``; timm ``linear_tokens``).
    layer_scale1 : (d,)
        LayerScale on the token branch (init ``0.1`` to ``1e-6`` by depth).
    affine2_alpha, affine2_beta : (d,)
        The second ``Aff``, before the channel MLP (init 1 and 0).
    channel_w1 : (c, d); channel_b1 : (c,); channel_w2 : (d, c); channel_b2 : (d,)
        The channel MLP (timm ``mlp_channels.fc1``, ``.fc2``).
    layer_scale2 : (d,)
        LayerScale on the channel branch.
    """

    affine1_alpha: ArrayLike
    affine1_beta: ArrayLike
    token_weight: ArrayLike
    token_bias: ArrayLike
    layer_scale1: ArrayLike
    affine2_alpha: ArrayLike
    affine2_beta: ArrayLike
    channel_w1: ArrayLike
    channel_b1: ArrayLike
    channel_w2: ArrayLike
    channel_b2: ArrayLike
    layer_scale2: ArrayLike


def _resmlp_forward(x: ArrayLike, p: ResMLPParams,
                    act: Activation) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Checked input, block output, and what the backward needs."""
    x = sequence(x)
    n, d = x.shape[-2:]
    a1, b1, s1, a2, b2, s2 = (exact_shape(getattr(p, name), name, (d,)) for name in (
        "affine1_alpha", "affine1_beta", "layer_scale1", "affine2_alpha", "affine2_beta",
        "layer_scale2"))
    weight = token_sized(p.token_weight, "token_weight", n, (n, n))
    bias = token_sized(p.token_bias, "token_bias", n, (n,))
    channel = channel_mlp_params(d, p.channel_w1, p.channel_b1, p.channel_w2, p.channel_b2,
                                 "channel")
    affine_x = a1 * x + b1
    mixed = weight @ affine_x + bias[:, None]
    z = x + s1 * mixed
    affine_z = a2 * z + b2
    out, pre = channel_mlp(affine_z, *channel, act)
    saved = (a1, s1, a2, s2, weight, channel, affine_x, mixed, z, affine_z, out, pre)
    return x, z + s2 * out, saved


def resmlp_block(x: ArrayLike, params: ResMLPParams, activation: str = "gelu") -> np.ndarray:
    """One ResMLP block: a linear token map and a channel MLP, with Aff and LayerScale.

    .. math::

        Z = X + \\gamma_1 \\odot \\left(A\\,\\operatorname{Aff}_1(X) + b \\mathbf 1^T\\right),
        \\qquad
        Y = Z + \\gamma_2 \\odot \\operatorname{MLP}(\\operatorname{Aff}_2(Z)),

    with :math:`\\operatorname{Aff}(x) = \\alpha \\odot x + \\beta` per channel,
    :math:`\\operatorname{MLP}(h) = \\sigma(h W_1^T + b_1) W_2^T + b_2` and ``A`` an
    ``n x n`` matrix with no activation (Su: no essential difference from MLP-Mixer).
    ``gamma`` scales channels; ``A`` mixes tokens.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    params : ResMLPParams
    activation : str
        ``"gelu"`` (default, PyTorch's exact ``nn.GELU`` in the reference code).

    Returns
    -------
    ndarray, shape (..., n, d)

    References
    ----------
    Touvron et al., "ResMLP: Feedforward networks for image classification with
    data-efficient training" (arXiv 2105.03404); facebookresearch/deit ``resmlp_models.py``;
    timm ``timm/models/mlp_mixer.py`` (``ResBlock``).

    Examples
    --------
    >>> n, d = 2, 1
    >>> p = ResMLPParams(np.ones(d), np.zeros(d), [[0.0, 1.0], [1.0, 0.0]], np.zeros(n),
    ...                  np.ones(d), np.ones(d), np.zeros(d), np.zeros((2, d)), np.zeros(2),
    ...                  np.zeros((d, 2)), np.zeros(d), np.ones(d))
    >>> resmlp_block([[1.0], [5.0]], p)  # A swaps the two tokens, then the residual
    array([[6.],
           [6.]])
    """
    params = check_params(params, ResMLPParams)
    return _resmlp_forward(x, params, activation_functions(activation))[1]


def resmlp_block_vjp(grad: ArrayLike, x: ArrayLike, params: ResMLPParams,
                     activation: str = "gelu") -> tuple[np.ndarray, ResMLPParams]:
    """VJP of :func:`resmlp_block`: ``(grad_x, grad_params)``.

    Channel branch: :math:`\\bar\\gamma_2 = \\sum \\bar Y \\odot \\operatorname{MLP}`, the MLP
    backward, then ``Aff_2``. Token branch:
    :math:`\\bar A = \\sum \\bar M\\,\\operatorname{Aff}_1(X)^T`
    and :math:`A^T \\bar M` into ``Aff_1``, where :math:`\\bar M = \\gamma_1 \\odot \\bar Z`.

    Examples
    --------
    >>> n, d = 2, 1
    >>> p = ResMLPParams(np.ones(d), np.zeros(d), np.eye(n), np.zeros(n), np.ones(d),
    ...                  np.ones(d), np.zeros(d), np.zeros((2, d)), np.zeros(2),
    ...                  np.zeros((d, 2)), np.zeros(d), np.ones(d))
    >>> gx, gp = resmlp_block_vjp(np.ones((n, d)), [[1.0], [5.0]], p)
    >>> gx, gp.layer_scale1  # Y = 2X here; d gamma_1 collects sum(A Aff(X)) = 6
    (array([[2.],
           [2.]]), array([6.]))
    """
    params = check_params(params, ResMLPParams)
    act = activation_functions(activation)
    x, y, saved = _resmlp_forward(x, params, act)
    a1, s1, a2, s2, weight, channel, affine_x, mixed, z, affine_z, out, pre = saved
    grad = cotangent(grad, y.shape)
    g_channel = channel_mlp_vjp(grad * s2, affine_z, channel[0], channel[2], pre, act)
    g_affine_z = g_channel[0]
    g_z = grad + g_affine_z * a2
    g_mixed = g_z * s1
    g_affine_x = weight.T @ g_mixed
    g_token_weight = weight_gradient(np.swapaxes(g_mixed, -1, -2), np.swapaxes(affine_x, -1, -2))
    g_token_bias = bias_gradient(np.sum(g_mixed, axis=-1))
    return g_z + g_affine_x * a1, ResMLPParams(
        bias_gradient(g_affine_x * x), bias_gradient(g_affine_x), g_token_weight, g_token_bias,
        bias_gradient(g_z * mixed), bias_gradient(g_affine_z * z), bias_gradient(g_affine_z),
        *g_channel[1:], bias_gradient(grad * out))
