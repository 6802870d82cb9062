"""Outside truth for the checkpoint doors (refimpl.checkpoints) and the reference
Transformer: tiny random models of each family built with transformers 5.23.0 in
float64, loaded with from_hf_state_dict; refimpl's logits equal Hugging Face's and its
hand-written gradients equal torch autograd's.

Hugging Face keeps three computations in float32 even in a float64 model: the RoPE
angles (``RotaryEmbedding.forward`` casts positions and frequencies with ``.float()``,
and the frequency tables themselves are built in float32), Llama's RMSNorm (it casts
the input ``.to(torch.float32)``) and the eager softmax (``dtype=torch.float32``).
Against float64 those alone cap the agreement near 1e-7. So each comparison runs
twice: (1) Hugging Face as shipped, to a float32-level tolerance, and (2) Hugging Face
with those casts taken out: the test replaces the rotary module's forward and the
RMSNorm's forward by float64 versions written here from their equations, and gives the
rotary module refimpl's float64 frequency table (the table itself is compared with
Hugging Face's float32 one separately, at float32 precision); attention runs through
torch's SDPA, which keeps the dtype. (2) is held to relative 1e-12 on the logits.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from refimpl import rope  # noqa: E402
from refimpl.checkpoints import from_hf_state_dict, to_hf_config, to_hf_state_dict  # noqa: E402
from refimpl.transformer import backward, forward  # noqa: E402
from refimpl.widening import add_layers, duplicate_heads, grow_head_dim, split_ffn  # noqa: E402

LOGITS_RTOL = 1e-12     # the bound, relative to max |logits|
GRAD_RTOL = 1e-11       # per tensor, relative to max(1, max |gradient|): sums over 20 tokens
                        # through 2 layers, some hundred roundings of O(1) terms (~1e-13)
SHIPPED_RTOL = 1e-4     # Hugging Face's float32 RoPE/RMSNorm: ~1e-7 per operation
REPORT: dict[str, tuple[float, float]] = {}


# ---------------------------------------------------------------- building the models

def build(model_class, seed=0, **config):
    """A float64 model with every parameter drawn N(0, 0.25^2) (norm gains 1 + that)."""
    torch.manual_seed(seed)
    # RoFormer has no SDPA path; its eager softmax keeps the dtype
    attention = "eager" if model_class.startswith("RoFormer") else "sdpa"
    hf_config = getattr(transformers, model_class.replace("ForCausalLM", "Config")
                        .replace("ForMaskedLM", "Config"))(attn_implementation=attention,
                                                           **config)
    model = getattr(transformers, model_class)(hf_config).double().eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            draw = 0.25 * torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.copy_(1.0 + draw if name.endswith("norm.weight") or "LayerNorm.weight"
                            in name or "layernorm.weight" in name else draw)
        for module in model.modules():          # RoFormer: the exact float64 sinusoids
            if type(module).__name__ == "RoFormerSinusoidalPositionalEmbedding":
                length, dim = module.weight.shape
                angle = np.arange(length)[:, None] * 10000.0 ** (-2 * np.arange(dim // 2) / dim)
                module.weight.copy_(torch.from_numpy(np.concatenate([np.sin(angle),
                                                                     np.cos(angle)], -1)))
    return model


def numpy_state(model):
    return {key: value.detach().numpy() for key, value in model.state_dict().items()}


def _rms_norm_float64(self, hidden_states):
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def _rotary_float64(self, x, position_ids):
    angles = position_ids[..., None].to(torch.float64) * self.inv_freq.to(torch.float64)
    doubled = torch.cat((angles, angles), dim=-1)
    return ((doubled.cos() * self.attention_scaling).to(x.dtype),
            (doubled.sin() * self.attention_scaling).to(x.dtype))


def without_float32(model, config):
    """Patch ``model`` in place: float64 RMSNorm and RoPE, with refimpl's frequency table."""
    table = None
    if config.positions == "rope":
        table = rope.inv_freq(config.rope_dim, config.rope_base) \
            if config.rope_inv_freq is None else np.asarray(config.rope_inv_freq)
    for module in model.modules():
        name = type(module).__name__
        if name.endswith("RMSNorm"):
            module.forward = types.MethodType(_rms_norm_float64, module)
        if name.endswith("RotaryEmbedding") and table is not None:
            module.inv_freq = torch.from_numpy(table.copy())
            module.forward = types.MethodType(_rotary_float64, module)
    return model


