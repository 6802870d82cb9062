"""A minimal reference Transformer: forward pass and hand-written backward pass.

One model covers the common layouts: BERT (post-LN, learned absolute positions,
segment embeddings, GELU, MLM head), RoFormer (BERT with RoPE on q and k and no
absolute positions), GPT-2 (pre-LN, final LayerNorm, tied output) and Llama/T5-style
variants (RMSNorm, SwiGLU/GEGLU, no biases, unscaled attention). A
:class:`TransformerConfig` picks the variant; the parameters are a plain nested dict of
float64 arrays; every function is pure (no hidden state) and every backward step is
written out by hand.

The computation, for token ids ``t`` (shape ``(..., T)``)::

    h = E[t] (+ P[positions]) (+ S[segments])         embed_forward
    h = norm(h)                                        (post-LN only: embedding norm)
    for each layer:                                    block_forward
        pre-LN:  h = h + attn(norm(h));  h = h + ffn(norm(h))
        post-LN: h = norm(h + attn(h));  h = norm(h + ffn(h))
    h = norm(h)                                        (pre-LN only: final norm)
    h = norm(act(h W + b))                             (MLM head only)
    logits = h E^T (+ b)  or  h W_out (+ b)            head_forward

with ``attn(x) = merge_heads(softmax(R q R k^T / sqrt(d_head) | mask) v) W_o + b_o``,
``q = x W_q + b_q`` (likewise k, v, split into heads; R is RoPE when enabled) and
``ffn(x) = act(x W_up + b_up) W_down + b_down`` or, gated,
``(act(x W_gate + b_gate) * (x W_up + b_up)) W_down + b_down``.

Parameter names and shapes (``d = d_model``, ``V = vocab_size``, ``A = n_heads *
head_dim``; entries in brackets exist only under the stated option)::

    params["embedding"]["tokens"]            (V, d)
    params["embedding"]["positions"]         (max_positions, d)   [positions="learned"]
    params["embedding"]["segments"]          (n_segments, d)      [n_segments > 0]
    params["embedding_norm"]                 norm                 [norm_position="post"]
    params["layers"][i]["attn_norm"]         norm  (before attention in pre-LN, after it in post-LN)
    params["layers"][i]["attn"]["wq"|"wk"|"wv"]   (d, A)
    params["layers"][i]["attn"]["bq"|"bk"|"bv"]   (A,)            [bias]
    params["layers"][i]["attn"]["wo"]        (A, d)
    params["layers"][i]["attn"]["bo"]        (d,)                 [bias]
    params["layers"][i]["ffn_norm"]          norm
    params["layers"][i]["ffn"]["w_up"]       (d, d_ff)
    params["layers"][i]["ffn"]["b_up"]       (d_ff,)              [bias]
    params["layers"][i]["ffn"]["w_gate"]     (d, d_ff)            [geglu, swiglu]
    params["layers"][i]["ffn"]["b_gate"]     (d_ff,)              [geglu, swiglu; bias]
    params["layers"][i]["ffn"]["w_down"]     (d_ff, d)
    params["layers"][i]["ffn"]["b_down"]     (d,)                 [bias]
    params["final_norm"]                     norm                 [norm_position="pre"]
    params["mlm"]["w"], ["b"], ["norm"]      (d, d), (d,) [bias], norm   [mlm_head]
    params["output"]["w"]                    (d, V)               [untied output]
    params["output"]["b"]                    (V,)                 [bias]

where a ``norm`` is ``{"gain": (d,), "bias": (d,)}`` for LayerNorm and ``{"gain": (d,)}``
for RMSNorm; ``params["output"]`` is an empty dict when the output is tied and has no
bias. Head ``h`` owns columns ``h*head_dim .. (h+1)*head_dim - 1`` of ``wq``, ``wk``,
``wv`` and rows of ``wo``; RoPE rotates the leading ``rotary_dim`` features of each head.
:func:`param_shapes` returns this table for a config.

Layer-by-layer use (e.g. replacing the hidden state at position 0 between layers, or
switching masks at layer ``k``)::

    h, _ = embed_forward(params, config, tokens)
    angles = rope_angles(config, np.arange(T))
    for layer in params["layers"]:
        h, _ = block_forward(layer, config, h, mask, angles)
    logits, _ = head_forward(params, config, h)

References: Vaswani et al. 2017; Devlin et al. (BERT) 2019; Radford et al. (GPT-2)
2019; Su et al. (RoFormer) 2021; Shazeer, "GLU Variants Improve Transformer", 2020;
research note widening_mixers_sim.md §1 and §3.6.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import numpy as np

from refimpl import rope
from refimpl._broadcasting import broadcasts_to, cotangent
from refimpl._validation import (as_float_array, as_generator, as_int, as_scalar,
                                 check_choice, check_finite, check_last_axis, check_ndim)
from refimpl.activations import (_gelu_backward, _gelu_forward, gelu_tanh, gelu_tanh_vjp,
                                 relu, relu_vjp, silu, silu_vjp)
from refimpl.attention import (_attention_backward, _attention_weights, _merge_heads,
                               _scale_factor, _split_heads)
from refimpl.masks import as_mask
from refimpl.norms import _layer_norm, _layer_norm_backward, _rms_norm, _rms_norm_backward

__all__ = ["TransformerConfig", "param_shapes", "init_params", "check_params",
           "rope_angles", "embed_forward", "embed_backward", "block_forward",
           "block_backward", "head_forward", "head_backward", "forward", "backward",
           "token_cross_entropy", "token_cross_entropy_vjp", "loss_and_grad"]

NORMS = ("layernorm", "rmsnorm")
NORM_POSITIONS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "geglu", "swiglu")
POSITIONS = ("rope", "learned", "none")

#: Pointwise function and VJP behind each activation name but the GELU ones (the gated
#: ones use theirs on the gate branch; the MLM head uses the pointwise one). Exact GELU
#: goes through :func:`_activate`, which keeps ``Phi(x)`` for the backward pass.
_POINTWISE = {"relu": (relu, relu_vjp), "gelu_tanh": (gelu_tanh, gelu_tanh_vjp),
              "swiglu": (silu, silu_vjp)}


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
        the MLM norm's input is a pure repeat: widening_mixers_sim.md §1.3.1.)

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


def _norm_shapes(config: TransformerConfig) -> dict:
    d = config.d_model
    return {"gain": (d,), "bias": (d,)} if config.norm == "layernorm" else {"gain": (d,)}


def _dense_shapes(config: TransformerConfig, weight: str, bias: str, n_in: int,
                  n_out: int) -> dict:
    return {weight: (n_in, n_out), **({bias: (n_out,)} if config.bias else {})}


def _layer_shapes(config: TransformerConfig) -> dict:
    d, width, d_ff = config.d_model, config.n_heads * config.head_dim, config.d_ff
    attn = {}
    for name in ("q", "k", "v"):
        attn.update(_dense_shapes(config, "w" + name, "b" + name, d, width))
    attn.update(_dense_shapes(config, "wo", "bo", width, d))
    ffn = _dense_shapes(config, "w_up", "b_up", d, d_ff)
    if config.gated:
        ffn.update(_dense_shapes(config, "w_gate", "b_gate", d, d_ff))
    ffn.update(_dense_shapes(config, "w_down", "b_down", d_ff, d))
    return {"attn_norm": _norm_shapes(config), "attn": attn,
            "ffn_norm": _norm_shapes(config), "ffn": ffn}


def param_shapes(config: TransformerConfig) -> dict:
    """The parameter tree of ``config`` with shapes (tuples) at the leaves.

    See the module docstring for the naming table.

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=1, norm="rmsnorm", bias=False)
    >>> param_shapes(config)["layers"][0]["attn"]
    {'wq': (8, 8), 'wk': (8, 8), 'wv': (8, 8), 'wo': (8, 8)}
    """
    d, vocab = config.d_model, config.vocab_size
    embedding = {"tokens": (vocab, d)}
    if config.positions == "learned":
        embedding["positions"] = (config.max_positions, d)
    if config.n_segments:
        embedding["segments"] = (config.n_segments, d)
    shapes = {"embedding": embedding}
    shapes["embedding_norm" if config.norm_position == "post" else "final_norm"] = \
        _norm_shapes(config)
    shapes["layers"] = [_layer_shapes(config) for _ in range(config.n_layers)]
    if config.mlm_head:
        shapes["mlm"] = {**_dense_shapes(config, "w", "b", d, d), "norm": _norm_shapes(config)}
    output = {} if config.tie_output else {"w": (d, vocab)}
    shapes["output"] = {**output, **({"b": (vocab,)} if config.bias else {})}
    return shapes


def _map_tree(function, tree, path: str = "params"):
    """Apply ``function(leaf, path)`` to every leaf of a nested dict/list tree."""
    if isinstance(tree, dict):
        return {key: _map_tree(function, value, f"{path}[{key!r}]") for key, value in tree.items()}
    if isinstance(tree, list):
        return [_map_tree(function, value, f"{path}[{i}]") for i, value in enumerate(tree)]
    return function(tree, path)


def init_params(config: TransformerConfig, rng: Any = None, *, std: float = 0.02) -> dict:
    """Draw parameters: matrices from ``N(0, std^2)``, norm gains 1, biases 0 (BERT/GPT-2).

    Parameters
    ----------
    config : TransformerConfig
    rng : None, int or numpy.random.Generator
    std : float
        Standard deviation of every matrix (embeddings included).

    Returns
    -------
    dict
        The tree of :func:`param_shapes` with float64 arrays at the leaves.

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=2)
    >>> params = init_params(config, rng=0)
    >>> params["layers"][1]["ffn"]["w_up"].shape, params["final_norm"]["gain"][:3]
    ((8, 16), array([1., 1., 1.]))
    """
    generator = as_generator(rng)
    std = as_scalar(std, "std", nonnegative=True)

    def draw(shape, path):
        if path.endswith("['gain']"):
            return np.ones(shape)
        if len(shape) == 1:
            return np.zeros(shape)
        return std * generator.standard_normal(shape)

    return _map_tree(draw, param_shapes(config))


def check_params(params: Any, config: TransformerConfig) -> None:
    """Raise ``ValueError`` unless ``params`` has exactly the tree and shapes of ``config``
    and every entry is finite (``TypeError`` for an entry that is not a float64 array).

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=1)
    >>> params = init_params(config, rng=0)
    >>> params["layers"][0]["attn"]["wq"] = np.zeros((8, 6))
    >>> check_params(params, config)
    Traceback (most recent call last):
    ...
    ValueError: params['layers'][0]['attn']['wq'] must have shape (8, 8), got (8, 6)
    """
    _check_tree(params, param_shapes(config), "params")


def _check_tree(tree: Any, shapes: Any, path: str) -> None:
    if isinstance(shapes, dict):
        if not isinstance(tree, dict) or set(tree) != set(shapes):
            found = sorted(tree) if isinstance(tree, dict) else type(tree).__name__
            raise ValueError(f"{path} must have the keys {sorted(shapes)}, got {found}")
        for key in shapes:
            _check_tree(tree[key], shapes[key], f"{path}[{key!r}]")
    elif isinstance(shapes, list):
        length = len(tree) if isinstance(tree, (list, tuple)) else None
        if length != len(shapes):
            raise ValueError(f"{path} must be a list of {len(shapes)} layers, got "
                             f"{type(tree).__name__} of length {length}")
        for i, (item, item_shapes) in enumerate(zip(tree, shapes)):
            _check_tree(item, item_shapes, f"{path}[{i}]")
    else:
        shape = np.shape(tree)
        if shape != shapes:
            raise ValueError(f"{path} must have shape {shapes}, got {shape}")
        if not (isinstance(tree, np.ndarray) and tree.dtype == np.float64):
            raise TypeError(f"{path} must be a float64 NumPy array, got {type(tree).__name__}"
                            f" of dtype {np.asarray(tree).dtype}")
        check_finite(tree, path)


# ---------------------------------------------------------------- building blocks

# The blocks call the unvalidated cores (``_layer_norm``, ``_attention_weights``, ...)
# of the public functions: every array here was made by the model from arguments that
# the public entry points have already checked, so checking it again would only cost time.


def _norm(p: dict, config: TransformerConfig, x: np.ndarray, eps: float | None = None
          ) -> np.ndarray:
    """LayerNorm or RMSNorm of ``x`` with the parameters ``p`` (``eps`` default: norm_eps)."""
    eps = config.norm_eps if eps is None else eps
    if config.norm == "layernorm":
        return _layer_norm(x, p["gain"], p["bias"], eps)
    return _rms_norm(x, p["gain"], eps)


def _norm_backward(p: dict, config: TransformerConfig, x: np.ndarray, grad: np.ndarray,
                   eps: float | None = None) -> tuple[dict, np.ndarray]:
    """``({"gain": ..., "bias": ...}, grad_x)`` of :func:`_norm` at input ``x``."""
    eps = config.norm_eps if eps is None else eps
    if config.norm == "layernorm":
        grad_x, grad_gain, grad_bias = _layer_norm_backward(grad, x, p["gain"], eps)
        return {"gain": grad_gain, "bias": grad_bias}, grad_x
    grad_x, grad_gain = _rms_norm_backward(grad, x, p["gain"], eps)
    return {"gain": grad_gain}, grad_x


def _activate(config: TransformerConfig, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``act(x)`` and what its backward reuses: ``Phi(x)`` for gelu and geglu, else None."""
    if config.activation in ("gelu", "geglu"):
        return _gelu_forward(x)
    return _POINTWISE[config.activation][0](x), None


