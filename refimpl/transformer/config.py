"""The configuration of the reference Transformer: one frozen dataclass of its options.

A :class:`TransformerConfig` names a variant (sizes, norm and where it sits, activation,
position scheme, biases, tied output, MLM head) and checks the combination when it is
made, so that every function of :mod:`refimpl.transformer` can trust it. The option
names are the tuples :data:`NORMS`, :data:`NORM_POSITIONS`, :data:`ACTIVATIONS` and
:data:`POSITIONS`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from refimpl import rope
from refimpl._validation import as_float_array, as_int, as_scalar, check_choice

__all__ = ["NORMS", "NORM_POSITIONS", "ACTIVATIONS", "POSITIONS", "TransformerConfig"]

NORMS = ("layernorm", "rmsnorm")
NORM_POSITIONS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "geglu", "swiglu")
POSITIONS = ("rope", "learned", "none")


def _check_flag(value: Any, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of the reference Transformer; validated on construction.

    Attributes
    ----------
    vocab_size, d_model, n_heads, head_dim, d_ff, n_layers : int
        ``head_dim`` is independent of ``d_model / n_heads`` (queries, keys and values
        all have ``n_heads * head_dim`` features). ``n_layers`` may be 0.
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
        Function-preserving widening uses it (:mod:`refimpl.widening`).
    max_positions : int
        Rows of the learned position table (used with ``positions="learned"``).
    n_segments : int
        Rows of the segment (token type) table; 0 means no segment embedding.
    bias : bool
        Biases in the dense layers and the output layer (LayerNorm always has its own).
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
    norm: str = "layernorm"
    norm_eps: float = 1e-5
    norm_position: str = "pre"
    activation: str = "gelu"
    attention_scale: bool = True
    positions: str = "rope"
    rope_layout: str = "interleaved"
    rope_base: float = 10000.0
    rotary_dim: int | None = None
    rope_inv_freq: tuple[float, ...] | None = None
    max_positions: int = 512
    n_segments: int = 0
    bias: bool = True
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
        for name in ("attention_scale", "bias", "tie_output", "mlm_head"):
            _check_flag(getattr(self, name), name)
        if self.rope_inv_freq is not None:
            table = as_float_array(self.rope_inv_freq, "rope_inv_freq")
            if self.positions != "rope" or table.ndim != 1 or not np.all(table > 0):
                raise ValueError(f"rope_inv_freq must be a 1-D table of positive frequencies "
                                 f"and needs positions='rope', got {self.rope_inv_freq!r} "
                                 f"with positions={self.positions!r}")
        if self.positions == "rope":
            self._validate_rope()

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
    def gated(self) -> bool:
        """True for the GLU feed-forward variants (geglu, swiglu)."""
        return self.activation in ("geglu", "swiglu")
