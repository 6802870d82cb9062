"""A catalogue of user mistakes in the reference Transformer, KV-cache decoding and the
checkpoint doors (issue #16): each call, the exception type, and a pattern saying the
message names the argument (or key) and, where a PyTorch / Hugging Face habit explains
the mistake, gives the fix; then valid-but-unusual inputs that must work."""

import dataclasses

import numpy as np
import pytest
from transformer_cases import random_params, tiny

from refimpl.attention import alibi_bias, alibi_slopes
from refimpl.checkpoints import from_hf_state_dict, to_hf_config, to_hf_state_dict
from refimpl.masks import causal_mask
from refimpl.transformer import decode_step, forward, init_cache

CONFIG = tiny(n_heads=4, n_kv_heads=2, head_dim=2, causal=True, norm="rmsnorm",
              activation="swiglu", rope_layout="half", bias=False, tie_output=False)
PARAMS = random_params(CONFIG, np.random.default_rng(0))
HF_CONFIG = to_hf_config(CONFIG, "llama")
STATE = to_hf_state_dict(PARAMS, CONFIG, "llama")
TOKENS = np.array([[1, 2, 3, 4]])


def with_state(**changes):
    state = dict(STATE)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


class BFloat16Like:
    """Stands for a tensor NumPy cannot convert (torch's bfloat16)."""

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Got unsupported ScalarType BFloat16")


