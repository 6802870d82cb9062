"""KV-cache decoding: the causal model one token (or one chunk) at a time.

A causal model's output at position ``t`` depends only on tokens ``<= t``, and in every
layer those enter only through their keys and values. So a decoder keeps, per layer,
the (rotated) keys and values of the tokens seen so far: a :class:`KVCache`. Each call
of :func:`decode_step` embeds the new tokens, runs every layer with the new queries
attending to the cached keys followed by the new ones, appends the new keys and values,
and returns the logits of the new tokens with the grown cache::

    cache = init_cache(config, batch_shape=(B,))
    logits, cache = decode_step(params, config, cache, prompt)       # prefill, (B, T0)
    for _ in range(n):
        next_token = logits[..., -1, :].argmax(-1)[..., None]
        logits, cache = decode_step(params, config, cache, next_token)

Token by token this computes the same numbers as one causal
:func:`refimpl.transformer.forward` over the whole sequence, to round-off (the sums run
over the same allowed keys; only the blocking of the products differs), for every
position scheme: RoPE keys are rotated at their own positions before they are cached
(so later queries see the relative offsets of the full forward), learned positions
index the table at the running position, and ``positions="none"`` needs nothing. With
``sliding_window = W`` the cache keeps only the ``W - 1`` most recent tokens, all a
future query can see.

The cache is immutable: :func:`decode_step` returns a new one and never modifies its
argument, so one prefix can be continued in several ways (beam search, tests).

References
----------
Pope et al., "Efficiently Scaling Transformer Inference", 2022, arXiv:2211.05102 (the
KV cache and its memory); Hugging Face's ``DynamicCache`` (``cache_utils.py``,
transformers 5.23.0) holds the same rotated keys and values.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_int
from refimpl.transformer._common import token_ids, token_positions
from refimpl.transformer.config import TransformerConfig
from refimpl.transformer.masking import attention_mask
from refimpl.transformer.model import (
    block_forward_unchecked,
    embed_forward,
    head_forward,
    overflow_raises,
    rope_angles,
)
from refimpl.transformer.params import check_params

__all__ = ["KVCache", "init_cache", "decode_step", "generate"]


@dataclasses.dataclass(frozen=True)
class KVCache:
    """Rotated keys and values of every layer for the tokens decoded so far.

    Attributes
    ----------
    keys, values : tuple of ndarray
        One array per layer, shape ``batch + (kv_heads, S, head_dim)``: the last ``S``
        tokens (all of them, or the ``sliding_window - 1`` most recent).
    length : int
        Tokens decoded so far; the next token's index (its default position).
    """

    keys: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]
    length: int

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading (batch) axes of the cached arrays."""
        return self.keys[0].shape[:-3] if self.keys else ()


def init_cache(config: TransformerConfig, batch_shape: tuple[int, ...] = ()) -> KVCache:
    """An empty cache for a causal model and a batch of sequences.

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=2, causal=True)
    >>> init_cache(config, (3,)).keys[0].shape
    (3, 2, 0, 4)
    """
    _require_causal(config)
    batch = tuple(int(n) for n in batch_shape)
    if any(n < 0 for n in batch):
        raise ValueError(f"batch_shape must hold non-negative sizes, got {batch_shape!r}")
    empty = np.zeros(batch + (config.kv_heads, 0, config.head_dim))
    layers = tuple(empty for _ in range(config.n_layers))
    return KVCache(layers, layers, 0)


def _require_causal(config: TransformerConfig) -> None:
    if not isinstance(config, TransformerConfig):
        raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
    if not config.causal:
        raise ValueError("KV-cache decoding needs a causal model (config.causal=True): in a "
                         "bidirectional model the outputs of earlier tokens change when "
                         "later tokens arrive, so nothing can be cached")


def _check_cache(cache: object, config: TransformerConfig,
                 batch: tuple[int, ...]) -> KVCache:
    """``cache`` as a :class:`KVCache` that fits the config and the tokens' batch."""
    if not isinstance(cache, KVCache):
        raise TypeError(f"cache must be a KVCache (from init_cache or decode_step), got "
                        f"{type(cache).__name__}")
    if len(cache.keys) != config.n_layers or len(cache.values) != config.n_layers:
        raise ValueError(f"cache holds {len(cache.keys)} layers, the config has "
                         f"n_layers={config.n_layers}")
    heads = (config.kv_heads, config.head_dim)
    for layer, (k, v) in enumerate(zip(cache.keys, cache.values, strict=True)):
        if k.shape != v.shape or k.shape[:-3] != batch or (k.shape[-3], k.shape[-1]) != heads:
            raise ValueError(f"cache layer {layer} has keys {k.shape} and values {v.shape}; "
                             f"the tokens' batch {batch} and the config need "
                             f"{batch} + ({config.kv_heads}, S, {config.head_dim})")
    return cache


def _kept(config: TransformerConfig, array: np.ndarray) -> np.ndarray:
    """The part of a layer's keys or values a later query can still see."""
    if config.sliding_window is None:
        return array
    keep = config.sliding_window - 1
    return array[..., array.shape[-2] - min(keep, array.shape[-2]):, :].copy()


