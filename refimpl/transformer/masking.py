"""What the attention of every layer is allowed to see: the model's mask and bias.

:func:`attention_mask` combines the ``mask`` given to :func:`refimpl.transformer.forward`
with the config's causality and sliding window into one boolean array broadcasting to
the logits ``(..., n_heads, T_q, T_k)``; :func:`attention_bias` checks an additive
per-head bias against the same shape.

The two arguments read their axes differently, each in the layout its common use has:

* ``mask`` is shared by every head: ``(..., T, T)`` with the tokens' batch axes in
  front (:func:`refimpl.masks.padding_mask` gives ``(B, T, T)`` for tokens ``(B, T)``).
  A mask with *one more* axis than that, ``tokens.ndim + 2`` in all, carries a heads
  axis at ``-3`` (size ``n_heads`` or 1): torch's ``(B, H, T, T)`` layout, so Hugging
  Face's ``(B, 1, T, T)`` boolean masks work as they are.
* ``bias`` always has its heads axis at ``-3``, broadcasting to ``(..., n_heads, T, T)``:
  ALiBi's ``(H, T, T)`` (:func:`refimpl.attention.alibi_bias`) applies to every batch
  entry; a ``(T, T)`` bias applies to every head. A per-batch bias shared by the heads
  is ``(B, 1, T, T)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl.attention import additive_bias
from refimpl.masks import as_mask, causal_mask
from refimpl.transformer.config import TransformerConfig

__all__ = ["attention_mask", "attention_bias"]


def attention_mask(config: TransformerConfig, mask: ArrayLike | None,
                   batch_shape: tuple[int, ...], length: int,
                   key_length: int | None = None) -> np.ndarray | None:
    """The boolean mask of every layer, broadcasting to ``batch + (n_heads, Tq, Tk)``.

    ``mask & causal_mask(Tq, key_length=Tk, window=sliding_window)`` when the config is
    causal; ``key_length > length`` is the case of ``length`` new tokens after cached
    ones (:mod:`refimpl.transformer.decoding`). None when nothing is masked.
    """
    keys = length if key_length is None else key_length
    combined = None
    if mask is not None:
        per_head = np.ndim(mask) == len(batch_shape) + 3
        if per_head:
            combined = as_mask(mask, batch_shape + (config.n_heads, length, keys))
        else:
            combined = np.expand_dims(as_mask(mask, batch_shape + (length, keys)), -3)
    if config.causal:
        causal = causal_mask(length, key_length=keys, window=config.sliding_window)
        combined = causal if combined is None else combined & causal
    return combined


def attention_bias(config: TransformerConfig, bias: ArrayLike | None,
                   batch_shape: tuple[int, ...], length: int,
                   key_length: int | None = None) -> np.ndarray | None:
    """A finite additive bias broadcasting to ``batch + (n_heads, Tq, Tk)``, or None.

    PyTorch's additive ``-inf`` masks raise with the fix (``mask=``).
    """
    if bias is None:
        return None
    keys = length if key_length is None else key_length
    return additive_bias(bias, batch_shape + (config.n_heads, length, keys))
