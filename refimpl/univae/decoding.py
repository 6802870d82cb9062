"""Greedy decoding of one sentence from a UniVAE code.

Generation runs the decoder on the training layout (:func:`refimpl.univae.pack`) with a
code ``z`` given, prefix by prefix, as the post's ``Vector2Sentence`` does with a beam of
width one (https://kexue.fm/archives/8475; ``univae.py`` of
https://github.com/bojone/univae at commit 428c458). Codes come from the encoder or from
the prior (:func:`refimpl.univae.sample_prior`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_float_array, as_int
from refimpl.univae.config import UniVAEConfig
from refimpl.univae.model import forward

__all__ = ["greedy_decode"]


def greedy_decode(params: dict[str, Any], config: UniVAEConfig, z: ArrayLike, *, start_id: int,
                  end_id: int, maxlen: int) -> np.ndarray:
    """Greedy (top-1 beam) decoding of one sentence from the code ``z``.

    The input is the training layout of :func:`pack`: a source half of length
    ``maxlen`` holding ``start_id`` then padding (its content is never read in decoder
    mode), and a target half starting with ``start_id``. Each step runs the decoder on
    the whole prefix and appends the most likely next token (the lowest id on a tie),
    until ``end_id`` is produced or the target holds ``maxlen`` tokens.

    Parameters
    ----------
    start_id : int
        The ``[CLS]`` id opening both halves. It must differ from ``config.pad_id``:
        position 0 may not be padding (its key would be hidden from every query), and
        :func:`forward` raises ``ValueError`` if it is.
    end_id : int
        The ``[SEP]`` id that ends the sentence.
    maxlen : int
        Length of each half, at least 2.

    Returns
    -------
    ndarray of int
        The generated target ids after ``start_id``, ``end_id`` included when reached.
    """
    maxlen = as_int(maxlen, "maxlen", minimum=2)
    vocab = config.transformer.vocab_size
    for name, value in (("start_id", start_id), ("end_id", end_id)):
        if not 0 <= as_int(value, name) < vocab:
            raise ValueError(f"{name} must lie in [0, {vocab}), got {value}")
    z = as_float_array(z, "z")
    if z.shape != (config.latent_size,):
        raise ValueError(f"z must be one code of shape ({config.latent_size},), got shape "
                         f"{z.shape}")
    pad = 0 if config.pad_id is None else config.pad_id
    source = np.full(maxlen, pad)
    source[0] = start_id
    target = [start_id]
    while len(target) < maxlen:
        tokens = np.concatenate([source, target])
        segments = np.repeat([0, 1], [maxlen, len(target)])
        logits = forward(params, config, tokens, segments, "decoder", z).logits
        target.append(int(np.argmax(logits[-1])))
        if target[-1] == end_id:
            break
    return np.array(target[1:], dtype=np.int64)
