"""Llama (and Mistral) checkpoints: ``LlamaForCausalLM`` / ``MistralForCausalLM`` of transformers.

The architecture (Touvron et al., "LLaMA", 2023, arXiv:2302.13971; Hugging Face
``modeling_llama.py``, transformers 5.23.0) is refimpl's pre-LN decoder with RMSNorm,
a SwiGLU feed-forward network (``down(silu(gate(x)) * up(x))``), grouped-query
attention and RoPE in the half layout (Hugging Face's ``rotate_half``), no biases
unless ``attention_bias`` / ``mlp_bias`` say so, and an untied ``lm_head`` unless
``tie_word_embeddings``. Mistral adds ``sliding_window`` (``modeling_mistral.py``).

Names (``i`` the layer; torch's ``nn.Linear`` stores ``W^T``, so every matrix is
transposed)::

    model.embed_tokens.weight                     embedding.tokens
    model.layers.i.input_layernorm.weight         layers[i].attn_norm.gain
    model.layers.i.self_attn.{q,k,v,o}_proj.*     layers[i].attn.w{q,k,v,o} (b{q,k,v,o})
    model.layers.i.post_attention_layernorm.weight  layers[i].ffn_norm.gain
    model.layers.i.mlp.{gate,up,down}_proj.*      layers[i].ffn.w_{gate,up,down} (b_...)
    model.norm.weight                             final_norm.gain
    lm_head.weight                                output.w (absent when tied)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from refimpl.checkpoints._common import (
    StateDictReader,
    check_choice_of,
    config_value,
    hf_linear,
    to_hf_linear,
)
from refimpl.checkpoints.rope_config import rope_fields
from refimpl.transformer import TransformerConfig

__all__ = ["MODEL_TYPES", "config_from_hf", "params_from_hf", "params_to_hf", "config_to_hf"]

MODEL_TYPES = ("llama", "mistral")
_ACTIVATIONS = {"silu": "swiglu", "gelu": "geglu"}


def config_from_hf(config: Mapping, seq_len: int | None = None) -> TransformerConfig:
    """The :class:`~refimpl.transformer.TransformerConfig` of a Llama or Mistral config dict."""
    d_model = int(config_value(config, "hidden_size"))
    n_heads = int(config_value(config, "num_attention_heads"))
    head_dim = int(config_value(config, "head_dim", d_model // n_heads))
    check_choice_of(config, "hidden_act", config_value(config, "hidden_act"), _ACTIVATIONS)
    check_choice_of(config, "pretraining_tp", config.get("pretraining_tp", 1), (1,))
    window = config.get("sliding_window") if config.get("model_type") == "mistral" else None
    return TransformerConfig(
        vocab_size=int(config_value(config, "vocab_size")), d_model=d_model, n_heads=n_heads,
        n_kv_heads=int(config_value(config, "num_key_value_heads", n_heads)),
        head_dim=head_dim, d_ff=int(config_value(config, "intermediate_size")),
        n_layers=int(config_value(config, "num_hidden_layers")), norm="rmsnorm",
        norm_eps=float(config_value(config, "rms_norm_eps", 1e-6)), norm_position="pre",
        activation=_ACTIVATIONS[str(config["hidden_act"])], causal=True,
        sliding_window=None if window is None else int(window), positions="rope",
        rope_layout="half", **rope_fields(config, head_dim, seq_len), bias=False,
        attention_bias=bool(config.get("attention_bias", False)),
        mlp_bias=bool(config.get("mlp_bias", False)), output_bias=False,
        tie_output=bool(config.get("tie_word_embeddings", False)))


def params_from_hf(reader: StateDictReader, config: TransformerConfig) -> dict:
    """refimpl's parameter tree from the tensors of a Llama state dict."""
    d, width = config.d_model, config.n_heads * config.head_dim
    kv_width = config.kv_heads * config.head_dim
    attention_bias, mlp_bias = config.has_attention_bias, config.has_mlp_bias
    tokens = reader.take("model.embed_tokens.weight", (config.vocab_size, d))
    layers = []
    for i in range(config.n_layers):
        prefix = f"model.layers.{i}."
        attn: dict[str, np.ndarray] = {}
        for name, n_in, n_out in (("q", d, width), ("k", d, kv_width), ("v", d, kv_width),
                                  ("o", width, d)):
            linear = hf_linear(reader, prefix + f"self_attn.{name}_proj", n_in, n_out,
                               attention_bias)
            attn.update({key + name: value for key, value in linear.items()})
        ffn: dict[str, np.ndarray] = {}
        for name, n_in, n_out in (("gate", d, config.d_ff), ("up", d, config.d_ff),
                                  ("down", config.d_ff, d)):
            linear = hf_linear(reader, prefix + f"mlp.{name}_proj", n_in, n_out, mlp_bias)
            ffn.update({f"{key}_{name}": value for key, value in linear.items()})
        layers.append({
            "attn_norm": {"gain": reader.take(prefix + "input_layernorm.weight", (d,))},
            "attn": attn,
            "ffn_norm": {"gain": reader.take(prefix + "post_attention_layernorm.weight", (d,))},
            "ffn": {key: ffn[key] for key in ("w_up", "b_up", "w_gate", "b_gate", "w_down",
                                               "b_down") if key in ffn}})
    params: dict = {"embedding": {"tokens": tokens}, "final_norm": {
        "gain": reader.take("model.norm.weight", (d,))}, "layers": layers, "output": {}}
    if config.tie_output:
        reader.take_tied("lm_head.weight", tokens)
    else:
        params["output"]["w"] = reader.take("lm_head.weight", (config.vocab_size, d)).T.copy()
    return params


