"""Identity blocks for pre-LN models; post-LN refused with the documented reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from widening_cases import (
    TOL,
    assert_valid,
    configs,
    equivalence_error,
    model_inputs,
    random_params,
    seeds,
)

from refimpl.transformer import TransformerConfig, block_forward
from refimpl.widening import add_layers, identity_layer


@given(configs(norm_position="pre"), st.integers(0, 2), st.data(), seeds)
def test_identity_blocks_preserve_logits(config, extra, data, seed):
    at = data.draw(st.integers(0, config.n_layers))
    small = (random_params(config, seed), config)
    deep = add_layers(*small, config.n_layers + extra, at=at, std=0.5, rng=seed)
    assert_valid(*deep)
    assert equivalence_error(small, deep, model_inputs(config, seed)) <= TOL


@given(configs(norm_position="pre"), seeds)
def test_identity_layer_is_the_identity_but_not_zero(config, seed):
    layer = identity_layer(config, std=0.5, rng=seed)
    h = np.random.default_rng(seed).standard_normal((2, 3, config.d_model))
    assert np.array_equal(block_forward(layer, config, h)[0], h)
    assert np.all(layer["attn"]["wq"] != 0.0) and np.all(layer["ffn"]["w_down"] == 0.0)


@given(configs(norm_position="post"), seeds)
def test_post_ln_depth_growth_is_refused(config, seed):
    # The zero-branch post-LN block computes norm(norm(h)), which is not h: the refusal
    # is needed (the module docstring explains why no other weights fix it).
    params = random_params(config, seed)
    with pytest.raises(ValueError, match="depth growth needs norm_position='pre'"):
        add_layers(params, config, config.n_layers + 1)
    with pytest.raises(ValueError, match="depth growth needs norm_position='pre'"):
        identity_layer(config)
    layer = identity_layer(dataclasses.replace(config, norm_position="pre"), rng=seed)
    h = 3.0 + np.random.default_rng(seed).standard_normal((3, config.d_model))
    assert not np.allclose(block_forward(layer, config, h)[0], h)


def test_add_layers_errors():
    config = TransformerConfig(vocab_size=5, d_model=4, n_heads=1, head_dim=2, d_ff=4,
                               n_layers=1)
    params = random_params(config, 0)
    with pytest.raises(ValueError, match="at must lie in"):
        add_layers(params, config, 3, at=2)
    with pytest.raises(ValueError, match="n_layers must be at least 1"):
        add_layers(params, config, 0)
