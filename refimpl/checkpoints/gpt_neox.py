"""GPT-NeoX checkpoints: ``GPTNeoXForCausalLM`` of transformers (Pythia, GPT-NeoX-20B).

The architecture (Black et al., "GPT-NeoX-20B", 2022, arXiv:2204.06745; Hugging Face
``modeling_gpt_neox.py``, transformers 5.23.0) is refimpl's pre-LN decoder with
LayerNorm (``layer_norm_eps`` everywhere), a plain GELU feed-forward network with
biases, attention biases (``attention_bias``), no output bias, partial rotary in the
half layout over the leading ``int(head_dim * partial_rotary_factor)`` features of each
head (4.x: ``rotary_pct``), and by default the parallel residual
``h + attn(ln_1(h)) + mlp(ln_2(h))`` (``use_parallel_residual``).

q, k and v share one fused projection whose output rows are grouped by head,
``[q_h, k_h, v_h]`` for ``h = 0 .. H-1`` (the ``view(..., H, 3 * head_dim)`` of the
forward)::

    gpt_neox.embed_in.weight                                  embedding.tokens
    gpt_neox.layers.i.input_layernorm.{weight,bias}           layers[i].attn_norm
    gpt_neox.layers.i.attention.query_key_value.{weight,bias} layers[i].attn.w{q,k,v}, b{q,k,v}
    gpt_neox.layers.i.attention.dense.{weight,bias}           layers[i].attn.wo, bo
    gpt_neox.layers.i.post_attention_layernorm.{weight,bias}  layers[i].ffn_norm
    gpt_neox.layers.i.mlp.dense_h_to_4h.{weight,bias}         layers[i].ffn.w_up, b_up
    gpt_neox.layers.i.mlp.dense_4h_to_h.{weight,bias}         layers[i].ffn.w_down, b_down
    gpt_neox.final_layer_norm.{weight,bias}                   final_norm
    lm_head.weight (older checkpoints: embed_out.weight)      output.w
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

__all__ = ["MODEL_TYPES", "IGNORED", "config_from_hf", "params_from_hf", "params_to_hf",
           "config_to_hf"]

MODEL_TYPES = ("gpt_neox",)
#: buffers that older GPT-NeoX checkpoints saved (Hugging Face ignores them on loading)
IGNORED = (".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq")
_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                "gelu_fast": "gelu_tanh", "relu": "relu"}


def config_from_hf(config: Mapping, seq_len: int | None = None) -> TransformerConfig:
    """The :class:`~refimpl.transformer.TransformerConfig` of a GPT-NeoX config dict."""
    d_model = int(config_value(config, "hidden_size"))
    n_heads = int(config_value(config, "num_attention_heads"))
    if d_model % n_heads:
        raise ValueError(f"hidden_size={d_model} must be divisible by "
                         f"num_attention_heads={n_heads} (GPT-NeoX's head size)")
    head_dim = d_model // n_heads
    act = config_value(config, "hidden_act")
    check_choice_of(config, "hidden_act", act, _ACTIVATIONS)
    eps = float(config_value(config, "layer_norm_eps", 1e-5))
    return TransformerConfig(
        vocab_size=int(config_value(config, "vocab_size")), d_model=d_model, n_heads=n_heads,
        head_dim=head_dim, d_ff=int(config_value(config, "intermediate_size")),
        n_layers=int(config_value(config, "num_hidden_layers")), norm="layernorm",
        norm_eps=eps, norm_position="pre", activation=_ACTIVATIONS[str(act)], causal=True,
        parallel_residual=bool(config.get("use_parallel_residual", True)), positions="rope",
        rope_layout="half", **rope_fields(config, head_dim, seq_len), bias=True,
        attention_bias=bool(config.get("attention_bias", True)), mlp_bias=True,
        output_bias=False, tie_output=bool(config.get("tie_word_embeddings", False)))


def _layer_norm(reader: StateDictReader, prefix: str, d: int) -> dict[str, np.ndarray]:
    return {"gain": reader.take(prefix + ".weight", (d,)),
            "bias": reader.take(prefix + ".bias", (d,))}


def params_from_hf(reader: StateDictReader, config: TransformerConfig) -> dict:
    """refimpl's parameter tree from the tensors of a GPT-NeoX state dict."""
    d, heads, head_dim = config.d_model, config.n_heads, config.head_dim
    width, has_bias = heads * head_dim, config.has_attention_bias
    tokens = reader.take("gpt_neox.embed_in.weight", (config.vocab_size, d))
    layers = []
    for i in range(config.n_layers):
        prefix = f"gpt_neox.layers.{i}."
        fused = reader.take(prefix + "attention.query_key_value.weight", (3 * width, d))
        per_head = fused.reshape(heads, 3, head_dim, d)
        attn = {"w" + name: per_head[:, j].reshape(width, d).T.copy()
                for j, name in enumerate("qkv")}
        if has_bias:
            fused_bias = reader.take(prefix + "attention.query_key_value.bias", (3 * width,))
            attn.update({"b" + name: fused_bias.reshape(heads, 3, head_dim)[:, j].ravel()
                         for j, name in enumerate("qkv")})
        dense = hf_linear(reader, prefix + "attention.dense", width, d, has_bias)
        attn.update({key + "o": value for key, value in dense.items()})
        up = hf_linear(reader, prefix + "mlp.dense_h_to_4h", d, config.d_ff, True)
        down = hf_linear(reader, prefix + "mlp.dense_4h_to_h", config.d_ff, d, True)
        layers.append({"attn_norm": _layer_norm(reader, prefix + "input_layernorm", d),
                       "attn": {key: attn[key] for key in ("wq", "bq", "wk", "bk", "wv", "bv",
                                                           "wo", "bo") if key in attn},
                       "ffn_norm": _layer_norm(reader, prefix + "post_attention_layernorm", d),
                       "ffn": {"w_up": up["w"], "b_up": up["b"], "w_down": down["w"],
                               "b_down": down["b"]}})
    params: dict = {"embedding": {"tokens": tokens},
              "final_norm": _layer_norm(reader, "gpt_neox.final_layer_norm", d),
              "layers": layers, "output": {}}
    head = "embed_out.weight" if reader.has("embed_out.weight") else "lm_head.weight"
    if config.tie_output:
        reader.take_tied(head, tokens)
    else:
        params["output"]["w"] = reader.take(head, (config.vocab_size, d)).T.copy()
    return params


