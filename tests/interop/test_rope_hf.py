"""refimpl.rope.from_hf_config against transformers' own rotary modules (outside truth).

Each case builds a real transformers config (5.x ``rope_parameters`` and, where the
class still reads it, a 4.x-style ``rope_scaling`` dict), instantiates the model
family's rotary embedding, and compares inv_freq, the attention factor and the rotary
width with the bundle read from the config object *and* from its ``to_dict()``. The
dynamic-NTK and LongRoPE cases replay a generation through HF's stateful module.

Tolerance: HF computes ``1 / base**(arange/dim)`` in float32, so the exponent carries a
relative rounding of eps32/2 which ``base**e`` turns into ``eps32/2 * e * ln(base)``;
with the pow, division and schedule arithmetic (a few more eps32) the bound is
``8 eps32 (2 + ln base)`` relative (about 1e-5 for base 5e6).
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import (  # noqa: E402
    GlmConfig,
    GPTNeoXConfig,
    LlamaConfig,
    Phi3Config,
    Qwen2Config,
)
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS  # noqa: E402
from transformers.models.glm.modeling_glm import GlmRotaryEmbedding  # noqa: E402
from transformers.models.gpt_neox.modeling_gpt_neox import GPTNeoXRotaryEmbedding  # noqa: E402
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding  # noqa: E402
from transformers.models.phi3.modeling_phi3 import Phi3RotaryEmbedding  # noqa: E402
from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding  # noqa: E402

from refimpl import rope  # noqa: E402

transformers.logging.set_verbosity_error()
EPS32 = float(np.finfo(np.float32).eps)


def rtol(base):
    return 8 * EPS32 * (2 + math.log(base))


def compare(config, module, *, rotary_dim, layout="half"):
    """Bundle from the object and from its dict against HF's module buffers."""
    hf_freq = module.inv_freq.double().numpy()
    hf_factor = float(module.attention_scaling)
    for source in (config, config.to_dict()):
        bundle = rope.from_hf_config(source)
        base = bundle.base
        np.testing.assert_allclose(bundle.inv_freq, hf_freq, rtol=rtol(base), atol=0)
        assert bundle.attention_factor == pytest.approx(hf_factor, rel=4 * EPS32)
        assert bundle.rotary_dim == rotary_dim and bundle.layout == layout
    return bundle


COMMON = dict(hidden_size=256, num_attention_heads=4, num_key_value_heads=4,
              intermediate_size=64, num_hidden_layers=1, vocab_size=64,
              max_position_embeddings=4096)

LLAMA_TYPES = {
    "default": {"rope_type": "default", "rope_theta": 5e5},
    "linear": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1e4},
    "linear-below-one": {"rope_type": "linear", "factor": 0.5, "rope_theta": 1e4},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1e4},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e6,
             "original_max_position_embeddings": 1024},
    "yarn-gpt-oss": {"rope_type": "yarn", "factor": 32.0, "rope_theta": 150000.0,
                     "original_max_position_embeddings": 128, "truncate": False,
                     "beta_fast": 32.0, "beta_slow": 1.0},
    "yarn-deepseek": {"rope_type": "yarn", "factor": 40.0, "rope_theta": 1e4,
                      "original_max_position_embeddings": 100, "mscale": 1.0,
                      "mscale_all_dim": 1.0},
    "yarn-equal-betas": {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4,
                         "original_max_position_embeddings": 1024, "beta_fast": 8.0,
                         "beta_slow": 8.0},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "rope_theta": 5e5,
               "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 1024},
    "longrope": {"rope_type": "longrope", "rope_theta": 1e4,
                 "short_factor": list(np.linspace(1.0, 1.5, 32)),
                 "long_factor": list(np.linspace(1.0, 8.0, 32)),
                 "original_max_position_embeddings": 1024},
}


@pytest.mark.parametrize("name", sorted(LLAMA_TYPES))
def test_llama_family_every_rope_type(name):
    config = LlamaConfig(**COMMON, rope_parameters=dict(LLAMA_TYPES[name]))
    compare(config, LlamaRotaryEmbedding(config), rotary_dim=64)


def test_four_generation_rope_scaling_reads_the_same():
    config = LlamaConfig(**COMMON, rope_theta=5e5,
                         rope_scaling={"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0,
                                       "original_max_position_embeddings": 1024})
    compare(config, LlamaRotaryEmbedding(config), rotary_dim=64)


@pytest.mark.parametrize("rope_type", ["default", "linear", "dynamic", "yarn", "llama3",
                                       "longrope", "proportional"])
