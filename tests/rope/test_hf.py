"""Tests of refimpl.rope.hf: from_hf_config on config dicts, and HF's update rules.

Every config below is a hand-written dict in the shape of a ``config.json``; the
expected values are either hand-derived or the schedule functions called with the
parameters the config spells out (the reading of the config is what is under test).
The comparison with real transformers objects is tests/interop/test_rope_hf.py.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl import rope
from refimpl.rope import (
    dynamic_seq_lens,
    from_hf_config,
    inv_freq,
    longrope_seq_lens,
    replay,
    scaled_inv_freq,
)

LLAMA = {"model_type": "llama", "hidden_size": 512, "num_attention_heads": 8,
         "max_position_embeddings": 8192}


def test_five_and_four_generation_configs_read_the_same():
    new = {**LLAMA, "rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0,
                                        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                        "original_max_position_embeddings": 8192}}
    old = {**LLAMA, "rope_theta": 5e5,
           "rope_scaling": {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
    a, b = from_hf_config(new), from_hf_config(old)
    expected, _ = scaled_inv_freq("llama3", 64, 5e5, factor=8.0, low_freq_factor=1.0,
                                  high_freq_factor=4.0, original_max_position_embeddings=8192)
    np.testing.assert_array_equal(a.inv_freq, expected)
    np.testing.assert_array_equal(b.inv_freq, expected)
    assert (a.rotary_dim, a.head_dim, a.layout, a.rope_type) == (64, 64, "half", "llama3")


def test_defaults_head_dim_and_objects():
    """No rope keys at all: rope_theta 10000, default type; head_dim wins over the ratio;
    an attribute-style object reads like its dict."""
    bare = from_hf_config(LLAMA)
    np.testing.assert_array_equal(bare.inv_freq, inv_freq(64))
    assert bare.attention_factor == 1.0 and bare.base == 10000.0
    assert from_hf_config({**LLAMA, "head_dim": 128}).rotary_dim == 128

    class Config:
        hidden_size, num_attention_heads, rope_theta = 256, 4, 1e6
        rope_parameters = None
    np.testing.assert_array_equal(from_hf_config(Config()).inv_freq, inv_freq(64, 1e6))


def test_partial_rotary_spellings():
    """5.x partial_rotary_factor inside or at the top, GPT-NeoX 4.x rotary_pct, GPT-J
    rotary_dim: all give the leading int(head_dim * factor) features."""
    inside = {**LLAMA, "rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.25}}
    top = {**LLAMA, "partial_rotary_factor": 0.25}
    neox = {"model_type": "gpt_neox", "hidden_size": 512, "num_attention_heads": 8,
            "rotary_pct": 0.25, "rotary_emb_base": 10000}
    gptj = {"model_type": "gptj", "n_embd": 512, "hidden_size": 512, "num_attention_heads": 8,
            "rotary_dim": 16}
    for config in (inside, top, neox, gptj):
        bundle = from_hf_config(config)
        assert bundle.rotary_dim == 16
        np.testing.assert_array_equal(bundle.inv_freq, inv_freq(16))
    assert from_hf_config(gptj).layout == "interleaved"
    assert from_hf_config({**top, "model_type": "glm"}).layout == "interleaved"
    assert from_hf_config(top, layout="interleaved").layout == "interleaved"


def test_every_rope_type_reads_its_keys():
    p = 32
    cases = {
        "default": ({}, {}),
        "linear": ({"factor": 4.0}, {"factor": 4.0}),
        "dynamic": ({"factor": 2.0}, {"factor": 2.0, "max_position_embeddings": 8192}),
        "yarn": ({"factor": 4.0, "beta_fast": None, "original_max_position_embeddings": 2048},
                 {"factor": 4.0, "original_max_position_embeddings": 2048, "beta_fast": 32.0,
                  "beta_slow": 1.0, "max_position_embeddings": 8192}),
        "longrope": ({"short_factor": [1.0] * p, "long_factor": [2.0] * p,
                      "original_max_position_embeddings": 4096},
                     {"short_factor": [1.0] * p, "long_factor": [2.0] * p,
                      "original_max_position_embeddings": 4096, "max_position_embeddings": 8192}),
        "proportional": ({"partial_rotary_factor": 0.5},
                         {"partial_rotary_factor": 0.5}),
    }
    for rope_type, (given_keys, expected_keys) in cases.items():
        config = {**LLAMA, "rope_parameters": {"rope_type": rope_type, **given_keys}}
        bundle = from_hf_config(config)
        omega, attention = scaled_inv_freq(rope_type, 64, 1e4, **expected_keys)
        np.testing.assert_array_equal(bundle.inv_freq, omega, err_msg=rope_type)
        assert bundle.attention_factor == attention, rope_type
    proportional = from_hf_config({**LLAMA, "rope_parameters": {"rope_type": "proportional",
                                                                "partial_rotary_factor": 0.5}})
    assert proportional.rotary_dim == 64 and np.count_nonzero(proportional.inv_freq) == 16


def test_original_length_priority_and_yarn_fallback():
    """Phi-3 keeps original_max_position_embeddings at the top: it wins; YaRN without it
    falls back to max_position_embeddings (the HF 5.x pitfall: factor 1 by ratio)."""
    phi3 = {**LLAMA, "original_max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "longrope", "short_factor": [1.0] * 32,
                                "long_factor": [1.0] * 32,
                                "original_max_position_embeddings": 2048}}
    bundle = from_hf_config(phi3)
    assert bundle.parameters["original_max_position_embeddings"] == 4096
    # attention factor sqrt(1 + ln(8192/4096) / ln 4096)
    assert np.isclose(bundle.attention_factor, np.sqrt(1 + np.log(2) / np.log(4096)),
                      rtol=1e-15)
    yarn = from_hf_config({**LLAMA, "rope_parameters": {"rope_type": "yarn", "factor": 4.0}})
    assert yarn.parameters["original_max_position_embeddings"] == 8192


def test_odd_width_decision():
    """int(64 * 0.3) = 19: ten frequencies 1/b^(2k/19) on 20 features (HF rounds up)."""
    config = {"hidden_size": 128, "num_attention_heads": 2, "partial_rotary_factor": 0.3}
    bundle = from_hf_config(config)
    assert (bundle.rotary_dim, bundle.inv_freq.size) == (20, 10)
    np.testing.assert_allclose(bundle.inv_freq, 1e4 ** (-2.0 * np.arange(10) / 19), rtol=1e-14)
    with pytest.raises(ValueError, match="rounds up to 8 rotated features, more than head_dim=7"):
        from_hf_config({"head_dim": 7, "num_attention_heads": 1})
    with pytest.raises(ValueError, match="yarn needs an even rotary_dim"):
        from_hf_config({**config, "max_position_embeddings": 64,
                        "rope_parameters": {"rope_type": "yarn", "factor": 2.0}})


def test_mrope_configs():
    qwen2 = {"model_type": "qwen2_vl", "hidden_size": 1536, "num_attention_heads": 12,
             "rope_theta": 1e6, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}
    bundle = from_hf_config(qwen2)
    assert bundle.rope_type == "default" and bundle.mrope_section == (16, 24, 24)
    np.testing.assert_array_equal(bundle.frequencies(),
                                  rope.mrope_frequencies(128, [16, 24, 24], base=1e6))
    qwen3 = {"model_type": "qwen3_vl", "text_config": {
        "model_type": "qwen3_vl_text", "head_dim": 128, "hidden_size": 2048,
        "num_attention_heads": 16,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5e6,
                            "mrope_section": [24, 20, 20], "mrope_interleaved": True}}}
    bundle = from_hf_config(qwen3)
    assert bundle.mrope_interleaved
    np.testing.assert_array_equal(bundle.frequencies(), rope.mrope_frequencies(
        128, [24, 20, 20], base=5e6, interleaved=True))
    preset = bundle.preset()
    assert preset.n_axes == 3 and preset.layout == "half"


def test_nested_layer_types():
    gemma = {**LLAMA, "rope_parameters": {
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
        "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}
    with pytest.raises(ValueError, match="nested by layer type.*layer_type="):
        from_hf_config(gemma)
    np.testing.assert_array_equal(from_hf_config(gemma, layer_type="full_attention").inv_freq,
                                  inv_freq(64, 1e6) / 8.0)
    np.testing.assert_array_equal(from_hf_config(gemma, layer_type="sliding_attention").inv_freq,
                                  inv_freq(64))


def test_preset_rotates_like_apply():
    bundle = from_hf_config({**LLAMA, "partial_rotary_factor": 0.5,
                             "rope_parameters": {"rope_type": "yarn", "factor": 4.0,
                                                 "original_max_position_embeddings": 2048}})
    x, positions = np.random.default_rng(0).standard_normal((5, 64)), np.arange(5.0)
    expected = rope.apply(x, rope.angles(positions, bundle.inv_freq), layout="half",
                          magnitude=bundle.attention_factor, rotary_dim=bundle.rotary_dim)
    np.testing.assert_allclose(bundle.preset()(x, positions), expected, rtol=0, atol=1e-15)


def test_dynamic_rule_hand_derived():
    """L_max = 4096: grow at 5000 and 8192, keep 8192 at 5000 and 4096 (not < L_max),
    reset at 2048, grow again at 4097."""
    assert dynamic_seq_lens([100, 5000, 8192, 5000, 4096, 2048, 4097], 4096) == \
        [4096, 5000, 8192, 8192, 8192, 4096, 4097]
    assert longrope_seq_lens([1, 4096, 4097, 9000, 3], 4096) == [None, None, 4097, 4097, None]


@given(st.lists(st.integers(1, 20000), min_size=1, max_size=30), st.integers(1, 10000))
def test_dynamic_rule_properties(lengths, max_positions):
    """The cache is at least the current length and L_max, and is either L_max or a
    length seen since the last reset."""
    cached = dynamic_seq_lens(lengths, max_positions)
    for t, (seen, used) in enumerate(zip(lengths, cached, strict=True)):
        assert used >= max(seen, max_positions)
        assert used == max_positions or used in lengths[:t + 1]
        if t and seen <= cached[t - 1] and not seen < max_positions < cached[t - 1]:
            assert used == cached[t - 1]


def test_replay_follows_the_rules():
    config = {**LLAMA, "max_position_embeddings": 16, "head_dim": 8,
              "rope_parameters": {"rope_type": "dynamic", "factor": 2.0}}
    steps = replay(config, [8, 32, 20, 8])
    for bundle, length in zip(steps, [16, 32, 32, 16], strict=True):
        np.testing.assert_array_equal(
            bundle.inv_freq, scaled_inv_freq("dynamic", 8, factor=2.0,
                                             max_position_embeddings=16, seq_len=length)[0])
    plain = replay(LLAMA, [1, 2])
    assert len(plain) == 2 and plain[0] is plain[1]


def test_bad_configs_name_the_key():
    with pytest.raises(ValueError, match="head_dim, or hidden_size and num_attention_heads"):
        from_hf_config({"rope_theta": 1e4})
    with pytest.raises(ValueError, match="rope_type 'ntk' is not one of"):
        from_hf_config({**LLAMA, "rope_parameters": {"rope_type": "ntk"}})
    with pytest.raises(ValueError, match="beta_fast >= beta_slow"):
        from_hf_config({**LLAMA, "rope_parameters": {"rope_type": "yarn", "factor": 2.0,
                                                     "beta_fast": 1, "beta_slow": 32}})
    with pytest.raises(TypeError, match="rope_parameters must be a dict"):
        from_hf_config({**LLAMA, "rope_parameters": [1, 2]})
