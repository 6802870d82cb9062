"""The sublayers of the reference Transformer, each forward next to its backward.

A layer of the model is built from four pieces, each a pair ``f`` / ``f_backward``:

* :func:`dense` ``x W + b`` and :func:`dense_backward`;
* :func:`norm` (LayerNorm or RMSNorm, as the config says) and :func:`norm_backward`;
* :func:`activate` (the config's activation, or the gate's for GEGLU/SwiGLU) and
  :func:`activate_backward`;
* the two sublayers, :func:`attention_forward` / :func:`attention_backward` (multi-head
  self-attention with RoPE and grouped-query key/value heads; its two halves
  :func:`project_qkv` and :func:`attention_core` are reused by KV-cache decoding) and
  :func:`ffn_forward` / :func:`ffn_backward` (the feed-forward network, plain or gated).

A forward returns its output and a cache (a dict of the arrays its backward reuses);
a backward takes the cache and the upstream gradient and returns the gradients of the
sublayer's parameters (a dict with the keys of ``p``) and of its input.

These functions do not validate: every array here was made by the model from
arguments that the public functions of :mod:`refimpl.transformer` (``forward``,
``block_forward``, ...) have already checked, so they call the unchecked cores
(:func:`refimpl.norms.layer_norm_unchecked`,
:func:`refimpl.attention.attention_weights_unchecked`, ...); checking again would only
cost time. Call those public functions, not these, from outside the package.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from refimpl.activations import (
    gelu_and_cdf_unchecked,
    gelu_tanh,
    gelu_tanh_vjp,
    gelu_vjp_from_cdf_unchecked,
    relu,
    relu_vjp,
    silu,
    silu_vjp,
)
from refimpl.attention import (
    attend_unchecked,
    attention_backward_unchecked,
    attention_weights_unchecked,
    merge_heads_unchecked,
    rotate,
    rotate_transpose,
    scale_factor,
    split_heads_unchecked,
)
from refimpl.norms import (
    layer_norm_unchecked,
    layer_norm_vjp_unchecked,
    rms_norm_unchecked,
    rms_norm_vjp_unchecked,
)
from refimpl.transformer.config import TransformerConfig

__all__ = ["norm", "norm_backward", "activate", "activate_backward", "dense",
           "dense_backward", "attention_forward", "project_qkv", "attention_core",
           "attention_backward", "ffn_forward", "ffn_backward"]

#: Pointwise function and VJP behind each activation name but the GELU ones (the gated
#: ones use theirs on the gate branch; the MLM head uses the pointwise one). Exact GELU
#: goes through :func:`activate`, which keeps ``Phi(x)`` for the backward pass.
_POINTWISE: dict[str, tuple[Callable[[np.ndarray], np.ndarray],
                            Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "relu": (relu, relu_vjp), "gelu_tanh": (gelu_tanh, gelu_tanh_vjp),
    "swiglu": (silu, silu_vjp)}


def norm(p: dict, config: TransformerConfig, x: np.ndarray, eps: float | None = None
         ) -> np.ndarray:
    """LayerNorm or RMSNorm of ``x`` with the parameters ``p`` (``eps`` default: norm_eps)."""
    eps = config.norm_eps if eps is None else eps
    if config.norm == "layernorm":
        return layer_norm_unchecked(x, p["gain"], p["bias"], eps)
    return rms_norm_unchecked(x, p["gain"], eps)


def norm_backward(p: dict, config: TransformerConfig, x: np.ndarray, grad: np.ndarray,
                  eps: float | None = None) -> tuple[dict, np.ndarray]:
    """``({"gain": ..., "bias": ...}, grad_x)`` of :func:`norm` at input ``x``."""
    eps = config.norm_eps if eps is None else eps
    if config.norm == "layernorm":
        grad_x, grad_gain, grad_bias = layer_norm_vjp_unchecked(grad, x, p["gain"], eps)
        return {"gain": grad_gain, "bias": grad_bias}, grad_x
    grad_x, grad_gain = rms_norm_vjp_unchecked(grad, x, p["gain"], eps)
    return {"gain": grad_gain}, grad_x


def activate(config: TransformerConfig, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``act(x)`` and what its backward reuses: ``Phi(x)`` for gelu and geglu, else None."""
    if config.activation in ("gelu", "geglu"):
        return gelu_and_cdf_unchecked(x)
    return _POINTWISE[config.activation][0](x), None


