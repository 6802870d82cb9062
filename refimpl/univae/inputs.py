"""UniVAE inputs: the fixed-length (source, target) packing and the attention mask of each layer.

The UniVAE post (https://kexue.fm/archives/8475) feeds a sentence twice, as a source
segment (id 0) and a target segment (id 1), through one shared Transformer and shapes
who sees whom with attention masks (:mod:`refimpl.masks`):

* layers ``0 .. k-1`` use the *independent* mask: source bidirectional, target causal,
  no attention between the two;
* layers ``k .. L-1`` use the *UniAE* mask: the same plus one column, the source
  ``[CLS]`` at position 0, which every target query may read.

**Length leakage.** Training pads source and target to one ``maxlen`` (:func:`pack`),
so the target always starts at position ``maxlen`` and its RoPE angles carry no
information about the source length. **Padding keys** (``tokens == pad_id``) are hidden
from every query, as bert4keras does; position 0 must not be padding.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_int
from refimpl.masks import independent_mask, uniae_mask
from refimpl.univae._common import segment_layout, token_ids
from refimpl.univae.config import UniVAEConfig

__all__ = ["pack", "layer_masks"]


def pack(source: ArrayLike, target: ArrayLike | None = None, *, maxlen: int, pad_id: int = 0
         ) -> tuple[np.ndarray, np.ndarray]:
    """Token and segment ids of a (source, target) pair, each padded to ``maxlen``.

    ``tokens = [source, pad..., target, pad...]`` of length ``2 maxlen`` and
    ``segments = [0] * maxlen + [1] * maxlen``: the target always starts at position
    ``maxlen``, whatever the source length (the post's fix for length leakage). The
    target defaults to the source (autoencoding, as in the post's training script).

    Examples
    --------
    >>> pack([2, 5, 3], maxlen=4)
    (array([2, 5, 3, 0, 2, 5, 3, 0]), array([0, 0, 0, 0, 1, 1, 1, 1]))
    """
    maxlen = as_int(maxlen, "maxlen", minimum=1)
    halves = []
    for name, ids in (("source", source), ("target", source if target is None else target)):
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu" or not 1 <= ids.size <= maxlen:
            raise ValueError(f"{name} must be a 1-D integer array of 1 to maxlen={maxlen} "
                             f"ids, got {ids.tolist()}")
        halves.append(np.concatenate([ids, np.full(maxlen - ids.size, pad_id)]))
    return np.concatenate(halves).astype(np.int64), np.repeat([0, 1], maxlen)


def layer_masks(config: UniVAEConfig, tokens: ArrayLike, segments: ArrayLike) -> list[np.ndarray]:
    """The attention mask of every layer: independent below the switch, UniAE from it.

    Padding keys (``tokens == pad_id``) are hidden in both. Shapes ``(..., T, T)``.

    Examples
    --------
    >>> from refimpl import transformer as tf
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=2), n_latent=1, z_dim=4)
    >>> masks = layer_masks(config, [1, 5, 1, 5], [0, 0, 1, 1])
    >>> masks[0].astype(int), masks[1].astype(int)
    (array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 1, 0],
           [0, 0, 1, 1]]), array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [1, 0, 1, 0],
           [1, 0, 1, 1]]))
    """
    tokens = token_ids(tokens, config)
    segments = segment_layout(segments, tokens, config)
    keys = np.ones(tokens.shape, bool) if config.pad_id is None else tokens != config.pad_id
    below = independent_mask(segments) & keys[..., None, :]
    above = uniae_mask(segments) & keys[..., None, :]
    return [below if layer < config.switch_layer else above
            for layer in range(config.transformer.n_layers)]
