"""Token mixers of the 2021 "non-Transformer" round-up, each written as ``O = A V``.

Su Jianlin's round-up (kexue.fm/archives/8431) reads every one of these layers through
the attention template ``O = A V`` with ``A = softmax(Q K^T)``: the works differ only
in where the ``n x n`` (or ``n x S``) mixing matrix ``A`` comes from.

=====================  =============================================  ==========================
mixer                  ``A``                                          ``V``
=====================  =============================================  ==========================
attention              ``softmax(Q K^T / sqrt d)``, from the input    ``X W_v``
Synthesizer, random    ``softmax(R)``, ``R`` a free ``n x n`` matrix  ``X W_v + b_v``
Synthesizer, dense     ``softmax(relu(X W_1 + b_1) W_2 + b_2)``       ``X W_v + b_v``
MLP-Mixer (token MLP)  ``W_1`` then ``W_2`` with a GELU between       ``LN(X)``
ResMLP                 ``W`` (``n x n``, no activation)               ``Aff(X)``
Stack of FFN           token MLP, LayerNorm over the token axis       ``LN_tokens(X)``
FNet                   ``Re(DFT_n (.) DFT_d)``, no parameters         ``X``
External Attention     ``l1_slots(softmax_tokens(X M_k^T))``, n x S   ``M_v`` (parameter)
gMLP (spatial gating)  ``W`` (``n x n``, ~0 at init) plus bias 1      ``LN(Z_2)``, gates ``Z_1``
=====================  =============================================  ==========================

Conventions. Inputs are ``(..., n, d)``: batch axes lead, then tokens, then channels.
Token-axis maps act from the **left** (``A @ X``, weights shaped ``(out, in)`` like a
PyTorch ``nn.Linear`` weight, token biases shaped ``(n,)``); channel maps act from the
**right** (``X @ W``, ``W`` shaped ``(in, out)`` like a Flax kernel). Every mixer with an
``n``-sized parameter raises ``ValueError`` for another sequence length; FNet and
External Attention accept any length. Full residual blocks take a small frozen
dataclass of parameters and their VJPs return ``(grad_x, grad_params)`` with the
gradients in a dataclass of the same type.

The exact layers were checked against the authors' public code: Synthesizer
(google-research/long-range-arena ``synthesizer_attention.py``), MLP-Mixer
(google-research/vision_transformer ``models_mixer.py``; Flax's GELU is the tanh form),
ResMLP (facebookresearch/deit ``resmlp_models.py``), Stack of FFN
(lukemelas/do-you-even-need-attention), FNet (google-research/google-research
``f_net/layers.py``), External Attention (MenghaoGuo/EANet). gMLP has no official code;
the layer follows the paper's pseudo-code (arXiv 2105.08050, Fig. 1 and 5) as
reproduced by the timm, OpenMMLab and lucidrains ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.special import logsumexp

from refimpl._broadcasting import cotangent
from refimpl._validation import (as_float_array, as_generator, as_int, as_scalar, check_choice,
                                 check_ndim)
from refimpl.activations import (gelu, gelu_tanh, gelu_tanh_vjp, gelu_vjp, relu, relu_vjp,
                                 silu, silu_vjp)
from refimpl.attention import (scaled_dot_product_attention, scaled_dot_product_attention_vjp,
                               softmax, softmax_vjp)
from refimpl.norms import layer_norm, layer_norm_vjp

__all__ = ["synthesizer_random", "synthesizer_random_vjp", "synthesizer_dense",
           "synthesizer_dense_vjp", "fnet_mixing", "fnet_mixing_vjp", "external_attention",
           "external_attention_vjp", "token_mixing_mlp", "token_mixing_mlp_vjp",
           "MixerParams", "mlp_mixer_block", "mlp_mixer_block_vjp",
           "ResMLPParams", "resmlp_block", "resmlp_block_vjp",
           "StackFFNParams", "stack_of_ffn_block", "stack_of_ffn_block_vjp",
           "spatial_gating_unit", "spatial_gating_unit_vjp", "spatial_gating_init",
           "tiny_attention", "tiny_attention_vjp", "TinyAttentionParams", "GMLPParams",
           "gmlp_block", "gmlp_block_vjp"]

ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "gelu": (gelu, gelu_vjp), "gelu_tanh": (gelu_tanh, gelu_tanh_vjp),
    "relu": (relu, relu_vjp), "silu": (silu, silu_vjp)}


# ----------------------------------------------------------------------------- checks

def _sequence(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as a float64 ``(..., n, d)`` array."""
    x = as_float_array(x, name)
    check_ndim(x, name, 2)
    return x


def _param(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter of an exact shape; a token-count mismatch gets a clear message."""
    array = as_float_array(value, name)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    return array


def _tokens(value: Any, name: str, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter sized by the sequence length ``n``: reject any other length by name."""
    array = as_float_array(value, name)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape} but a sequence of n={n} tokens "
                         f"needs {shape}: this mixer's parameters fix the sequence length")
    return array



def _activation(name: str) -> tuple[Callable, Callable]:
    return ACTIVATIONS[check_choice(name, "activation", ACTIVATIONS)]


# ----------------------------------------------------------------------------- pieces

