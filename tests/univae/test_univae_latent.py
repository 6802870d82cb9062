"""Tests of refimpl.univae.latent: unit chunks of the code and the constant KL."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from univae_cases import MAXLEN, make_config, seeds, sentence

from refimpl import transformer as tf
from refimpl import univae as uv

# ---------------------------------------------------------------- latents and KL


@given(seeds, st.integers(1, 3), st.integers(2, 5))
def test_latents_are_unit_chunks_of_the_right_size(seed, n_latent, z_dim):
    config = make_config(n_layers=3, n_latent=n_latent, z_dim=z_dim)
    params = uv.init_params(config, rng=seed, std=0.5)
    rng = np.random.default_rng(seed)
    tokens, segments = uv.pack(sentence(rng, 4), maxlen=MAXLEN)
    encoded = uv.forward(params, config, tokens, segments, "encoder")
    decoded = uv.forward(params, config, tokens, segments, "decoder",
                         rng.standard_normal(n_latent * z_dim) * 3.0)
    for code in (encoded.mu, encoded.z, decoded.z):
        assert code.shape == (n_latent * z_dim,)
        np.testing.assert_allclose(np.linalg.norm(code.reshape(n_latent, z_dim), axis=-1), 1.0,
                                   rtol=0, atol=1e-14)


def test_kl_is_the_post_constant():
    config = uv.UniVAEConfig(tf.TransformerConfig(vocab_size=13, d_model=8, n_heads=2,
                                                  head_dim=4, d_ff=12, n_layers=12))
    assert (config.n_latent, config.z_dim, config.kappa) == (4, 16, 32.0)
    assert uv.kl(config) == pytest.approx(30.328578, abs=1e-6)  # 4 x 7.582144 nats
    assert uv.kl(make_config(n_latent=1, z_dim=16, kappa=32.0)) == pytest.approx(7.582144,
                                                                                 abs=1e-6)