def _activate_backward(config: TransformerConfig, grad: np.ndarray, x: np.ndarray,
                       cdf: np.ndarray | None) -> np.ndarray:
    """``grad * act'(x)``; ``cdf`` is the second output of :func:`_activate` at ``x``."""
    if config.activation in ("gelu", "geglu"):
        return _gelu_backward(grad, x, cdf)
    return _POINTWISE[config.activation][1](grad, x)


def _dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``x W + b`` (no bias when ``bias`` is None)."""
    y = x @ weight
    if bias is not None:
        y += bias
    return y


def _dense_backward(x: np.ndarray, weight: np.ndarray, grad: np.ndarray, names: tuple[str, str],
                    has_bias: bool) -> tuple[dict, np.ndarray]:
    """Gradients ``{W: x^T g, b: sum g}`` (summed over every leading axis) and ``g W^T``."""
    rows_x, rows_g = x.reshape(-1, x.shape[-1]), grad.reshape(-1, grad.shape[-1])
    grads = {names[0]: rows_x.T @ rows_g}
    if has_bias:
        grads[names[1]] = rows_g.sum(axis=0)
    return grads, grad @ weight.T


def _attention_forward(p: dict, config: TransformerConfig, x: np.ndarray,
                       mask: np.ndarray | None, angles: np.ndarray | None):
    """Multi-head self-attention sublayer; returns its output and a cache.

    ``q, k, v = split_heads(x W + b)``; ``c = softmax(R q (R k)^T / sqrt(d_head) | mask) v``;
    output ``merge_heads(c) W_o + b_o``, with RoPE ``R`` when ``angles`` is given.
    """
    heads = config.n_heads
    q = _split_heads(_dense(x, p["wq"], p.get("bq")), heads)
    k = _split_heads(_dense(x, p["wk"], p.get("bk")), heads)
    v = _split_heads(_dense(x, p["wv"], p.get("bv")), heads)
    if angles is not None:
        q = rope.apply(q, angles, layout=config.rope_layout)
        k = rope.apply(k, angles, layout=config.rope_layout)
    weights = _attention_weights(q, k, mask, None, _scale_factor(config.attention_scale,
                                                                config.head_dim))
    context = weights @ v
    merged = _merge_heads(context)
    cache = dict(x=x, q_rot=q, k_rot=k, v=v, weights=weights, merged=merged,
                 angles=angles)
    return _dense(merged, p["wo"], p.get("bo")), cache


def _attention_backward_sublayer(p: dict, config: TransformerConfig, cache: dict,
                                 grad: np.ndarray) -> tuple[dict, np.ndarray]:
    """Gradients of the attention sublayer's parameters and of its input.

    Output projection, then the attention core (the unvalidated core of
    :func:`refimpl.attention.attention_backward_from_weights`, with the cached weights),
    the RoPE VJP on q and k, and the three input projections, whose input gradients add
    up. The RoPE VJP in q is the transposed rotation, ``R(phi)^T = R(-phi)``: rotating
    the gradient back by ``-phi`` gives :func:`refimpl.rope.apply_vjp`'s gradient in q
    (bitwise) without computing its gradient in the angles, which is not needed here.
    """
    grads, grad_merged = _dense_backward(cache["merged"], p["wo"], grad, ("wo", "bo"),
                                         config.bias)
    grad_q, grad_k, grad_v, _ = _attention_backward(
        _split_heads(grad_merged, config.n_heads), cache["q_rot"], cache["k_rot"], cache["v"],
        cache["weights"], _scale_factor(config.attention_scale, config.head_dim))
    if cache["angles"] is not None:
        grad_q = rope.apply(grad_q, -cache["angles"], layout=config.rope_layout)
        grad_k = rope.apply(grad_k, -cache["angles"], layout=config.rope_layout)
    grad_heads = {"q": grad_q, "k": grad_k, "v": grad_v}
    grad_x = 0.0
    for name, grad_head in grad_heads.items():
        weight_grads, grad_x_part = _dense_backward(
            cache["x"], p["w" + name], _merge_heads(grad_head), ("w" + name, "b" + name),
            config.bias)
        grads.update(weight_grads)
        grad_x = grad_x + grad_x_part
    return grads, grad_x


def _ffn_forward(p: dict, config: TransformerConfig, x: np.ndarray):
    """Feed-forward sublayer ``act(x W_up) W_down`` or gated; returns output and cache."""
    up = _dense(x, p["w_up"], p.get("b_up"))
    gate = _dense(x, p["w_gate"], p.get("b_gate")) if config.gated else None
    activated, cdf = _activate(config, gate if config.gated else up)
    hidden = activated * up if config.gated else activated
    return _dense(hidden, p["w_down"], p.get("b_down")), dict(x=x, up=up, gate=gate,
                                                               activated=activated, cdf=cdf,
                                                               hidden=hidden)


def _ffn_backward(p: dict, config: TransformerConfig, cache: dict,
                  grad: np.ndarray) -> tuple[dict, np.ndarray]:
    """Gradients of the feed-forward sublayer's parameters and of its input."""
    grads, grad_hidden = _dense_backward(cache["hidden"], p["w_down"], grad,
                                         ("w_down", "b_down"), config.bias)
    x, up, gate, cdf = cache["x"], cache["up"], cache["gate"], cache["cdf"]
    if config.gated:
        grad_up = grad_hidden * cache["activated"]
        grad_gate = _activate_backward(config, grad_hidden * up, gate, cdf)
        gate_grads, grad_x_gate = _dense_backward(x, p["w_gate"], grad_gate,
                                                  ("w_gate", "b_gate"), config.bias)
        grads.update(gate_grads)
    else:
        grad_up = _activate_backward(config, grad_hidden, up, cdf)
    up_grads, grad_x = _dense_backward(x, p["w_up"], grad_up, ("w_up", "b_up"), config.bias)
    grads.update(up_grads)
    return grads, (grad_x + grad_x_gate) if config.gated else grad_x