def hf_logits(model, tokens, segments=None, grad=False):
    kwargs = {} if segments is None else {"token_type_ids": torch.from_numpy(segments)}
    with torch.set_grad_enabled(grad):
        return model(input_ids=torch.from_numpy(tokens), **kwargs).logits


def relative(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / max(1.0, float(np.max(np.abs(theirs)))))


# ---------------------------------------------------------------- the families

LLAMA = dict(vocab_size=23, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8)
FAMILIES = {
    "llama_gqa": ("LlamaForCausalLM", LLAMA),
    "llama_mqa_tied_biases": ("LlamaForCausalLM", dict(LLAMA, num_key_value_heads=1,
                                                       tie_word_embeddings=True,
                                                       attention_bias=True, mlp_bias=True)),
    "mistral_window": ("MistralForCausalLM", dict(LLAMA, sliding_window=3, head_dim=6)),
    "gpt_neox_parallel": ("GPTNeoXForCausalLM", dict(
        vocab_size=23, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
        num_attention_heads=2, partial_rotary_factor=0.5, use_parallel_residual=True,
        layer_norm_eps=1e-3)),
    "gpt_neox_sequential_tanh": ("GPTNeoXForCausalLM", dict(
        vocab_size=23, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
        num_attention_heads=2, partial_rotary_factor=0.25, use_parallel_residual=False,
        hidden_act="gelu_new", attention_bias=False)),
    "bert": ("BertForMaskedLM", dict(vocab_size=23, hidden_size=16, intermediate_size=24,
                                     num_hidden_layers=2, num_attention_heads=2,
                                     max_position_embeddings=12, type_vocab_size=3,
                                     layer_norm_eps=1e-5)),
    "roformer": ("RoFormerForMaskedLM", dict(vocab_size=23, hidden_size=16, embedding_size=16,
                                             intermediate_size=24, num_hidden_layers=2,
                                             num_attention_heads=2, max_position_embeddings=12,
                                             type_vocab_size=2, layer_norm_eps=1e-5)),
}
ROPE_TYPES = {
    "linear": dict(rope_type="linear", factor=2.0),
    "dynamic": dict(rope_type="dynamic", factor=2.0),
    "yarn": dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=4,
                 beta_fast=8.0, beta_slow=1.0),
    "longrope": dict(rope_type="longrope", factor=4.0, original_max_position_embeddings=4,
                     short_factor=[1.0, 1.1], long_factor=[2.0, 3.0]),
    "llama3": dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                   original_max_position_embeddings=4),
}
LENGTH = 10       # > max_position_embeddings = 8: dynamic grows, longrope takes long_factor


def inputs(config, seed=1):
    # Token 0 is BERT's and RoFormer's pad_token_id: torch's nn.Embedding(padding_idx=0)
    # leaves the lookup's share out of that row's gradient on purpose (a training
    # convention, not the derivative), so the tokens avoid it and every row's gradient
    # is the true one on both sides.
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, config.vocab_size, (2, LENGTH))
    segments = rng.integers(0, config.n_segments, (2, LENGTH)) if config.n_segments else None
    return tokens, segments


def check_family(name, model, seq_len=None):
    """Logits (shipped and float64) and gradients of ``model`` against refimpl's."""
    params, config = from_hf_state_dict(model.config, numpy_state(model), seq_len=seq_len)
    tokens, segments = inputs(config)
    logits, cache = forward(params, config, tokens, segments=segments)
    shipped = hf_logits(model, tokens, segments).numpy()
    assert relative(logits, shipped) <= SHIPPED_RTOL
    exact = without_float32(model, config)
    theirs = hf_logits(exact, tokens, segments, grad=True)
    logit_error = relative(logits, theirs.detach().numpy())
    # gradients of <cotangent, logits> in every parameter
    cotangent = np.random.default_rng(2).standard_normal(logits.shape)
    exact.zero_grad()
    (theirs * torch.from_numpy(cotangent)).sum().backward()
    ours = to_hf_state_dict(backward(params, config, cache, cotangent), config,
                            model.config.model_type)
    grad_error = 0.0
    for key, parameter in exact.named_parameters():
        if parameter.grad is None:
            continue
        torch_grad = parameter.grad.numpy()
        grad_error = max(grad_error, relative(ours[key], torch_grad))
    REPORT[name] = (logit_error, grad_error)
    print(f"{name}: logits rel {logit_error:.2e}, gradients rel {grad_error:.2e}")
    assert logit_error <= LOGITS_RTOL
    assert grad_error <= GRAD_RTOL
    return params, config


