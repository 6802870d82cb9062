"""MLP-Mixer: a two-layer MLP along the tokens (shared by the channels), then the usual
channel MLP, each in a pre-LayerNorm residual branch.

Su (kexue.fm/archives/8431) reads each linear token map as a Random Synthesizer's ``A``
with the softmax removed: a learned ``n``-sized matrix that does not look at the input,
so the block is fixed to ``n`` tokens and is not permutation-equivariant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl._validation import as_scalar
from refimpl.mixers._common import (
    Activation,
    activation_functions,
    channel_mlp,
    channel_mlp_params,
    channel_mlp_vjp,
    check_params,
    sequence,
    token_mlp,
    token_mlp_params,
    token_mlp_vjp,
)
from refimpl.norms import layer_norm, layer_norm_vjp

__all__ = ["token_mixing_mlp", "token_mixing_mlp_vjp", "MixerParams", "mlp_mixer_block",
           "mlp_mixer_block_vjp"]


def token_mixing_mlp(x: ArrayLike, w1: ArrayLike, b1: ArrayLike, w2: ArrayLike, b2: ArrayLike,
                     activation: str = "gelu_tanh") -> np.ndarray:
    """MLP-Mixer's token-mixing MLP: one two-layer MLP along the token axis, per channel.

    .. math:: O = W_2\\,\\sigma(W_1 X + b_1 \\mathbf 1^T) + b_2 \\mathbf 1^T, \\qquad
              W_1 \\in \\mathbb{R}^{h \\times n},\\; W_2 \\in \\mathbb{R}^{n \\times h}

    Su: each linear token map is a Random-Synthesizer ``A`` without the softmax. The
    block applies it to ``LN(X)`` with a residual (:func:`mlp_mixer_block`).

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    w1 : (h, n); b1 : (h,); w2 : (n, h); b2 : (n,)
        ``(out, in)`` layout (timm's ``mlp_tokens.fc1.weight``, ...); the Flax kernels
        of ``models_mixer.py`` are ``w1.T, w2.T``.
    activation : {"gelu_tanh", "gelu", "relu", "silu"}
        Default: the tanh GELU, which is what Flax's ``nn.gelu`` computes.

    Returns
    -------
    ndarray, shape (..., n, d)

    Examples
    --------
    >>> token_mixing_mlp(np.ones((2, 1)), np.eye(2), [0.0, 0.0], np.eye(2), [0.0, 1.0],
    ...                  activation="relu")
    array([[1.],
           [2.]])
    """
    x = sequence(x)
    params = token_mlp_params(x.shape[-2], w1, b1, w2, b2, ("w1", "b1", "w2", "b2"))
    return token_mlp(x, *params, activation_functions(activation))[0]


def token_mixing_mlp_vjp(grad: ArrayLike, x: ArrayLike, w1: ArrayLike, b1: ArrayLike,
                         w2: ArrayLike, b2: ArrayLike,
                         activation: str = "gelu_tanh") -> tuple[np.ndarray, ...]:
    """VJP of :func:`token_mixing_mlp`: ``(grad_x, grad_w1, grad_b1, grad_w2, grad_b2)``.

    The channel-MLP backward applied to the transposed sequence.

    Examples
    --------
    >>> gx, *_ = token_mixing_mlp_vjp(np.ones((2, 1)), np.ones((2, 1)), np.eye(2),
    ...                               [0.0, 0.0], np.eye(2), [0.0, 0.0], activation="relu")
    >>> gx
    array([[1.],
           [1.]])
    """
    x = sequence(x)
    w1, b1, w2, b2 = token_mlp_params(x.shape[-2], w1, b1, w2, b2, ("w1", "b1", "w2", "b2"))
    act = activation_functions(activation)
    _, pre = token_mlp(x, w1, b1, w2, b2, act)
    return token_mlp_vjp(cotangent(grad, x.shape), x, w1, w2, pre, act)


@dataclass(frozen=True, eq=False)
class MixerParams:
    """Parameters of one MLP-Mixer block (``n`` tokens, ``d`` channels), weights ``(out, in)``.

    token_norm_gain, token_norm_bias : (d,)
        LayerNorm before token mixing (timm ``norm1``).
    token_w1 : (h, n); token_b1 : (h,); token_w2 : (n, h); token_b2 : (n,)
        The token MLP (:func:`token_mixing_mlp`; timm ``mlp_tokens.fc1``, ``.fc2``).
    channel_norm_gain, channel_norm_bias : (d,)
        timm ``norm2``.
    channel_w1 : (c, d); channel_b1 : (c,); channel_w2 : (d, c); channel_b2 : (d,)
        The channel MLP ``sigma(X W_1^T + b_1) W_2^T + b_2`` (timm ``mlp_channels.fc1``,
        ``.fc2``).
    """

    token_norm_gain: ArrayLike
    token_norm_bias: ArrayLike
    token_w1: ArrayLike
    token_b1: ArrayLike
    token_w2: ArrayLike
    token_b2: ArrayLike
    channel_norm_gain: ArrayLike
    channel_norm_bias: ArrayLike
    channel_w1: ArrayLike
    channel_b1: ArrayLike
    channel_w2: ArrayLike
    channel_b2: ArrayLike


def _mixer_forward(x: ArrayLike, p: MixerParams, act: Activation,
                   eps: float) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Checked input, block output, and what the backward needs."""
    x = sequence(x)
    token = token_mlp_params(x.shape[-2], p.token_w1, p.token_b1, p.token_w2, p.token_b2)
    channel = channel_mlp_params(x.shape[-1], p.channel_w1, p.channel_b1, p.channel_w2,
                                 p.channel_b2, "channel")
    normed_x = layer_norm(x, p.token_norm_gain, p.token_norm_bias, eps)
    mixed, token_pre = token_mlp(normed_x, *token, act)
    u = x + mixed
    normed_u = layer_norm(u, p.channel_norm_gain, p.channel_norm_bias, eps)
    out, channel_pre = channel_mlp(normed_u, *channel, act)
    return x, u + out, (token, channel, normed_x, token_pre, u, normed_u, channel_pre)


def mlp_mixer_block(x: ArrayLike, params: MixerParams, activation: str = "gelu_tanh",
                    eps: float = 1e-6) -> np.ndarray:
    """One MLP-Mixer block: token-mixing MLP, then channel-mixing MLP, both pre-LN residual.

    .. math::

        U = X + W_2\\,\\sigma(W_1 \\operatorname{LN}(X) + b_1) + b_2, \\qquad
        Y = U + \\sigma(\\operatorname{LN}(U) W_3^T + b_3) W_4^T + b_4

    (token biases broadcast along channels). ``A = W_1`` and ``W_2`` are ``h x n`` and
    ``n x h``: the block is fixed to ``n`` tokens and is not permutation-equivariant.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    params : MixerParams
    activation : str
        ``"gelu_tanh"`` (default; Flax's ``nn.gelu`` in the reference code) or another
        name from :data:`refimpl.mixers.ACTIVATIONS` (timm uses the exact ``"gelu"``).
    eps : float
        LayerNorm epsilon (Flax default ``1e-6``).

    Returns
    -------
    ndarray, shape (..., n, d)

    References
    ----------
    Tolstikhin et al., "MLP-Mixer: An all-MLP Architecture for Vision" (arXiv 2105.01601);
    google-research/vision_transformer ``vit_jax/models_mixer.py``; timm
    ``timm/models/mlp_mixer.py`` (``MixerBlock``).

    Examples
    --------
    >>> n, d = 2, 3
    >>> zeros = MixerParams(np.ones(d), np.zeros(d), np.zeros((4, n)), np.zeros(4),
    ...                     np.zeros((n, 4)), np.zeros(n), np.ones(d), np.zeros(d),
    ...                     np.zeros((5, d)), np.zeros(5), np.zeros((d, 5)), np.zeros(d))
    >>> x = np.arange(6.0).reshape(n, d)
    >>> bool(np.all(mlp_mixer_block(x, zeros) == x))  # zero MLPs: two identity residuals
    True
    """
    params = check_params(params, MixerParams)
    eps = as_scalar(eps, "eps", positive=True)
    return _mixer_forward(x, params, activation_functions(activation), eps)[1]


def mlp_mixer_block_vjp(grad: ArrayLike, x: ArrayLike, params: MixerParams,
                        activation: str = "gelu_tanh",
                        eps: float = 1e-6) -> tuple[np.ndarray, MixerParams]:
    """VJP of :func:`mlp_mixer_block`: ``(grad_x, grad_params)``.

    Backward through the channel MLP and its LayerNorm into ``U`` (plus the residual),
    then through the token MLP and its LayerNorm into ``X`` (plus the residual).

    Examples
    --------
    >>> n, d = 2, 3
    >>> p = MixerParams(np.ones(d), np.zeros(d), np.zeros((4, n)), np.zeros(4),
    ...                 np.zeros((n, 4)), np.zeros(n), np.ones(d), np.zeros(d),
    ...                 np.zeros((5, d)), np.zeros(5), np.zeros((d, 5)), np.zeros(d))
    >>> gx, gp = mlp_mixer_block_vjp(np.ones((n, d)), np.arange(6.0).reshape(n, d), p)
    >>> gx, gp.token_b2  # identity block; each token bias feeds d channels
    (array([[1., 1., 1.],
           [1., 1., 1.]]), array([3., 3.]))
    """
    params = check_params(params, MixerParams)
    eps, act = as_scalar(eps, "eps", positive=True), activation_functions(activation)
    x, out, saved = _mixer_forward(x, params, act, eps)
    token, channel, normed_x, token_pre, u, normed_u, channel_pre = saved
    grad = cotangent(grad, out.shape)
    g_channel = channel_mlp_vjp(grad, normed_u, channel[0], channel[2], channel_pre, act)
    g_u, g_cgain, g_cbias = layer_norm_vjp(g_channel[0], u, params.channel_norm_gain,
                                           params.channel_norm_bias, eps)
    g_u = g_u + grad
    g_token = token_mlp_vjp(g_u, normed_x, token[0], token[2], token_pre, act)
    g_x, g_tgain, g_tbias = layer_norm_vjp(g_token[0], x, params.token_norm_gain,
                                           params.token_norm_bias, eps)
    return g_x + g_u, MixerParams(g_tgain, g_tbias, *g_token[1:], g_cgain, g_cbias,
                                  *g_channel[1:])
