"""RoPE straight from a Hugging Face config: frequencies, rotary width, layout and preset.

A transformers config (or the dict of its ``config.json``) says everything RoPE needs,
spread over several keys and two generations of names: 5.x ``rope_parameters`` (with
``rope_theta`` and ``partial_rotary_factor`` inside) or 4.x ``rope_scaling`` next to
``rope_theta``; ``head_dim`` or ``hidden_size / num_attention_heads``; and the
context-extension keys of each ``rope_type``. :func:`from_hf_config` reads them the way
transformers 5.23.0 ``modeling_rope_utils.py`` does (``standardize_rope_params`` and
``ROPE_INIT_FUNCTIONS``) and returns an :class:`HfRope` bundle. Nothing here imports
transformers: the config is read by duck typing.

Two ``rope_type`` s change with the sequence: ``dynamic`` keeps the largest length seen
until a short sequence resets it, ``longrope`` switches factor sets at the original
context. :func:`dynamic_seq_lens` and :func:`longrope_seq_lens` state those rules as
pure functions of the lengths seen, and :func:`replay` rebuilds the frequencies of
every step of a generation. ``docs/rope_hf.md`` explains each decision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from refimpl._validation import as_int, as_scalar, check_choice
from refimpl.rope.apply import LAYOUTS
from refimpl.rope.frequencies import ROPE_TYPES, scaled_inv_freq
from refimpl.rope.nd import frequencies_from_axis_map, mrope_axis_map

if TYPE_CHECKING:
    from refimpl.testing.presets import RopeConvention

__all__ = ["HfRope", "from_hf_config", "dynamic_seq_lens", "longrope_seq_lens", "replay",
           "INTERLEAVED_MODEL_TYPES"]

#: ``model_type`` s whose attention rotates interleaved pairs ``(2k, 2k+1)`` (checked in
#: transformers 5.23.0: ``rotate_every_two`` in gptj, codegen; ``x[..., 0::2]`` style
#: ``rotate_half`` in cohere, cohere2, glm, glm4, glm4v text, helium, ernie4_5,
#: ernie4_5_moe, moonshine). Every other model rotates half-split pairs ``(k, k + P)``.
INTERLEAVED_MODEL_TYPES = ("gptj", "codegen", "cohere", "cohere2", "glm", "glm4", "glm4v",
                           "glm4v_text", "helium", "ernie4_5", "ernie4_5_moe", "moonshine")

#: ``model_type`` s whose M-RoPE deals frequency slots out in turn (t, h, w, t, ...).
_INTERLEAVED_MROPE = ("qwen3_vl", "qwen3_vl_text", "qwen3_vl_moe", "qwen3_vl_moe_text")


@dataclass(frozen=True, eq=False)
class HfRope:
    """What a Hugging Face config says about RoPE, in refimpl's terms.

    Attributes
    ----------
    inv_freq : ndarray, shape (P,)
        Frequencies, float64 (Hugging Face computes them in float32).
    attention_factor : float
        Multiplies cos and sin: ``magnitude=`` of :func:`refimpl.rope.apply`.
    rotary_dim : int
        Number of rotated features, ``2P``, at the start of each head.
    head_dim : int
        Features per head.
    layout : {"interleaved", "half"}
        Pair layout of the model's attention.
    rope_type : str
        The ``rope_type`` read (4.x ``"mrope"`` reads as ``"default"``).
    base : float
        ``rope_theta``.
    parameters : dict
        The keyword parameters passed to :func:`refimpl.rope.scaled_inv_freq`.
    mrope_section : tuple of int or None
        M-RoPE sections (Qwen-VL, GLM-4V), None for 1-D RoPE.
    mrope_interleaved : bool
        Qwen3-VL's interleaved M-RoPE instead of chunks.
    """

    inv_freq: np.ndarray
    attention_factor: float
    rotary_dim: int
    head_dim: int
    layout: str
    rope_type: str
    base: float
    parameters: dict[str, Any] = field(default_factory=dict)
    mrope_section: tuple[int, ...] | None = None
    mrope_interleaved: bool = False

    def frequencies(self) -> np.ndarray:
        """The frequency matrix ``F``: ``inv_freq[None]``, or M-RoPE's ``(3, P)`` over
        ``(t, h, w)`` ids (:func:`refimpl.rope.nd.mrope_axis_map`)."""
        if self.mrope_section is None:
            return self.inv_freq[None]
        axis = mrope_axis_map(self.mrope_section, interleaved=self.mrope_interleaved,
                              n_slots=self.inv_freq.size)
        return frequencies_from_axis_map(axis, self.inv_freq, len(self.mrope_section))

    def preset(self) -> RopeConvention:
        """The kit's :class:`refimpl.testing.presets.RopeConvention` for this config."""
        from refimpl.testing.presets import RopeConvention

        return RopeConvention(f"hf-{self.rope_type}", self.head_dim, self.frequencies(),
                              self.layout, magnitude=self.attention_factor,
                              source="transformers 5.23.0 modeling_rope_utils.py "
                                     "(refimpl.rope.from_hf_config)",
                              parameters={"base": self.base, **self.parameters})