def params_to_hf(params: dict, config: TransformerConfig) -> dict[str, np.ndarray]:
    """The Llama state dict of refimpl parameters (the reverse of :func:`params_from_hf`)."""
    state = {"model.embed_tokens.weight": params["embedding"]["tokens"].copy()}
    for i, layer in enumerate(params["layers"]):
        prefix = f"model.layers.{i}."
        state[prefix + "input_layernorm.weight"] = layer["attn_norm"]["gain"].copy()
        for name in ("q", "k", "v", "o"):
            state.update(to_hf_linear(prefix + f"self_attn.{name}_proj",
                                      layer["attn"]["w" + name], layer["attn"].get("b" + name)))
        state[prefix + "post_attention_layernorm.weight"] = layer["ffn_norm"]["gain"].copy()
        for name in ("gate", "up", "down"):
            state.update(to_hf_linear(prefix + f"mlp.{name}_proj", layer["ffn"]["w_" + name],
                                      layer["ffn"].get("b_" + name)))
    state["model.norm.weight"] = params["final_norm"]["gain"].copy()
    state["lm_head.weight"] = (params["embedding"]["tokens"] if config.tie_output
                               else params["output"]["w"].T).copy()
    return state


def config_to_hf(config: TransformerConfig, model_type: str = "llama") -> dict:
    """The Llama or Mistral config dict of a refimpl config (RoPE fields not included:
    :func:`refimpl.checkpoints.rope_config.hf_rope_parameters`)."""
    activation = {value: key for key, value in _ACTIVATIONS.items()}
    if config.activation not in activation or config.norm != "rmsnorm" or \
            config.norm_position != "pre" or config.parallel_residual or \
            config.positions != "rope" or config.rope_layout != "half" or \
            config.has_output_bias or not config.causal:
        raise ValueError("this config is not a Llama: it needs a causal pre-LN RMSNorm model "
                         "with a gated (swiglu/geglu) FFN, half-layout RoPE, no output bias "
                         "and a sequential residual")
    if config.sliding_window and model_type != "mistral":
        raise ValueError("a sliding window needs model_type='mistral' (Llama has none)")
    out = dict(model_type=model_type,
               vocab_size=config.vocab_size, hidden_size=config.d_model,
               intermediate_size=config.d_ff, num_hidden_layers=config.n_layers,
               num_attention_heads=config.n_heads, num_key_value_heads=config.kv_heads,
               head_dim=config.head_dim, hidden_act=activation[config.activation],
               rms_norm_eps=config.norm_eps, attention_bias=config.has_attention_bias,
               mlp_bias=config.has_mlp_bias, tie_word_embeddings=config.tie_output)
    if config.sliding_window:
        out["sliding_window"] = config.sliding_window
    return out
