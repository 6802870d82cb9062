"""The options real checkpoints need (refimpl/transformer/config.py, model.py,
masking.py): grouped-query heads, causality and sliding windows, the parallel residual,
the bias switches, the RoPE attention factor, per-head masks and biases. Each option is
checked against an equivalent model built from options that were already there."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformer_cases import leaves, lookup, random_params, tiny, with_leaves

from refimpl.attention import alibi_bias, alibi_slopes
from refimpl.gradcheck import assert_vjp
from refimpl.masks import causal_mask, padding_mask, sliding_window_mask
from refimpl.transformer import backward, forward, param_shapes

seeds = st.integers(0, 2**32 - 1)


def repeat_kv_columns(weight, config):
    """Key/value weights (or biases) of ``kv_heads`` heads repeated to one per query head."""
    heads = weight.reshape(weight.shape[:-1] + (config.kv_heads, config.head_dim))
    return np.repeat(heads, config.groups, axis=-2).reshape(weight.shape[:-1] + (-1,))


@given(seeds, st.sampled_from([1, 2]), st.sampled_from(["interleaved", "half"]))
def test_grouped_query_model_equals_multi_head_model_with_repeated_kv(seed, kv_heads, layout):
    config = tiny(n_heads=4, n_kv_heads=kv_heads, head_dim=2, rope_layout=layout,
                  norm="rmsnorm", activation="swiglu", causal=True)
    rng = np.random.default_rng(seed)
    params = random_params(config, rng)
    full_config = dataclasses.replace(config, n_kv_heads=None)
    full = with_leaves(params, [], [])
    for layer in full["layers"]:
        for name in ("wk", "wv", "bk", "bv"):
            layer["attn"][name] = repeat_kv_columns(layer["attn"][name], config)
    tokens = rng.integers(0, 7, (2, 5))
    # the same dot products and sums, grouped differently into matrix products: O(1)
    # logits of a 2-layer model, a few eps per operation
    np.testing.assert_allclose(forward(params, config, tokens)[0],
                               forward(full, full_config, tokens)[0], rtol=0, atol=1e-12)


@given(seeds, st.integers(1, 6))
def test_causal_config_equals_the_causal_mask(seed, window):
    rng = np.random.default_rng(seed)
    config = tiny(causal=True)
    params = random_params(config, rng)
    tokens = rng.integers(0, 7, (2, 5))
    plain = dataclasses.replace(config, causal=False)
    np.testing.assert_array_equal(forward(params, config, tokens)[0],
                                  forward(params, plain, tokens, causal_mask(5))[0])
    windowed = dataclasses.replace(config, sliding_window=window)
    np.testing.assert_array_equal(forward(params, windowed, tokens)[0],
                                  forward(params, plain, tokens, sliding_window_mask(5, window))[0])
    # a padding mask is combined with causality, not replacing it
    pad = padding_mask([5, 3], 5)
    np.testing.assert_array_equal(forward(params, config, tokens, pad)[0],
                                  forward(params, plain, tokens, pad & causal_mask(5))[0])


@given(seeds)
def test_sliding_window_changes_what_is_seen(seed):
    rng = np.random.default_rng(seed)
    config = tiny(causal=True, sliding_window=2, n_layers=1)
    params = random_params(config, rng)
    tokens = rng.integers(0, 7, (1, 4))
    changed = tokens.copy()
    changed[0, 0] = (tokens[0, 0] + 1) % 7
    before, after = forward(params, config, tokens)[0], forward(params, config, changed)[0]
    # one layer, window 2: position 2 and 3 no longer see position 0
    np.testing.assert_array_equal(after[0, 2:], before[0, 2:])
    assert not np.allclose(after[0, :2], before[0, :2])


def zeroed(params, names):
    out = with_leaves(params, [], [])
    for layer in out["layers"]:
        for sublayer, name in names:
            if name in layer[sublayer]:
                layer[sublayer][name] = np.zeros_like(layer[sublayer][name])
    return out


@given(seeds)
def test_parallel_block_is_the_sum_of_its_two_branches(seed):
    # one layer, no final head: the parallel block h + A + F equals the sequential block
    # with the FFN off (h + A) plus the sequential block with attention off (h + F), minus h
    from refimpl.transformer import block_forward
    rng = np.random.default_rng(seed)
    config = tiny(parallel_residual=True, n_layers=1, causal=True)
    params = random_params(config, rng)
    sequential = dataclasses.replace(config, parallel_residual=False)
    h = rng.standard_normal((2, 4, config.d_model))
    layer = params["layers"][0]
    attention_only = zeroed(params, [("ffn", "w_down"), ("ffn", "b_down")])["layers"][0]
    ffn_only = zeroed(params, [("attn", "wo"), ("attn", "bo")])["layers"][0]
    out = block_forward(layer, config, h)[0]
    expected = (block_forward(attention_only, sequential, h)[0]
                + block_forward(ffn_only, sequential, h)[0] - h)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-13)   # O(1) sums, a few eps
    assert not np.allclose(out, block_forward(layer, sequential, h)[0])


def test_bias_switches_shape_the_parameter_tree():
    shapes = param_shapes(tiny(bias=True, attention_bias=False, output_bias=False,
                               n_kv_heads=1, mlm_head=True))
    layer = shapes["layers"][0]
    assert set(layer["attn"]) == {"wq", "wk", "wv", "wo"}
    assert layer["attn"]["wk"] == (6, 4) and layer["attn"]["wq"] == (6, 8)
    assert {"b_up", "b_down"} <= set(layer["ffn"]) and "b" not in shapes["output"]
    assert "b" in shapes["mlm"]
    shapes = param_shapes(tiny(bias=False, mlp_bias=True))
    assert "bq" not in shapes["layers"][0]["attn"] and "b_up" in shapes["layers"][0]["ffn"]
    assert shapes["output"] == {}


@given(seeds, st.floats(0.5, 2.0))
def test_rope_attention_factor_scales_rotated_queries_and_keys(seed, factor):
    # with full rotary, m R q = R (m q): the factor equals scaling W_q, b_q, W_k, b_k by m
    rng = np.random.default_rng(seed)
    config = tiny(rope_attention_factor=factor)
    params = random_params(config, rng)
    scaled = with_leaves(params, [], [])
    for layer in scaled["layers"]:
        for name in ("wq", "bq", "wk", "bk"):
            layer["attn"][name] = factor * layer["attn"][name]
    plain = dataclasses.replace(config, rope_attention_factor=1.0)
    tokens = rng.integers(0, 7, (2, 4))
    np.testing.assert_allclose(forward(params, config, tokens)[0],
                               forward(scaled, plain, tokens)[0], rtol=0, atol=1e-12)


@given(seeds)
def test_per_head_mask_and_alibi_bias(seed):
    rng = np.random.default_rng(seed)
    config = tiny(n_layers=1, positions="none")
    params = random_params(config, rng)
    tokens = rng.integers(0, 7, (2, 4))
    # a (B, 1, T, T) mask (Hugging Face's 4-D layout) equals the (B, T, T) one
    mask = rng.random((2, 4, 4)) < 0.7
    np.testing.assert_array_equal(forward(params, config, tokens, mask[:, None])[0],
                                  forward(params, config, tokens, mask)[0])
    # an ALiBi (H, T, T) bias with a causal mask is shift invariant in the positions
    bias = alibi_bias(alibi_slopes(2), np.arange(4))
    shifted = alibi_bias(alibi_slopes(2), np.arange(4) + 7)
    with_bias = forward(params, config, tokens, causal_mask(4), bias=bias)[0]
    np.testing.assert_array_equal(with_bias,
                                  forward(params, config, tokens, causal_mask(4), bias=shifted)[0])
    assert not np.allclose(with_bias, forward(params, config, tokens, causal_mask(4))[0])


@pytest.mark.parametrize("options", [dict(n_heads=4, n_kv_heads=2, head_dim=2),
                                     dict(parallel_residual=True)])
def test_whole_model_gradcheck_with_per_head_mask_and_bias(options):
    config = tiny(**options)
    rng = np.random.default_rng(11)
    params = random_params(config, rng)
    tokens = rng.integers(0, 7, (2, 3))
    mask = rng.random((2, config.n_heads, 3, 3)) < 0.7
    mask[0, 1, 2] = False                        # a query that sees nothing in one head
    bias = rng.standard_normal((config.n_heads, 3, 3))
    paths = [path for path, _ in leaves(params)]

    def f(*values):
        return forward(with_leaves(params, paths, values), config, tokens, mask, bias=bias)[0]

    def f_vjp(grad, *values):
        p = with_leaves(params, paths, values)
        grads = backward(p, config, forward(p, config, tokens, mask, bias=bias)[1], grad)
        return tuple(lookup(grads, path) for path in paths)

    assert_vjp(f, f_vjp, [value for _, value in leaves(params)], rng=rng)
