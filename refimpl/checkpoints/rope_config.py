"""The RoPE fields of a checkpoint's config: one function between Hugging Face and refimpl.

:func:`rope_fields` reads a Hugging Face config's RoPE settings (5.x ``rope_parameters``;
4.x ``rope_theta`` + ``rope_scaling``, GPT-NeoX's ``rotary_pct`` / ``rotary_emb_base``)
and returns the :class:`refimpl.transformer.TransformerConfig` fields that reproduce
them: ``rotary_dim``, ``rope_base``, an explicit ``rope_inv_freq`` table for every
``rope_type`` but ``default``, and ``rope_attention_factor`` (Hugging Face's
``attention_scaling``). The frequencies come from :func:`refimpl.rope.scaled_inv_freq`,
whose parameters are those of Hugging Face's ``ROPE_INIT_FUNCTIONS``
(``modeling_rope_utils.py``, transformers 5.23.0).

``dynamic`` and ``longrope`` change their frequencies with the sequence length
(Hugging Face recomputes them from ``max(position_ids) + 1`` at every call): they need
``seq_len``, the length of the calls the model will be compared on, and the table is
fixed at that length.
"""

from __future__ import annotations

from collections.abc import Mapping

from refimpl import rope
from refimpl.checkpoints._common import config_value
from refimpl.transformer import TransformerConfig

__all__ = ["rope_parameters", "rope_fields", "hf_rope_parameters", "LENGTH_DEPENDENT"]

#: rope types whose frequencies depend on the sequence length of the call
LENGTH_DEPENDENT = ("dynamic", "longrope")

#: keys of rope_parameters that are not parameters of the frequency schedule
_META = ("rope_type", "type", "rope_theta", "partial_rotary_factor")


def rope_parameters(config: Mapping) -> dict:
    """The 5.x ``rope_parameters`` dict of a config, built from the 4.x fields if needed."""
    given = config.get("rope_parameters")
    if given is not None:
        parameters = dict(given)
    else:
        parameters = dict(config.get("rope_scaling") or {})
        parameters.setdefault("rope_theta", config.get("rope_theta",
                                                       config.get("rotary_emb_base", 10000.0)))
        for name in ("partial_rotary_factor", "rotary_pct"):
            if config.get(name) is not None:
                parameters.setdefault("partial_rotary_factor", config[name])
    if "layer_types" in config and any(isinstance(v, Mapping) for v in parameters.values()):
        raise ValueError("unsupported config option rope_parameters per layer type "
                         "(one RoPE schedule for the whole model is supported)")
    parameters.setdefault("rope_type", parameters.get("type", "default"))
    return parameters


def rope_fields(config: Mapping, head_dim: int, seq_len: int | None = None) -> dict:
    """``TransformerConfig`` fields (rotary_dim, rope_base, rope_inv_freq,
    rope_attention_factor) of a Hugging Face config's RoPE.

    Raises ``ValueError`` naming the option for an unsupported ``rope_type``, an odd
    rotary width (Hugging Face accepts ``int(head_dim * partial_rotary_factor)`` odd with
    a warning; a rotation needs pairs), or a length-dependent type without ``seq_len``.
    """
    parameters = rope_parameters(config)
    rope_type = parameters["rope_type"]
    if rope_type not in rope.ROPE_TYPES:
        raise ValueError(f"unsupported config option rope_type={rope_type!r}; supported: "
                         f"{', '.join(map(repr, rope.ROPE_TYPES))}")
    partial = float(parameters.get("partial_rotary_factor", 1.0))
    rotary_dim = int(head_dim * partial)
    if rotary_dim < 2 or rotary_dim % 2:
        raise ValueError(f"unsupported config option partial_rotary_factor={partial}: "
                         f"int(head_dim * partial_rotary_factor) = {rotary_dim} must be even "
                         f"and at least 2 (RoPE rotates pairs of features)")
    base = float(parameters["rope_theta"])
    schedule = {key: value for key, value in parameters.items() if key not in _META}
    if rope_type in ("dynamic", "yarn", "longrope"):
        schedule.setdefault("max_position_embeddings",
                            config_value(config, "max_position_embeddings"))
    if rope_type in ("yarn", "longrope", "llama3"):
        schedule.setdefault("original_max_position_embeddings",
                            config.get("original_max_position_embeddings")
                            or config_value(config, "max_position_embeddings"))
    if rope_type in LENGTH_DEPENDENT:
        if seq_len is None:
            raise ValueError(f"rope_type={rope_type!r} recomputes its frequencies from the "
                             f"sequence length (Hugging Face reads max(position_ids) + 1 at "
                             f"every call); pass seq_len=, the length of the calls you "
                             f"compare, to fix the table")
        schedule["seq_len"] = seq_len
    table, attention_factor = rope.scaled_inv_freq(rope_type, rotary_dim, base, **schedule)
    return dict(rotary_dim=None if rotary_dim == head_dim else rotary_dim, rope_base=base,
                rope_inv_freq=None if rope_type == "default"
                else tuple(float(f) for f in table),
                rope_attention_factor=float(attention_factor))


def hf_rope_parameters(config: TransformerConfig, head_dim_config: Mapping,
                       given: Mapping | None = None, seq_len: int | None = None) -> dict:
    """The ``rope_parameters`` of a refimpl config: the reverse of :func:`rope_fields`.

    A config with the standard table (``rope_inv_freq`` None) is ``rope_type="default"``
    with its ``rope_theta`` (and ``partial_rotary_factor``). An explicit table has no
    inverse in general; ``given`` (the ``rope_parameters`` the table is meant to come
    from) is then checked: :func:`rope_fields` of it must give back the same table and
    attention factor, else ``ValueError``. ``head_dim_config`` holds the Hugging Face
    fields that fix the head size (``head_dim`` or ``hidden_size`` and
    ``num_attention_heads``, and ``max_position_embeddings``); ``seq_len`` is that of
    :func:`rope_fields`, for the length-dependent types.
    """
    if config.positions != "rope":
        raise ValueError(f"positions={config.positions!r}: the model has no RoPE")
    parameters: dict = {"rope_type": "default", "rope_theta": config.rope_base}
    if config.rotary_dim is not None:
        parameters["partial_rotary_factor"] = config.rotary_dim / config.head_dim
    if given is not None:
        parameters = dict(given)
    elif config.rope_inv_freq is None and config.rope_attention_factor == 1.0:
        return parameters
    else:
        raise ValueError("this config's RoPE table (rope_inv_freq, rope_attention_factor) "
                         "has no Hugging Face rope_parameters in general; pass "
                         "rope_parameters= (the schedule it came from) and it will be checked")
    fields = rope_fields({**head_dim_config, "rope_parameters": parameters}, config.head_dim,
                         seq_len)
    mine = dict(rotary_dim=config.rotary_dim, rope_base=config.rope_base,
                rope_inv_freq=config.rope_inv_freq,
                rope_attention_factor=config.rope_attention_factor)
    if fields != mine:
        raise ValueError(f"rope_parameters={dict(given or {})!r} do not give this config's "
                         f"RoPE (rotary_dim, rope_base, rope_inv_freq, rope_attention_factor)")
    return parameters