def activate_backward(config: TransformerConfig, grad: np.ndarray, x: np.ndarray,
                      cdf: np.ndarray | None) -> np.ndarray:
    """``grad * act'(x)``; ``cdf`` is the second output of :func:`activate` at ``x``."""
    if cdf is not None:  # gelu, geglu
        return gelu_vjp_from_cdf_unchecked(grad, x, cdf)
    return _POINTWISE[config.activation][1](grad, x)


def dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``x W + b`` (no bias when ``bias`` is None)."""
    y = x @ weight
    if bias is not None:
        y += bias
    return y


def dense_backward(x: np.ndarray, weight: np.ndarray, grad: np.ndarray, names: tuple[str, str],
                   has_bias: bool) -> tuple[dict, np.ndarray]:
    """Gradients ``{W: x^T g, b: sum g}`` (summed over every leading axis) and ``g W^T``."""
    rows_x, rows_g = x.reshape(-1, x.shape[-1]), grad.reshape(-1, grad.shape[-1])
    grads = {names[0]: rows_x.T @ rows_g}
    if has_bias:
        grads[names[1]] = rows_g.sum(axis=0)
    return grads, grad @ weight.T


def attention_forward(p: dict, config: TransformerConfig, x: np.ndarray,
                      mask: np.ndarray | None, angles: np.ndarray | None,
                      bias: np.ndarray | None = None,
                      past: tuple[np.ndarray, np.ndarray] | None = None
                      ) -> tuple[np.ndarray, dict]:
    """Multi-head self-attention sublayer; returns its output and a cache.

    ``q = split_heads(x W_q + b_q)`` into ``n_heads`` heads, ``k`` and ``v`` likewise into
    ``kv_heads``; ``c = softmax(m^2 R q (R k)^T / sqrt(d_head) + bias | mask) v`` with each
    key/value head serving its group of query heads; output
    ``merge_heads(c) W_o + b_o``, with RoPE ``R`` (and its factor ``m``,
    ``rope_attention_factor``) when ``angles`` is given.

    ``past = (keys, values)``, rotated keys and values of earlier tokens, puts them
    before this call's own (KV-cache decoding, :mod:`refimpl.transformer.decoding`); the
    cache's ``k_rot`` and ``v`` are then the concatenations. :func:`attention_backward`
    does not support ``past``.
    """
    q, k, v = project_qkv(p, config, x)
    factor = config.rope_attention_factor
    q = rotate(q, angles, config.rope_layout, factor)
    k = rotate(k, angles, config.rope_layout, factor)
    if past is not None:
        k = np.concatenate([past[0], k], axis=-2)
        v = np.concatenate([past[1], v], axis=-2)
    output, cache = attention_core(p, config, q, k, v, mask, bias)
    return output, dict(cache, x=x, angles=angles)


def project_qkv(p: dict, config: TransformerConfig,
                x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queries ``(..., n_heads, T, d_head)``, keys and values ``(..., kv_heads, T, d_head)``."""
    return (split_heads_unchecked(dense(x, p["wq"], p.get("bq")), config.n_heads),
            split_heads_unchecked(dense(x, p["wk"], p.get("bk")), config.kv_heads),
            split_heads_unchecked(dense(x, p["wv"], p.get("bv")), config.kv_heads))


def attention_core(p: dict, config: TransformerConfig, q_rot: np.ndarray, k_rot: np.ndarray,
                   v: np.ndarray, mask: np.ndarray | None, bias: np.ndarray | None
                   ) -> tuple[np.ndarray, dict]:
    """Attention of rotated queries over rotated keys, merged heads and output projection.

    The part of :func:`attention_forward` after the projections and RoPE, shared with
    KV-cache decoding (:mod:`refimpl.transformer.decoding`), whose keys come from the
    cache.
    """
    weights = attention_weights_unchecked(
        q_rot, k_rot, mask, bias, scale_factor(config.attention_scale, config.head_dim),
        config.groups)
    merged = merge_heads_unchecked(attend_unchecked(weights, v, config.groups))
    cache = dict(q_rot=q_rot, k_rot=k_rot, v=v, weights=weights, merged=merged)
    return dense(merged, p["wo"], p.get("bo")), cache


