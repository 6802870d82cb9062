"""Shared fixtures of the refimpl.univae tests: special token ids, a small post-LN RoFormer
UniVAE with parameters large enough that every path's influence is far above rounding,
and random sentences."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from refimpl import transformer as tf
from refimpl import univae as uv

CLS, SEP, PAD = 1, 2, 0
MAXLEN = 5
seeds = st.integers(0, 2**32 - 1)


def make_config(n_layers=3, n_latent=2, z_dim=3, positions="rope", **kwargs) -> uv.UniVAEConfig:
    transformer = tf.TransformerConfig(vocab_size=13, d_model=8, n_heads=2, head_dim=4,
                                       d_ff=12, n_layers=n_layers, norm_position="post",
                                       positions=positions, n_segments=2, max_positions=32)
    return uv.UniVAEConfig(transformer, n_latent=n_latent, z_dim=z_dim, **kwargs)


CONFIG = make_config()
# std 0.5 keeps every path's influence far above rounding, so "unchanged" means exact
PARAMS = uv.init_params(CONFIG, rng=0, std=0.5)


def sentence(rng: np.random.Generator, length: int) -> np.ndarray:
    """[CLS] w ... w [SEP] with words from 3..12."""
    return np.concatenate([[CLS], rng.integers(3, 13, length - 2), [SEP]])


def target_slice(maxlen: int = MAXLEN) -> slice:
    return slice(maxlen, None)
