"""KV-cache decoding (refimpl/transformer/decoding.py): token by token (and in chunks)
the logits equal the full causal forward's for every position scheme, grouped-query
heads, sliding windows, both norm positions and the parallel residual; the cache is
immutable and bounded by the window; bad caches and non-causal models raise."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformer_cases import random_params, tiny

from refimpl.transformer import KVCache, decode_step, forward, init_cache

seeds = st.integers(0, 2**32 - 1)

#: one per positional option, each with something else switched on
DECODERS = [
    dict(positions="rope", rope_layout="half", n_heads=4, n_kv_heads=2, head_dim=2,
         norm="rmsnorm", activation="swiglu", bias=False),               # Llama-like, GQA
    dict(positions="rope", rotary_dim=2, parallel_residual=True, n_kv_heads=1,
         output_bias=False),                                              # NeoX-like, MQA
    dict(positions="learned", max_positions=12, norm_position="post", mlm_head=True,
         n_segments=2),                                                   # post-LN
    dict(positions="none", activation="geglu", sliding_window=3),         # window
    dict(positions="rope", sliding_window=2, n_heads=4, n_kv_heads=1, head_dim=2,
         rope_attention_factor=1.2),                                      # window + MQA
]


def chunks(rng, length):
    """Random chunk sizes summing to ``length`` (1 is token by token)."""
    sizes = []
    while sum(sizes) < length:
        sizes.append(int(rng.integers(1, min(3, length - sum(sizes)) + 1)))
    return sizes


def decode(params, config, tokens, sizes, positions=None, segments=None):
    cache = init_cache(config, tokens.shape[:-1])
    outputs, start = [], 0
    for size in sizes:
        part = slice(start, start + size)
        options = {}
        if positions is not None:
            options["positions"] = positions[..., part]
        if segments is not None:
            options["segments"] = segments[..., part]
        logits, cache = decode_step(params, config, cache, tokens[..., part], **options)
        outputs.append(logits)
        start += size
    return np.concatenate(outputs, axis=-2), cache


@pytest.mark.parametrize("options", DECODERS)
@given(seed=seeds, one_by_one=st.booleans(), offset=st.sampled_from([0, 1, 1000]))
def test_decoding_equals_the_full_causal_forward(options, seed, one_by_one, offset):
    config = tiny(causal=True, **options)
    rng = np.random.default_rng(seed)
    params = random_params(config, rng)
    length = 6
    tokens = rng.integers(0, config.vocab_size, (2, length))
    segments = rng.integers(0, config.n_segments, (2, length)) if config.n_segments else None
    positions = None
    if config.positions == "rope":                # RoPE with an offset: a shifted start
        positions = offset + np.arange(length)
    full = forward(params, config, tokens, segments=segments, positions=positions)[0]
    sizes = [1] * length if one_by_one else chunks(rng, length)
    stepped, cache = decode(params, config, tokens, sizes, positions, segments)
    # The same sums over the same allowed keys (the full forward's masked terms are
    # exact zeros); only the blocking of the products differs, a few eps per operation
    # on O(1) activations of a 2-layer model: 1e-12 of max(1, |logits|).
    scale = max(1.0, float(np.max(np.abs(full))))
    np.testing.assert_allclose(stepped, full, rtol=0, atol=1e-12 * scale)
    assert cache.length == length


@given(seeds)
def test_sliding_window_cache_keeps_only_the_visible_keys(seed):
    config = tiny(causal=True, sliding_window=3)
    rng = np.random.default_rng(seed)
    params = random_params(config, rng)
    tokens = rng.integers(0, 7, (1, 7))
    _, cache = decode(params, config, tokens, [1] * 7)
    assert all(k.shape[-2] == 2 and v.shape[-2] == 2 for k, v in zip(cache.keys, cache.values,
                                                                     strict=True))
    # without the window the cache holds every token, and the outputs differ
    unlimited = dataclasses.replace(config, sliding_window=None)
    logits, full_cache = decode(params, unlimited, tokens, [1] * 7)
    assert full_cache.keys[0].shape[-2] == 7
    assert not np.allclose(logits, decode(params, config, tokens, [1] * 7)[0])


def test_cache_is_immutable_and_branches():
    config = tiny(causal=True)
    rng = np.random.default_rng(3)
    params = random_params(config, rng)
    prefix, cache = decode_step(params, config, init_cache(config), [1, 2, 3])
    saved = [k.copy() for k in cache.keys]
    left, _ = decode_step(params, config, cache, [4])
    right, _ = decode_step(params, config, cache, [5])
    for k, before in zip(cache.keys, saved, strict=True):
        np.testing.assert_array_equal(k, before)
    full_left = forward(params, config, [1, 2, 3, 4])[0]
    full_right = forward(params, config, [1, 2, 3, 5])[0]
    np.testing.assert_allclose(left[0], full_left[3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(right[0], full_right[3], rtol=0, atol=1e-12)


def test_learned_positions_run_out_with_a_clear_error():
    config = tiny(causal=True, positions="learned", max_positions=3)
    params = random_params(config, np.random.default_rng(0))
    _, cache = decode_step(params, config, init_cache(config), [1, 2, 3])
    with pytest.raises(ValueError, match=r"positions must lie in \[0, 3\), got 3"):
        decode_step(params, config, cache, [4])


def test_decoding_errors():
    config = tiny(causal=True)
    params = random_params(config, np.random.default_rng(0))
    with pytest.raises(ValueError, match="causal model"):
        init_cache(dataclasses.replace(config, causal=False))
    with pytest.raises(ValueError, match="causal model"):
        decode_step(params, dataclasses.replace(config, causal=False), init_cache(config), [1])
    with pytest.raises(TypeError, match="cache must be a KVCache"):
        decode_step(params, config, {"keys": []}, [1])
    with pytest.raises(ValueError, match="batch"):
        decode_step(params, config, init_cache(config, (2,)), [1])
    other = tiny(causal=True, n_layers=1)
    with pytest.raises(ValueError, match="layers"):
        decode_step(params, config, init_cache(other), [1])
    assert isinstance(init_cache(config), KVCache)


@given(seeds, st.integers(0, 4))
def test_generate_is_greedy_decoding_of_the_full_forward(seed, steps):
    from refimpl.transformer import generate
    config = tiny(causal=True, **DECODERS[0])
    rng = np.random.default_rng(seed)
    params = random_params(config, rng)
    prompt = rng.integers(0, config.vocab_size, (2, 3))
    tokens, logits = generate(params, config, prompt, steps)
    assert tokens.shape == (2, 3 + steps) and logits.shape == (2, 2 + steps, config.vocab_size)
    np.testing.assert_array_equal(tokens[:, :3], prompt)
    full = forward(params, config, tokens)[0]
    np.testing.assert_allclose(logits, full[:, :-1], rtol=0, atol=1e-12)   # as above
    # each generated token is the argmax of the full forward's logits before it (ties
    # aside: random logits tie with probability 0)
    np.testing.assert_array_equal(tokens[:, 3:], np.argmax(full[:, 2:-1], axis=-1))