def attention_backward(p: dict, config: TransformerConfig, cache: dict,
                       grad: np.ndarray) -> tuple[dict, np.ndarray]:
    """Gradients of the attention sublayer's parameters and of its input.

    Output projection, then the attention core
    (:func:`refimpl.attention.attention_backward_unchecked`, the core of
    :func:`refimpl.attention.attention_backward_from_weights`, with the cached weights;
    the key and value gradients come out summed over each group of query heads), the
    RoPE VJP on q and k, and the three input projections, whose input gradients add
    up. The RoPE VJP in q is the transposed rotation, ``(m R(phi))^T = m R(-phi)``:
    rotating the gradient back by ``-phi`` gives :func:`refimpl.rope.apply_vjp`'s
    gradient in q without computing its gradient in the angles, which is not needed here.
    """
    has_bias = config.has_attention_bias
    grads, grad_merged = dense_backward(cache["merged"], p["wo"], grad, ("wo", "bo"),
                                        has_bias)
    grad_q, grad_k, grad_v, _ = attention_backward_unchecked(
        split_heads_unchecked(grad_merged, config.n_heads), cache["q_rot"], cache["k_rot"],
        cache["v"], cache["weights"], scale_factor(config.attention_scale, config.head_dim),
        config.groups)
    factor = config.rope_attention_factor
    grad_q = rotate_transpose(grad_q, cache["angles"], config.rope_layout, factor)
    grad_k = rotate_transpose(grad_k, cache["angles"], config.rope_layout, factor)
    grad_heads = {"q": grad_q, "k": grad_k, "v": grad_v}
    grad_x = np.zeros_like(cache["x"])
    for name, grad_head in grad_heads.items():
        weight_grads, grad_x_part = dense_backward(
            cache["x"], p["w" + name], merge_heads_unchecked(grad_head),
            ("w" + name, "b" + name), has_bias)
        grads.update(weight_grads)
        grad_x = grad_x + grad_x_part
    return grads, grad_x


def ffn_forward(p: dict, config: TransformerConfig, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Feed-forward sublayer ``act(x W_up) W_down`` or gated; returns output and cache.

    Gated (GEGLU, SwiGLU; Shazeer 2020): ``(act(x W_gate + b_gate) * (x W_up + b_up))
    W_down + b_down``.
    """
    up = dense(x, p["w_up"], p.get("b_up"))
    if config.gated:
        gate = dense(x, p["w_gate"], p.get("b_gate"))
        activated, cdf = activate(config, gate)
        hidden = activated * up
    else:
        gate = None
        activated, cdf = activate(config, up)
        hidden = activated
    return dense(hidden, p["w_down"], p.get("b_down")), dict(x=x, up=up, gate=gate,
                                                             activated=activated, cdf=cdf,
                                                             hidden=hidden)


def ffn_backward(p: dict, config: TransformerConfig, cache: dict,
                 grad: np.ndarray) -> tuple[dict, np.ndarray]:
    """Gradients of the feed-forward sublayer's parameters and of its input."""
    has_bias = config.has_mlp_bias
    grads, grad_hidden = dense_backward(cache["hidden"], p["w_down"], grad,
                                        ("w_down", "b_down"), has_bias)
    x, up, gate, cdf = cache["x"], cache["up"], cache["gate"], cache["cdf"]
    if config.gated:
        grad_up = grad_hidden * cache["activated"]
        grad_gate = activate_backward(config, grad_hidden * up, gate, cdf)
        gate_grads, grad_x_gate = dense_backward(x, p["w_gate"], grad_gate,
                                                 ("w_gate", "b_gate"), has_bias)
        grads.update(gate_grads)
    else:
        grad_up = activate_backward(config, grad_hidden, up, cdf)
    up_grads, grad_x = dense_backward(x, p["w_up"], grad_up, ("w_up", "b_up"), has_bias)
    grads.update(up_grads)
    return grads, (grad_x + grad_x_gate) if config.gated else grad_x