# ---------------------------------------------------------------- one layer


def _hidden(h: Any, config: TransformerConfig) -> np.ndarray:
    """Hidden states ``(..., T, d_model)`` as a finite float64 array, or raise."""
    h = as_float_array(h, "h")
    check_ndim(h, "h", 2)
    check_last_axis(h, "h", size=config.d_model)
    return h


def _layer_mask(mask: Any, h: np.ndarray) -> np.ndarray | None:
    """Check a (..., T, T) mask against the hidden states and add the head axis."""
    if mask is None:
        return None
    length = h.shape[-2]
    return np.expand_dims(as_mask(mask, h.shape[:-1] + (length,)), -3)



def block_forward(params_layer: dict, config: TransformerConfig, h: np.ndarray,
                  mask: Any = None, angles: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """One Transformer layer.

    .. math::

        \\text{pre-LN:}\\quad  u = h + \\operatorname{attn}(\\operatorname{norm}_1(h)),
            \\quad h' = u + \\operatorname{ffn}(\\operatorname{norm}_2(u))

        \\text{post-LN:}\\quad u = \\operatorname{norm}_1(h + \\operatorname{attn}(h)),
            \\quad h' = \\operatorname{norm}_2(u + \\operatorname{ffn}(u))

    Parameters
    ----------
    params_layer : dict
        ``params["layers"][i]`` (see the module's naming table).
    config : TransformerConfig
    h : ndarray, shape (..., T, d_model)
    mask : array_like of bool, optional
        Broadcasts to ``(..., T, T)`` (:mod:`refimpl.masks`); None attends everywhere.
    angles : ndarray, optional
        RoPE angles from :func:`rope_angles`; with ``positions="rope"`` and None, the
        positions ``0 .. T-1`` are used. Must be None for other position schemes.

    Returns
    -------
    (h_out, cache) : the layer output, shape of ``h``, and what :func:`block_backward`
    needs.
    """
    h = _hidden(h, config)
    mask = _layer_mask(mask, h)
    angles = _block_angles(config, angles, h.shape[-2])
    p = params_layer
    if config.norm_position == "pre":
        attn_in = _norm(p["attn_norm"], config, h)
        attn_out, attn_cache = _attention_forward(p["attn"], config, attn_in, mask, angles)
        attn_norm_in, mid = h, h + attn_out
        ffn_out, ffn_cache = _ffn_forward(p["ffn"], config, _norm(p["ffn_norm"], config, mid))
        ffn_norm_in, out = mid, mid + ffn_out
    else:
        attn_out, attn_cache = _attention_forward(p["attn"], config, h, mask, angles)
        attn_norm_in = h + attn_out
        mid = _norm(p["attn_norm"], config, attn_norm_in)
        ffn_out, ffn_cache = _ffn_forward(p["ffn"], config, mid)
        ffn_norm_in = mid + ffn_out
        out = _norm(p["ffn_norm"], config, ffn_norm_in)
    return out, dict(attn=attn_cache, ffn=ffn_cache, attn_norm_in=attn_norm_in,
                     ffn_norm_in=ffn_norm_in)


def block_backward(params_layer: dict, config: TransformerConfig, cache: dict,
                   grad: np.ndarray) -> tuple[dict, np.ndarray]:
    """Backward pass of :func:`block_forward`, the equations above read bottom to top.

    Returns
    -------
    (grads_layer, grad_h)
        Gradients with the keys of ``params_layer`` (not necessarily in its order), and
        of the layer input.
    """
    grad = cotangent(grad, cache["ffn_norm_in"].shape, of="the layer output's")
    return _block_backward(params_layer, config, cache, grad)


def _block_backward(p: dict, config: TransformerConfig, cache: dict,
                    grad: np.ndarray) -> tuple[dict, np.ndarray]:
    """:func:`block_backward` of a validated ``grad``."""
    grads = {}
    if config.norm_position == "pre":
        grads["ffn"], grad_ffn_in = _ffn_backward(p["ffn"], config, cache["ffn"], grad)
        grads["ffn_norm"], grad_mid = _norm_backward(p["ffn_norm"], config,
                                                     cache["ffn_norm_in"], grad_ffn_in)
        grad_mid = grad_mid + grad
        grads["attn"], grad_attn_in = _attention_backward_sublayer(p["attn"], config,
                                                                   cache["attn"], grad_mid)
        grads["attn_norm"], grad_h = _norm_backward(p["attn_norm"], config,
                                                    cache["attn_norm_in"], grad_attn_in)
        grad_h = grad_h + grad_mid
    else:
        grads["ffn_norm"], grad_sum = _norm_backward(p["ffn_norm"], config,
                                                     cache["ffn_norm_in"], grad)
        grads["ffn"], grad_mid = _ffn_backward(p["ffn"], config, cache["ffn"], grad_sum)
        grad_mid = grad_mid + grad_sum
        grads["attn_norm"], grad_sum = _norm_backward(p["attn_norm"], config,
                                                      cache["attn_norm_in"], grad_mid)
        grads["attn"], grad_h = _attention_backward_sublayer(p["attn"], config,
                                                             cache["attn"], grad_sum)
        grad_h = grad_h + grad_sum
    return grads, grad_h


# ---------------------------------------------------------------- embeddings and output


def _token_ids(value: Any, name: str, size: int, minimum_ndim: int = 1) -> np.ndarray:
    """An integer array with entries in ``[0, size)``, or raise naming ``name``."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.ndim < minimum_ndim or (minimum_ndim and array.shape[-1] == 0):
        raise ValueError(f"{name} must have a non-empty last (sequence) axis, got shape "
                         f"{array.shape}")
    if array.size and (array.min() < 0 or array.max() >= size):
        bad = array[(array < 0) | (array >= size)].ravel()[0]
        raise ValueError(f"{name} must lie in [0, {size}), got {bad}")
    return array.astype(np.intp)


def _positions(config: TransformerConfig, positions: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Integer positions broadcasting to the token shape; default ``0 .. T-1``."""
    if positions is None:
        return np.arange(shape[-1])
    limit = config.max_positions if config.positions == "learned" else np.iinfo(np.int32).max
    positions = _token_ids(positions, "positions", limit)
    if not broadcasts_to(positions.shape, shape):
        raise ValueError(f"positions of shape {positions.shape} must broadcast to the "
                         f"tokens' shape {shape}")
    return positions


def rope_angles(config: TransformerConfig, positions: Any) -> np.ndarray | None:
    """RoPE angles for integer ``positions`` (..., T), shaped for ``(..., heads, T, head_dim)``.

    ``angles[..., t, k] = positions[..., t] * base^(-2k / rotary_dim)``, or
    ``positions[..., t] * rope_inv_freq[k]`` when the config gives a table; a head axis
    is inserted before ``T`` when ``positions`` has batch axes. None unless
    ``config.positions == "rope"``.

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=5, d_model=4, n_heads=1, head_dim=4,
    ...                            d_ff=4, n_layers=1, rope_base=100.0)
    >>> rope_angles(config, [0, 1, 2])
    array([[0. , 0. ],
           [1. , 0.1],
           [2. , 0.2]])
    """
    if config.positions != "rope":
        return None
    positions = _token_ids(positions, "positions", np.iinfo(np.int32).max)
    table = rope.inv_freq(config.rope_dim, config.rope_base) if config.rope_inv_freq is None \
        else np.asarray(config.rope_inv_freq, dtype=np.float64)
    angles = rope.angles(positions, table)
    return angles if positions.ndim == 1 else np.expand_dims(angles, -3)


def _block_angles(config: TransformerConfig, angles: Any, length: int) -> np.ndarray | None:
    if config.positions != "rope":
        if angles is not None:
            raise ValueError(f"angles must be None with positions={config.positions!r}")
        return None
    return rope_angles(config, np.arange(length)) if angles is None else np.asarray(angles)


def embed_forward(params: dict, config: TransformerConfig, tokens: Any, *,
                  segments: Any = None, positions: Any = None) -> tuple[np.ndarray, dict]:
    """Input embeddings ``E[t] (+ P[positions]) (+ S[segments])``, normalised in post-LN.

    Parameters
    ----------
    tokens : array_like of int, shape (..., T)
        Ids in ``[0, vocab_size)``.
    segments : array_like of int, optional
        Segment ids in ``[0, n_segments)`` broadcasting to ``tokens``; default 0.
    positions : array_like of int, optional
        Rows of the learned table, ``[0, max_positions)``; default ``0 .. T-1``.
        Ignored unless ``positions="learned"``.

    Returns
    -------
    (h, cache) : h of shape (..., T, d_model)
    """
    tokens = _token_ids(tokens, "tokens", config.vocab_size)
    table = params["embedding"]
    h = table["tokens"][tokens]
    if config.positions == "learned":
        positions = _positions(config, positions, tokens.shape)
        h += table["positions"][positions]
    if config.n_segments:
        segments = _token_ids(0 if segments is None else segments, "segments",
                              config.n_segments, minimum_ndim=0)
        segments = np.broadcast_to(segments, tokens.shape)
        h += table["segments"][segments]
    elif segments is not None:
        raise ValueError("segments were given but the config has n_segments=0")
    cache = dict(tokens=tokens, positions=positions, segments=segments, summed=h)
    if config.norm_position == "post":
        h = _norm(params["embedding_norm"], config, h)
    return h, cache


def _scatter_rows(ids: np.ndarray, grad: np.ndarray, rows: int) -> np.ndarray:
    """Gradient of the lookup ``table[ids]``: ``grad`` summed into the rows it read."""
    table = np.zeros((rows, grad.shape[-1]))
    np.add.at(table, np.broadcast_to(ids, grad.shape[:-1]).ravel(),
              grad.reshape(-1, grad.shape[-1]))
    return table


def embed_backward(params: dict, config: TransformerConfig, cache: dict,
                   grad: np.ndarray) -> dict:
    """Gradients of ``params["embedding"]`` (and ``"embedding_norm"``) of :func:`embed_forward`."""
    grad = cotangent(grad, cache["summed"].shape, of="the embeddings'")
    grads = {}
    if config.norm_position == "post":
        grads["embedding_norm"], grad = _norm_backward(params["embedding_norm"], config,
                                                       cache["summed"], grad)
    table = params["embedding"]
    embedding = {"tokens": _scatter_rows(cache["tokens"], grad, table["tokens"].shape[0])}
    if config.positions == "learned":
        embedding["positions"] = _scatter_rows(cache["positions"], grad,
                                               table["positions"].shape[0])
    if config.n_segments:
        embedding["segments"] = _scatter_rows(cache["segments"], grad,
                                              table["segments"].shape[0])
    grads["embedding"] = embedding
    return grads


def _output_matrix(params: dict, config: TransformerConfig) -> np.ndarray:
    """``E^T`` for a tied output, else ``W_out``; shape (d_model, vocab_size)."""
    return params["embedding"]["tokens"].T if config.tie_output else params["output"]["w"]


def head_forward(params: dict, config: TransformerConfig,
                 h: np.ndarray) -> tuple[np.ndarray, dict]:
    """Final norm (pre-LN), MLM transform (optional) and output logits.

    .. math:: \\text{logits} = \\operatorname{norm}(\\operatorname{act}(h W + b)) E^T + b_{out}

    Returns
    -------
    (logits, cache) : logits of shape (..., T, vocab_size)
    """
    h = _hidden(h, config)
    cache = dict(h=h)
    if config.norm_position == "pre":
        h = _norm(params["final_norm"], config, h)
    cache["final"] = h
    if config.mlm_head:
        mlm = params["mlm"]
        cache["mlm_pre"] = _dense(h, mlm["w"], mlm.get("b"))
        cache["mlm_act"], cache["mlm_cdf"] = _activate(config, cache["mlm_pre"])
        h = _norm(mlm["norm"], config, cache["mlm_act"], config.mlm_eps)
    cache["top"] = h
    return _dense(h, _output_matrix(params, config), params["output"].get("b")), cache


def head_backward(params: dict, config: TransformerConfig, cache: dict,
                  grad_logits: np.ndarray) -> tuple[dict, np.ndarray]:
    """Backward pass of :func:`head_forward`.

    Returns
    -------
    (grads, grad_h)
        ``grads`` holds ``"output"`` (and ``"final_norm"``, ``"mlm"`` when present); with a
        tied output it also holds ``{"embedding": {"tokens": ...}}``, the output's share
        of the token-embedding gradient.
    """
    top = cache["top"]
    grad_logits = cotangent(grad_logits, top.shape[:-1] + (config.vocab_size,),
                            name="grad_logits", of="the logits'")
    grads = {}
    matrix_grads, grad = _dense_backward(top, _output_matrix(params, config), grad_logits,
                                         ("w", "b"), config.bias)
    if config.tie_output:
        grads["embedding"] = {"tokens": matrix_grads.pop("w").T}
    grads["output"] = matrix_grads
    if config.mlm_head:
        mlm = params["mlm"]
        norm_grads, grad = _norm_backward(mlm["norm"], config, cache["mlm_act"], grad,
                                          config.mlm_eps)
        grad = _activate_backward(config, grad, cache["mlm_pre"], cache["mlm_cdf"])
        grads["mlm"], grad = _dense_backward(cache["final"], mlm["w"], grad, ("w", "b"),
                                             config.bias)
        grads["mlm"]["norm"] = norm_grads
    if config.norm_position == "pre":
        grads["final_norm"], grad = _norm_backward(params["final_norm"], config, cache["h"],
                                                   grad)
    return grads, grad


# ---------------------------------------------------------------- the whole model


def forward(params: dict, config: TransformerConfig, tokens: Any, mask: Any = None, *,
            segments: Any = None, positions: Any = None) -> tuple[np.ndarray, dict]:
    """Logits of the model for token ids ``tokens`` (..., T).

    Parameters
    ----------
    params : dict
        Checked against ``config`` with :func:`check_params`.
    config : TransformerConfig
    tokens : array_like of int, shape (..., T)
    mask : array_like of bool, optional
        Broadcasts to ``(..., T, T)``; true where query i may attend to key j
        (:mod:`refimpl.masks`: causal, padding, UniLM, ...). None: bidirectional. A query
        with nothing to attend to gets a zero attention output.
    segments : array_like of int, optional
        Segment ids (with ``n_segments > 0``).
    positions : array_like of int, optional
        Positions ``(..., T)`` for RoPE or the learned table; default ``0 .. T-1``.

    Returns
    -------
    (logits, cache)
        Logits of shape (..., T, vocab_size); the cache is what :func:`backward` needs.

    Raises
    ------
    ValueError
        For invalid tokens, masks, segments or positions, and when an activation
        overflows float64 ("the forward pass overflowed float64"), where the overflow
        happens, instead of a ``RuntimeWarning`` and ``inf``.

    Examples
    --------
    >>> from refimpl.masks import causal_mask
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=2)
    >>> params = init_params(config, rng=0)
    >>> logits, cache = forward(params, config, [[1, 2, 3]], causal_mask(3))
    >>> logits.shape
    (1, 3, 11)
    """
    check_params(params, config)
    tokens = _token_ids(tokens, "tokens", config.vocab_size)
    positions = _positions(config, positions, tokens.shape)
    with _overflow_raises("forward"):
        h, embed_cache = embed_forward(params, config, tokens, segments=segments,
                                       positions=positions)
        angles = rope_angles(config, positions)
        layer_caches = []
        for layer in params["layers"]:
            h, layer_cache = block_forward(layer, config, h, mask, angles)
            layer_caches.append(layer_cache)
        logits, head_cache = head_forward(params, config, h)
    return logits, dict(embedding=embed_cache, layers=layer_caches, head=head_cache)


def backward(params: dict, config: TransformerConfig, cache: dict,
             grad_logits: Any) -> dict:
    """Gradients of every parameter, given ``dL/dlogits``; same tree as ``params``.

    Runs :func:`head_backward`, :func:`block_backward` for each layer from the top, and
    :func:`embed_backward`; with a tied output the token embedding's gradient is the sum
    of its input (lookup) and output (``h E^T``) shares. A gradient beyond the float64
    range raises ``ValueError`` ("the backward pass overflowed float64") where it
    overflows, instead of a ``RuntimeWarning`` and ``inf``.

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=1)
    >>> params = init_params(config, rng=0)
    >>> logits, cache = forward(params, config, [1, 2, 3])
    >>> grads = backward(params, config, cache, np.ones_like(logits))
    >>> grads["layers"][0]["attn"]["wq"].shape
    (8, 8)
    """
    with _overflow_raises("backward"):
        head_grads, grad = head_backward(params, config, cache["head"], grad_logits)
        layer_grads = []
        for layer, layer_cache in zip(reversed(params["layers"]), reversed(cache["layers"])):
            grads_layer, grad = _block_backward(layer, config, layer_cache, grad)
            layer_grads.append(grads_layer)
        grads = embed_backward(params, config, cache["embedding"], grad)
        if config.tie_output:
            grads["embedding"]["tokens"] += head_grads.pop("embedding")["tokens"]
    grads.update(head_grads)
    grads["layers"] = layer_grads[::-1]
    return _ordered_like(grads, params)


@contextlib.contextmanager
def _overflow_raises(direction: str):
    """Turn a float64 overflow in the ``direction`` pass into a ``ValueError``.

    The overflow (or the ``inf - inf`` it leads to) is caught where it happens, with
    ``np.errstate(over="raise", invalid="raise")``; code that overflows on purpose
    (a softmax's ``exp(-inf) = 0``) keeps its own local ``errstate``, which takes
    precedence.
    """
    try:
        with np.errstate(over="raise", invalid="raise"):
            yield
    except FloatingPointError as error:
        raise ValueError(f"the {direction} pass overflowed float64 ({error}): the "
                         "parameters, inputs or gradients are too large; rescale them"
                         ) from None


def _ordered_like(grads: Any, params: Any) -> Any:
    """``grads`` with every dict's keys in the order of ``params``' (same tree)."""
    if isinstance(params, dict):
        return {key: _ordered_like(grads[key], value) for key, value in params.items()}
    if isinstance(params, list):
        return [_ordered_like(g, p) for g, p in zip(grads, params)]
    return grads


def _cross_entropy_inputs(logits: Any, targets: Any, weights: Any):
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim < 1 or not np.all(np.isfinite(logits)):
        raise ValueError(f"logits must be a finite array with a vocabulary axis, got "
                         f"shape {logits.shape}")
    targets = _token_ids(targets, "targets", logits.shape[-1], minimum_ndim=0)
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have shape {logits.shape[:-1]} (logits without the "
                         f"vocabulary axis), got {targets.shape}")
    weights = np.ones(targets.shape) if weights is None else np.asarray(weights, np.float64)
    if weights.shape != targets.shape or not np.all(np.isfinite(weights)) \
            or np.any(weights < 0) or not np.sum(weights) > 0:
        raise ValueError(f"weights must be finite, non-negative, of shape {targets.shape} "
                         f"and not all zero, got shape {weights.shape}")
    return logits, targets, weights


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    # A finite spread wider than the float64 range overflows to -inf here, and
    # exp(-inf) = 0 is the exact limit, so the overflow is harmless.
    with np.errstate(over="ignore"):
        shifted = logits - np.max(logits, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def token_cross_entropy(logits: Any, targets: Any, weights: Any = None) -> float:
    """Weighted mean token cross-entropy ``-sum_t w_t log softmax(logits_t)[y_t] / sum_t w_t``.

    Parameters
    ----------
    logits : array_like, shape (..., V)
    targets : array_like of int, shape (...)
    weights : array_like, shape (...), optional
        Non-negative, not all zero (0 excludes a position, e.g. padding); default 1.

    Examples
    --------
    >>> round(token_cross_entropy([[0.0, 0.0, 0.0, 0.0]], [2]), 6)  # log 4
    1.386294
    """
    logits, targets, weights = _cross_entropy_inputs(logits, targets, weights)
    picked = np.take_along_axis(_log_softmax(logits), targets[..., None], axis=-1)[..., 0]
    counted = weights > 0
    if np.any(counted & (picked == -np.inf)):
        raise ValueError("the cross-entropy overflowed: a target's logit lies more than the "
                         "float64 range below the largest logit")
    return float(-np.sum(weights * np.where(counted, picked, 0.0)) / np.sum(weights))


def token_cross_entropy_vjp(grad: float, logits: Any, targets: Any,
                            weights: Any = None) -> np.ndarray:
    """Gradient of :func:`token_cross_entropy` in the logits: ``g w_t (p_t - e_{y_t}) / sum w``.

    Examples
    --------
    >>> token_cross_entropy_vjp(1.0, [[0.0, 0.0]], [1])
    array([[ 0.5, -0.5]])
    """
    logits, targets, weights = _cross_entropy_inputs(logits, targets, weights)
    grad_logits = np.exp(_log_softmax(logits))
    np.put_along_axis(grad_logits, targets[..., None],
                      np.take_along_axis(grad_logits, targets[..., None], axis=-1) - 1.0,
                      axis=-1)
    return grad_logits * (float(grad) * weights / np.sum(weights))[..., None]


def loss_and_grad(params: dict, config: TransformerConfig, tokens: Any, targets: Any,
                  weights: Any = None, mask: Any = None, *, segments: Any = None,
                  positions: Any = None) -> tuple[float, dict]:
    """Token cross-entropy of the model's predictions and its gradient in every parameter.

    ``loss = token_cross_entropy(forward(params, config, tokens, mask)[0], targets, weights)``.
    For next-token prediction pass ``targets = tokens shifted left`` and a causal mask.

    Returns
    -------
    (loss, grads) with ``grads`` shaped like ``params``.

    Raises
    ------
    ValueError
        When the forward or the backward pass overflows float64 (see :func:`forward`,
        :func:`backward`), e.g. for parameters around ``1e150``, whose true gradients
        exceed the float64 range.

    Examples
    --------
    >>> from refimpl.masks import causal_mask
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=1)
    >>> params = init_params(config, rng=0)
    >>> loss, grads = loss_and_grad(params, config, [1, 2, 3], [2, 3, 4], mask=causal_mask(3))
    >>> bool(abs(loss - np.log(11)) < 0.01)  # small weights: nearly uniform predictions
    True
    """
    logits, cache = forward(params, config, tokens, mask, segments=segments,
                            positions=positions)
    loss = token_cross_entropy(logits, targets, weights)
    grads = backward(params, config, cache,
                     token_cross_entropy_vjp(1.0, logits, targets, weights))
    return loss, grads