def _outer_sum(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``sum over leading axes of left^T right`` for ``(..., r, a)`` and ``(..., r, b)``."""
    return left.reshape(-1, left.shape[-1]).T @ right.reshape(-1, right.shape[-1])


def _leading_sum(values: np.ndarray) -> np.ndarray:
    return values.reshape(-1, values.shape[-1]).sum(axis=0)


def _mlp(h, w1, b1, w2, b2, act):
    """Channel MLP ``act(h w1 + b1) w2 + b2``; returns the output and the pre-activation."""
    pre = h @ w1 + b1
    return act[0](pre) @ w2 + b2, pre


def _mlp_vjp(grad, h, w1, w2, pre, act):
    """Gradients ``(h, w1, b1, w2, b2)`` of :func:`_mlp` given its pre-activation."""
    hidden = act[0](pre)
    grad_pre = act[1](grad @ w2.T, pre)
    return (grad_pre @ w1.T, _outer_sum(h, grad_pre), _leading_sum(grad_pre),
            _outer_sum(hidden, grad), _leading_sum(grad))


def _token_mlp(h, w1, b1, w2, b2, act):
    """Token MLP ``w2 act(w1 h + b1) + b2`` (weights ``(out, in)``, acting on the left)."""
    out, pre = _mlp(np.swapaxes(h, -1, -2), w1.T, b1, w2.T, b2, act)
    return np.swapaxes(out, -1, -2), pre


def _token_mlp_vjp(grad, h, w1, w2, pre, act):
    gh, gw1, gb1, gw2, gb2 = _mlp_vjp(np.swapaxes(grad, -1, -2), np.swapaxes(h, -1, -2),
                                      w1.T, w2.T, pre, act)
    return np.swapaxes(gh, -1, -2), gw1.T, gb1, gw2.T, gb2


def _values(x, value_weight, value_bias):
    d = x.shape[-1]
    value_weight = as_float_array(value_weight, "value_weight")
    if value_weight.ndim != 2 or value_weight.shape[0] != d:
        raise ValueError(f"value_weight must have shape ({d}, d_v), got {value_weight.shape}")
    value_bias = _param(value_bias, "value_bias", value_weight.shape[1:])
    return value_weight, value_bias


# ----------------------------------------------------------------------------- Synthesizer

def synthesizer_random(x: Any, logits: Any, value_weight: Any, value_bias: Any) -> np.ndarray:
    """Random Synthesizer: one learned attention matrix shared by every input.

    .. math::

        O = \\operatorname{softmax}(R)\\,(X W_v + b_v), \\qquad R \\in \\mathbb{R}^{n \\times n}

    The softmax runs over each row (the keys). ``R`` is a free parameter, trained or
    frozen after a random draw ("fixed random"); it does not look at ``X`` at all, so
    the layer is not permutation-equivariant and only accepts sequences of length ``n``.
    Su: MLP-Mixer's token map is this layer with the softmax removed.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    logits : array_like, shape (n, n)
        ``R``; row ``i`` holds the scores of query position ``i`` over key positions.
    value_weight : array_like, shape (d, d_v)
    value_bias : array_like, shape (d_v,)

    Returns
    -------
    ndarray, shape (..., n, d_v)

    References
    ----------
    Tay et al., "Synthesizer: Rethinking Self-Attention in Transformer Models", ICML 2021
    (arXiv 2005.00743); google-research/long-range-arena ``synthesizer_attention.py``.

    Examples
    --------
    >>> x = np.arange(6.0).reshape(3, 2)
    >>> synthesizer_random(x, np.zeros((3, 3)), np.eye(2), np.zeros(2))  # uniform A
    array([[2., 3.],
           [2., 3.],
           [2., 3.]])
    """
    x = _sequence(x)
    n = x.shape[-2]
    logits = _tokens(logits, "logits", n, (n, n))
    value_weight, value_bias = _values(x, value_weight, value_bias)
    return softmax(logits) @ (x @ value_weight + value_bias)


def synthesizer_random_vjp(grad: Any, x: Any, logits: Any, value_weight: Any,
                           value_bias: Any) -> tuple[np.ndarray, ...]:
    """VJP of :func:`synthesizer_random` in every argument.

    With :math:`A = \\operatorname{softmax}(R)`, :math:`V = X W_v + b_v` and upstream
    :math:`G`: :math:`\\bar V = A^T G`, :math:`\\bar A = \\sum_{\\text{batch}} G V^T`,
    :math:`\\bar R = A \\odot (\\bar A - \\operatorname{rowsum}(\\bar A \\odot A))`,
    :math:`\\bar X = \\bar V W_v^T`, :math:`\\bar W_v = \\sum X^T \\bar V`,
    :math:`\\bar b_v = \\sum \\bar V`.

    Returns
    -------
    (grad_x, grad_logits, grad_value_weight, grad_value_bias)

    Examples
    --------
    >>> gx, gr, gw, gb = synthesizer_random_vjp(np.ones((2, 1)), np.zeros((2, 1)),
    ...                                         np.zeros((2, 2)), np.eye(1), np.zeros(1))
    >>> gb
    array([2.])
    """
    x = _sequence(x)
    n = x.shape[-2]
    logits = _tokens(logits, "logits", n, (n, n))
    value_weight, value_bias = _values(x, value_weight, value_bias)
    values = x @ value_weight + value_bias
    weights = softmax(logits)
    grad = cotangent(grad, values.shape)
    grad_values = weights.T @ grad
    grad_weights = _outer_sum(np.swapaxes(grad, -1, -2), np.swapaxes(values, -1, -2))
    return (grad_values @ value_weight.T, softmax_vjp(grad_weights, logits),
            _outer_sum(x, grad_values), _leading_sum(grad_values))


def _dense_synthesizer_parts(x, hidden_weight, hidden_bias, logit_weight, logit_bias,
                             value_weight, value_bias):
    x = _sequence(x)
    n, d = x.shape[-2:]
    hidden_weight = as_float_array(hidden_weight, "hidden_weight")
    if hidden_weight.ndim != 2 or hidden_weight.shape[0] != d:
        raise ValueError(f"hidden_weight must have shape ({d}, hidden), got {hidden_weight.shape}")
    hidden = hidden_weight.shape[1]
    params = (hidden_weight, _param(hidden_bias, "hidden_bias", (hidden,)),
              _tokens(logit_weight, "logit_weight", n, (hidden, n)),
              _tokens(logit_bias, "logit_bias", n, (n,)), *_values(x, value_weight, value_bias))
    return x, params


def synthesizer_dense(x: Any, hidden_weight: Any, hidden_bias: Any, logit_weight: Any,
                      logit_bias: Any, value_weight: Any, value_bias: Any) -> np.ndarray:
    """Dense Synthesizer: each token writes its own row of attention logits.

    .. math::

        B_i = \\operatorname{relu}(x_i W_1 + b_1) W_2 + b_2 \\in \\mathbb{R}^n, \\qquad
        O = \\operatorname{softmax}(B)\\,(X W_v + b_v)

    Row ``i`` of ``A`` depends only on token ``i`` (no query-key product), and column
    ``j`` is tied to absolute position ``j`` through ``W_2``, so ``n`` is fixed.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    hidden_weight : (d, h); hidden_bias : (h,)
    logit_weight : (h, n); logit_bias : (n,)
    value_weight : (d, d_v); value_bias : (d_v,)

    Returns
    -------
    ndarray, shape (..., n, d_v)

    References
    ----------
    Tay et al. 2021 (arXiv 2005.00743), §3.1; long-range-arena ``synthesizer_attention.py``
    (mode ``"dense"``, single head here).

    Examples
    --------
    >>> x = np.ones((2, 1))
    >>> synthesizer_dense(x, np.ones((1, 1)), [0.0], [[0.0, 50.0]], [0.0, 0.0],
    ...                   np.eye(1), [0.0]).round(6)  # every row attends to token 1
    array([[1.],
           [1.]])
    """
    x, (w1, b1, w2, b2, wv, bv) = _dense_synthesizer_parts(
        x, hidden_weight, hidden_bias, logit_weight, logit_bias, value_weight, value_bias)
    logits = relu(x @ w1 + b1) @ w2 + b2
    return softmax(logits) @ (x @ wv + bv)


def synthesizer_dense_vjp(grad: Any, x: Any, hidden_weight: Any, hidden_bias: Any,
                          logit_weight: Any, logit_bias: Any, value_weight: Any,
                          value_bias: Any) -> tuple[np.ndarray, ...]:
    """VJP of :func:`synthesizer_dense` in every argument.

    Backward through ``O = A V``: :math:`\\bar V = A^T G`, :math:`\\bar A = G V^T`,
    then the softmax (:func:`refimpl.attention.softmax_vjp`), the two-layer logit MLP,
    and the value projection; ``x`` receives the sum of both paths.

    Returns
    -------
    (grad_x, grad_hidden_weight, grad_hidden_bias, grad_logit_weight, grad_logit_bias,
    grad_value_weight, grad_value_bias)

    Examples
    --------
    >>> grads = synthesizer_dense_vjp(np.ones((2, 1)), np.ones((2, 1)), np.ones((1, 1)),
    ...                               [0.0], np.zeros((1, 2)), [0.0, 0.0], np.eye(1), [0.0])
    >>> grads[-1]  # d(sum O)/d b_v: each output row sums its weights to 1
    array([2.])
    """
    x, (w1, b1, w2, b2, wv, bv) = _dense_synthesizer_parts(
        x, hidden_weight, hidden_bias, logit_weight, logit_bias, value_weight, value_bias)
    logits, pre = _mlp(x, w1, b1, w2, b2, ACTIVATIONS["relu"])
    weights, values = softmax(logits), x @ wv + bv
    grad = cotangent(grad, values.shape)
    grad_values = np.swapaxes(weights, -1, -2) @ grad
    grad_logits = softmax_vjp(grad @ np.swapaxes(values, -1, -2), logits)
    gx, gw1, gb1, gw2, gb2 = _mlp_vjp(grad_logits, x, w1, w2, pre, ACTIVATIONS["relu"])
    return (gx + grad_values @ wv.T, gw1, gb1, gw2, gb2, _outer_sum(x, grad_values),
            _leading_sum(grad_values))


# ----------------------------------------------------------------------------- FNet

def fnet_mixing(x: Any) -> np.ndarray:
    """FNet's parameter-free mixing: the real part of the 2-D DFT over (tokens, channels).

    .. math::

        O = \\operatorname{Re}\\left(F_n X F_d\\right)
          = C_n X C_d - S_n X S_d, \\qquad
        (F_m)_{jk} = e^{-2\\pi i jk/m} = (C_m)_{jk} - i (S_m)_{jk}

    In Su's reading it is attention with ``A = exp(i B)``, ``B_{jk} = -2 pi jk / n``:
    a fixed, parameter-free token matrix, so any sequence length works. Computed with
    ``numpy.fft.fft2`` in ``O(n d log(n d))``.

    Parameters
    ----------
    x : array_like, shape (..., n, d)

    Returns
    -------
    ndarray, shape (..., n, d)

    References
    ----------
    Lee-Thorp et al., "FNet: Mixing Tokens with Fourier Transforms", NAACL 2022
    (arXiv 2105.03824); google-research ``f_net/layers.py`` (``FourierTransform``).

    Examples
    --------
    >>> fnet_mixing([[1.0, 0.0], [0.0, 0.0]])  # an impulse has a flat spectrum
    array([[1., 1.],
           [1., 1.]])
    """
    return np.fft.fft2(_sequence(x), axes=(-2, -1)).real


def fnet_mixing_vjp(grad: Any, x: Any) -> np.ndarray:
    """VJP of :func:`fnet_mixing`: the map is self-adjoint, so ``grad_x = Re(fft2(grad))``.

    The DFT matrices are symmetric, so for real ``X, G``:
    :math:`\\langle G, \\operatorname{Re}(F_n X F_d)\\rangle
    = \\operatorname{Re}\\operatorname{tr}(G^T F_n X F_d)
    = \\langle \\operatorname{Re}(F_n G F_d), X\\rangle`.

    Examples
    --------
    >>> fnet_mixing_vjp([[1.0, 0.0], [0.0, 0.0]], np.zeros((2, 2)))
    array([[1., 1.],
           [1., 1.]])
    """
    x = _sequence(x)
    return np.fft.fft2(cotangent(grad, x.shape), axes=(-2, -1)).real


# ----------------------------------------------------------------------------- External Attention

def _external_parts(x, memory_keys, memory_values):
    x = _sequence(x)
    d = x.shape[-1]
    memory_keys = as_float_array(memory_keys, "memory_keys")
    if memory_keys.ndim != 2 or memory_keys.shape[1] != d:
        raise ValueError(f"memory_keys must have shape (S, {d}), got {memory_keys.shape}")
    memory_values = as_float_array(memory_values, "memory_values")
    if memory_values.ndim != 2 or memory_values.shape[0] != memory_keys.shape[0]:
        raise ValueError(f"memory_values must have shape ({memory_keys.shape[0]}, d_out), "
                         f"got {memory_values.shape}")
    scores = x @ memory_keys.T
    log_token_softmax = scores - logsumexp(scores, axis=-2, keepdims=True)
    return x, memory_keys, memory_values, scores, log_token_softmax


def external_attention(x: Any, memory_keys: Any, memory_values: Any) -> np.ndarray:
    """External Attention: attention to ``S`` learned memory slots, double-normalised.

    .. math::

        B = X M_k^T \\in \\mathbb{R}^{n \\times S}, \\quad
        \\tilde A_{is} = \\frac{e^{B_{is}}}{\\sum_{t} e^{B_{ts}}}, \\quad
        A_{is} = \\frac{\\tilde A_{is}}{\\sum_{r} \\tilde A_{ir}}, \\quad
        O = A\\,M_v

    The first softmax runs over the **token** axis (each slot's column sums to 1), the
    second step is an l1 normalisation over the slots. Keys and values are parameters
    (Su: "K and V turned into parameters"), so any length ``n`` works. Because the
    first normaliser sums over tokens, output ``i`` depends on the other tokens too;
    the map is permutation-equivariant in the tokens.

    Stable form: ``A = softmax_slots(B - logsumexp_tokens(B))``, which equals the
    two-step definition exactly and cannot divide by zero. The reference code divides
    by ``1e-9 + sum`` instead, a relative difference of about ``1e-9``.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    memory_keys : array_like, shape (S, d)
        ``M_k``; a bias on the scores would cancel in the token softmax.
    memory_values : array_like, shape (S, d_out)
        ``M_v``.

    Returns
    -------
    ndarray, shape (..., n, d_out)

    References
    ----------
    Guo et al., "Beyond Self-attention: External Attention using Two Linear Layers for
    Visual Tasks" (arXiv 2105.02358); MenghaoGuo/EANet ``model_torch.py``.

    Examples
    --------
    >>> external_attention(np.zeros((4, 2)), np.ones((3, 2)), np.eye(3)).round(4)
    array([[0.3333, 0.3333, 0.3333],
           [0.3333, 0.3333, 0.3333],
           [0.3333, 0.3333, 0.3333],
           [0.3333, 0.3333, 0.3333]])
    """
    _, _, memory_values, _, log_token_softmax = _external_parts(x, memory_keys, memory_values)
    return softmax(log_token_softmax) @ memory_values


def external_attention_vjp(grad: Any, x: Any, memory_keys: Any,
                           memory_values: Any) -> tuple[np.ndarray, ...]:
    """VJP of :func:`external_attention` in ``x``, ``memory_keys`` and ``memory_values``.

    With :math:`L = B - \\operatorname{lse}_{\\text{tokens}}(B)` and
    :math:`A = \\operatorname{softmax}_{\\text{slots}}(L)`:
    :math:`\\bar M_v = \\sum A^T G`, :math:`\\bar L = \\operatorname{softmax\\_vjp}(G M_v^T, L)`,
    :math:`\\bar B = \\bar L - P \\odot \\operatorname{colsum}(\\bar L)` with
    :math:`P = \\operatorname{softmax}_{\\text{tokens}}(B)`, then
    :math:`\\bar X = \\bar B M_k` and :math:`\\bar M_k = \\sum \\bar B^T X`.

    Returns
    -------
    (grad_x, grad_memory_keys, grad_memory_values)

    Examples
    --------
    >>> gx, gk, gv = external_attention_vjp(np.ones((4, 3)), np.zeros((4, 2)),
    ...                                     np.ones((3, 2)), np.eye(3))
    >>> np.abs(gx).max() < 1e-15  # a constant cotangent sees a constant output
    np.True_
    """
    x, memory_keys, memory_values, scores, log_token_softmax = _external_parts(
        x, memory_keys, memory_values)
    weights = softmax(log_token_softmax)
    grad = cotangent(grad, weights.shape[:-1] + memory_values.shape[1:])
    grad_log = softmax_vjp(grad @ memory_values.T, log_token_softmax)
    token_softmax = np.exp(log_token_softmax)
    grad_scores = grad_log - token_softmax * np.sum(grad_log, axis=-2, keepdims=True)
    return (grad_scores @ memory_keys, _outer_sum(grad_scores, x), _outer_sum(weights, grad))


# ----------------------------------------------------------------------------- MLP-Mixer

def _token_mlp_params(x, w1, b1, w2, b2, names=("token_w1", "token_b1", "token_w2", "token_b2")):
    n = x.shape[-2]
    w1 = as_float_array(w1, names[0])
    if w1.ndim != 2 or w1.shape[1] != n:
        raise ValueError(f"{names[0]} has shape {w1.shape} but a sequence of n={n} tokens "
                         f"needs (hidden, {n}): this mixer's parameters fix the sequence length")
    hidden = w1.shape[0]
    return (w1, _param(b1, names[1], (hidden,)), _tokens(w2, names[2], n, (n, hidden)),
            _tokens(b2, names[3], n, (n,)))


def token_mixing_mlp(x: Any, w1: Any, b1: Any, w2: Any, b2: Any,
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
        ``(out, in)`` layout; the Flax kernels of ``models_mixer.py`` are ``w1.T, w2.T``.
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
    x = _sequence(x)
    params = _token_mlp_params(x, w1, b1, w2, b2, ("w1", "b1", "w2", "b2"))
    return _token_mlp(x, *params, _activation(activation))[0]


def token_mixing_mlp_vjp(grad: Any, x: Any, w1: Any, b1: Any, w2: Any, b2: Any,
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
    x = _sequence(x)
    w1, b1, w2, b2 = _token_mlp_params(x, w1, b1, w2, b2, ("w1", "b1", "w2", "b2"))
    act = _activation(activation)
    _, pre = _token_mlp(x, w1, b1, w2, b2, act)
    return _token_mlp_vjp(cotangent(grad, x.shape), x, w1, w2, pre, act)


def _channel_mlp_params(d, w1, b1, w2, b2, prefix):
    w1 = as_float_array(w1, f"{prefix}_w1")
    if w1.ndim != 2 or w1.shape[0] != d:
        raise ValueError(f"{prefix}_w1 must have shape ({d}, hidden), got {w1.shape}")
    hidden = w1.shape[1]
    return (w1, _param(b1, f"{prefix}_b1", (hidden,)), _param(w2, f"{prefix}_w2", (hidden, d)),
            _param(b2, f"{prefix}_b2", (d,)))


def _as_params(params, kind):
    if not isinstance(params, kind):
        raise TypeError(f"params must be a {kind.__name__}, got {type(params).__name__}")
    return params


@dataclass(frozen=True, eq=False)
class MixerParams:
    """Parameters of one MLP-Mixer block (``n`` tokens, ``d`` channels).

    token_norm_gain, token_norm_bias : (d,)
        LayerNorm before token mixing.
    token_w1 : (h, n); token_b1 : (h,); token_w2 : (n, h); token_b2 : (n,)
        The token MLP (:func:`token_mixing_mlp`), ``(out, in)`` layout.
    channel_norm_gain, channel_norm_bias : (d,)
    channel_w1 : (d, c); channel_b1 : (c,); channel_w2 : (c, d); channel_b2 : (d,)
        The channel MLP ``sigma(X W_1 + b_1) W_2 + b_2``, ``(in, out)`` layout.
    """

    token_norm_gain: Any
    token_norm_bias: Any
    token_w1: Any
    token_b1: Any
    token_w2: Any
    token_b2: Any
    channel_norm_gain: Any
    channel_norm_bias: Any
    channel_w1: Any
    channel_b1: Any
    channel_w2: Any
    channel_b2: Any


def _mixer_forward(x, p, act, eps):
    x = _sequence(x)
    token = _token_mlp_params(x, p.token_w1, p.token_b1, p.token_w2, p.token_b2)
    channel = _channel_mlp_params(x.shape[-1], p.channel_w1, p.channel_b1, p.channel_w2,
                                  p.channel_b2, "channel")
    normed_x = layer_norm(x, p.token_norm_gain, p.token_norm_bias, eps)
    mixed, token_pre = _token_mlp(normed_x, *token, act)
    u = x + mixed
    normed_u = layer_norm(u, p.channel_norm_gain, p.channel_norm_bias, eps)
    out, channel_pre = _mlp(normed_u, *channel, act)
    return x, u + out, (token, channel, normed_x, token_pre, u, normed_u, channel_pre)


def mlp_mixer_block(x: Any, params: MixerParams, activation: str = "gelu_tanh",
                    eps: float = 1e-6) -> np.ndarray:
    """One MLP-Mixer block: token-mixing MLP, then channel-mixing MLP, both pre-LN residual.

    .. math::

        U = X + W_2\\,\\sigma(W_1 \\operatorname{LN}(X) + b_1) + b_2, \\qquad
        Y = U + \\sigma(\\operatorname{LN}(U) W_3 + b_3) W_4 + b_4

    (token biases broadcast along channels). ``A = W_1`` and ``W_2`` are ``h x n`` and
    ``n x h``: the block is fixed to ``n`` tokens and is not permutation-equivariant.

    Parameters
    ----------
    x : array_like, shape (..., n, d)
    params : MixerParams
    activation : str
        ``"gelu_tanh"`` (default; Flax's ``nn.gelu`` in the reference code) or another
        name from :data:`ACTIVATIONS`.
    eps : float
        LayerNorm epsilon (Flax default ``1e-6``).

    Returns
    -------
    ndarray, shape (..., n, d)

    References
    ----------
    Tolstikhin et al., "MLP-Mixer: An all-MLP Architecture for Vision" (arXiv 2105.01601);
    google-research/vision_transformer ``vit_jax/models_mixer.py``.

    Examples
    --------
    >>> n, d = 2, 3
    >>> zeros = MixerParams(np.ones(d), np.zeros(d), np.zeros((4, n)), np.zeros(4),
    ...                     np.zeros((n, 4)), np.zeros(n), np.ones(d), np.zeros(d),
    ...                     np.zeros((d, 5)), np.zeros(5), np.zeros((5, d)), np.zeros(d))
    >>> x = np.arange(6.0).reshape(n, d)
    >>> bool(np.all(mlp_mixer_block(x, zeros) == x))  # zero MLPs: two identity residuals
    True
    """
    params = _as_params(params, MixerParams)
    eps = as_scalar(eps, "eps", positive=True)
    return _mixer_forward(x, params, _activation(activation), eps)[1]


def mlp_mixer_block_vjp(grad: Any, x: Any, params: MixerParams, activation: str = "gelu_tanh",
                        eps: float = 1e-6) -> tuple[np.ndarray, MixerParams]:
    """VJP of :func:`mlp_mixer_block`: ``(grad_x, grad_params)``.

    Backward through the channel MLP and its LayerNorm into ``U`` (plus the residual),
    then through the token MLP and its LayerNorm into ``X`` (plus the residual).

    Examples
    --------
    >>> n, d = 2, 3
    >>> p = MixerParams(np.ones(d), np.zeros(d), np.zeros((4, n)), np.zeros(4),
    ...                 np.zeros((n, 4)), np.zeros(n), np.ones(d), np.zeros(d),
    ...                 np.zeros((d, 5)), np.zeros(5), np.zeros((5, d)), np.zeros(d))
    >>> gx, gp = mlp_mixer_block_vjp(np.ones((n, d)), np.arange(6.0).reshape(n, d), p)
    >>> gx, gp.token_b2  # identity block; each token bias feeds d channels
    (array([[1., 1., 1.],
           [1., 1., 1.]]), array([3., 3.]))
    """
    params = _as_params(params, MixerParams)
    eps, act = as_scalar(eps, "eps", positive=True), _activation(activation)
    x, out, saved = _mixer_forward(x, params, act, eps)
    token, channel, normed_x, token_pre, u, normed_u, channel_pre = saved
    grad = cotangent(grad, out.shape)
    g_normed_u, *g_channel = _mlp_vjp(grad, normed_u, channel[0], channel[2], channel_pre, act)
    g_u, g_cgain, g_cbias = layer_norm_vjp(g_normed_u, u, params.channel_norm_gain,
                                           params.channel_norm_bias, eps)
    g_u = g_u + grad
    g_normed_x, *g_token = _token_mlp_vjp(g_u, normed_x, token[0], token[2], token_pre, act)
    g_x, g_tgain, g_tbias = layer_norm_vjp(g_normed_x, x, params.token_norm_gain,
                                           params.token_norm_bias, eps)
    return g_x + g_u, MixerParams(g_tgain, g_tbias, *g_token, g_cgain, g_cbias, *g_channel)


# ----------------------------------------------------------------------------- ResMLP

@dataclass(frozen=True, eq=False)
class ResMLPParams:
    """Parameters of one ResMLP block (``n`` tokens, ``d`` channels).

    affine1_alpha, affine1_beta : (d,)
        ``Aff(x) = alpha * x + beta``, which replaces LayerNorm (init 1 and 0).
    token_weight : (n, n); token_bias : (n,)
        The single linear token map ``A`` (``nn.Linear(n, n)`` weight layout).
    layer_scale1 : (d,)
        LayerScale on the token branch (init ``0.1`` to ``1e-6`` by depth).
    affine2_alpha, affine2_beta : (d,)
    channel_w1 : (d, c); channel_b1 : (c,); channel_w2 : (c, d); channel_b2 : (d,)
    layer_scale2 : (d,)
    """

    affine1_alpha: Any
    affine1_beta: Any
    token_weight: Any
    token_bias: Any
    layer_scale1: Any
    affine2_alpha: Any
    affine2_beta: Any
    channel_w1: Any
    channel_b1: Any
    channel_w2: Any
    channel_b2: Any
    layer_scale2: Any


def _resmlp_forward(x, p, act):
    x = _sequence(x)
    n, d = x.shape[-2:]
    a1, b1, s1, a2, b2, s2 = (_param(getattr(p, name), name, (d,)) for name in (
        "affine1_alpha", "affine1_beta", "layer_scale1", "affine2_alpha", "affine2_beta",
        "layer_scale2"))
    weight = _tokens(p.token_weight, "token_weight", n, (n, n))
    bias = _tokens(p.token_bias, "token_bias", n, (n,))
    channel = _channel_mlp_params(d, p.channel_w1, p.channel_b1, p.channel_w2, p.channel_b2,
                                  "channel")
    affine_x = a1 * x + b1
    mixed = weight @ affine_x + bias[:, None]
    z = x + s1 * mixed
    affine_z = a2 * z + b2
    out, pre = _mlp(affine_z, *channel, act)
    saved = (a1, s1, a2, s2, weight, channel, affine_x, mixed, z, affine_z, out, pre)
    return x, z + s2 * out, saved


def resmlp_block(x: Any, params: ResMLPParams, activation: str = "gelu") -> np.ndarray:
    """One ResMLP block: a linear token map and a channel MLP, with Aff and LayerScale.

    .. math::

        Z = X + \\gamma_1 \\odot \\left(A\\,\\operatorname{Aff}_1(X) + b \\mathbf 1^T\\right),
        \\qquad
        Y = Z + \\gamma_2 \\odot \\operatorname{MLP}(\\operatorname{Aff}_2(Z)),

    with :math:`\\operatorname{Aff}(x) = \\alpha \\odot x + \\beta` per channel and
    ``A`` an ``n x n`` matrix with no activation (Su: no essential difference from
    MLP-Mixer). ``gamma`` scales channels; ``A`` mixes tokens.

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
    data-efficient training" (arXiv 2105.03404); facebookresearch/deit ``resmlp_models.py``.

    Examples
    --------
    >>> n, d = 2, 1
    >>> p = ResMLPParams(np.ones(d), np.zeros(d), [[0.0, 1.0], [1.0, 0.0]], np.zeros(n),
    ...                  np.ones(d), np.ones(d), np.zeros(d), np.zeros((d, 2)), np.zeros(2),
    ...                  np.zeros((2, d)), np.zeros(d), np.ones(d))
    >>> resmlp_block([[1.0], [5.0]], p)  # A swaps the two tokens, then the residual
    array([[6.],
           [6.]])
    """
    return _resmlp_forward(x, _as_params(params, ResMLPParams), _activation(activation))[1]


def resmlp_block_vjp(grad: Any, x: Any, params: ResMLPParams,
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
    ...                  np.ones(d), np.zeros(d), np.zeros((d, 2)), np.zeros(2),
    ...                  np.zeros((2, d)), np.zeros(d), np.ones(d))
    >>> gx, gp = resmlp_block_vjp(np.ones((n, d)), [[1.0], [5.0]], p)
    >>> gx, gp.layer_scale1  # Y = 2X here; d gamma_1 collects sum(A Aff(X)) = 6
    (array([[2.],
           [2.]]), array([6.]))
    """
    params = _as_params(params, ResMLPParams)
    act = _activation(activation)
    x, y, saved = _resmlp_forward(x, params, act)
    a1, s1, a2, s2, weight, channel, affine_x, mixed, z, affine_z, out, pre = saved
    grad = cotangent(grad, y.shape)
    g_affine_z, *g_channel = _mlp_vjp(grad * s2, affine_z, channel[0], channel[2], pre, act)
    g_z = grad + g_affine_z * a2
    g_mixed = g_z * s1
    g_affine_x = weight.T @ g_mixed
    g_token_weight = _outer_sum(np.swapaxes(g_mixed, -1, -2), np.swapaxes(affine_x, -1, -2))
    g_token_bias = _leading_sum(np.sum(g_mixed, axis=-1))
    return g_z + g_affine_x * a1, ResMLPParams(
        _leading_sum(g_affine_x * x), _leading_sum(g_affine_x), g_token_weight, g_token_bias,
        _leading_sum(g_z * mixed), _leading_sum(g_affine_z * z), _leading_sum(g_affine_z),
        *g_channel, _leading_sum(grad * out))


# ----------------------------------------------------------------------------- Stack of FFN

@dataclass(frozen=True, eq=False)
class StackFFNParams:
    """Parameters of one "Do You Even Need Attention?" block (``n`` tokens, ``d`` channels).

    channel_norm_gain, channel_norm_bias : (d,)
    channel_w1 : (d, c); channel_b1 : (c,); channel_w2 : (c, d); channel_b2 : (d,)
    token_norm_gain, token_norm_bias : (n,)
        LayerNorm over the **token** axis (each channel's column is normalised).
    token_w1 : (h, n); token_b1 : (h,); token_w2 : (n, h); token_b2 : (n,)
    """

    channel_norm_gain: Any
    channel_norm_bias: Any
    channel_w1: Any
    channel_b1: Any
    channel_w2: Any
    channel_b2: Any
    token_norm_gain: Any
    token_norm_bias: Any
    token_w1: Any
    token_b1: Any
    token_w2: Any
    token_b2: Any


def _stack_forward(x, p, act, eps):
    x = _sequence(x)
    n, d = x.shape[-2:]
    channel = _channel_mlp_params(d, p.channel_w1, p.channel_b1, p.channel_w2, p.channel_b2,
                                  "channel")
    token = _token_mlp_params(x, p.token_w1, p.token_b1, p.token_w2, p.token_b2)
    token_gain = _tokens(p.token_norm_gain, "token_norm_gain", n, (n,))
    token_bias = _tokens(p.token_norm_bias, "token_norm_bias", n, (n,))
    normed_x = layer_norm(x, p.channel_norm_gain, p.channel_norm_bias, eps)
    out, channel_pre = _mlp(normed_x, *channel, act)
    u = x + out
    normed_u = np.swapaxes(layer_norm(np.swapaxes(u, -1, -2), token_gain, token_bias, eps), -1, -2)
    mixed, token_pre = _token_mlp(normed_u, *token, act)
    saved = (channel, token, token_gain, token_bias, normed_x, channel_pre, u, normed_u, token_pre)
    return x, u + mixed, saved


def stack_of_ffn_block(x: Any, params: StackFFNParams, activation: str = "gelu",
                       eps: float = 1e-6) -> np.ndarray:
    """One block of "a stack of feed-forward layers": channel FFN, then token FFN.

    .. math::

        U = X + \\operatorname{FFN}_c(\\operatorname{LN}_c(X)), \\qquad
        Y = U + \\left[\\operatorname{FFN}_t\\!\\left(\\operatorname{LN}_t(U^T)\\right)\\right]^T

    The second FFN runs along the tokens after transposing, with a LayerNorm over the
    token axis (``LayerNorm(num_tokens)`` in the reference code): "apply an FFN,
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
    >>> p = StackFFNParams(np.ones(d), np.zeros(d), np.zeros((d, 3)), np.zeros(3),
    ...                    np.zeros((3, d)), np.zeros(d), np.ones(n), np.zeros(n),
    ...                    np.zeros((3, n)), np.zeros(3), np.zeros((n, 3)), [1.0, -1.0])
    >>> stack_of_ffn_block(np.zeros((n, d)), p)  # only the token bias survives
    array([[ 1.,  1.],
           [-1., -1.]])
    """
    params = _as_params(params, StackFFNParams)
    eps = as_scalar(eps, "eps", positive=True)
    return _stack_forward(x, params, _activation(activation), eps)[1]


def stack_of_ffn_block_vjp(grad: Any, x: Any, params: StackFFNParams, activation: str = "gelu",
                           eps: float = 1e-6) -> tuple[np.ndarray, StackFFNParams]:
    """VJP of :func:`stack_of_ffn_block`: ``(grad_x, grad_params)``.

    Token FFN backward, then the token-axis LayerNorm backward on the transposed
    sequence, then the channel FFN and its LayerNorm; residuals add their gradients.

    Examples
    --------
    >>> n, d = 2, 2
    >>> p = StackFFNParams(np.ones(d), np.zeros(d), np.zeros((d, 3)), np.zeros(3),
    ...                    np.zeros((3, d)), np.zeros(d), np.ones(n), np.zeros(n),
    ...                    np.zeros((3, n)), np.zeros(3), np.zeros((n, 3)), np.zeros(n))
    >>> gx, gp = stack_of_ffn_block_vjp(np.ones((n, d)), np.ones((n, d)), p)
    >>> gx, gp.channel_b2
    (array([[1., 1.],
           [1., 1.]]), array([2., 2.]))
    """
    params = _as_params(params, StackFFNParams)
    eps, act = as_scalar(eps, "eps", positive=True), _activation(activation)
    x, y, saved = _stack_forward(x, params, act, eps)
    channel, token, token_gain, token_bias, normed_x, channel_pre, u, normed_u, token_pre = saved
    grad = cotangent(grad, y.shape)
    g_normed_u, *g_token = _token_mlp_vjp(grad, normed_u, token[0], token[2], token_pre, act)
    g_ut, g_tgain, g_tbias = layer_norm_vjp(np.swapaxes(g_normed_u, -1, -2),
                                            np.swapaxes(u, -1, -2), token_gain, token_bias, eps)
    g_u = grad + np.swapaxes(g_ut, -1, -2)
    g_normed_x, *g_channel = _mlp_vjp(g_u, normed_x, channel[0], channel[2], channel_pre, act)
    g_x, g_cgain, g_cbias = layer_norm_vjp(g_normed_x, x, params.channel_norm_gain,
                                           params.channel_norm_bias, eps)
    return g_x + g_u, StackFFNParams(g_cgain, g_cbias, *g_channel, g_tgain, g_tbias, *g_token)


# ----------------------------------------------------------------------------- gMLP / aMLP

def _sgu_parts(z, spatial_weight, spatial_bias, norm_gain, norm_bias, gate_residual, causal):
    z = _sequence(z, "z")
    n, width = z.shape[-2:]
    if width % 2:
        raise ValueError(f"z must have an even last dimension (two halves), got {width}")
    weight = _tokens(spatial_weight, "spatial_weight", n, (n, n))
    if causal:
        weight = np.tril(weight)
    bias = _tokens(spatial_bias, "spatial_bias", n, (n,))
    if gate_residual is not None:
        gate_residual = _param(gate_residual, "gate_residual", z.shape[:-1] + (width // 2,))
    return z, weight, bias, gate_residual


def spatial_gating_unit(z: Any, spatial_weight: Any, spatial_bias: Any, norm_gain: Any,
                        norm_bias: Any, gate_residual: Any = None, causal: bool = False,
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
    z, weight, bias, gate_residual = _sgu_parts(z, spatial_weight, spatial_bias, norm_gain,
                                                norm_bias, gate_residual, causal)
    first, second = np.split(z, 2, axis=-1)
    gate = weight @ layer_norm(second, norm_gain, norm_bias, eps) + bias[:, None]
    return first * (gate if gate_residual is None else gate + gate_residual)


def spatial_gating_unit_vjp(grad: Any, z: Any, spatial_weight: Any, spatial_bias: Any,
                            norm_gain: Any, norm_bias: Any, gate_residual: Any = None,
                            causal: bool = False, eps: float = 1e-5) -> tuple:
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
    z, weight, bias, gate_residual = _sgu_parts(z, spatial_weight, spatial_bias, norm_gain,
                                                norm_bias, gate_residual, causal)
    first, second = np.split(z, 2, axis=-1)
    normed = layer_norm(second, norm_gain, norm_bias, eps)
    gate = weight @ normed + bias[:, None]
    if gate_residual is not None:
        gate = gate + gate_residual
    grad = cotangent(grad, first.shape)
    grad_gate = grad * first
    grad_weight = _outer_sum(np.swapaxes(grad_gate, -1, -2), np.swapaxes(normed, -1, -2))
    grad_second, grad_gain, grad_bias = layer_norm_vjp(weight.T @ grad_gate, second, norm_gain,
                                                       norm_bias, eps)
    return (np.concatenate([grad * gate, grad_second], axis=-1),
            np.tril(grad_weight) if causal else grad_weight,
            _leading_sum(np.sum(grad_gate, axis=-1)), grad_gain, grad_bias,
            None if gate_residual is None else grad_gate)


def spatial_gating_init(tokens: int, rng: Any = None,
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
class TinyAttentionParams:
    """aMLP's single-head attention: ``qkv_weight (d, 3a)``, ``qkv_bias (3a,)``,
    ``out_weight (a, e)``, ``out_bias (e,)``; the paper uses ``a = 64``."""

    qkv_weight: Any
    qkv_bias: Any
    out_weight: Any
    out_bias: Any


def _tiny_parts(x, p, causal):
    x = _sequence(x)
    d, n = x.shape[-1], x.shape[-2]
    qkv_weight = as_float_array(p.qkv_weight, "qkv_weight")
    if qkv_weight.ndim != 2 or qkv_weight.shape[0] != d or qkv_weight.shape[1] % 3:
        raise ValueError(f"qkv_weight must have shape ({d}, 3a), got {qkv_weight.shape}")
    width = qkv_weight.shape[1] // 3
    qkv_bias = _param(p.qkv_bias, "qkv_bias", (3 * width,))
    out_weight = as_float_array(p.out_weight, "out_weight")
    if out_weight.ndim != 2 or out_weight.shape[0] != width:
        raise ValueError(f"out_weight must have shape ({width}, e), got {out_weight.shape}")
    out_bias = _param(p.out_bias, "out_bias", out_weight.shape[1:])
    q, k, v = np.split(x @ qkv_weight + qkv_bias, 3, axis=-1)
    mask = np.tril(np.ones((n, n), dtype=bool)) if causal else None
    return x, qkv_weight, out_weight, out_bias, q, k, v, mask


def tiny_attention(x: Any, params: TinyAttentionParams, causal: bool = False) -> np.ndarray:
    """aMLP's tiny attention: single-head softmax attention projected to the gate width.

    .. math::

        [Q, K, V] = X W_{qkv} + b_{qkv}, \\qquad
        O = \\operatorname{softmax}\\!\\left(\\frac{Q K^T}{\\sqrt a}\\right) V\\, W_o + b_o

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
    >>> p = TinyAttentionParams(np.zeros((2, 3)), [0.0, 0.0, 1.0], np.ones((1, 2)), np.zeros(2))
    >>> tiny_attention(np.ones((3, 2)), p)  # v = 1 everywhere
    array([[1., 1.],
           [1., 1.],
           [1., 1.]])
    """
    x, _, out_weight, out_bias, q, k, v, mask = _tiny_parts(
        x, _as_params(params, TinyAttentionParams), causal)
    return scaled_dot_product_attention(q, k, v, mask) @ out_weight + out_bias


def tiny_attention_vjp(grad: Any, x: Any, params: TinyAttentionParams,
                       causal: bool = False) -> tuple[np.ndarray, TinyAttentionParams]:
    """VJP of :func:`tiny_attention`: ``(grad_x, grad_params)``.

    Output projection backward, :func:`refimpl.attention.scaled_dot_product_attention_vjp`,
    then the fused ``qkv`` projection.

    Examples
    --------
    >>> p = TinyAttentionParams(np.zeros((2, 3)), [0.0, 0.0, 1.0], np.ones((1, 2)), np.zeros(2))
    >>> gx, gp = tiny_attention_vjp(np.ones((3, 2)), np.ones((3, 2)), p)
    >>> gp.out_bias
    array([3., 3.])
    """
    x, qkv_weight, out_weight, out_bias, q, k, v, mask = _tiny_parts(
        x, _as_params(params, TinyAttentionParams), causal)
    attended = scaled_dot_product_attention(q, k, v, mask)
    grad = cotangent(grad, attended.shape[:-1] + out_bias.shape)
    gq, gk, gv, _ = scaled_dot_product_attention_vjp(grad @ out_weight.T, q, k, v, mask)
    g_qkv = np.concatenate([gq, gk, gv], axis=-1)
    return g_qkv @ qkv_weight.T, TinyAttentionParams(
        _outer_sum(x, g_qkv), _leading_sum(g_qkv), _outer_sum(attended, grad), _leading_sum(grad))


@dataclass(frozen=True, eq=False)
class GMLPParams:
    """Parameters of one gMLP block (``n`` tokens, ``d`` channels, ``2e`` hidden).

    norm_gain, norm_bias : (d,)
    in_weight : (d, 2e); in_bias : (2e,)
        ``U``: the channel projection before GELU.
    gate_norm_gain, gate_norm_bias : (e,)
    spatial_weight : (n, n); spatial_bias : (n,)
        The spatial projection (:func:`spatial_gating_init`: near 0 and ones).
    out_weight : (e, d); out_bias : (d,)
        ``V``: the projection back to ``d``.
    attention : TinyAttentionParams or None
        Present for aMLP (its output width must be ``e``).
    """

    norm_gain: Any
    norm_bias: Any
    in_weight: Any
    in_bias: Any
    gate_norm_gain: Any
    gate_norm_bias: Any
    spatial_weight: Any
    spatial_bias: Any
    out_weight: Any
    out_bias: Any
    attention: TinyAttentionParams | None = None


def _gmlp_forward(x, p, causal, act, eps):
    x = _sequence(x)
    d = x.shape[-1]
    in_weight = as_float_array(p.in_weight, "in_weight")
    if in_weight.ndim != 2 or in_weight.shape[0] != d or in_weight.shape[1] % 2:
        raise ValueError(f"in_weight must have shape ({d}, 2e), got {in_weight.shape}")
    width = in_weight.shape[1] // 2
    in_bias = _param(p.in_bias, "in_bias", (2 * width,))
    out_weight = _param(p.out_weight, "out_weight", (width, d))
    out_bias = _param(p.out_bias, "out_bias", (d,))
    normed = layer_norm(x, p.norm_gain, p.norm_bias, eps)
    pre = normed @ in_weight + in_bias
    z = act[0](pre)
    residual = None if p.attention is None else tiny_attention(normed, p.attention, causal)
    gate_args = (p.spatial_weight, p.spatial_bias, p.gate_norm_gain, p.gate_norm_bias, residual,
                 causal, eps)
    gated = spatial_gating_unit(z, *gate_args)
    saved = (in_weight, out_weight, normed, pre, z, gate_args, gated)
    return x, x + gated @ out_weight + out_bias, saved


def gmlp_block(x: Any, params: GMLPParams, causal: bool = False, activation: str = "gelu",
               eps: float = 1e-5) -> np.ndarray:
    """One gMLP block (or aMLP when ``params.attention`` is set).

    .. math::

        Z = \\sigma(\\operatorname{LN}(X) U + b_U), \\qquad
        \\tilde Z = s(Z) = Z_1 \\odot (W \\operatorname{LN}(Z_2) + b \\mathbf 1^T
                    [+ \\operatorname{TinyAttn}(\\operatorname{LN}(X))]), \\qquad
        Y = X + \\tilde Z V + b_V

    (:func:`spatial_gating_unit`, :func:`tiny_attention`). Su's summary:
    ``O = X_1 ⊙ (W X_2 + b)``. With ``causal=True`` both the spatial projection and the
    tiny attention are lower-triangular, so output ``i`` depends on tokens ``<= i`` only.

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
    Liu, Dai, So, Le, "Pay Attention to MLPs" (arXiv 2105.08050), Fig. 1 and 5.

    Examples
    --------
    >>> n, d, e = 3, 2, 2
    >>> w, b = spatial_gating_init(n, rng=0, weight_std=0.0)
    >>> p = GMLPParams(np.ones(d), np.zeros(d), np.zeros((d, 2 * e)), np.zeros(2 * e),
    ...                np.ones(e), np.zeros(e), w, b, np.zeros((e, d)), np.ones(d))
    >>> gmlp_block(np.zeros((n, d)), p)  # zero projections: X + b_V
    array([[1., 1.],
           [1., 1.],
           [1., 1.]])
    """
    params = _as_params(params, GMLPParams)
    eps = as_scalar(eps, "eps", positive=True)
    return _gmlp_forward(x, params, bool(causal), _activation(activation), eps)[1]


def gmlp_block_vjp(grad: Any, x: Any, params: GMLPParams, causal: bool = False,
                   activation: str = "gelu", eps: float = 1e-5) -> tuple[np.ndarray, GMLPParams]:
    """VJP of :func:`gmlp_block`: ``(grad_x, grad_params)``.

    Output projection, :func:`spatial_gating_unit_vjp`, the activation and ``U``; for
    aMLP the gate-residual gradient runs through :func:`tiny_attention_vjp` into
    ``LN(X)``; finally the LayerNorm and the residual.

    Examples
    --------
    >>> n, d, e = 3, 2, 2
    >>> w, b = spatial_gating_init(n, rng=0, weight_std=0.0)
    >>> p = GMLPParams(np.ones(d), np.zeros(d), np.zeros((d, 2 * e)), np.zeros(2 * e),
    ...                np.ones(e), np.zeros(e), w, b, np.zeros((e, d)), np.ones(d))
    >>> gx, gp = gmlp_block_vjp(np.ones((n, d)), np.zeros((n, d)), p)
    >>> gx[0], gp.out_bias
    (array([1., 1.]), array([3., 3.]))
    """
    params = _as_params(params, GMLPParams)
    eps, act, causal = as_scalar(eps, "eps", positive=True), _activation(activation), bool(causal)
    x, y, saved = _gmlp_forward(x, params, causal, act, eps)
    in_weight, out_weight, normed, pre, z, gate_args, gated = saved
    grad = cotangent(grad, y.shape)
    g_z, g_sw, g_sb, g_ggain, g_gbias, g_residual = spatial_gating_unit_vjp(
        grad @ out_weight.T, z, *gate_args)
    g_pre = act[1](g_z, pre)
    g_normed = g_pre @ in_weight.T
    g_attention = None
    if params.attention is not None:
        g_from_attention, g_attention = tiny_attention_vjp(g_residual, normed, params.attention,
                                                           causal)
        g_normed = g_normed + g_from_attention
    g_x, g_gain, g_bias = layer_norm_vjp(g_normed, x, params.norm_gain, params.norm_bias, eps)
    return g_x + grad, GMLPParams(
        g_gain, g_bias, _outer_sum(normed, g_pre), _leading_sum(g_pre), g_ggain, g_gbias, g_sw,
        g_sb, _outer_sum(gated, grad), _leading_sum(grad), g_attention)
