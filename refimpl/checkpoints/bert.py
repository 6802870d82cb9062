"""BERT and RoFormer checkpoints: ``BertForMaskedLM`` and ``RoFormerForMaskedLM`` of transformers.

BERT (Devlin et al. 2019, arXiv:1810.04805; Hugging Face ``modeling_bert.py``,
transformers 5.23.0) is refimpl's post-LN encoder with learned absolute positions,
token-type (segment) embeddings, a LayerNorm on the embeddings, GELU, biases
everywhere, ``layer_norm_eps`` in every norm, and the MLM head ``LN(act(h W + b))``
followed by the tied decoder ``E^T`` and its bias. RoFormer (Su et al. 2021,
arXiv:2104.09864; ``modeling_roformer.py``) is the same model without absolute
positions and with RoPE on q and k in every layer, in the interleaved layout with base
10000 over the whole head; its checkpoints store the sine/cosine table
(``roformer.encoder.embed_positions.weight``, sines in the first half of each row,
cosines in the second), which is checked here and not loaded: refimpl computes it.

``is_decoder=True`` (``BertLMHeadModel``) gives a causal model. The pooler and the
next-sentence head of ``BertForPreTraining`` have no counterpart here (refimpl's model
ends in the MLM head) and are refused by name. Names, for ``P`` the prefix (``bert``
or ``roformer``)::

    P.embeddings.word_embeddings.weight          embedding.tokens
    P.embeddings.position_embeddings.weight      embedding.positions   (BERT)
    P.embeddings.token_type_embeddings.weight    embedding.segments
    P.embeddings.LayerNorm.{weight,bias}         embedding_norm
    P.encoder.layer.i.attention.self.{query,key,value}.*   layers[i].attn.w{q,k,v}, b{q,k,v}
    P.encoder.layer.i.attention.output.dense.*   layers[i].attn.wo, bo
    P.encoder.layer.i.attention.output.LayerNorm.*  layers[i].attn_norm
    P.encoder.layer.i.intermediate.dense.*       layers[i].ffn.w_up, b_up
    P.encoder.layer.i.output.dense.*             layers[i].ffn.w_down, b_down
    P.encoder.layer.i.output.LayerNorm.*         layers[i].ffn_norm
    cls.predictions.transform.dense.*            mlm.w, mlm.b
    cls.predictions.transform.LayerNorm.*        mlm.norm
    cls.predictions.bias (= decoder.bias)        output.b
    cls.predictions.decoder.weight               tied to embedding.tokens (output.w if untied)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from refimpl import rope
from refimpl.checkpoints._common import (
    StateDictReader,
    check_choice_of,
    config_value,
    hf_linear,
    to_hf_linear,
)
from refimpl.transformer import TransformerConfig

__all__ = ["MODEL_TYPES", "IGNORED", "UNSUPPORTED_HINT", "config_from_hf", "params_from_hf",
           "params_to_hf", "config_to_hf", "sinusoid_table"]

MODEL_TYPES = ("bert", "roformer")
#: buffers that older checkpoints saved
IGNORED = (".embeddings.position_ids", ".embeddings.token_type_ids")
UNSUPPORTED_HINT = ("; refimpl's BERT ends in the MLM head (BertForMaskedLM's layout): drop "
                    "the pooler and next-sentence keys ('bert.pooler.*', "
                    "'cls.seq_relationship.*')")
_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                "relu": "relu"}
#: RoFormer's fixed RoPE: interleaved pairs, base 10000, every feature of the head
ROFORMER_BASE = 10000.0


def config_from_hf(config: Mapping, seq_len: int | None = None) -> TransformerConfig:
    """The :class:`~refimpl.transformer.TransformerConfig` of a BERT or RoFormer config dict.

    ``seq_len`` is unused.
    """
    roformer = config.get("model_type") == "roformer"
    d_model = int(config_value(config, "hidden_size"))
    n_heads = int(config_value(config, "num_attention_heads"))
    if d_model % n_heads:
        raise ValueError(f"hidden_size={d_model} must be divisible by "
                         f"num_attention_heads={n_heads}")
    act = config_value(config, "hidden_act")
    check_choice_of(config, "hidden_act", act, _ACTIVATIONS)
    check_choice_of(config, "position_embedding_type",
                    config.get("position_embedding_type", "absolute"), ("absolute",),
                    " (relative position embeddings are not part of refimpl's model)")
    if roformer:
        check_choice_of(config, "rotary_value", bool(config.get("rotary_value", False)),
                        (False,), " (refimpl never rotates the values)")
        check_choice_of(config, "embedding_size",
                        int(config.get("embedding_size") or d_model), (d_model,),
                        " (an embedding projection is not part of refimpl's model)")
    positions = dict(positions="rope", rope_layout="interleaved", rope_base=ROFORMER_BASE) \
        if roformer else dict(positions="learned")
    return TransformerConfig(
        vocab_size=int(config_value(config, "vocab_size")), d_model=d_model, n_heads=n_heads,
        head_dim=d_model // n_heads, d_ff=int(config_value(config, "intermediate_size")),
        n_layers=int(config_value(config, "num_hidden_layers")), norm="layernorm",
        norm_eps=float(config_value(config, "layer_norm_eps", 1e-12)), norm_position="post",
        activation=_ACTIVATIONS[str(act)], causal=bool(config.get("is_decoder", False)),
        max_positions=int(config_value(config, "max_position_embeddings", 512)),
        n_segments=int(config_value(config, "type_vocab_size", 2)), bias=True,
        tie_output=bool(config.get("tie_word_embeddings", True)), mlm_head=True, **positions)


def sinusoid_table(length: int, head_dim: int) -> np.ndarray:
    """RoFormer's stored table: ``[sin(p w_j) | cos(p w_j)]`` with ``w_j = 10000^(-2j/d)``."""
    angles = rope.angles(np.arange(length), rope.inv_freq(head_dim, ROFORMER_BASE))
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)


