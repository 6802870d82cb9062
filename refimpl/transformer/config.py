"""The configuration of the reference Transformer: one frozen dataclass of its options.

A :class:`TransformerConfig` names a variant (sizes and key/value heads, norm and where
it sits, activation, position scheme, causality and sliding window, sequential or
parallel residual, biases, tied output, MLM head) and checks the combination when it is
made, so that every function of :mod:`refimpl.transformer` can trust it. The option
names are the tuples :data:`NORMS`, :data:`NORM_POSITIONS`, :data:`ACTIVATIONS` and
:data:`POSITIONS`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from refimpl import rope
from refimpl._validation import as_float_array, as_int, as_scalar, check_choice

__all__ = ["NORMS", "NORM_POSITIONS", "ACTIVATIONS", "POSITIONS", "TransformerConfig"]

NORMS = ("layernorm", "rmsnorm")
NORM_POSITIONS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "geglu", "swiglu")
POSITIONS = ("rope", "learned", "none")


def _check_flag(value: object, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of the reference Transformer; validated on construction.

    Attributes
    ----------
    vocab_size, d_model, n_heads, head_dim, d_ff, n_layers : int
        ``head_dim`` is independent of ``d_model / n_heads`` (queries have
        ``n_heads * head_dim`` features). ``n_layers`` may be 0.
    n_kv_heads : int or None
        Key/value heads (grouped-query attention, Ainslie et al. 2023; 1 is multi-query
        attention); must divide ``n_heads``, and query head ``h`` reads key/value head
        ``h // (n_heads / n_kv_heads)`` (Hugging Face's ``repeat_kv``). ``None`` means
        ``n_heads`` (ordinary multi-head attention).
    norm : {"layernorm", "rmsnorm"}
    norm_eps : float
        ``eps`` of every norm (added to the variance or the mean square).
    norm_position : {"pre", "post"}
        Pre-LN (GPT-2, Llama: norm before each sublayer, plus a final norm) or post-LN
        (BERT, RoFormer: norm after each residual sum, plus a norm of the embeddings).
    activation : {"relu", "gelu", "gelu_tanh", "geglu", "swiglu"}
        ``gelu`` is the exact erf form; ``geglu``/``swiglu`` are gated FFNs.
    attention_scale : bool
        Divide ``q.k`` by ``sqrt(head_dim)`` (BERT, GPT) or not (T5).
    causal : bool
        Every query attends only to itself and earlier tokens (a decoder, GPT/Llama), on
        top of any ``mask`` given to :func:`refimpl.transformer.forward`; needed for
        KV-cache decoding (:mod:`refimpl.transformer.decoding`). Default False: the
        attention pattern comes from the ``mask`` argument alone.
    sliding_window : int or None
        With ``causal``: each query sees only the ``sliding_window`` most recent tokens,
        itself included (Mistral; Hugging Face's ``sliding_window``).
    parallel_residual : bool
        ``h + attn(norm_1(h)) + ffn(norm_2(h))`` instead of the sequential pre-LN block
        (GPT-J, GPT-NeoX's ``use_parallel_residual``); pre-LN only.
    positions : {"rope", "learned", "none"}
        RoPE on q and k in every layer, a learned absolute table added to the token
        embeddings, or no positional information (a bag of tokens, permutation
        equivariant).
    rope_layout : {"interleaved", "half"}
    rope_base : float
    rotary_dim : int or None
        Rotated features per head (even, ``<= head_dim``); ``None`` means ``head_dim``.
    rope_inv_freq : tuple of float or None
        An explicit per-pair frequency table (``rotary_dim // 2`` positive entries) in
        place of ``base^(-2k / rotary_dim)``; ``None`` (default) is the standard table.
        Function-preserving widening uses it (:mod:`refimpl.widening`), and so do the
        context-extension schedules of checkpoints (:func:`refimpl.rope.scaled_inv_freq`).
    rope_attention_factor : float
        Multiplies the cosines and sines of RoPE (so the rotated features of q and k,
        and their scores by its square): Hugging Face's ``attention_scaling`` of YaRN and
        LongRoPE (:func:`refimpl.rope.scaled_inv_freq`). Default 1.
    max_positions : int
        Rows of the learned position table (used with ``positions="learned"``).
    n_segments : int
        Rows of the segment (token type) table; 0 means no segment embedding.
    bias : bool
        Biases in the dense layers and the output layer (LayerNorm always has its own),
        unless one of the three switches below says otherwise.
    attention_bias, mlp_bias, output_bias : bool or None
        Biases of the attention projections (q, k, v and the output projection), of the
        feed-forward layers, and of the output logits; ``None`` follows ``bias``
        (Hugging Face's ``attention_bias`` / ``mlp_bias``; GPT-NeoX has attention and MLP
        biases but none on its output). The MLM head's dense layer follows ``bias``.
    tie_output : bool
        Logits ``h E^T`` with the token embedding ``E`` (GPT-2, BERT) or a separate
        ``(d_model, vocab_size)`` matrix.
    mlm_head : bool
        BERT's MLM transform before the output: dense ``(d, d)``, the activation (the
        pointwise one for a gated FFN: gelu for geglu, silu for swiglu), then a norm.
    mlm_norm_eps : float or None
        ``eps`` of the MLM head's norm; ``None`` means ``norm_eps``. (Function-preserving
        widening scales ``norm_eps`` by ``1/k`` but must leave this one alone, because
        the MLM norm's input is a pure repeat: the MLM row of ``docs/widening.md``.)

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=2)
    >>> config.rope_dim
    4
    >>> TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=5, d_ff=16,
    ...                   n_layers=2)
    Traceback (most recent call last):
    ...
    ValueError: head_dim must be even with RoPE (pairs of features rotate), got head_dim=5
    """

    vocab_size: int
    d_model: int
    n_heads: int
    head_dim: int
    d_ff: int
    n_layers: int
    n_kv_heads: int | None = None
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    norm_position: str = "pre"
    activation: str = "gelu"
    attention_scale: bool = True
    causal: bool = False
    sliding_window: int | None = None
    parallel_residual: bool = False
    positions: str = "rope"
    rope_layout: str = "interleaved"
    rope_base: float = 10000.0
    rotary_dim: int | None = None
    rope_inv_freq: tuple[float, ...] | None = None
    rope_attention_factor: float = 1.0
    max_positions: int = 512
    n_segments: int = 0
    bias: bool = True
    attention_bias: bool | None = None
    mlp_bias: bool | None = None
    output_bias: bool | None = None
    tie_output: bool = True
    mlm_head: bool = False
    mlm_norm_eps: float | None = None

    def __post_init__(self) -> None:
        if self.rope_inv_freq is not None:  # stored as a tuple: the config stays hashable
            table = as_float_array(self.rope_inv_freq, "rope_inv_freq")
            object.__setattr__(self, "rope_inv_freq", tuple(float(f) for f in table.ravel())
                               if table.ndim == 1 else self.rope_inv_freq)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first bad field."""
        for name in ("vocab_size", "d_model", "n_heads", "head_dim", "d_ff", "max_positions"):
            as_int(getattr(self, name), name, minimum=1)
        as_int(self.n_layers, "n_layers", minimum=0)
        as_int(self.n_segments, "n_segments", minimum=0)
        check_choice(self.norm, "norm", NORMS)
        check_choice(self.norm_position, "norm_position", NORM_POSITIONS)
        check_choice(self.activation, "activation", ACTIVATIONS)
        check_choice(self.positions, "positions", POSITIONS)
        check_choice(self.rope_layout, "rope_layout", rope.LAYOUTS)
        as_scalar(self.norm_eps, "norm_eps", positive=True)
        if self.mlm_norm_eps is not None:
            as_scalar(self.mlm_norm_eps, "mlm_norm_eps", positive=True)
        as_scalar(self.rope_base, "rope_base", greater_than=1.0)
        for name in ("attention_scale", "bias", "tie_output", "mlm_head", "causal",
                     "parallel_residual"):
            _check_flag(getattr(self, name), name)
        for name in ("attention_bias", "mlp_bias", "output_bias"):
            if getattr(self, name) is not None:
                _check_flag(getattr(self, name), name)
        as_scalar(self.rope_attention_factor, "rope_attention_factor", positive=True)
        self._validate_heads()
        self._validate_structure()
        if self.rope_inv_freq is not None:
            table = as_float_array(self.rope_inv_freq, "rope_inv_freq")
            if self.positions != "rope" or table.ndim != 1 or not np.all(table > 0):
                raise ValueError(f"rope_inv_freq must be a 1-D table of positive frequencies "
                                 f"and needs positions='rope', got {self.rope_inv_freq!r} "
                                 f"with positions={self.positions!r}")
        if self.positions == "rope":
            self._validate_rope()

    def _validate_heads(self) -> None:
        if self.n_kv_heads is None:
            return
        kv_heads = as_int(self.n_kv_heads, "n_kv_heads", minimum=1)
        if self.n_heads % kv_heads:
            raise ValueError(
                f"n_kv_heads must divide n_heads (each key/value head serves n_heads / "
                f"n_kv_heads query heads), got n_heads={self.n_heads}, "
                f"n_kv_heads={kv_heads}")

    def _validate_structure(self) -> None:
        if self.sliding_window is not None:
            as_int(self.sliding_window, "sliding_window", minimum=1)
            if not self.causal:
                raise ValueError(f"sliding_window={self.sliding_window} needs causal=True "
                                 f"(the window reaches back from each query)")
        if self.parallel_residual and self.norm_position != "pre":
            raise ValueError("parallel_residual=True needs norm_position='pre' (GPT-J and "
                             "GPT-NeoX norm the input of both branches)")
        if self.rope_attention_factor != 1.0 and self.positions != "rope":
            raise ValueError(f"rope_attention_factor={self.rope_attention_factor} needs "
                             f"positions='rope', got positions={self.positions!r}")

    def _validate_rope(self) -> None:
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even with RoPE (pairs of features rotate), "
                             f"got head_dim={self.head_dim}")
        rotary_dim = as_int(self.rope_dim, "rotary_dim", minimum=2)
        if rotary_dim % 2 or rotary_dim > self.head_dim:
            raise ValueError(f"rotary_dim must be even and at most head_dim={self.head_dim}, "
                             f"got rotary_dim={rotary_dim}")
        if self.rope_inv_freq is not None and len(self.rope_inv_freq) != rotary_dim // 2:
            raise ValueError(f"rope_inv_freq must hold {rotary_dim // 2} frequencies "
                             f"(rotary_dim // 2), got {len(self.rope_inv_freq)}")

    @property
    def rope_dim(self) -> int:
        """Rotated features per head: ``rotary_dim``, or ``head_dim`` when it is None."""
        return self.head_dim if self.rotary_dim is None else self.rotary_dim

    @property
    def mlm_eps(self) -> float:
        """``eps`` of the MLM head's norm: ``mlm_norm_eps``, or ``norm_eps`` when it is None."""
        return self.norm_eps if self.mlm_norm_eps is None else self.mlm_norm_eps

    @property
    def kv_heads(self) -> int:
        """Key/value heads: ``n_kv_heads``, or ``n_heads`` when it is None."""
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def groups(self) -> int:
        """Query heads per key/value head, ``n_heads / kv_heads``."""
        return self.n_heads // self.kv_heads

    @property
    def has_attention_bias(self) -> bool:
        """Biases on q, k, v and the attention output: ``attention_bias`` or ``bias``."""
        return self.bias if self.attention_bias is None else self.attention_bias

    @property
    def has_mlp_bias(self) -> bool:
        """Biases on the feed-forward layers: ``mlp_bias`` or ``bias``."""
        return self.bias if self.mlp_bias is None else self.mlp_bias

    @property
    def has_output_bias(self) -> bool:
        """A bias on the logits: ``output_bias`` or ``bias``."""
        return self.bias if self.output_bias is None else self.output_bias

    @property
    def gated(self) -> bool:
        """True for the GLU feed-forward variants (geglu, swiglu)."""
        return self.activation in ("geglu", "swiglu")