def _read(config: Any, key: str) -> Any:
    """``config[key]`` for a mapping, ``getattr(config, key)`` otherwise; None if absent."""
    if isinstance(config, Mapping):
        return config.get(key)
    return getattr(config, key, None)


def _text_part(config: Any) -> Any:
    """A multimodal config's ``text_config`` when it holds the language model's RoPE."""
    text = _read(config, "text_config")
    keys = ("rope_parameters", "rope_scaling", "rope_theta", "hidden_size")
    if text is not None and any(_read(text, key) is not None for key in keys):
        return text
    return config


def _rope_parameters(config: Any, layer_type: str | None) -> dict[str, Any]:
    """The flat parameter dict: 5.x ``rope_parameters`` or 4.x ``rope_scaling``."""
    raw = _read(config, "rope_parameters") or _read(config, "rope_scaling") or {}
    if not isinstance(raw, Mapping):
        raise TypeError(f"config's rope_parameters must be a dict, got {type(raw).__name__}")
    nested = [key for key, value in raw.items() if isinstance(value, Mapping)]
    if nested:
        if layer_type is None:
            raise ValueError(f"config's rope_parameters is nested by layer type ({nested}): "
                             "pass layer_type= to choose one")
        check_choice(layer_type, "layer_type", nested)
        return dict(raw[layer_type])
    if layer_type is not None:
        raise ValueError(f"layer_type={layer_type!r} given, but rope_parameters is not "
                         "nested by layer type")
    return dict(raw)


def _head_dim(config: Any) -> int:
    """``head_dim``, else ``hidden_size // num_attention_heads``."""
    head_dim = _read(config, "head_dim")
    if head_dim:
        return as_int(head_dim, "head_dim", minimum=1)
    hidden, heads = _read(config, "hidden_size"), _read(config, "num_attention_heads")
    if hidden is None or heads is None:
        raise ValueError("config must give head_dim, or hidden_size and num_attention_heads")
    return as_int(hidden, "hidden_size", minimum=1) // as_int(heads, "num_attention_heads",
                                                              minimum=1)


def _rotary_width(config: Any, params: Mapping[str, Any], head_dim: int) -> tuple[int, float]:
    """Hugging Face's ``dim = int(head_dim * partial_rotary_factor)`` and the factor used
    (GPT-J / CodeGen give ``rotary_dim`` itself; GPT-NeoX 4.x names it ``rotary_pct``)."""
    if _read(config, "rotary_dim"):
        width = as_int(_read(config, "rotary_dim"), "rotary_dim", minimum=2)
        return width, width / head_dim
    share = next((value for value in (params.get("partial_rotary_factor"),
                                      _read(config, "partial_rotary_factor"),
                                      _read(config, "rotary_pct")) if value is not None), 1.0)
    share = as_scalar(share, "partial_rotary_factor", positive=True)
    if share > 1.0:
        raise ValueError(f"partial_rotary_factor must lie in (0, 1], got {share}")
    return int(head_dim * share), share


def _schedule_parameters(rope_type: str, config: Any, params: Mapping[str, Any],
                         seq_len: int | None) -> dict[str, Any]:
    """The keyword parameters of :func:`scaled_inv_freq` for ``rope_type``, with Hugging
    Face's fallbacks (``beta_fast or 32``, ``original_max_position_embeddings`` from the
    top level first, then ``max_position_embeddings``)."""
    max_positions = _read(config, "max_position_embeddings")
    original = (_read(config, "original_max_position_embeddings")
                or params.get("original_max_position_embeddings") or max_positions)
    take = {"linear": ("factor",), "dynamic": ("factor",), "proportional": ("factor",),
            "llama3": ("factor", "low_freq_factor", "high_freq_factor"),
            "yarn": ("factor", "attention_factor", "mscale", "mscale_all_dim"),
            "longrope": ("short_factor", "long_factor", "factor", "attention_factor"),
            "default": ()}[rope_type]
    out = {key: params[key] for key in take if params.get(key) is not None}
    if rope_type in ("dynamic", "longrope"):
        out["seq_len"] = seq_len
    if rope_type in ("dynamic", "yarn", "longrope") and max_positions is not None:
        out["max_position_embeddings"] = max_positions
    if rope_type in ("yarn", "longrope", "llama3"):
        if original is None:
            raise ValueError(f"rope_type={rope_type!r} needs original_max_position_embeddings "
                             "or max_position_embeddings in the config")
        out["original_max_position_embeddings"] = original
    if rope_type == "yarn":
        out["beta_fast"] = params.get("beta_fast") or 32.0
        out["beta_slow"] = params.get("beta_slow") or 1.0
        out["truncate"] = params.get("truncate", True)
    if rope_type == "longrope" and seq_len is None:
        out.pop("seq_len")
    return out