def _layer_norm(reader: StateDictReader, prefix: str, d: int) -> dict[str, np.ndarray]:
    return {"gain": reader.take(prefix + ".weight", (d,)),
            "bias": reader.take(prefix + ".bias", (d,))}


def _check_sinusoids(reader: StateDictReader, config: TransformerConfig) -> None:
    """RoFormer's stored sine table must be the one refimpl computes (float32 storage)."""
    key = "roformer.encoder.embed_positions.weight"
    if not reader.has(key):
        return
    table = reader.take(key, (config.max_positions, config.head_dim))
    error = float(np.max(np.abs(table - sinusoid_table(config.max_positions, config.head_dim))))
    if error > 1e-6:      # float32 rounding of values in [-1, 1] is below 6e-8
        raise ValueError(f"state_dict[{key!r}] is not RoFormer's sinusoid table of base "
                         f"{ROFORMER_BASE:g} (max difference {error:.3g}); refimpl's RoFormer "
                         f"supports that table only")


def params_from_hf(reader: StateDictReader, config: TransformerConfig) -> dict:
    """refimpl's parameter tree from the tensors of a BERT or RoFormer state dict."""
    prefix = "roformer" if config.positions == "rope" else "bert"
    d = config.d_model
    embedding = {"tokens": reader.take(f"{prefix}.embeddings.word_embeddings.weight",
                                       (config.vocab_size, d))}
    if prefix == "bert":
        embedding["positions"] = reader.take(f"{prefix}.embeddings.position_embeddings.weight",
                                             (config.max_positions, d))
    else:
        _check_sinusoids(reader, config)
    embedding["segments"] = reader.take(f"{prefix}.embeddings.token_type_embeddings.weight",
                                        (config.n_segments, d))
    layers = []
    for i in range(config.n_layers):
        at = f"{prefix}.encoder.layer.{i}."
        attn: dict[str, np.ndarray] = {}
        for name, key in (("q", "query"), ("k", "key"), ("v", "value")):
            linear = hf_linear(reader, at + "attention.self." + key, d, d, True)
            attn.update({part + name: value for part, value in linear.items()})
        projection = hf_linear(reader, at + "attention.output.dense", d, d, True)
        attn.update({"wo": projection["w"], "bo": projection["b"]})
        up = hf_linear(reader, at + "intermediate.dense", d, config.d_ff, True)
        down = hf_linear(reader, at + "output.dense", config.d_ff, d, True)
        layers.append({"attn_norm": _layer_norm(reader, at + "attention.output.LayerNorm", d),
                       "attn": attn,
                       "ffn_norm": _layer_norm(reader, at + "output.LayerNorm", d),
                       "ffn": {"w_up": up["w"], "b_up": up["b"], "w_down": down["w"],
                               "b_down": down["b"]}})
    transform = hf_linear(reader, "cls.predictions.transform.dense", d, d, True)
    bias_key = "cls.predictions.bias" if reader.has("cls.predictions.bias") \
        else "cls.predictions.decoder.bias"
    output_bias = reader.take(bias_key, (config.vocab_size,))
    reader.take_tied("cls.predictions.decoder.bias", output_bias)
    output: dict[str, np.ndarray] = {"b": output_bias}
    if config.tie_output:
        reader.take_tied("cls.predictions.decoder.weight", embedding["tokens"])
    else:
        output["w"] = reader.take("cls.predictions.decoder.weight",
                                  (config.vocab_size, d)).T.copy()
    return {"embedding": embedding,
            "embedding_norm": _layer_norm(reader, f"{prefix}.embeddings.LayerNorm", d),
            "layers": layers,
            "mlm": {"w": transform["w"], "b": transform["b"],
                    "norm": _layer_norm(reader, "cls.predictions.transform.LayerNorm", d)},
            "output": {key: output[key] for key in ("w", "b") if key in output}}