MISTAKES = [
    # configuration
    (lambda: tiny(n_heads=4, n_kv_heads=3), ValueError,
     r"n_kv_heads must divide n_heads .* got n_heads=4, n_kv_heads=3"),
    (lambda: tiny(sliding_window=3), ValueError, r"sliding_window=3 needs causal=True"),
    (lambda: tiny(parallel_residual=True, norm_position="post"), ValueError,
     r"parallel_residual=True needs norm_position='pre'"),
    (lambda: tiny(positions="learned", rope_attention_factor=2.0), ValueError,
     r"rope_attention_factor=2.0 needs positions='rope'"),
    (lambda: tiny(causal=1), TypeError, r"causal must be True or False"),
    (lambda: tiny(mlp_bias="yes"), TypeError, r"mlp_bias must be True or False"),
    # the model's mask and bias
    (lambda: forward(PARAMS, CONFIG, TOKENS, bias=np.where(causal_mask(4), 0.0, -np.inf)),
     ValueError, r"bias holds -inf.*mask="),
    (lambda: forward(PARAMS, CONFIG, TOKENS, np.ones((1, 3, 4, 4), bool)), ValueError,
     r"mask of shape \(1, 3, 4, 4\) does not broadcast to .*\(1, 4, 4, 4\)"),
    (lambda: forward(PARAMS, CONFIG, TOKENS, bias=np.zeros((3, 4, 4))), ValueError,
     r"bias of shape \(3, 4, 4\) must broadcast to the logits shape \(1, 4, 4, 4\)"),
    (lambda: forward(PARAMS, CONFIG, [[1.0, 2.0]]), TypeError, r"tokens must hold integers"),
    (lambda: forward(PARAMS, CONFIG, TOKENS, positions=[0.0, 1.0, 2.0, 3.0]), TypeError,
     r"positions must hold integers"),
    # learned positions index a table: negative ones are refused, by name
    (lambda: forward(random_params(tiny(positions="learned"), np.random.default_rng(2)),
                     tiny(positions="learned"), TOKENS, positions=[-1, 0, 1, 2]),
     ValueError, r"positions must lie in \[0, 512\), got -1"),
    # decoding
    (lambda: init_cache(dataclasses.replace(CONFIG, causal=False)), ValueError,
     r"KV-cache decoding needs a causal model \(config.causal=True\)"),
    (lambda: decode_step(PARAMS, CONFIG, init_cache(CONFIG, (2,)), [[1]]), ValueError,
     r"cache layer 0 .* the tokens' batch \(1,\)"),
    (lambda: decode_step(PARAMS, CONFIG, None, [1]), TypeError,
     r"cache must be a KVCache \(from init_cache or decode_step\), got NoneType"),
    # checkpoints: keys, shapes, options, tensors
    (lambda: from_hf_state_dict(HF_CONFIG, with_state(model__norm__weight=None)), ValueError,
     r"state_dict is missing the key 'model.norm.weight'"),
    (lambda: from_hf_state_dict(HF_CONFIG, with_state(extra__weight=np.zeros(2))), ValueError,
     r"state_dict has an unexpected key 'extra.weight'"),
    (lambda: from_hf_state_dict(HF_CONFIG, with_state(
        model__layers__0__self_attn__k_proj__weight=np.zeros((6, 4)))), ValueError,
     r"state_dict\['model.layers.0.self_attn.k_proj.weight'\] must have shape \(4, 6\) .*"
     r"got \(6, 4\)"),
    (lambda: from_hf_state_dict(HF_CONFIG, with_state(
        model__norm__weight=BFloat16Like())), TypeError,
     r"state_dict\['model.norm.weight'\] is not convertible.*\.float\(\)\.numpy\(\)"),
    (lambda: from_hf_state_dict({**HF_CONFIG, "hidden_act": "relu"}, STATE), ValueError,
     r"unsupported config option hidden_act='relu'"),
    (lambda: from_hf_state_dict({**HF_CONFIG, "model_type": "gpt2"}, STATE), ValueError,
     r"unsupported config option model_type='gpt2'"),
    (lambda: from_hf_state_dict({**HF_CONFIG, "rope_parameters": {
        "rope_type": "dynamic", "rope_theta": 1e4, "factor": 2.0}}, STATE), ValueError,
     r"rope_type='dynamic' recomputes its frequencies .* pass seq_len="),
    (lambda: from_hf_state_dict({**HF_CONFIG, "rope_parameters": {
        "rope_type": "mrope", "rope_theta": 1e4}}, STATE), ValueError,
     r"unsupported config option rope_type='mrope'"),
    (lambda: from_hf_state_dict({**HF_CONFIG, "rope_parameters": {
        "rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5}}, STATE),
     ValueError, r"partial_rotary_factor=0.5: int\(head_dim \* partial_rotary_factor\) = 1"),
    (lambda: from_hf_state_dict({k: v for k, v in HF_CONFIG.items() if k != "hidden_size"},
                                STATE), ValueError, r"config_dict has no 'hidden_size'"),
    (lambda: from_hf_state_dict(HF_CONFIG, list(STATE.items())), TypeError,
     r"state_dict must be a mapping"),
    (lambda: to_hf_config(tiny(), "llama"), ValueError, r"this config is not a Llama"),
]


@pytest.mark.parametrize("call, error, pattern", MISTAKES)
def test_mistake_is_named_with_its_fix(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_valid_but_unusual_inputs_work():
    full = forward(PARAMS, CONFIG, TOKENS)[0]
    # tokens as a list without a batch axis; Hugging Face's (B, 1, T, T) boolean mask
    np.testing.assert_array_equal(forward(PARAMS, CONFIG, [1, 2, 3, 4])[0], full[0])
    np.testing.assert_array_equal(forward(PARAMS, CONFIG, TOKENS, np.ones((1, 1, 4, 4), bool))[0],
                                  full)
    # an explicit n_kv_heads = n_heads is ordinary multi-head attention; a window wider
    # than the sequence is no window
    plain = tiny(n_kv_heads=2)
    params = random_params(plain, np.random.default_rng(1))
    np.testing.assert_array_equal(forward(params, plain, TOKENS)[0],
                                  forward(params, tiny(), TOKENS)[0])
    windowed = dataclasses.replace(CONFIG, sliding_window=99)
    np.testing.assert_array_equal(forward(PARAMS, windowed, TOKENS)[0], full)
    # an ALiBi bias (H, T, T) on a batch of tokens
    bias = alibi_bias(alibi_slopes(4), np.arange(4))
    assert np.all(np.isfinite(forward(PARAMS, CONFIG, TOKENS, bias=bias)[0]))
    # negative RoPE positions: only offsets matter, so they equal the shifted ones
    # (angles of size <= 7 rad, rounded once each: a few eps on O(1) logits)
    np.testing.assert_allclose(forward(PARAMS, CONFIG, TOKENS, positions=[-3, -2, -1, 0])[0],
                               full, rtol=0, atol=1e-12)
    # prefill in one call, then one token
    cache = init_cache(CONFIG, (1,))
    first, cache = decode_step(PARAMS, CONFIG, cache, TOKENS[:, :3])
    last, cache = decode_step(PARAMS, CONFIG, cache, TOKENS[:, 3:])
    np.testing.assert_allclose(np.concatenate([first, last], axis=1), full, rtol=0, atol=1e-12)
    # a config object with to_dict() and float32 tensors load
    class ConfigObject:
        def to_dict(self):
            return dict(HF_CONFIG)
    loaded, _ = from_hf_state_dict(ConfigObject(), {k: v.astype(np.float32)
                                                    for k, v in STATE.items()})
    assert loaded["layers"][0]["attn"]["wk"].dtype == np.float64