def decode_step(params: dict, config: TransformerConfig, cache: KVCache, tokens: ArrayLike,
                *, positions: ArrayLike | None = None, segments: ArrayLike | None = None
                ) -> tuple[np.ndarray, KVCache]:
    """Logits of ``m`` new tokens after the cached ones, and the cache that includes them.

    Each layer runs its block on the new tokens only; their queries attend to the
    cached keys followed by their own, under the causal mask aligned to the end
    (:func:`refimpl.masks.causal_mask` with ``key_length``, and the sliding window):

    .. math:: o_i = \\sum_{j \\le n + i} w_{ij} v_j, \\qquad i = 0 .. m - 1

    for ``n = cache.length`` earlier tokens.

    Parameters
    ----------
    params : dict
        Checked against ``config`` with :func:`refimpl.transformer.check_params`.
    config : TransformerConfig
        Must be causal (``causal=True``).
    cache : KVCache
        From :func:`init_cache` or an earlier call; its batch shape must be the tokens'.
    tokens : array_like of int, shape (..., m)
        One or more new tokens per sequence (``m > 1`` prefills a prompt in one call).
    positions : array_like of int, optional
        Positions of the new tokens for RoPE or the learned table; default
        ``cache.length + 0 .. m-1``. Give them to continue at an offset (e.g. left
        padding), as in :func:`refimpl.transformer.forward`.
    segments : array_like of int, optional
        Segment ids of the new tokens (with ``n_segments > 0``).

    Returns
    -------
    (logits, cache)
        Logits of shape (..., m, vocab_size) and a new :class:`KVCache` of length
        ``cache.length + m``; the argument ``cache`` is unchanged.

    Examples
    --------
    >>> from refimpl.transformer import forward, init_params
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=2, causal=True, n_kv_heads=1)
    >>> params = init_params(config, rng=0, std=0.5)
    >>> cache = init_cache(config)
    >>> steps = []
    >>> for token in [3, 1, 4, 1]:
    ...     logits, cache = decode_step(params, config, cache, [token])
    ...     steps.append(logits)
    >>> full = forward(params, config, [3, 1, 4, 1])[0]
    >>> bool(np.max(np.abs(np.concatenate(steps) - full)) < 1e-12), cache.length
    (True, 4)
    """
    _require_causal(config)
    check_params(params, config)
    new = token_ids(tokens, "tokens", config.vocab_size)
    cache = _check_cache(cache, config, new.shape[:-1])
    where = token_positions(config, positions, new.shape, start=cache.length)
    return decode_step_unchecked(params, config, cache, new, where, segments)


def decode_step_unchecked(params: dict, config: TransformerConfig, cache: KVCache,
                          tokens: np.ndarray, positions: np.ndarray,
                          segments: ArrayLike | None = None) -> tuple[np.ndarray, KVCache]:
    """:func:`decode_step` of checked parameters, tokens, cache and positions (internal,
    not in ``__all__``; :func:`generate` checks once for all its steps)."""
    new, where = tokens, positions
    batch, length = new.shape[:-1], new.shape[-1]
    stored = cache.keys[0].shape[-2] if config.n_layers else 0
    mask = attention_mask(config, None, batch, length, stored + length)
    keys, values = [], []
    with overflow_raises("forward"):
        h, _ = embed_forward(params, config, new, segments=segments, positions=where)
        angles = rope_angles(config, where)
        for layer, past_k, past_v in zip(params["layers"], cache.keys, cache.values,
                                         strict=True):
            h, layer_cache = block_forward_unchecked(layer, config, h, mask, angles, None,
                                                     (past_k, past_v))
            keys.append(_kept(config, layer_cache["attn"]["k_rot"]))
            values.append(_kept(config, layer_cache["attn"]["v"]))
        logits, _ = head_forward(params, config, h)
    return logits, KVCache(tuple(keys), tuple(values), cache.length + length)


def generate(params: dict, config: TransformerConfig, prompt: ArrayLike,
             n_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy decoding: the prompt in one step, then ``n_tokens`` tokens one at a time.

    Each new token is the argmax of the last logits (ties to the lowest id); positions
    continue from the prompt's ``0 .. T0 - 1``. The parameters are checked once, not at
    every step as :func:`decode_step` does.

    Returns
    -------
    (tokens, logits)
        ``tokens`` of shape (..., T0 + n_tokens), the prompt followed by the generated
        ids, and the logits (..., T0 + n_tokens - 1, vocab_size) that chose tokens
        ``1 ..`` (the logits of every position but the last).

    Examples
    --------
    >>> from refimpl.transformer import init_params
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=1, causal=True)
    >>> tokens, logits = generate(init_params(config, rng=0, std=0.5), config, [3, 1], 4)
    >>> tokens.shape, logits.shape
    ((6,), (5, 11))
    """
    _require_causal(config)
    check_params(params, config)
    tokens = token_ids(prompt, "prompt", config.vocab_size)
    steps = as_int(n_tokens, "n_tokens", minimum=0)
    positions = token_positions(config, None, tokens.shape)
    logits, cache = decode_step_unchecked(params, config, init_cache(config, tokens.shape[:-1]),
                                          tokens, positions)
    outputs, generated = [logits], [tokens]
    for step in range(steps):
        following = np.argmax(outputs[-1][..., -1:, :], axis=-1)
        generated.append(following)
        if step == steps - 1:       # the last token's logits choose nothing
            break
        positions = token_positions(config, None, following.shape, start=cache.length)
        logits, cache = decode_step_unchecked(params, config, cache, following, positions)
        outputs.append(logits)
    every = np.concatenate(outputs, axis=-2)
    return np.concatenate(generated, axis=-1), every[..., :tokens.shape[-1] + steps - 1, :]
