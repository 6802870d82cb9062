"""Checkpoint doors: Hugging Face transformers weights in and out of the reference Transformer.

:func:`from_hf_state_dict` turns a transformers config (its ``to_dict()``) and state dict
(NumPy arrays; nothing here imports torch) into refimpl's ``(params, config)``, so that
:func:`refimpl.transformer.forward` computes the checkpoint's logits;
:func:`to_hf_state_dict` and :func:`to_hf_config` go back, e.g. to write a widened model
(:mod:`refimpl.widening`) as a checkpoint that transformers loads. Supported families
(``model_type``), one module each:

* ``llama`` and ``mistral`` (:mod:`~refimpl.checkpoints.llama`): pre-LN, RMSNorm,
  SwiGLU, grouped-query attention, half-layout RoPE with every ``rope_type``
  (:mod:`~refimpl.checkpoints.rope_config`), Mistral's sliding window;
* ``gpt_neox`` (:mod:`~refimpl.checkpoints.gpt_neox`): partial rotary, parallel
  residual, the fused ``query_key_value`` projection;
* ``bert`` and ``roformer`` (:mod:`~refimpl.checkpoints.bert`): post-LN, learned
  positions or RoFormer's RoPE, token types, the MLM head.

Every problem is reported by name: a missing or unexpected key, a tensor of the wrong
shape, a config option refimpl's model does not have (``ValueError``), a tensor that is
not an array (``TypeError``).

Examples
--------
>>> from refimpl.transformer import TransformerConfig, forward, init_params
>>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, n_kv_heads=1,
...                            head_dim=4, d_ff=16, n_layers=1, norm="rmsnorm",
...                            activation="swiglu", causal=True, rope_layout="half",
...                            bias=False, tie_output=False)
>>> params = init_params(config, rng=0)
>>> hf_config = to_hf_config(config, "llama")
>>> state = to_hf_state_dict(params, config, "llama")
>>> state["model.layers.0.self_attn.k_proj.weight"].shape
(4, 8)
>>> loaded, loaded_config = from_hf_state_dict(hf_config, state)
>>> bool(np.all(forward(loaded, loaded_config, [1, 2])[0] == forward(params, config, [1, 2])[0]))
True
>>> del state["model.norm.weight"]
>>> from_hf_state_dict(hf_config, state)
Traceback (most recent call last):
...
ValueError: state_dict is missing the key 'model.norm.weight' (expected shape (8,))
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import numpy as np

from refimpl.checkpoints import bert, gpt_neox, llama
from refimpl.checkpoints._common import StateDictReader, as_config_dict
from refimpl.checkpoints.rope_config import hf_rope_parameters
from refimpl.transformer import TransformerConfig, check_params

__all__ = ["MODEL_TYPES", "from_hf_state_dict", "to_hf_state_dict", "to_hf_config"]

_FAMILIES: dict[str, ModuleType] = {name: module for module in (llama, gpt_neox, bert)
                                    for name in module.MODEL_TYPES}
MODEL_TYPES = tuple(_FAMILIES)


def _family(model_type: object) -> ModuleType:
    if model_type not in _FAMILIES:
        raise ValueError(f"unsupported config option model_type={model_type!r}; supported: "
                         f"{', '.join(map(repr, MODEL_TYPES))}")
    return _FAMILIES[str(model_type)]


def from_hf_state_dict(config_dict: object, state_dict: Mapping, *,
                       seq_len: int | None = None) -> tuple[dict, TransformerConfig]:
    """refimpl's ``(params, config)`` of a Hugging Face checkpoint.

    Parameters
    ----------
    config_dict : dict or transformers config
        ``model.config.to_dict()`` (or the config object); ``model_type`` picks the family.
    state_dict : mapping of str to array_like
        ``{name: tensor.numpy()}`` of ``model.state_dict()`` of the ``*ForCausalLM`` or
        ``*ForMaskedLM`` model. Tied tensors may be present (they must then be equal) or
        absent; buffers older checkpoints saved are ignored.
    seq_len : int, optional
        Required for the rope types whose frequencies follow the sequence length
        (``dynamic``, ``longrope``): the length of the calls the model will run.

    Returns
    -------
    (params, config)
        The parameter tree (float64) and :class:`refimpl.transformer.TransformerConfig`.

    Raises
    ------
    ValueError
        A missing or unexpected key, a wrong shape, or an unsupported config option,
        each named.
    """
    config = as_config_dict(config_dict)
    family = _family(config.get("model_type"))
    model_config = family.config_from_hf(config, seq_len)
    reader = StateDictReader(state_dict, getattr(family, "IGNORED", ()))
    params = family.params_from_hf(reader, model_config)
    reader.finish(getattr(family, "UNSUPPORTED_HINT", ""))
    check_params(params, model_config)
    return params, model_config


def to_hf_state_dict(params: dict, config: TransformerConfig,
                     model_type: str) -> dict[str, np.ndarray]:
    """The Hugging Face state dict (NumPy arrays, float64) of refimpl parameters.

    The reverse of :func:`from_hf_state_dict`: ``torch.from_numpy`` of each entry loads
    with ``model.load_state_dict`` into the model of :func:`to_hf_config`. Since the
    map is linear (transposes and reshapes), it also turns refimpl's gradients into
    the layout of torch's ``.grad``.
    """
    family = _family(model_type)
    family.config_to_hf(config, model_type)   # raises if the config is not of the family
    check_params(params, config)
    return family.params_to_hf(params, config)


def to_hf_config(config: TransformerConfig, model_type: str, *,
                 rope_parameters: Mapping | None = None, seq_len: int | None = None) -> dict:
    """The Hugging Face config dict of a refimpl config (``XConfig(**to_hf_config(...))``).

    RoPE: the standard table becomes ``rope_type="default"``; an explicit table needs
    the ``rope_parameters`` it came from, which are checked to give it back (with
    ``seq_len`` for ``dynamic`` / ``longrope``).
    """
    if not isinstance(config, TransformerConfig):
        raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
    out = _family(model_type).config_to_hf(config, model_type)
    if config.positions == "rope" and model_type != "roformer":
        out["max_position_embeddings"] = config.max_positions
        out["rope_parameters"] = hf_rope_parameters(config, out, rope_parameters, seq_len)
    return out