def test_rope_init_functions_with_partial_rotary(rope_type):
    """HF's ROPE_INIT_FUNCTIONS themselves (the 'default' of GPT-NeoX), with
    partial_rotary_factor 0.5 (proportional: 0.25, its own reading)."""
    share = 0.25 if rope_type == "proportional" else 0.5
    params = {"rope_type": rope_type, "rope_theta": 1e4, "partial_rotary_factor": share,
              **{k: v for k, v in LLAMA_TYPES.get(rope_type, {}).items()
                 if k not in ("rope_type", "rope_theta")}}
    if rope_type == "longrope":
        params.update(short_factor=[1.0] * 16, long_factor=list(np.linspace(1, 4, 16)))
    config = LlamaConfig(**COMMON, rope_parameters=params)
    if rope_type == "default":
        config = GPTNeoXConfig(**COMMON, rotary_pct=share, rope_parameters={
            "rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": share})
        hf_freq, hf_factor = GPTNeoXRotaryEmbedding.compute_default_rope_parameters(config)
    else:
        hf_freq, hf_factor = ROPE_INIT_FUNCTIONS[rope_type](config)
    bundle = rope.from_hf_config(config)
    np.testing.assert_allclose(bundle.inv_freq, hf_freq.double().numpy(), rtol=rtol(1e4))
    assert bundle.attention_factor == pytest.approx(float(hf_factor), rel=4 * EPS32)
    assert bundle.rotary_dim == (64 if rope_type == "proportional" else 32)


def test_gpt_neox_odd_width_rotates_one_more_feature():
    """int(64 * 0.3) = 19: HF's module holds 10 frequencies 1/b^(2k/19) and its attention
    rotates cos.shape[-1] = 20 features."""
    config = GPTNeoXConfig(**COMMON, rotary_pct=0.3)
    bundle = compare(config, GPTNeoXRotaryEmbedding(config), rotary_dim=20)
    assert bundle.inv_freq.size == 10


def test_yarn_odd_width_fails_in_hf_too():
    config = LlamaConfig(**COMMON, rope_parameters={
        "rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4, "partial_rotary_factor": 0.3,
        "original_max_position_embeddings": 1024})
    with pytest.raises(RuntimeError):
        ROPE_INIT_FUNCTIONS["yarn"](config)
    with pytest.raises(ValueError, match="yarn needs an even rotary_dim"):
        rope.from_hf_config(config)


def test_phi3_longrope_with_top_level_original_length():
    config = Phi3Config(**COMMON, original_max_position_embeddings=1024,
                        rope_parameters={"rope_type": "longrope", "rope_theta": 1e4,
                                         "short_factor": [1.0] * 32,
                                         "long_factor": list(np.linspace(1, 6, 32))})
    compare(config, Phi3RotaryEmbedding(config), rotary_dim=64)


def test_qwen2_yarn_and_glm_interleaved_partial():
    qwen = Qwen2Config(**COMMON, rope_parameters={"rope_type": "yarn", "factor": 4.0,
                                                  "rope_theta": 1e6,
                                                  "original_max_position_embeddings": 1024})
    compare(qwen, Qwen2RotaryEmbedding(qwen), rotary_dim=64)
    glm = GlmConfig(**COMMON, head_dim=64, partial_rotary_factor=0.5, pad_token_id=0)
    compare(glm, GlmRotaryEmbedding(glm), rotary_dim=32, layout="interleaved")


def test_preset_matches_hf_cos_sin_rotation():
    """The bundle's preset rotates like HF's cos/sin with rotate_half (float32 angles)."""
    config = LlamaConfig(**COMMON, rope_parameters=dict(LLAMA_TYPES["yarn"]))
    module = LlamaRotaryEmbedding(config)
    positions = torch.arange(0, 2000, 37)[None]
    x = torch.randn(1, 1, positions.shape[1], 64, dtype=torch.float64)
    cos, sin = module(x, positions)
    half = lambda t: torch.cat([-t[..., 32:], t[..., :32]], -1)
    expected = (x * cos[:, None] + half(x) * sin[:, None]).numpy()[0, 0]
    got = rope.from_hf_config(config).preset()(x.numpy()[0, 0], positions.numpy()[0])
    # float32 angles: |error| <= |x| * (eps32 * max angle) per entry, angles up to ~2000
    assert np.max(np.abs(got - expected)) <= 4 * EPS32 * 2000 * np.max(np.abs(x.numpy()))


def _replay_hf(config, module_class, lengths):
    module = module_class(config)
    out = []
    for length in lengths:
        x = torch.zeros(1, 1, 1, 64)
        module(x, torch.tensor([[length - 1]]))
        out.append(module.inv_freq.double().numpy().copy())
    return out


def test_dynamic_replay_against_hf():
    config = LlamaConfig(**COMMON, rope_parameters=dict(LLAMA_TYPES["dynamic"]))
    lengths = [100, 5000, 9000, 6000, 4096, 2048, 4097, 12000]
    hf = _replay_hf(config, LlamaRotaryEmbedding, lengths)
    for bundle, hf_freq in zip(rope.replay(config, lengths), hf, strict=True):
        np.testing.assert_allclose(bundle.inv_freq, hf_freq, rtol=rtol(1e4))


def test_longrope_replay_against_hf():
    config = Phi3Config(**COMMON, original_max_position_embeddings=1024,
                        rope_parameters={"rope_type": "longrope", "rope_theta": 1e4,
                                         "short_factor": [1.0] * 32,
                                         "long_factor": list(np.linspace(1, 6, 32))})
    lengths = [10, 1024, 1025, 3000, 5]
    hf = _replay_hf(config, Phi3RotaryEmbedding, lengths)
    for bundle, hf_freq in zip(rope.replay(config, lengths), hf, strict=True):
        np.testing.assert_allclose(bundle.inv_freq, hf_freq, rtol=rtol(1e4))
