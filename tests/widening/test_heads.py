"""New heads with a zero output projection; head_dim growth on RoPE's frequency grid."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from widening_cases import (
    TOL,
    assert_valid,
    configs,
    equivalence_error,
    many_examples,
    model_inputs,
    random_params,
    seeds,
)

from refimpl import rope
from refimpl.transformer import TransformerConfig, rope_angles
from refimpl.widening import add_heads, grow_head_dim, widen_hidden


@given(configs(), st.integers(0, 3), seeds)
def test_add_heads_preserves_logits(config, extra, seed):
    small = (random_params(config, seed), config)
    wide = add_heads(*small, config.n_heads + extra, std=0.5, rng=seed)
    assert_valid(*wide)
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL
    for layer in wide[0]["layers"]:
        assert np.all(layer["attn"]["wo"][config.n_heads * config.head_dim:] == 0.0)
        assert extra == 0 or np.all(layer["attn"]["wq"][:, config.n_heads * config.head_dim:]
                                    != 0.0)


@many_examples
@given(configs(), st.integers(1, 3), seeds)
def test_grow_head_dim_preserves_logits(config, factor, seed):
    small = (random_params(config, seed), config)
    wide = grow_head_dim(*small, factor * config.head_dim, std=0.5, rng=seed)
    assert_valid(*wide)
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL


@given(configs(positions="rope"), st.integers(1, 3), st.integers(0, 3), seeds)
def test_partial_rotary_growth(config, factor, extra_pairs, seed):
    # Partial rotary: the rotated block grows by `factor`, the unrotated part by 2*extra.
    assume(config.rotary_dim is not None)
    rotary = factor * config.rotary_dim
    head_dim = rotary + (config.head_dim - config.rotary_dim) + 2 * extra_pairs
    small = (random_params(config, seed), config)
    wide = grow_head_dim(*small, head_dim, rotary_dim=rotary, std=0.5, rng=seed)
    assert wide[1].rope_dim == rotary
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_old_pairs_keep_their_frequencies_bit_for_bit(layout):
    # The identity behind the move: slot m p of the grid of size m R is base^(-2p/R).
    config = TransformerConfig(vocab_size=5, d_model=4, n_heads=1, head_dim=8, d_ff=4,
                               n_layers=1, rope_layout=layout, rope_base=500.0)
    for m in (2, 3, 4):
        assert np.array_equal(rope.inv_freq(8 * m, 500.0)[::m], rope.inv_freq(8, 500.0))
    wide = grow_head_dim(random_params(config, 0), config, 24)[1]
    assert np.array_equal(rope_angles(wide, [7])[:, ::3], rope_angles(config, [7]))


def test_grid_breaking_and_shrinking_are_refused():
    config = TransformerConfig(vocab_size=5, d_model=4, n_heads=2, head_dim=4, d_ff=4,
                               n_layers=1)
    params = random_params(config, 0)
    with pytest.raises(ValueError, match="frequency grid.*rotary_dim 4 -> 6"):
        grow_head_dim(params, config, 6)
    with pytest.raises(ValueError, match="head_dim must be at least 4"):
        grow_head_dim(params, config, 2)
    with pytest.raises(ValueError, match="head_dim must be even with RoPE"):
        grow_head_dim(params, config, 7)
    with pytest.raises(ValueError, match="rotary_dim can only be given"):
        grow_head_dim(params, config, 8, rotary_dim=8)
    with pytest.raises(ValueError, match="n_heads must be at least 2"):
        add_heads(params, config, 1)
    # one pair has frequency 1 on every grid: any even growth works
    one_pair = dataclasses.replace(config, head_dim=2)
    small = (random_params(one_pair, 0), one_pair)
    assert equivalence_error(small, grow_head_dim(*small, 6, std=0.5, rng=1),
                             model_inputs(one_pair, 1)) <= TOL
    # without RoPE any size works
    plain = dataclasses.replace(config, positions="none")
    small = (random_params(plain, 0), plain)
    assert equivalence_error(small, grow_head_dim(*small, 7, std=0.5, rng=1),
                             model_inputs(plain, 1)) <= TOL


def test_an_explicit_frequency_table_is_carried_over():
    config = TransformerConfig(vocab_size=5, d_model=4, n_heads=1, head_dim=4, d_ff=4,
                               n_layers=1, rope_base=100.0)
    small = (random_params(config, 0), config)
    repeated = widen_hidden(*small, 2, rope_method="repeat_frequencies")
    assert repeated[1].rope_inv_freq == (1.0, 1.0, 0.1, 0.1)
    grown = grow_head_dim(*repeated, 16, std=0.5, rng=1)
    assert grown[1].rope_inv_freq[::2] == (1.0, 1.0, 0.1, 0.1)
    assert equivalence_error(small, grown, model_inputs(config, 2)) <= TOL
