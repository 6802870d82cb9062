"""gMLP: a channel MLP whose hidden layer is gated by a token mixing of half of itself.

The spatial gating unit splits the hidden channels in two, ``[Z_1, Z_2]``, and computes
``Z_1 * (W LN(Z_2) + b)`` with ``W`` an ``n x n`` token map (``A`` in ``O = A V``),
started near 0 with ``b = 1`` so that the block begins as a plain per-token FFN. aMLP
adds :func:`~refimpl.mixers.tiny_attention.tiny_attention` to the gate. Su
(kexue.fm/archives/8431) writes the unit as ``O = X_1 ⊙ (W X_2 + b)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl._validation import as_generator, as_int, as_scalar
from refimpl.mixers._common import (
    Activation,
    activation_functions,
    bias_gradient,
    check_params,
    exact_shape,
    linear_weight,
    sequence,
    token_sized,
    weight_gradient,
)
from refimpl.mixers.tiny_attention import TinyAttentionParams, tiny_attention, tiny_attention_vjp
from refimpl.norms import layer_norm, layer_norm_vjp

__all__ = ["spatial_gating_unit", "spatial_gating_unit_vjp", "spatial_gating_init",
           "GMLPParams", "gmlp_block", "gmlp_block_vjp"]


def _sgu_parts(z: ArrayLike, spatial_weight: ArrayLike, spatial_bias: ArrayLike,
               gate_residual: ArrayLike | None, causal: bool) -> tuple:
    """Checked ``z``, spatial weight (lower triangle when causal), bias and gate residual."""
    z = sequence(z, "z")
    n, width = z.shape[-2:]
    if width % 2:
        raise ValueError(f"z must have an even last dimension (two halves), got {width}")
    weight = token_sized(spatial_weight, "spatial_weight", n, (n, n))
    if causal:
        weight = np.tril(weight)
    bias = token_sized(spatial_bias, "spatial_bias", n, (n,))
    if gate_residual is not None:
        gate_residual = exact_shape(gate_residual, "gate_residual", z.shape[:-1] + (width // 2,))
    return z, weight, bias, gate_residual


def spatial_gating_unit(z: ArrayLike, spatial_weight: ArrayLike, spatial_bias: ArrayLike,
                        norm_gain: ArrayLike, norm_bias: ArrayLike,
                        gate_residual: ArrayLike | None = None, causal: bool = False,
                        eps: float = 1e-5) -> np.ndarray:
    """gMLP's spatial gating unit: half the channels gate the other half after token mixing.

    .. math::

        [Z_1, Z_2] = Z, \\qquad
        O = Z_1 \\odot \\left(W \\operatorname{LN}(Z_2) + b \\mathbf 1^T + R\\right)

    ``W`` is ``n x n`` (``A`` in ``O = A V`` with ``V = LN(Z_2)``), ``b`` one bias per
    token, ``R`` an optional residual added to the gate (aMLP's tiny attention). With
    ``W ~ 0`` and ``b = 1`` (:func:`spatial_gating_init`) the unit starts as ``O ≈ Z_1``:
    an ordinary FFN with no cross-token mixing. ``causal=True`` uses the lower triangle of
    ``W`` only, so output ``i`` never sees a later token.

    Parameters
    ----------
    z : array_like, shape (..., n, 2e)
        ``Z_1`` is the first half of the channels, ``Z_2`` (the gate input) the second.
    spatial_weight : (n, n); spatial_bias : (n,)
        ``(out, in)`` over tokens, like timm's ``gate.proj`` (``nn.Linear(n, n)``).
    norm_gain, norm_bias : (e,)
        LayerNorm of ``Z_2`` over channels.
    gate_residual : array_like, shape (..., n, e), optional
    causal : bool
    eps : float
        LayerNorm epsilon (PyTorch default ``1e-5``).

    Returns
    -------
    ndarray, shape (..., n, e)

    References
    ----------
    Liu, Dai, So, Le, "Pay Attention to MLPs" (arXiv 2105.08050), §2.1 and Fig. 1.

    Examples
    --------
    >>> z = np.array([[1.0, 2.0, 5.0, -5.0], [3.0, 4.0, 0.0, 1.0]])
    >>> spatial_gating_unit(z, np.zeros((2, 2)), np.ones(2), np.ones(2), np.zeros(2))
    array([[1., 2.],
           [3., 4.]])
    """
    z, weight, bias, gate_residual = _sgu_parts(z, spatial_weight, spatial_bias, gate_residual,
                                                causal)
    first, second = np.split(z, 2, axis=-1)
    gate = weight @ layer_norm(second, norm_gain, norm_bias, eps) + bias[:, None]
    return first * (gate if gate_residual is None else gate + gate_residual)


def spatial_gating_unit_vjp(grad: ArrayLike, z: ArrayLike, spatial_weight: ArrayLike,
                            spatial_bias: ArrayLike, norm_gain: ArrayLike, norm_bias: ArrayLike,
                            gate_residual: ArrayLike | None = None, causal: bool = False,
                            eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                        np.ndarray, np.ndarray,
                                                        np.ndarray | None]:
    """VJP of :func:`spatial_gating_unit`.

    With :math:`\\bar G = \\bar O \\odot Z_1`: :math:`\\bar Z_1 = \\bar O \\odot \\text{gate}`,
    :math:`\\bar W = \\sum \\bar G \\operatorname{LN}(Z_2)^T` (lower triangle when causal),
    :math:`\\bar b = \\sum_{\\text{batch, channels}} \\bar G`, :math:`\\bar R = \\bar G`, and
    :math:`W^T \\bar G` through the LayerNorm into :math:`Z_2`.

    Returns
    -------
    (grad_z, grad_spatial_weight, grad_spatial_bias, grad_norm_gain, grad_norm_bias,
    grad_gate_residual)
        ``grad_gate_residual`` is ``None`` when ``gate_residual`` is ``None``.

    Examples
    --------
    >>> z = np.array([[1.0, 2.0, 5.0, -5.0], [3.0, 4.0, 0.0, 1.0]])
    >>> g = spatial_gating_unit_vjp(np.ones((2, 2)), z, np.zeros((2, 2)), np.ones(2),
    ...                             np.ones(2), np.zeros(2))
    >>> g[0]  # gate = 1: Z_1 passes straight through, Z_2 gets no gradient through W = 0
    array([[1., 1., 0., 0.],
           [1., 1., 0., 0.]])
    """
    z, weight, bias, gate_residual = _sgu_parts(z, spatial_weight, spatial_bias, gate_residual,
                                                causal)
    first, second = np.split(z, 2, axis=-1)
    normed = layer_norm(second, norm_gain, norm_bias, eps)
    gate = weight @ normed + bias[:, None]
    if gate_residual is not None:
        gate = gate + gate_residual
    grad = cotangent(grad, first.shape)
    grad_gate = grad * first
    grad_weight = weight_gradient(np.swapaxes(grad_gate, -1, -2), np.swapaxes(normed, -1, -2))
    grad_second, grad_gain, grad_bias = layer_norm_vjp(weight.T @ grad_gate, second, norm_gain,
                                                       norm_bias, eps)
    return (np.concatenate([grad * gate, grad_second], axis=-1),
            np.tril(grad_weight) if causal else grad_weight,
            bias_gradient(np.sum(grad_gate, axis=-1)), grad_gain, grad_bias,
            None if gate_residual is None else grad_gate)


def spatial_gating_init(tokens: int, rng: int | np.random.Generator | None = None,
                        weight_std: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """The paper's initialisation of the spatial projection: ``W`` near 0, ``b = 1``.

    ``W`` has i.i.d. ``N(0, weight_std^2)`` entries (timm uses ``1e-6``); the bias is all
    ones, so the gate starts at about 1 and the block at a per-token FFN.

    Returns
    -------
    (spatial_weight, spatial_bias) : shapes (tokens, tokens), (tokens,)

    Examples
    --------
    >>> w, b = spatial_gating_init(3, rng=0)
    >>> bool(np.abs(w).max() < 1e-5), b
    (True, array([1., 1., 1.]))
    """
    n = as_int(tokens, "tokens", minimum=1)
    std = as_scalar(weight_std, "weight_std", nonnegative=True)
    return std * as_generator(rng).standard_normal((n, n)), np.ones(n)


@dataclass(frozen=True, eq=False)
class GMLPParams:
    """Parameters of one gMLP block (``n`` tokens, ``d`` channels, ``2e`` hidden), weights
    ``(out, in)``.

    norm_gain, norm_bias : (d,)
        timm ``norm``.
    in_weight : (2e, d); in_bias : (2e,)
        ``U``: the channel projection before GELU (timm ``mlp_channels.fc1``). Rows
        ``0..e-1`` make ``Z_1``, rows ``e..2e-1`` the gate input ``Z_2``.
    gate_norm_gain, gate_norm_bias : (e,)
        timm ``mlp_channels.gate.norm``.
    spatial_weight : (n, n); spatial_bias : (n,)
        The spatial projection (:func:`spatial_gating_init`: near 0 and ones; timm
        ``mlp_channels.gate.proj``).
    out_weight : (d, e); out_bias : (d,)
        ``V``: the projection back to ``d`` (timm ``mlp_channels.fc2``).
    attention : TinyAttentionParams or None
        Present for aMLP (its output width must be ``e``).
    """

    norm_gain: ArrayLike
    norm_bias: ArrayLike
    in_weight: ArrayLike
    in_bias: ArrayLike
    gate_norm_gain: ArrayLike
    gate_norm_bias: ArrayLike
    spatial_weight: ArrayLike
    spatial_bias: ArrayLike
    out_weight: ArrayLike
    out_bias: ArrayLike
    attention: TinyAttentionParams | None = None


def _gmlp_forward(x: ArrayLike, p: GMLPParams, causal: bool, act: Activation,
                  eps: float) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Checked input, block output, and what the backward needs."""
    x = sequence(x)
    d = x.shape[-1]
    in_weight = linear_weight(p.in_weight, "in_weight", d, "2e", multiple=2)
    width = in_weight.shape[0] // 2
    in_bias = exact_shape(p.in_bias, "in_bias", (2 * width,))
    out_weight = exact_shape(p.out_weight, "out_weight", (d, width))
    out_bias = exact_shape(p.out_bias, "out_bias", (d,))
    normed = layer_norm(x, p.norm_gain, p.norm_bias, eps)
    pre = normed @ in_weight.T + in_bias
    z = act[0](pre)
    residual = None if p.attention is None else tiny_attention(normed, p.attention, causal)
    gate_args = (p.spatial_weight, p.spatial_bias, p.gate_norm_gain, p.gate_norm_bias, residual,
                 causal, eps)
    gated = spatial_gating_unit(z, *gate_args)
    saved = (in_weight, out_weight, normed, pre, z, gate_args, gated)
    return x, x + gated @ out_weight.T + out_bias, saved


def gmlp_block(x: ArrayLike, params: GMLPParams, causal: bool = False, activation: str = "gelu",
               eps: float = 1e-5) -> np.ndarray:
    """One gMLP block (or aMLP when ``params.attention`` is set).

    .. math::

        Z = \\sigma(\\operatorname{LN}(X) U^T + b_U), \\qquad
        \\tilde Z = s(Z) = Z_1 \\odot (W \\operatorname{LN}(Z_2) + b \\mathbf 1^T
                    [+ \\operatorname{TinyAttn}(\\operatorname{LN}(X))]), \\qquad
        Y = X + \\tilde Z V^T + b_V

    (:func:`spatial_gating_unit`, :func:`~refimpl.mixers.tiny_attention.tiny_attention`).
    Su's summary: ``O = X_1 ⊙ (W X_2 + b)``. With ``causal=True`` both the spatial
    projection and the tiny attention are lower-triangular, so output ``i`` depends on
    tokens ``<= i`` only.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    params : GMLPParams
    causal : bool
    activation : str
        ``"gelu"`` (default).
    eps : float
        Epsilon of both LayerNorms (PyTorch default ``1e-5``).

    Returns
    -------
    ndarray, shape (..., n, d)

    References
    ----------
    Liu, Dai, So, Le, "Pay Attention to MLPs" (arXiv 2105.08050), Fig. 1 and 5; timm
    ``timm/models/mlp_mixer.py`` (``SpatialGatingBlock``).

    Examples
    --------
    >>> n, d, e = 3, 2, 2
    >>> w, b = spatial_gating_init(n, rng=0, weight_std=0.0)
    >>> p = GMLPParams(np.ones(d), np.zeros(d), np.zeros((2 * e, d)), np.zeros(2 * e),
    ...                np.ones(e), np.zeros(e), w, b, np.zeros((d, e)), np.ones(d))
    >>> gmlp_block(np.zeros((n, d)), p)  # zero projections: X + b_V
    array([[1., 1.],
           [1., 1.],
           [1., 1.]])
    """
    params = check_params(params, GMLPParams)
    eps = as_scalar(eps, "eps", positive=True)
    return _gmlp_forward(x, params, bool(causal), activation_functions(activation), eps)[1]


def gmlp_block_vjp(grad: ArrayLike, x: ArrayLike, params: GMLPParams, causal: bool = False,
                   activation: str = "gelu", eps: float = 1e-5) -> tuple[np.ndarray, GMLPParams]:
    """VJP of :func:`gmlp_block`: ``(grad_x, grad_params)``.

    Output projection, :func:`spatial_gating_unit_vjp`, the activation and ``U``; for
    aMLP the gate-residual gradient runs through
    :func:`~refimpl.mixers.tiny_attention.tiny_attention_vjp` into ``LN(X)``; finally the
    LayerNorm and the residual.

    Examples
    --------
    >>> n, d, e = 3, 2, 2
    >>> w, b = spatial_gating_init(n, rng=0, weight_std=0.0)
    >>> p = GMLPParams(np.ones(d), np.zeros(d), np.zeros((2 * e, d)), np.zeros(2 * e),
    ...                np.ones(e), np.zeros(e), w, b, np.zeros((d, e)), np.ones(d))
    >>> gx, gp = gmlp_block_vjp(np.ones((n, d)), np.zeros((n, d)), p)
    >>> gx[0], gp.out_bias
    (array([1., 1.]), array([3., 3.]))
    """
    params = check_params(params, GMLPParams)
    eps = as_scalar(eps, "eps", positive=True)
    act, causal = activation_functions(activation), bool(causal)
    x, y, saved = _gmlp_forward(x, params, causal, act, eps)
    in_weight, out_weight, normed, pre, z, gate_args, gated = saved
    grad = cotangent(grad, y.shape)
    g_z, g_sw, g_sb, g_ggain, g_gbias, g_residual = spatial_gating_unit_vjp(
        grad @ out_weight, z, *gate_args)
    g_pre = act[1](g_z, pre)
    g_normed = g_pre @ in_weight
    g_attention = None
    if params.attention is not None and g_residual is not None:
        g_from_attention, g_attention = tiny_attention_vjp(g_residual, normed, params.attention,
                                                           causal)
        g_normed = g_normed + g_from_attention
    g_x, g_gain, g_bias = layer_norm_vjp(g_normed, x, params.norm_gain, params.norm_bias, eps)
    return g_x + grad, GMLPParams(
        g_gain, g_bias, weight_gradient(g_pre, normed), bias_gradient(g_pre), g_ggain, g_gbias,
        g_sw, g_sb, weight_gradient(grad, gated), bias_gradient(grad), g_attention)
