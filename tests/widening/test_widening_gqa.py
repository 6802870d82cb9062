"""Widening grouped-query models (refimpl/widening): every growth move stays exact when
key/value heads are shared by groups of query heads, with the decoder options (causal,
sliding window, parallel residual, bias switches, RoPE factor) drawn too. Copying
key/value heads with the query heads keeps every query head on the copy of its own."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from widening_cases import (
    TOL,
    assert_valid,
    equivalence_error,
    factors,
    grouped_configs,
    many_examples,
    model_inputs,
    random_params,
    seeds,
)

from refimpl.widening import (
    add_heads,
    add_layers,
    duplicate_heads,
    grow_head_dim,
    split_ffn,
    widen,
    widen_hidden,
)


@many_examples
@given(grouped_configs(), factors, st.sampled_from(["orthogonal", "copy"]),
       st.sampled_from([0.0, 0.3]), seeds)
def test_duplicate_heads_copies_kv_heads_exactly(config, k, scaling, noise, seed):
    small = (random_params(config, seed), config)
    wide = duplicate_heads(*small, k, scaling=scaling, noise=noise, rng=seed)
    assert_valid(*wide)
    assert (wide[1].n_heads, wide[1].kv_heads) == (k * config.n_heads, k * config.kv_heads)
    assert wide[1].groups == config.groups
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL


@many_examples
@given(grouped_configs(), factors, st.sampled_from(["zero_offgrid", "repeat_frequencies"]),
       st.sampled_from([0.0, 0.3]), seeds)
def test_widen_hidden_with_grouped_heads(config, k, rope_method, noise, seed):
    small = (random_params(config, seed), config)
    wide = widen_hidden(*small, k, rope_method=rope_method, noise=noise, rng=seed)
    assert_valid(*wide)
    assert wide[1].kv_heads == config.kv_heads
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL


@given(grouped_configs(), st.integers(0, 2), seeds)
def test_add_heads_joins_the_existing_groups(config, extra_per_group, seed):
    small = (random_params(config, seed), config)
    target = config.n_heads + extra_per_group * config.kv_heads
    wide = add_heads(*small, target, std=0.5, rng=seed)
    assert_valid(*wide)
    assert wide[1].kv_heads == config.kv_heads and wide[1].groups == target // config.kv_heads
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL


def test_add_heads_refuses_a_count_the_groups_cannot_hold():
    import pytest

    from refimpl.transformer import TransformerConfig
    config = TransformerConfig(vocab_size=5, d_model=4, n_heads=4, n_kv_heads=2, head_dim=2,
                               d_ff=4, n_layers=1)
    params = random_params(config, 0)
    with pytest.raises(ValueError, match="multiple of n_kv_heads=2"):
        add_heads(params, config, 5)


@given(grouped_configs(), st.integers(1, 3), st.integers(0, 4), seeds)
def test_head_dim_ffn_and_depth_moves_with_grouped_heads(config, factor, extra, seed):
    small = (random_params(config, seed), config)
    inputs = model_inputs(config, seed)
    for wide in (grow_head_dim(*small, factor * config.head_dim, std=0.5, rng=seed),
                 split_ffn(*small, config.d_ff + extra, noise=0.2, rng=seed)):
        assert_valid(*wide)
        assert equivalence_error(small, wide, inputs) <= TOL
    if config.norm_position == "pre":
        deep = add_layers(*small, config.n_layers + 1, std=0.5, rng=seed)
        assert equivalence_error(small, deep, inputs) <= TOL


@given(grouped_configs(norm_position="pre"), seeds)
def test_widen_composes_the_moves_on_grouped_models(config, seed):
    small = (random_params(config, seed), config)
    wide = widen(*small, d_model=2 * config.d_model, d_ff=2 * config.d_ff + 1,
                 head_dim=2 * config.head_dim, n_heads=2 * config.n_heads + 2 * config.kv_heads,
                 n_layers=config.n_layers + 1, noise=0.1, rng=seed)
    assert_valid(*wide)
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL
    assert equivalence_error(small, wide, model_inputs(config, seed + 1)) <= TOL
