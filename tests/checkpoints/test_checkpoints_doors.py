"""The checkpoint doors without torch (refimpl/checkpoints): every family round-trips
refimpl -> Hugging Face names -> refimpl exactly, the name tables are the documented
ones, and every bad checkpoint is refused by name. The agreement with transformers
itself is in tests/interop/test_transformer_hf.py."""

import numpy as np
import pytest

from refimpl import rope
from refimpl.checkpoints import from_hf_state_dict, to_hf_config, to_hf_state_dict
from refimpl.checkpoints.bert import sinusoid_table
from refimpl.checkpoints.rope_config import rope_fields
from refimpl.transformer import TransformerConfig, forward, init_params

BASE = dict(vocab_size=11, d_model=8, d_ff=12, n_layers=2, n_heads=2, head_dim=4)
CONFIGS = {
    "llama": TransformerConfig(**{**BASE, "n_heads": 4, "head_dim": 2}, n_kv_heads=2,
                               norm="rmsnorm", activation="swiglu", causal=True,
                               rope_layout="half", bias=False, tie_output=False),
    "mistral": TransformerConfig(**BASE, n_kv_heads=1, norm="rmsnorm", activation="swiglu",
                                 causal=True, sliding_window=3, rope_layout="half",
                                 bias=False, attention_bias=True, tie_output=True),
    "gpt_neox": TransformerConfig(**BASE, norm="layernorm", activation="gelu", causal=True,
                                  parallel_residual=True, rope_layout="half", rotary_dim=2,
                                  output_bias=False, tie_output=False),
    "bert": TransformerConfig(**BASE, norm_position="post", positions="learned",
                              max_positions=6, n_segments=2, mlm_head=True, norm_eps=1e-12),
    "roformer": TransformerConfig(**BASE, norm_position="post", positions="rope",
                                  max_positions=6, n_segments=2, mlm_head=True),
}


def random_params(config, seed=0):
    rng = np.random.default_rng(seed)
    params = init_params(config, rng, std=0.5)

    def shake(tree):
        for key, value in (tree.items() if isinstance(tree, dict) else enumerate(tree)):
            if isinstance(value, (dict, list)):
                shake(value)
            else:
                tree[key] = value + 0.3 * rng.standard_normal(value.shape)

    shake(params)
    return params


def round_trip(model_type):
    config = CONFIGS[model_type]
    params = random_params(config)
    hf_config, state = to_hf_config(config, model_type), to_hf_state_dict(params, config,
                                                                          model_type)
    return config, params, hf_config, state


@pytest.mark.parametrize("model_type", CONFIGS)
def test_round_trip_is_exact(model_type):
    config, params, hf_config, state = round_trip(model_type)
    loaded, loaded_config = from_hf_state_dict(hf_config, state)
    tokens = np.array([[1, 2, 3, 4, 5]])
    segments = np.array([[0, 1, 1, 0, 1]]) if config.n_segments else None
    np.testing.assert_array_equal(forward(loaded, loaded_config, tokens, segments=segments)[0],
                                  forward(params, config, tokens, segments=segments)[0])
    # float32 tensors (transformers' default dtype) load too
    as_float32 = {key: value.astype(np.float32) for key, value in state.items()}
    assert from_hf_state_dict(hf_config, as_float32)[1] == loaded_config


def test_name_tables():
    _, params, _, state = round_trip("llama")
    assert state["model.layers.1.self_attn.k_proj.weight"].shape == (4, 8)     # 2 kv heads
    np.testing.assert_array_equal(state["model.layers.1.mlp.gate_proj.weight"],
                                  params["layers"][1]["ffn"]["w_gate"].T)
    _, params, _, state = round_trip("gpt_neox")
    fused = state["gpt_neox.layers.0.attention.query_key_value.weight"]   # rows [q_h k_h v_h]
    np.testing.assert_array_equal(fused[4:8], params["layers"][0]["attn"]["wk"][:, :4].T)
    np.testing.assert_array_equal(fused[12:16], params["layers"][0]["attn"]["wq"][:, 4:].T)
    _, params, _, state = round_trip("bert")
    np.testing.assert_array_equal(state["cls.predictions.decoder.weight"],
                                  params["embedding"]["tokens"])
    assert "bert.encoder.layer.1.attention.output.LayerNorm.bias" in state


def test_roformer_sinusoids_are_its_rope():
    # RoFormer's stored table holds sin and cos of the angles of refimpl's RoPE
    table = sinusoid_table(5, 4)
    angles = rope.angles(np.arange(5), rope.inv_freq(4, 10000.0))
    np.testing.assert_array_equal(table, np.concatenate([np.sin(angles), np.cos(angles)], -1))
    assert table[3, 0] == np.sin(3.0) and table[2, 3] == np.cos(2 * 10000.0 ** -0.5)
    _, _, hf_config, state = round_trip("roformer")
    state["roformer.encoder.embed_positions.weight"] = np.zeros((6, 4))
    with pytest.raises(ValueError, match=r"embed_positions.weight'\] is not RoFormer's sinusoid"):
        from_hf_state_dict(hf_config, state)


@pytest.mark.parametrize("rope_type, parameters, seq_len", [
    ("linear", dict(factor=2.0), None),
    ("dynamic", dict(factor=2.0), 20),
    ("yarn", dict(factor=4.0, original_max_position_embeddings=4), None),
    ("longrope", dict(short_factor=[1.0, 1.5], long_factor=[2.0, 4.0],
                      original_max_position_embeddings=4), 20),
    ("llama3", dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                    original_max_position_embeddings=4), None),
])
def test_rope_fields_follow_scaled_inv_freq(rope_type, parameters, seq_len):
    config = {"max_position_embeddings": 16,
              "rope_parameters": dict(parameters, rope_type=rope_type, rope_theta=100.0)}
    fields = rope_fields(config, 4, seq_len)
    extra = {"seq_len": seq_len} if seq_len else {}
    if rope_type in ("dynamic", "yarn", "longrope"):
        extra["max_position_embeddings"] = 16
    table, factor = rope.scaled_inv_freq(rope_type, 4, 100.0, **parameters, **extra)
    assert fields == dict(rotary_dim=None, rope_base=100.0,
                          rope_inv_freq=tuple(float(f) for f in table),
                          rope_attention_factor=factor)


def test_rope_fields_of_4x_configs():
    # 4.x: rope_theta and rope_scaling at the top level; GPT-NeoX's rotary_pct
    fields = rope_fields({"rope_theta": 50.0, "rope_scaling": {"type": "linear", "factor": 2.0}},
                         4)
    assert fields["rope_inv_freq"] == tuple(rope.inv_freq(4, 50.0) / 2)
    fields = rope_fields({"rotary_emb_base": 100.0, "rotary_pct": 0.5}, 8)
    assert fields == dict(rotary_dim=4, rope_base=100.0, rope_inv_freq=None,
                          rope_attention_factor=1.0)


def test_an_explicit_rope_table_needs_its_parameters_to_be_written_back():
    config = CONFIGS["llama"]
    scaled = TransformerConfig(**{**config.__dict__,
                                  "rope_inv_freq": tuple(rope.inv_freq(2) / 2)})
    with pytest.raises(ValueError, match="pass rope_parameters="):
        to_hf_config(scaled, "llama")
    good = dict(rope_type="linear", factor=2.0, rope_theta=10000.0)
    assert to_hf_config(scaled, "llama", rope_parameters=good)["rope_parameters"] == good
    with pytest.raises(ValueError, match="do not give this config's RoPE"):
        to_hf_config(scaled, "llama", rope_parameters=dict(good, factor=3.0))