def params_to_hf(params: dict, config: TransformerConfig) -> dict[str, np.ndarray]:
    """The GPT-NeoX state dict of refimpl parameters (the reverse of :func:`params_from_hf`)."""
    heads, head_dim, d = config.n_heads, config.head_dim, config.d_model
    state = {"gpt_neox.embed_in.weight": params["embedding"]["tokens"].copy()}
    for i, layer in enumerate(params["layers"]):
        prefix, attn = f"gpt_neox.layers.{i}.", layer["attn"]
        for name, norm in (("input_layernorm", "attn_norm"),
                           ("post_attention_layernorm", "ffn_norm")):
            state[prefix + name + ".weight"] = layer[norm]["gain"].copy()
            state[prefix + name + ".bias"] = layer[norm]["bias"].copy()
        stacked = np.stack([attn["w" + n].T.reshape(heads, head_dim, d) for n in "qkv"], axis=1)
        state[prefix + "attention.query_key_value.weight"] = stacked.reshape(-1, d)
        if "bq" in attn:
            state[prefix + "attention.query_key_value.bias"] = np.stack(
                [attn["b" + n].reshape(heads, head_dim) for n in "qkv"], axis=1).ravel()
        state.update(to_hf_linear(prefix + "attention.dense", attn["wo"], attn.get("bo")))
        state.update(to_hf_linear(prefix + "mlp.dense_h_to_4h", layer["ffn"]["w_up"],
                                  layer["ffn"]["b_up"]))
        state.update(to_hf_linear(prefix + "mlp.dense_4h_to_h", layer["ffn"]["w_down"],
                                  layer["ffn"]["b_down"]))
    state["gpt_neox.final_layer_norm.weight"] = params["final_norm"]["gain"].copy()
    state["gpt_neox.final_layer_norm.bias"] = params["final_norm"]["bias"].copy()
    state["lm_head.weight"] = (params["embedding"]["tokens"] if config.tie_output
                               else params["output"]["w"].T).copy()
    return state


def config_to_hf(config: TransformerConfig, model_type: str = "gpt_neox") -> dict:
    """The GPT-NeoX config dict of a refimpl config (RoPE fields not included)."""
    activation = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}
    if config.activation not in activation or config.norm != "layernorm" or \
            config.norm_position != "pre" or config.n_kv_heads not in (None, config.n_heads) \
            or config.d_model != config.n_heads * config.head_dim or not config.has_mlp_bias \
            or config.has_output_bias or config.rope_layout != "half" or not config.causal \
            or config.sliding_window is not None:
        raise ValueError("this config is not a GPT-NeoX: it needs a causal pre-LN LayerNorm "
                         "model with a plain FFN with biases, d_model = n_heads * head_dim, "
                         "no key/value groups, half-layout RoPE and no output bias")
    return dict(model_type=model_type, vocab_size=config.vocab_size,
                hidden_size=config.d_model, intermediate_size=config.d_ff,
                num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
                hidden_act=activation[config.activation], layer_norm_eps=config.norm_eps,
                use_parallel_residual=config.parallel_residual,
                attention_bias=config.has_attention_bias,
                tie_word_embeddings=config.tie_output)
