"""Input checks shared by the UniVAE modules: token ids and the source-then-target layout.

:func:`token_ids` and :func:`segment_layout` validate the ``tokens`` and ``segments``
that :func:`~refimpl.univae.forward`, :func:`~refimpl.univae.layer_masks` and the loss
functions take, with one message for each mistake.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl.univae.config import UniVAEConfig


def token_ids(tokens: ArrayLike, config: UniVAEConfig) -> np.ndarray:
    """Token ids ``(..., T)`` in ``[0, vocab_size)``."""
    ids = np.asarray(tokens)
    vocab = config.transformer.vocab_size
    if ids.dtype.kind not in "iu":
        raise TypeError(f"tokens must hold integers, got dtype {ids.dtype}")
    if ids.ndim < 1 or ids.shape[-1] == 0 or ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"tokens must be a non-empty (..., T) array of ids in [0, {vocab}), "
                         f"got {ids.tolist()}")
    return ids.astype(np.intp)


def segment_layout(segments: ArrayLike, tokens: np.ndarray, config: UniVAEConfig) -> np.ndarray:
    """Segment ids as a source block then a target block, position 0 a real source token."""
    s = np.asarray(segments)
    if s.dtype.kind not in "biu" or not np.all((s == 0) | (s == 1)):
        raise ValueError(f"segments must hold 0 (source) and 1 (target), got {s.tolist()}")
    try:
        s = np.broadcast_to(s, tokens.shape).astype(np.int64)
    except ValueError:
        raise ValueError(f"segments of shape {s.shape} must broadcast to the tokens' shape "
                         f"{tokens.shape}") from None
    if np.any(s[..., 0] != 0):
        raise ValueError("segments must start with the source segment: position 0 is the "
                         f"source [CLS], the bottleneck, got segments {s.tolist()}")
    if np.any(np.diff(s, axis=-1) < 0):
        raise ValueError("segments must be a source block (0) followed by a target block "
                         f"(1), got {s.tolist()}")
    if config.pad_id is not None and np.any(tokens[..., 0] == config.pad_id):
        raise ValueError(f"tokens at position 0 (the source [CLS]) must not be padding "
                         f"(pad_id={config.pad_id})")
    return s