def params_to_hf(params: dict, config: TransformerConfig) -> dict[str, np.ndarray]:
    """The BERT or RoFormer state dict of refimpl parameters (reverse of :func:`params_from_hf`)."""
    prefix = "roformer" if config.positions == "rope" else "bert"
    table = params["embedding"]
    state = {f"{prefix}.embeddings.word_embeddings.weight": table["tokens"].copy(),
             f"{prefix}.embeddings.token_type_embeddings.weight": table["segments"].copy()}
    if prefix == "bert":
        state[f"{prefix}.embeddings.position_embeddings.weight"] = table["positions"].copy()
    else:
        state["roformer.encoder.embed_positions.weight"] = sinusoid_table(config.max_positions,
                                                                          config.head_dim)
    norms = [(f"{prefix}.embeddings.LayerNorm", params["embedding_norm"]),
             ("cls.predictions.transform.LayerNorm", params["mlm"]["norm"])]
    for i, layer in enumerate(params["layers"]):
        at, attn, ffn = f"{prefix}.encoder.layer.{i}.", layer["attn"], layer["ffn"]
        for name, key in (("q", "query"), ("k", "key"), ("v", "value")):
            state.update(to_hf_linear(at + "attention.self." + key, attn["w" + name],
                                      attn["b" + name]))
        state.update(to_hf_linear(at + "attention.output.dense", attn["wo"], attn["bo"]))
        state.update(to_hf_linear(at + "intermediate.dense", ffn["w_up"], ffn["b_up"]))
        state.update(to_hf_linear(at + "output.dense", ffn["w_down"], ffn["b_down"]))
        norms += [(at + "attention.output.LayerNorm", layer["attn_norm"]),
                  (at + "output.LayerNorm", layer["ffn_norm"])]
    for key, norm in norms:
        state[key + ".weight"], state[key + ".bias"] = norm["gain"].copy(), norm["bias"].copy()
    state.update(to_hf_linear("cls.predictions.transform.dense", params["mlm"]["w"],
                              params["mlm"]["b"]))
    state["cls.predictions.bias"] = params["output"]["b"].copy()
    state["cls.predictions.decoder.bias"] = params["output"]["b"].copy()
    state["cls.predictions.decoder.weight"] = (table["tokens"] if config.tie_output
                                               else params["output"]["w"].T).copy()
    return state


def config_to_hf(config: TransformerConfig, model_type: str = "bert") -> dict:
    """The BERT or RoFormer config dict of a refimpl config."""
    activation = {value: key for key, value in _ACTIVATIONS.items() if key != "gelu_pytorch_tanh"}
    expected = "learned" if model_type == "bert" else "rope"
    if config.norm != "layernorm" or config.norm_position != "post" or not config.mlm_head \
            or config.positions != expected or not config.bias or config.gated \
            or config.n_kv_heads not in (None, config.n_heads) or config.n_segments == 0 \
            or config.d_model != config.n_heads * config.head_dim \
            or config.attention_bias is False or config.mlp_bias is False \
            or config.output_bias is False or config.mlm_norm_eps not in (None, config.norm_eps) \
            or config.sliding_window is not None or config.rotary_dim is not None \
            or (expected == "rope" and (config.rope_layout != "interleaved" or
                                        config.rope_inv_freq is not None or
                                        config.rope_base != ROFORMER_BASE)):
        raise ValueError(f"this config is not a {model_type}: it needs a post-LN LayerNorm "
                         f"model with an MLM head, segments, biases everywhere, a plain FFN, "
                         f"one norm eps and {expected} positions")
    out = dict(model_type=model_type, vocab_size=config.vocab_size,
               hidden_size=config.d_model, intermediate_size=config.d_ff,
               num_hidden_layers=config.n_layers, num_attention_heads=config.n_heads,
               hidden_act=activation[config.activation], layer_norm_eps=config.norm_eps,
               max_position_embeddings=config.max_positions,
               type_vocab_size=config.n_segments, tie_word_embeddings=config.tie_output,
               is_decoder=config.causal)
    if model_type == "roformer":
        out["embedding_size"] = config.d_model
    return out
