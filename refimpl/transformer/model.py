"""The reference Transformer at the model level: embeddings, layers, head, whole model.

Each step is a public pair, forward and backward, that validates its inputs and runs the
sublayers of :mod:`refimpl.transformer.layers`. For token ids ``t`` (shape ``(..., T)``)::

    h = E[t] (+ P[positions]) (+ S[segments])         embed_forward
    h = norm(h)                                        (post-LN only: embedding norm)
    for each layer:                                    block_forward
        pre-LN:   h = h + attn(norm(h));  h = h + ffn(norm(h))
        parallel: h = h + attn(norm(h)) + ffn(norm'(h))
        post-LN:  h = norm(h + attn(h));  h = norm(h + ffn(h))
    h = norm(h)                                        (pre-LN only: final norm)
    h = norm(act(h W + b))                             (MLM head only)
    logits = h E^T (+ b)  or  h W_out (+ b)            head_forward

with ``attn(x) = merge_heads(softmax(R q R k^T / sqrt(d_head) + bias | mask) v) W_o + b_o``,
``q = x W_q + b_q`` (likewise k, v, split into heads, k and v into ``kv_heads`` heads
that each serve a group of query heads; R is RoPE when enabled) and
``ffn(x) = act(x W_up + b_up) W_down + b_down`` or, gated,
``(act(x W_gate + b_gate) * (x W_up + b_up)) W_down + b_down``. :func:`forward` runs
the whole stack and :func:`backward` the backward passes in reverse order.

Layer-by-layer use (e.g. replacing the hidden state at position 0 between layers, or
switching masks at layer ``k``)::

    h, _ = embed_forward(params, config, tokens)
    angles = rope_angles(config, np.arange(T))
    for layer in params["layers"]:
        h, _ = block_forward(layer, config, h, mask, angles)
    logits, _ = head_forward(params, config, h)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refimpl import rope
from refimpl._broadcasting import cotangent
from refimpl._validation import as_float_array, check_last_axis, check_ndim
from refimpl.transformer._common import token_ids, token_positions
from refimpl.transformer.config import TransformerConfig
from refimpl.transformer.layers import (
    activate,
    activate_backward,
    attention_backward,
    attention_forward,
    dense,
    dense_backward,
    ffn_backward,
    ffn_forward,
    norm,
    norm_backward,
)
from refimpl.transformer.masking import attention_bias, attention_mask
from refimpl.transformer.params import check_params

__all__ = ["rope_angles", "embed_forward", "embed_backward", "block_forward",
           "block_backward", "head_forward", "head_backward", "forward", "backward"]


# ---------------------------------------------------------------- embeddings


def embed_forward(params: dict, config: TransformerConfig, tokens: ArrayLike, *,
                  segments: ArrayLike | None = None, positions: ArrayLike | None = None
                  ) -> tuple[np.ndarray, dict]:
    """Input embeddings ``E[t] (+ P[positions]) (+ S[segments])``, normalised in post-LN.

    Parameters
    ----------
    tokens : array_like of int, shape (..., T)
        Ids in ``[0, vocab_size)``.
    segments : array_like of int, optional
        Segment ids in ``[0, n_segments)`` broadcasting to ``tokens``; default 0.
    positions : array_like of int, optional
        Rows of the learned table, ``[0, max_positions)``; default ``0 .. T-1``.
        Ignored unless ``positions="learned"``.

    Returns
    -------
    (h, cache) : h of shape (..., T, d_model)
    """
    tokens = token_ids(tokens, "tokens", config.vocab_size)
    table = params["embedding"]
    h = table["tokens"][tokens]
    if config.positions == "learned":
        positions = token_positions(config, positions, tokens.shape)
        h += table["positions"][positions]
    if config.n_segments:
        segments = token_ids(0 if segments is None else segments, "segments",
                             config.n_segments, minimum_ndim=0)
        segments = np.broadcast_to(segments, tokens.shape)
        h += table["segments"][segments]
    elif segments is not None:
        raise ValueError("segments were given but the config has n_segments=0")
    cache = dict(tokens=tokens, positions=positions, segments=segments, summed=h)
    if config.norm_position == "post":
        h = norm(params["embedding_norm"], config, h)
    return h, cache


def _scatter_rows(ids: np.ndarray, grad: np.ndarray, rows: int) -> np.ndarray:
    """Gradient of the lookup ``table[ids]``: ``grad`` summed into the rows it read."""
    table = np.zeros((rows, grad.shape[-1]))
    np.add.at(table, np.broadcast_to(ids, grad.shape[:-1]).ravel(),
              grad.reshape(-1, grad.shape[-1]))
    return table


def embed_backward(params: dict, config: TransformerConfig, cache: dict,
                   grad: ArrayLike) -> dict:
    """Gradients of ``params["embedding"]`` (and ``"embedding_norm"``) of :func:`embed_forward`."""
    grad = cotangent(grad, cache["summed"].shape, of="the embeddings'")
    grads = {}
    if config.norm_position == "post":
        grads["embedding_norm"], grad = norm_backward(params["embedding_norm"], config,
                                                      cache["summed"], grad)
    table = params["embedding"]
    embedding = {"tokens": _scatter_rows(cache["tokens"], grad, table["tokens"].shape[0])}
    if config.positions == "learned":
        embedding["positions"] = _scatter_rows(cache["positions"], grad,
                                               table["positions"].shape[0])
    if config.n_segments:
        embedding["segments"] = _scatter_rows(cache["segments"], grad,
                                              table["segments"].shape[0])
    grads["embedding"] = embedding
    return grads


# ---------------------------------------------------------------- RoPE angles


def rope_angles(config: TransformerConfig, positions: ArrayLike) -> np.ndarray | None:
    """RoPE angles for integer ``positions`` (..., T), shaped for ``(..., heads, T, head_dim)``.

    ``angles[..., t, k] = positions[..., t] * base^(-2k / rotary_dim)``, or
    ``positions[..., t] * rope_inv_freq[k]`` when the config gives a table; a head axis
    is inserted before ``T`` when ``positions`` has batch axes. None unless
    ``config.positions == "rope"``.

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=5, d_model=4, n_heads=1, head_dim=4,
    ...                            d_ff=4, n_layers=1, rope_base=100.0)
    >>> rope_angles(config, [0, 1, 2])
    array([[0. , 0. ],
           [1. , 0.1],
           [2. , 0.2]])
    """
    if config.positions != "rope":
        return None
    positions = token_positions(config, positions, np.shape(positions))
    table = rope.inv_freq(config.rope_dim, config.rope_base) if config.rope_inv_freq is None \
        else np.asarray(config.rope_inv_freq, dtype=np.float64)
    angles = rope.angles(positions, table)
    return angles if positions.ndim == 1 else np.expand_dims(angles, -3)


def _block_angles(config: TransformerConfig, angles: ArrayLike | None,
                  length: int) -> np.ndarray | None:
    if config.positions != "rope":
        if angles is not None:
            raise ValueError(f"angles must be None with positions={config.positions!r}")
        return None
    return rope_angles(config, np.arange(length)) if angles is None else np.asarray(angles)


# ---------------------------------------------------------------- one layer


def _hidden(h: ArrayLike, config: TransformerConfig) -> np.ndarray:
    """Hidden states ``(..., T, d_model)`` as a finite float64 array, or raise."""
    h = as_float_array(h, "h")
    check_ndim(h, "h", 2)
    check_last_axis(h, "h", size=config.d_model)
    return h


def block_forward(params_layer: dict, config: TransformerConfig, h: ArrayLike,
                  mask: ArrayLike | None = None, angles: ArrayLike | None = None, *,
                  bias: ArrayLike | None = None) -> tuple[np.ndarray, dict]:
    """One Transformer layer.

    .. math::

        \\text{pre-LN:}\\quad  u = h + \\operatorname{attn}(\\operatorname{norm}_1(h)),
            \\quad h' = u + \\operatorname{ffn}(\\operatorname{norm}_2(u))

        \\text{parallel:}\\quad h' = h + \\operatorname{attn}(\\operatorname{norm}_1(h))
            + \\operatorname{ffn}(\\operatorname{norm}_2(h))

        \\text{post-LN:}\\quad u = \\operatorname{norm}_1(h + \\operatorname{attn}(h)),
            \\quad h' = \\operatorname{norm}_2(u + \\operatorname{ffn}(u))

    (parallel: ``parallel_residual=True``, GPT-J and GPT-NeoX.)

    Parameters
    ----------
    params_layer : dict
        ``params["layers"][i]`` (see the naming table of :mod:`refimpl.transformer.params`).
    config : TransformerConfig
    h : array_like, shape (..., T, d_model)
    mask : array_like of bool, optional
        Broadcasts to ``(..., T, T)``, or ``(..., n_heads, T, T)`` with one more axis
        (:mod:`refimpl.transformer.masking`); None attends everywhere (or causally, with
        ``config.causal``).
    angles : array_like, optional
        RoPE angles from :func:`rope_angles`; with ``positions="rope"`` and None, the
        positions ``0 .. T-1`` are used. Must be None for other position schemes.
    bias : array_like, optional
        Additive logit bias broadcasting to ``(..., n_heads, T, T)`` (heads at axis -3).

    Returns
    -------
    (h_out, cache) : the layer output, shape of ``h``, and what :func:`block_backward`
    needs.
    """
    h = _hidden(h, config)
    batch, length = h.shape[:-2], h.shape[-2]
    return block_forward_unchecked(
        params_layer, config, h, attention_mask(config, mask, batch, length),
        _block_angles(config, angles, length), attention_bias(config, bias, batch, length))


def block_forward_unchecked(p: dict, config: TransformerConfig, h: np.ndarray,
                            mask: np.ndarray | None, angles: np.ndarray | None,
                            bias: np.ndarray | None,
                            past: tuple[np.ndarray, np.ndarray] | None = None
                            ) -> tuple[np.ndarray, dict]:
    """:func:`block_forward` of checked inputs: ``mask`` and ``bias`` from
    :mod:`refimpl.transformer.masking` (internal, not in ``__all__``); ``past`` are the
    cached keys and values of KV-cache decoding
    (:func:`refimpl.transformer.layers.attention_forward`)."""
    if config.norm_position == "pre":
        attn_in = norm(p["attn_norm"], config, h)
        attn_out, attn_cache = attention_forward(p["attn"], config, attn_in, mask, angles,
                                                 bias, past)
        attn_norm_in, mid = h, h + attn_out
        ffn_norm_in = h if config.parallel_residual else mid
        ffn_out, ffn_cache = ffn_forward(p["ffn"], config,
                                         norm(p["ffn_norm"], config, ffn_norm_in))
        out = mid + ffn_out
    else:
        attn_out, attn_cache = attention_forward(p["attn"], config, h, mask, angles, bias,
                                                 past)
        attn_norm_in = h + attn_out
        mid = norm(p["attn_norm"], config, attn_norm_in)
        ffn_out, ffn_cache = ffn_forward(p["ffn"], config, mid)
        ffn_norm_in = mid + ffn_out
        out = norm(p["ffn_norm"], config, ffn_norm_in)
    return out, dict(attn=attn_cache, ffn=ffn_cache, attn_norm_in=attn_norm_in,
                     ffn_norm_in=ffn_norm_in)


def block_backward(params_layer: dict, config: TransformerConfig, cache: dict,
                   grad: ArrayLike) -> tuple[dict, np.ndarray]:
    """Backward pass of :func:`block_forward`, the equations above read bottom to top.

    Returns
    -------
    (grads_layer, grad_h)
        Gradients with the keys of ``params_layer`` (not necessarily in its order), and
        of the layer input.
    """
    grad = cotangent(grad, cache["attn_norm_in"].shape, of="the layer output's")
    return _block_backward(params_layer, config, cache, grad)


def _block_backward(p: dict, config: TransformerConfig, cache: dict,
                    grad: np.ndarray) -> tuple[dict, np.ndarray]:
    """:func:`block_backward` of a validated ``grad``."""
    grads = {}
    if config.norm_position == "pre":
        grads["ffn"], grad_ffn_in = ffn_backward(p["ffn"], config, cache["ffn"], grad)
        grads["ffn_norm"], grad_ffn_norm_in = norm_backward(p["ffn_norm"], config,
                                                            cache["ffn_norm_in"], grad_ffn_in)
        # sequential: the FFN reads mid = h + attn, so its input gradient joins mid's;
        # parallel: it reads h itself, so it joins h's at the end
        grad_mid = grad if config.parallel_residual else grad_ffn_norm_in + grad
        grads["attn"], grad_attn_in = attention_backward(p["attn"], config, cache["attn"],
                                                         grad_mid)
        grads["attn_norm"], grad_h = norm_backward(p["attn_norm"], config,
                                                   cache["attn_norm_in"], grad_attn_in)
        grad_h = grad_h + grad_mid
        if config.parallel_residual:
            grad_h = grad_h + grad_ffn_norm_in
    else:
        grads["ffn_norm"], grad_sum = norm_backward(p["ffn_norm"], config,
                                                    cache["ffn_norm_in"], grad)
        grads["ffn"], grad_mid = ffn_backward(p["ffn"], config, cache["ffn"], grad_sum)
        grad_mid = grad_mid + grad_sum
        grads["attn_norm"], grad_sum = norm_backward(p["attn_norm"], config,
                                                     cache["attn_norm_in"], grad_mid)
        grads["attn"], grad_h = attention_backward(p["attn"], config, cache["attn"], grad_sum)
        grad_h = grad_h + grad_sum
    return grads, grad_h


# ---------------------------------------------------------------- output head


def _output_matrix(params: dict, config: TransformerConfig) -> np.ndarray:
    """``E^T`` for a tied output, else ``W_out``; shape (d_model, vocab_size)."""
    return params["embedding"]["tokens"].T if config.tie_output else params["output"]["w"]


def head_forward(params: dict, config: TransformerConfig,
                 h: ArrayLike) -> tuple[np.ndarray, dict]:
    """Final norm (pre-LN), MLM transform (optional) and output logits.

    .. math:: \\text{logits} = \\operatorname{norm}(\\operatorname{act}(h W + b)) E^T + b_{out}

    Returns
    -------
    (logits, cache) : logits of shape (..., T, vocab_size)
    """
    h = _hidden(h, config)
    cache: dict[str, Any] = dict(h=h)
    if config.norm_position == "pre":
        h = norm(params["final_norm"], config, h)
    cache["final"] = h
    if config.mlm_head:
        mlm = params["mlm"]
        cache["mlm_pre"] = dense(h, mlm["w"], mlm.get("b"))
        cache["mlm_act"], cache["mlm_cdf"] = activate(config, cache["mlm_pre"])
        h = norm(mlm["norm"], config, cache["mlm_act"], config.mlm_eps)
    cache["top"] = h
    return dense(h, _output_matrix(params, config), params["output"].get("b")), cache


def head_backward(params: dict, config: TransformerConfig, cache: dict,
                  grad_logits: ArrayLike) -> tuple[dict, np.ndarray]:
    """Backward pass of :func:`head_forward`.

    Returns
    -------
    (grads, grad_h)
        ``grads`` holds ``"output"`` (and ``"final_norm"``, ``"mlm"`` when present); with a
        tied output it also holds ``{"embedding": {"tokens": ...}}``, the output's share
        of the token-embedding gradient.
    """
    top = cache["top"]
    grad_logits = cotangent(grad_logits, top.shape[:-1] + (config.vocab_size,),
                            name="grad_logits", of="the logits'")
    grads = {}
    matrix_grads, grad = dense_backward(top, _output_matrix(params, config), grad_logits,
                                        ("w", "b"), config.has_output_bias)
    if config.tie_output:
        grads["embedding"] = {"tokens": matrix_grads.pop("w").T}
    grads["output"] = matrix_grads
    if config.mlm_head:
        mlm = params["mlm"]
        norm_grads, grad = norm_backward(mlm["norm"], config, cache["mlm_act"], grad,
                                         config.mlm_eps)
        grad = activate_backward(config, grad, cache["mlm_pre"], cache["mlm_cdf"])
        grads["mlm"], grad = dense_backward(cache["final"], mlm["w"], grad, ("w", "b"),
                                            config.bias)
        grads["mlm"]["norm"] = norm_grads
    if config.norm_position == "pre":
        grads["final_norm"], grad = norm_backward(params["final_norm"], config, cache["h"],
                                                  grad)
    return grads, grad


# ---------------------------------------------------------------- the whole model


def forward(params: dict, config: TransformerConfig, tokens: ArrayLike,
            mask: ArrayLike | None = None, *, bias: ArrayLike | None = None,
            segments: ArrayLike | None = None,
            positions: ArrayLike | None = None) -> tuple[np.ndarray, dict]:
    """Logits of the model for token ids ``tokens`` (..., T).

    Parameters
    ----------
    params : dict
        Checked against ``config`` with :func:`check_params`.
    config : TransformerConfig
    tokens : array_like of int, shape (..., T)
    mask : array_like of bool, optional
        Broadcasts to ``(..., T, T)``; true where query i may attend to key j
        (:mod:`refimpl.masks`: causal, padding, UniLM, ...). With one more axis,
        ``(..., n_heads, T, T)``, a mask per head (torch's layout; see
        :mod:`refimpl.transformer.masking`). None: bidirectional, or causal with
        ``config.causal`` (which is combined with any mask given). A query with nothing
        to attend to gets a zero attention output.
    bias : array_like, optional
        Additive logit bias of every layer, broadcasting to ``(..., n_heads, T, T)``
        (heads at axis -3), e.g. ALiBi (:func:`refimpl.attention.alibi_bias`). Finite;
        an additive ``-inf`` mask belongs in ``mask``.
    segments : array_like of int, optional
        Segment ids (with ``n_segments > 0``).
    positions : array_like of int, optional
        Positions ``(..., T)`` for RoPE or the learned table; default ``0 .. T-1``.

    Returns
    -------
    (logits, cache)
        Logits of shape (..., T, vocab_size); the cache is what :func:`backward` needs.

    Raises
    ------
    ValueError
        For invalid tokens, masks, segments or positions, and when an activation
        overflows float64 ("the forward pass overflowed float64"), where the overflow
        happens, instead of a ``RuntimeWarning`` and ``inf``.

    Examples
    --------
    >>> from refimpl.masks import causal_mask
    >>> from refimpl.transformer import init_params
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=2)
    >>> params = init_params(config, rng=0)
    >>> logits, cache = forward(params, config, [[1, 2, 3]], causal_mask(3))
    >>> logits.shape
    (1, 3, 11)
    """
    check_params(params, config)
    tokens = token_ids(tokens, "tokens", config.vocab_size)
    positions = token_positions(config, positions, tokens.shape)
    batch, length = tokens.shape[:-1], tokens.shape[-1]
    layer_mask = attention_mask(config, mask, batch, length)
    layer_bias = attention_bias(config, bias, batch, length)
    with overflow_raises("forward"):
        h, embed_cache = embed_forward(params, config, tokens, segments=segments,
                                       positions=positions)
        angles = rope_angles(config, positions)
        layer_caches = []
        for layer in params["layers"]:
            h, layer_cache = block_forward_unchecked(layer, config, h, layer_mask, angles,
                                                     layer_bias)
            layer_caches.append(layer_cache)
        logits, head_cache = head_forward(params, config, h)
    return logits, dict(embedding=embed_cache, layers=layer_caches, head=head_cache)


def backward(params: dict, config: TransformerConfig, cache: dict,
             grad_logits: ArrayLike) -> dict:
    """Gradients of every parameter, given ``dL/dlogits``; same tree as ``params``.

    Runs :func:`head_backward`, :func:`block_backward` for each layer from the top, and
    :func:`embed_backward`; with a tied output the token embedding's gradient is the sum
    of its input (lookup) and output (``h E^T``) shares. A gradient beyond the float64
    range raises ``ValueError`` ("the backward pass overflowed float64") where it
    overflows, instead of a ``RuntimeWarning`` and ``inf``.

    Examples
    --------
    >>> from refimpl.transformer import init_params
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=1)
    >>> params = init_params(config, rng=0)
    >>> logits, cache = forward(params, config, [1, 2, 3])
    >>> grads = backward(params, config, cache, np.ones_like(logits))
    >>> grads["layers"][0]["attn"]["wq"].shape
    (8, 8)
    """
    with overflow_raises("backward"):
        head_grads, grad = head_backward(params, config, cache["head"], grad_logits)
        layer_grads = []
        for layer, layer_cache in zip(reversed(params["layers"]), reversed(cache["layers"]),
                                      strict=True):
            grads_layer, grad = _block_backward(layer, config, layer_cache, grad)
            layer_grads.append(grads_layer)
        grads = embed_backward(params, config, cache["embedding"], grad)
        if config.tie_output:
            grads["embedding"]["tokens"] += head_grads.pop("embedding")["tokens"]
    grads.update(head_grads)
    grads["layers"] = layer_grads[::-1]
    return _ordered_like(grads, params)


@contextlib.contextmanager
def overflow_raises(direction: str) -> Iterator[None]:
    """Turn a float64 overflow in the ``direction`` pass into a ``ValueError``.

    The overflow (or the ``inf - inf`` it leads to) is caught where it happens, with
    ``np.errstate(over="raise", invalid="raise")``; code that overflows on purpose
    (a softmax's ``exp(-inf) = 0``) keeps its own local ``errstate``, which takes
    precedence.
    """
    try:
        with np.errstate(over="raise", invalid="raise"):
            yield
    except FloatingPointError as error:
        raise ValueError(f"the {direction} pass overflowed float64 ({error}): the "
                         "parameters, inputs or gradients are too large; rescale them"
                         ) from None


def _ordered_like(grads: Any, params: Any) -> Any:
    """``grads`` with every dict's keys in the order of ``params``' (same tree)."""
    if isinstance(params, dict):
        return {key: _ordered_like(grads[key], value) for key, value in params.items()}
    if isinstance(params, list):
        return [_ordered_like(g, p) for g, p in zip(grads, params, strict=True)]
    return grads