def from_hf_config(config: Any, *, seq_len: int | None = None, layer_type: str | None = None,
                   layout: str | None = None) -> HfRope:
    """Read RoPE from a Hugging Face config object or its ``config.json`` dict.

    The rules (transformers 5.23.0 ``RotaryEmbeddingConfigMixin`` and
    ``ROPE_INIT_FUNCTIONS``):

    * parameters: ``rope_parameters`` (5.x) or ``rope_scaling`` (4.x); ``rope_type``
      falls back to 4.x ``type`` and then ``"default"`` (4.x ``"mrope"`` is ``default``
      with ``mrope_section``); ``rope_theta`` inside, else at the top, else 10000;
    * ``head_dim``, else ``hidden_size // num_attention_heads``; a multimodal config's
      ``text_config`` is read when it holds these keys;
    * width ``d = int(head_dim * partial_rotary_factor)`` (the factor inside the
      parameters, else at the top, else GPT-NeoX's ``rotary_pct``, else 1; GPT-J's
      ``rotary_dim`` directly); ``proportional`` uses ``head_dim`` and the factor itself;
    * ``original_max_position_embeddings``: a top-level value wins (Phi-3), else the
      parameters', else ``max_position_embeddings``;
    * YaRN ``beta_fast or 32``, ``beta_slow or 1``, ``truncate`` default True.

    Deliberate decisions (docs/rope_hf.md): an odd width ``d`` gives Hugging Face's
    ``ceil(d/2)`` frequencies ``1/b^(2k/d)`` rotating ``d + 1`` features (as GPT-NeoX,
    GLM and Qwen3-Next attention apply them; Phi, StableLM and Persimmon attention fail
    on it in 5.23.0), refused for ``yarn`` and when ``d + 1`` exceeds the head; a
    ``linear`` factor in (0, 1) is accepted; YaRN ``beta_fast < beta_slow`` is refused.

    Parameters
    ----------
    config : mapping or object
        ``AutoConfig.from_pretrained(...)`` or ``json.load(open("config.json"))``.
    seq_len : int, optional
        ``dynamic`` and ``longrope`` only: the sequence length ``max(position_ids) + 1``
        whose frequencies are wanted; None is Hugging Face's initialisation. For a
        generation, the length to pass at each step comes from :func:`dynamic_seq_lens`
        / :func:`longrope_seq_lens` (or use :func:`replay`).
    layer_type : str, optional
        For configs whose ``rope_parameters`` is nested by layer type (Gemma 3).
    layout : {"interleaved", "half"}, optional
        Override the layout read from ``model_type`` (:data:`INTERLEAVED_MODEL_TYPES`).

    Returns
    -------
    HfRope

    Examples
    --------
    >>> rope = from_hf_config({"hidden_size": 256, "num_attention_heads": 4,
    ...     "max_position_embeddings": 8192, "partial_rotary_factor": 0.5,
    ...     "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4}})
    >>> rope.rotary_dim, rope.layout, rope.inv_freq[:3]
    (32, 'half', array([0.5       , 0.28117066, 0.15811388]))
    """
    part = _text_part(config)
    params = _rope_parameters(part, layer_type)
    rope_type = params.get("rope_type") or params.get("type") or "default"
    rope_type = "default" if rope_type == "mrope" else rope_type
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"config's rope_type {rope_type!r} is not one of "
                         f"{', '.join(ROPE_TYPES)}")
    base = as_scalar(params.get("rope_theta") or _read(part, "rope_theta") or 10000.0,
                     "rope_theta", greater_than=1.0)
    head_dim = _head_dim(part)
    width, share = _rotary_width(part, params, head_dim)
    schedule = _schedule_parameters(rope_type, part, params, seq_len)
    if rope_type == "proportional":
        width = head_dim
        schedule["partial_rotary_factor"] = share
    if 2 * math.ceil(width / 2) > head_dim:
        raise ValueError(f"rotary width {width} = int(head_dim * partial_rotary_factor) rounds "
                         f"up to {2 * math.ceil(width / 2)} rotated features, more than "
                         f"head_dim={head_dim}")
    omega, attention = scaled_inv_freq(rope_type, width, base, **schedule)
    model_type = str(_read(part, "model_type") or _read(config, "model_type") or "")
    if layout is None:
        layout = "interleaved" if model_type in INTERLEAVED_MODEL_TYPES else "half"
    check_choice(layout, "layout", LAYOUTS)
    section = params.get("mrope_section")
    interleaved = bool(params.get("mrope_interleaved")) or model_type in _INTERLEAVED_MROPE
    return HfRope(omega, float(attention), 2 * omega.size, head_dim, layout, rope_type, base,
                  schedule, None if section is None else tuple(int(s) for s in section),
                  interleaved and section is not None)


