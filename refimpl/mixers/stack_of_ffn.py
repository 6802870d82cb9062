"""A stack of feed-forward layers ("Do You Even Need Attention?"): an FFN over the channels,
transpose, an FFN over the tokens, transpose back.

The token FFN has a LayerNorm over the **token** axis. Su (kexue.fm/archives/8431):
the same model as MLP-Mixer, described more plainly.
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
    token_sized,
)
from refimpl.norms import layer_norm, layer_norm_vjp

__all__ = ["StackFFNParams", "stack_of_ffn_block", "stack_of_ffn_block_vjp"]


@dataclass(frozen=True, eq=False)
class StackFFNParams:
    """Parameters of one "Do You Even Need Attention?" block (``n`` tokens, ``d`` channels),
    weights ``(out, in)``.

    channel_norm_gain, channel_norm_bias : (d,)
        LayerNorm over the channels, before the channel FFN.
    channel_w1 : (c, d); channel_b1 : (c,); channel_w2 : (d, c); channel_b2 : (d,)
        The channel FFN.
    token_norm_gain, token_norm_bias : (n,)
        LayerNorm over the **token** axis (each channel's column is normalised).
    token_w1 : (h, n); token_b1 : (h,); token_w2 : (n, h); token_b2 : (n,)
        The token FFN.
    """

    channel_norm_gain: ArrayLike
    channel_norm_bias: ArrayLike
    channel_w1: ArrayLike
    channel_b1: ArrayLike
    channel_w2: ArrayLike
    channel_b2: ArrayLike
    token_norm_gain: ArrayLike
    token_norm_bias: ArrayLike
    token_w1: ArrayLike
    token_b1: ArrayLike
    token_w2: ArrayLike
    token_b2: ArrayLike


def _stack_forward(x: ArrayLike, p: StackFFNParams, act: Activation,
                   eps: float) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Checked input, block output, and what the backward needs."""
    x = sequence(x)
    n, d = x.shape[-2:]
    channel = channel_mlp_params(d, p.channel_w1, p.channel_b1, p.channel_w2, p.channel_b2,
                                 "channel")
    token = token_mlp_params(n, p.token_w1, p.token_b1, p.token_w2, p.token_b2)
    token_gain = token_sized(p.token_norm_gain, "token_norm_gain", n, (n,))
    token_bias = token_sized(p.token_norm_bias, "token_norm_bias", n, (n,))
    normed_x = layer_norm(x, p.channel_norm_gain, p.channel_norm_bias, eps)
    out, channel_pre = channel_mlp(normed_x, *channel, act)
    u = x + out
    normed_u = np.swapaxes(layer_norm(np.swapaxes(u, -1, -2), token_gain, token_bias, eps), -1, -2)
    mixed, token_pre = token_mlp(normed_u, *token, act)
    saved = (channel, token, token_gain, token_bias, normed_x, channel_pre, u, normed_u, token_pre)
    return x, u + mixed, saved


def stack_of_ffn_block(x: ArrayLike, params: StackFFNParams, activation: str = "gelu",
                       eps: float = 1e-6) -> np.ndarray:
    """One block of "a stack of feed-forward layers": channel FFN, then token FFN.

    .. math::

        U = X + \\operatorname{FFN}_c(\\operatorname{LN}_c(X)), \\qquad
        Y = U + \\left[\\operatorname{FFN}_t\\!\\left(\\operatorname{LN}_t(U^T)\\right)\\right]^T

    with :math:`\\operatorname{FFN}(h) = \\sigma(h W_1^T + b_1) W_2^T + b_2` on the last
    axis. The second FFN runs along the tokens after transposing, with a LayerNorm over
    the token axis (``LayerNorm(num_tokens)`` in the reference code): "apply an FFN,
    transpose, apply another FFN, transpose back". Su: the same model as MLP-Mixer.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    params : StackFFNParams
    activation : str
        ``"gelu"`` (default; PyTorch ``nn.GELU``).
    eps : float
        LayerNorm epsilon of both norms (``1e-6`` in the reference configs).

    Returns
    -------
    ndarray, shape (..., n, d)

    References
    ----------
    Melas-Kyriazi, "Do You Even Need Attention? A Stack of Feed-Forward Layers Does
    Surprisingly Well on ImageNet" (arXiv 2105.02723); lukemelas/do-you-even-need-attention
    ``vision_transformer_linear.py`` (``LinearBlock``).

    Examples
    --------
    >>> n, d = 2, 2
    >>> p = StackFFNParams(np.ones(d), np.zeros(d), np.zeros((3, d)), np.zeros(3),
    ...                    np.zeros((d, 3)), np.zeros(d), np.ones(n), np.zeros(n),
    ...                    np.zeros((3, n)), np.zeros(3), np.zeros((n, 3)), [1.0, -1.0])
    >>> stack_of_ffn_block(np.zeros((n, d)), p)  # only the token bias survives
    array([[ 1.,  1.],
           [-1., -1.]])
    """
    params = check_params(params, StackFFNParams)
    eps = as_scalar(eps, "eps", positive=True)
    return _stack_forward(x, params, activation_functions(activation), eps)[1]


def stack_of_ffn_block_vjp(grad: ArrayLike, x: ArrayLike, params: StackFFNParams,
                           activation: str = "gelu",
                           eps: float = 1e-6) -> tuple[np.ndarray, StackFFNParams]:
    """VJP of :func:`stack_of_ffn_block`: ``(grad_x, grad_params)``.

    Token FFN backward, then the token-axis LayerNorm backward on the transposed
    sequence, then the channel FFN and its LayerNorm; residuals add their gradients.

    Examples
    --------
    >>> n, d = 2, 2
    >>> p = StackFFNParams(np.ones(d), np.zeros(d), np.zeros((3, d)), np.zeros(3),
    ...                    np.zeros((d, 3)), np.zeros(d), np.ones(n), np.zeros(n),
    ...                    np.zeros((3, n)), np.zeros(3), np.zeros((n, 3)), np.zeros(n))
    >>> gx, gp = stack_of_ffn_block_vjp(np.ones((n, d)), np.ones((n, d)), p)
    >>> gx, gp.channel_b2
    (array([[1., 1.],
           [1., 1.]]), array([2., 2.]))
    """
    params = check_params(params, StackFFNParams)
    eps, act = as_scalar(eps, "eps", positive=True), activation_functions(activation)
    x, y, saved = _stack_forward(x, params, act, eps)
    channel, token, token_gain, token_bias, normed_x, channel_pre, u, normed_u, token_pre = saved
    grad = cotangent(grad, y.shape)
    g_token = token_mlp_vjp(grad, normed_u, token[0], token[2], token_pre, act)
    g_ut, g_tgain, g_tbias = layer_norm_vjp(np.swapaxes(g_token[0], -1, -2),
                                            np.swapaxes(u, -1, -2), token_gain, token_bias, eps)
    g_u = grad + np.swapaxes(g_ut, -1, -2)
    g_channel = channel_mlp_vjp(g_u, normed_x, channel[0], channel[2], channel_pre, act)
    g_x, g_cgain, g_cbias = layer_norm_vjp(g_channel[0], x, params.channel_norm_gain,
                                           params.channel_norm_bias, eps)
    return g_x + g_u, StackFFNParams(g_cgain, g_cbias, *g_channel[1:], g_tgain, g_tbias,
                                     *g_token[1:])
