"""The parameters of the reference Transformer: a nested dict of named float64 arrays.

:func:`param_shapes` gives the tree of a :class:`TransformerConfig` with shapes at the
leaves, :func:`init_params` draws a tree of that shape (BERT/GPT-2 initialisation) and
:func:`check_params` checks that a tree has exactly those keys, shapes, float64 dtype
and finite entries. A tree is plain data: dicts, one list (the layers) and arrays.

Parameter names and shapes (``d = d_model``, ``V = vocab_size``, ``A = n_heads *
head_dim``, ``A_kv = kv_heads * head_dim``; entries in brackets exist only under the
stated option)::

    params["embedding"]["tokens"]            (V, d)
    params["embedding"]["positions"]         (max_positions, d)   [positions="learned"]
    params["embedding"]["segments"]          (n_segments, d)      [n_segments > 0]
    params["embedding_norm"]                 norm                 [norm_position="post"]
    params["layers"][i]["attn_norm"]         norm  (before attention in pre-LN, after it in post-LN)
    params["layers"][i]["attn"]["wq"]        (d, A)
    params["layers"][i]["attn"]["wk"|"wv"]   (d, A_kv)
    params["layers"][i]["attn"]["bq"]        (A,)                 [attention bias]
    params["layers"][i]["attn"]["bk"|"bv"]   (A_kv,)              [attention bias]
    params["layers"][i]["attn"]["wo"]        (A, d)
    params["layers"][i]["attn"]["bo"]        (d,)                 [attention bias]
    params["layers"][i]["ffn_norm"]          norm
    params["layers"][i]["ffn"]["w_up"]       (d, d_ff)
    params["layers"][i]["ffn"]["b_up"]       (d_ff,)              [mlp bias]
    params["layers"][i]["ffn"]["w_gate"]     (d, d_ff)            [geglu, swiglu]
    params["layers"][i]["ffn"]["b_gate"]     (d_ff,)              [geglu, swiglu; mlp bias]
    params["layers"][i]["ffn"]["w_down"]     (d_ff, d)
    params["layers"][i]["ffn"]["b_down"]     (d,)                 [mlp bias]
    params["final_norm"]                     norm                 [norm_position="pre"]
    params["mlm"]["w"], ["b"], ["norm"]      (d, d), (d,) [bias], norm   [mlm_head]
    params["output"]["w"]                    (d, V)               [untied output]
    params["output"]["b"]                    (V,)                 [output bias]

where a ``norm`` is ``{"gain": (d,), "bias": (d,)}`` for LayerNorm and ``{"gain": (d,)}``
for RMSNorm; ``params["output"]`` is an empty dict when the output is tied and has no
bias. Head ``h`` owns columns ``h*head_dim .. (h+1)*head_dim - 1`` of ``wq`` and rows of
``wo``; key/value head ``g`` owns those columns of ``wk`` and ``wv`` and serves query
heads ``g G .. g G + G - 1`` (``G = n_heads / kv_heads``). RoPE rotates the leading
``rotary_dim`` features of each head. The "attention bias", "mlp bias" and "output
bias" are the config's ``has_attention_bias``, ``has_mlp_bias`` and ``has_output_bias``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl._validation import as_generator, as_scalar, check_finite
from refimpl.transformer.config import TransformerConfig

__all__ = ["param_shapes", "init_params", "check_params"]


def _norm_shapes(config: TransformerConfig) -> dict[str, tuple[int, ...]]:
    d = config.d_model
    return {"gain": (d,), "bias": (d,)} if config.norm == "layernorm" else {"gain": (d,)}


def _dense_shapes(has_bias: bool, weight: str, bias: str, n_in: int,
                  n_out: int) -> dict[str, tuple[int, ...]]:
    return {weight: (n_in, n_out), **({bias: (n_out,)} if has_bias else {})}


def _layer_shapes(config: TransformerConfig) -> dict[str, dict[str, tuple[int, ...]]]:
    d, width, d_ff = config.d_model, config.n_heads * config.head_dim, config.d_ff
    kv_width = config.kv_heads * config.head_dim
    attention_bias, mlp_bias = config.has_attention_bias, config.has_mlp_bias
    attn: dict[str, tuple[int, ...]] = {}
    for name, n_out in (("q", width), ("k", kv_width), ("v", kv_width)):
        attn.update(_dense_shapes(attention_bias, "w" + name, "b" + name, d, n_out))
    attn.update(_dense_shapes(attention_bias, "wo", "bo", width, d))
    ffn = _dense_shapes(mlp_bias, "w_up", "b_up", d, d_ff)
    if config.gated:
        ffn.update(_dense_shapes(mlp_bias, "w_gate", "b_gate", d, d_ff))
    ffn.update(_dense_shapes(mlp_bias, "w_down", "b_down", d_ff, d))
    return {"attn_norm": _norm_shapes(config), "attn": attn,
            "ffn_norm": _norm_shapes(config), "ffn": ffn}


def param_shapes(config: TransformerConfig) -> dict:
    """The parameter tree of ``config`` with shapes (tuples) at the leaves.

    See the naming table in the module docstring.

    Examples
    --------
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=1, norm="rmsnorm", bias=False)
    >>> param_shapes(config)["layers"][0]["attn"]
    {'wq': (8, 8), 'wk': (8, 8), 'wv': (8, 8), 'wo': (8, 8)}
    """
    d, vocab = config.d_model, config.vocab_size
    embedding: dict[str, tuple[int, ...]] = {"tokens": (vocab, d)}
    if config.positions == "learned":
        embedding["positions"] = (config.max_positions, d)
    if config.n_segments:
        embedding["segments"] = (config.n_segments, d)
    shapes: dict[str, Any] = {"embedding": embedding}
    shapes["embedding_norm" if config.norm_position == "post" else "final_norm"] = \
        _norm_shapes(config)
    shapes["layers"] = [_layer_shapes(config) for _ in range(config.n_layers)]
    if config.mlm_head:
        shapes["mlm"] = {**_dense_shapes(config.bias, "w", "b", d, d),
                         "norm": _norm_shapes(config)}
    output: dict[str, tuple[int, ...]] = {} if config.tie_output else {"w": (d, vocab)}
    shapes["output"] = {**output, **({"b": (vocab,)} if config.has_output_bias else {})}
    return shapes


def _map_tree(function: Callable[[Any, str], Any], tree: Any, path: str = "params") -> Any:
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

    def draw(shape: tuple[int, ...], path: str) -> np.ndarray:
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
    """Check ``tree`` against the shapes tree ``shapes``; ``path`` names it in errors."""
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
        for i, (item, item_shapes) in enumerate(zip(tree, shapes, strict=True)):
            _check_tree(item, item_shapes, f"{path}[{i}]")
    else:
        shape = np.shape(tree)
        if shape != shapes:
            raise ValueError(f"{path} must have shape {shapes}, got {shape}")
        if not (isinstance(tree, np.ndarray) and tree.dtype == np.float64):
            raise TypeError(f"{path} must be a float64 NumPy array, got {type(tree).__name__}"
                            f" of dtype {np.asarray(tree).dtype}")
        check_finite(tree, path)