@pytest.mark.parametrize("name", FAMILIES)
def test_family_matches_hugging_face(name):
    model_class, config = FAMILIES[name]
    check_family(name, build(model_class, **config))


@pytest.mark.parametrize("rope_name", ROPE_TYPES)
def test_llama_rope_types_match_hugging_face(rope_name):
    parameters = dict(ROPE_TYPES[rope_name], rope_theta=500.0)
    model = build("LlamaForCausalLM", **LLAMA, rope_parameters=parameters)
    _, config = check_family(f"llama_{rope_name}", model, seq_len=LENGTH)
    # the frequency table and attention factor against Hugging Face's own (float32),
    # after a call of LENGTH positions (the dynamic types update on it)
    fresh = build("LlamaForCausalLM", **LLAMA, rope_parameters=parameters)
    hf_logits(fresh, inputs(config)[0])
    rotary = fresh.model.rotary_emb
    table = np.asarray(config.rope_inv_freq)
    np.testing.assert_allclose(table, rotary.inv_freq.double().numpy(), rtol=1e-6)
    assert config.rope_attention_factor == pytest.approx(rotary.attention_scaling, rel=1e-6)


def test_widened_llama_written_back_keeps_its_logits_in_hugging_face():
    model = build("LlamaForCausalLM", **LLAMA)
    params, config = from_hf_state_dict(model.config, numpy_state(model))
    tokens, _ = inputs(config)
    original = hf_logits(without_float32(model, config), tokens).numpy()
    wide = duplicate_heads(params, config, 2, noise=0.1, rng=3)      # kv heads copied too
    wide = split_ffn(*wide, wide[1].d_ff + 5, noise=0.1, rng=4)
    wide = grow_head_dim(*wide, 2 * config.head_dim, std=0.3, rng=5)
    wide = add_layers(*wide, config.n_layers + 1, std=0.3, rng=6)
    wide_params, wide_config = wide
    hf_config = to_hf_config(wide_config, "llama")
    model_type = hf_config.pop("model_type")
    wide_model = transformers.AutoModelForCausalLM.from_config(
        transformers.AutoConfig.for_model(model_type, attn_implementation="sdpa", **hf_config)
    ).double().eval()
    state = {key: torch.from_numpy(value)
             for key, value in to_hf_state_dict(wide_params, wide_config, "llama").items()}
    wide_model.load_state_dict(state, strict=True)
    assert wide_model.config.num_key_value_heads == 2 * config.kv_heads
    widened = hf_logits(without_float32(wide_model, wide_config), tokens).numpy()
    # widening's own bound (1e-12 of max(1, |logits|)) plus two float64 forwards
    assert relative(widened, original) <= 2e-12
    # and as shipped (float32 RoPE and RMSNorm in both)
    shipped_wide = transformers.AutoModelForCausalLM.from_config(wide_model.config).double()
    shipped_wide.load_state_dict(state, strict=True)
    shipped = build("LlamaForCausalLM", **LLAMA)
    assert relative(hf_logits(shipped_wide.eval(), tokens).numpy(),
                    hf_logits(shipped, tokens).numpy()) <= SHIPPED_RTOL


def test_decoding_matches_hugging_face_with_its_cache():
    # Hugging Face's own KV cache, one token at a time, against refimpl's decode_step
    from refimpl.transformer import decode_step, init_cache
    model = build("MistralForCausalLM", **FAMILIES["mistral_window"][1])
    params, config = from_hf_state_dict(model.config, numpy_state(model))
    model = without_float32(model, config)
    tokens, _ = inputs(config)
    cache, past, worst = init_cache(config, (2,)), None, 0.0
    for t in range(LENGTH):
        ours, cache = decode_step(params, config, cache, tokens[:, t:t + 1])
        with torch.no_grad():
            out = model(input_ids=torch.from_numpy(tokens[:, t:t + 1]), past_key_values=past,
                        use_cache=True)
        past = out.past_key_values
        worst = max(worst, relative(ours, out.logits.numpy()))
    assert worst <= LOGITS_RTOL


def test_hf_buffers_and_pooler_are_named():
    model = build("BertForMaskedLM", **FAMILIES["bert"][1])
    state = numpy_state(model)
    state["bert.pooler.dense.weight"] = np.zeros((16, 16))
    with pytest.raises(ValueError, match="unexpected key 'bert.pooler.dense.weight'.*pooler"):
        from_hf_state_dict(model.config, state)