def _lengths(seq_lens: Iterable[int]) -> list[int]:
    """Validate the lengths of a generation's calls (``max(position_ids) + 1`` each)."""
    return [as_int(length, "seq_lens", minimum=1) for length in seq_lens]


def dynamic_seq_lens(seq_lens: Iterable[int], max_position_embeddings: int) -> list[int]:
    """The length whose dynamic-NTK frequencies Hugging Face uses at each call.

    With ``L_max = max_position_embeddings`` and ``c_0 = L_max`` (the cache), call ``t``
    with ``n_t = max(position_ids) + 1`` does:

    .. math::

        c_t = \\begin{cases} n_t & n_t > c_{t-1} \\quad\\text{(growth: recompute)} \\\\
                             L_{max} & n_t < L_{max} < c_{t-1} \\quad\\text{(reset)} \\\\
                             c_{t-1} & \\text{otherwise} \\end{cases}

    and rotates with ``dynamic_inv_freq(..., seq_len=c_t)`` (``c_t = L_max`` gives the
    default frequencies). So after 8192 tokens a 2048-token call below ``L_max = 4096``
    resets, while a 5000-token call keeps the 8192 frequencies. Source: transformers
    5.23.0 ``dynamic_rope_update`` (``dynamic_frequency_update``).

    Examples
    --------
    >>> dynamic_seq_lens([100, 5000, 8192, 5000, 4096, 2048, 4097], 4096)
    [4096, 5000, 8192, 8192, 8192, 4096, 4097]
    """
    length = as_int(max_position_embeddings, "max_position_embeddings", minimum=1)
    cached, out = length, []
    for seen in _lengths(seq_lens):
        if seen > cached:
            cached = seen
        elif seen < length < cached:
            cached = length
        out.append(cached)
    return out


def longrope_seq_lens(seq_lens: Iterable[int], original_max_position_embeddings: int
                      ) -> list[int | None]:
    """The ``seq_len`` whose LongRoPE frequencies Hugging Face uses at each call.

    Call ``t`` with ``n_t = max(position_ids) + 1`` uses the long factors when
    ``n_t > L_0`` (frequencies built once at ``seq_len = L_0 + 1``) and the short ones
    (the initialisation, ``None``) otherwise; no memory between calls. Keys cached
    before a switch keep their old rotation in Hugging Face. Source: transformers
    5.23.0 ``dynamic_rope_update`` (``longrope_frequency_update``).

    Examples
    --------
    >>> longrope_seq_lens([10, 4096, 4097, 10], 4096)
    [None, None, 4097, None]
    """
    length = as_int(original_max_position_embeddings, "original_max_position_embeddings",
                    minimum=1)
    return [length + 1 if seen > length else None for seen in _lengths(seq_lens)]


def replay(config: Any, seq_lens: Sequence[int], *, layer_type: str | None = None,
           layout: str | None = None) -> list[HfRope]:
    """The :class:`HfRope` of every call of a generation, one per ``seq_lens`` entry.

    ``dynamic`` follows :func:`dynamic_seq_lens`, ``longrope`` :func:`longrope_seq_lens`;
    every other ``rope_type`` is the same at every call.

    Examples
    --------
    >>> config = {"head_dim": 8, "num_attention_heads": 1, "max_position_embeddings": 16,
    ...           "rope_parameters": {"rope_type": "dynamic", "factor": 2.0}}
    >>> [round(float(r.inv_freq[-1]), 6) for r in replay(config, [8, 32, 8])]
    [0.001, 0.000333, 0.001]
    """
    first = from_hf_config(config, layer_type=layer_type, layout=layout)
    if first.rope_type == "dynamic":
        max_positions = as_int(_read(_text_part(config), "max_position_embeddings"),
                               "max_position_embeddings", minimum=1)
        lengths: list[int | None] = list(dynamic_seq_lens(seq_lens, max_positions))
    elif first.rope_type == "longrope":
        original = first.parameters["original_max_position_embeddings"]
        lengths = list(longrope_seq_lens(seq_lens, original))
    else:
        return [first for _ in _lengths(seq_lens)]
    return [from_hf_config(config, seq_len=length, layer_type=layer_type, layout=layout)
            for length in lengths]
