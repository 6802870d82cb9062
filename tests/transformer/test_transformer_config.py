"""The configuration of the reference Transformer (refimpl/transformer/config.py):
invalid fields raise naming the field, dataclasses.replace revalidates, and an explicit
RoPE frequency table is validated and stored as a tuple."""

import dataclasses

import numpy as np
import pytest
from transformer_cases import tiny


@pytest.mark.parametrize("options, error, match", [
    (dict(head_dim=5), ValueError, "head_dim must be even with RoPE"),
    (dict(rotary_dim=6), ValueError, "rotary_dim must be even and at most head_dim"),
    (dict(rotary_dim=3), ValueError, "rotary_dim"),
    (dict(activation="swish"), ValueError, "activation"),
    (dict(norm="batchnorm"), ValueError, "norm must be one of"),
    (dict(norm_position="sandwich"), ValueError, "norm_position"),
    (dict(positions="alibi"), ValueError, "positions"),
    (dict(d_model=0), ValueError, "d_model"),
    (dict(norm_eps=0.0), ValueError, "norm_eps"),
    (dict(mlm_norm_eps=-1.0), ValueError, "mlm_norm_eps"),
    (dict(bias=1), TypeError, "bias"),
    (dict(n_heads=2.5), TypeError, "n_heads"),
])
def test_bad_config(options, error, match):
    with pytest.raises(error, match=match):
        tiny(**options)

def test_replace_revalidates_and_odd_head_dim_is_fine_without_rope():
    config = tiny(positions="none", head_dim=5)
    with pytest.raises(ValueError, match="head_dim must be even"):
        dataclasses.replace(config, positions="rope")

def test_rope_inv_freq_is_validated_always_and_stored_as_a_tuple():
    config = tiny(rope_inv_freq=np.array([1.0, 0.1]))
    assert config.rope_inv_freq == (1.0, 0.1) and hash(config) == hash(tiny(rope_inv_freq=[1, 0.1]))
    with pytest.raises(TypeError, match="rope_inv_freq must hold real numbers"):
        tiny(rope_inv_freq=("a", "b"))
    with pytest.raises(ValueError, match="rope_inv_freq must be finite"):
        tiny(rope_inv_freq=(1.0, np.nan))
    with pytest.raises(ValueError, match="rope_inv_freq .* needs positions='rope'"):
        tiny(positions="learned", rope_inv_freq=(1.0, 0.1))
    with pytest.raises(ValueError, match="rope_inv_freq must be a 1-D table"):
        tiny(rope_inv_freq=[[1.0, 0.1]])
