"""Index maps with scales: the one rule behind every copying growth move.

A widened axis is described by an :class:`AxisMap`: new coordinate ``j`` copies old
coordinate ``index[j]`` times ``forward[j]`` (how a *state* on that axis is mapped), and
a weight row that *reads* coordinate ``j`` is the old row ``index[j]`` times
``readout[j]``. The function is preserved when, for every old coordinate ``i``,

.. math:: \\sum_{j:\\, \\text{index}_j = i} \\text{forward}_j \\, \\text{readout}_j = 1,

because then ``x~ W~ = sum_i x_i W_i (sum_j forward_j readout_j) = x W``. A dense layer
``y = x W + b`` whose input axis is mapped by ``rows`` and output axis by ``cols`` becomes

.. math:: \\tilde W_{jl} = W_{\\text{index}_j, \\text{index}_l}\\, r_j f_l, \\qquad
          \\tilde b_l = b_{\\text{index}_l} f_l

(``r`` = ``rows.readout``, ``f`` = ``cols.forward``), which maps ``y`` by ``cols``.
A norm whose input is mapped with the same ``forward = c`` on every coordinate and
exactly ``k`` copies of each sees the same normalised vector if ``eps`` becomes
``c^2 eps``; its gain and bias take the output map's ``forward``. Net2Net (forward 1,
readout = split fractions), Su's "repeat and divide by sqrt k" (forward = readout =
``1/sqrt k``) and HyperCloning (forward 1, readout ``1/k``) are all instances (Chen,
Goodfellow, Shlens 2016, arXiv:1511.05641; https://kexue.fm/archives/8444; Samragh et
al. 2024, arXiv:2409.12903).

Symmetry breaking: adding ``delta_j`` to the rows that read the copies of ``i`` keeps
the function when ``sum_j forward_j delta_j = 0``; :func:`dense` adds such zero-sum
noise (HyperCloning's ``+eps / -eps`` for two copies) when ``noise > 0``. Copies read
only through a product with other copies (q and k) need more: their maps may carry
unequal ``forward`` factors as long as the products keep their sum
(:func:`refimpl.widening.width.widen_hidden`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from refimpl.transformer import TransformerConfig

__all__ = ["AxisMap", "ModelMaps", "uniform_map", "identity_map", "dense", "expand_params",
           "top_norm", "copy_tree", "reciprocal_factors"]


@dataclasses.dataclass(frozen=True)
class AxisMap:
    """New coordinate ``j`` copies old ``index[j]``; states scale by ``forward[j]``,
    reading weight rows by ``readout[j]`` (see the module docstring)."""

    index: np.ndarray
    forward: np.ndarray
    readout: np.ndarray

    def with_forward(self, forward: np.ndarray | float) -> AxisMap:
        """The same copies with another ``forward`` (readout kept)."""
        return dataclasses.replace(self, forward=np.broadcast_to(forward, self.index.shape))


def uniform_map(size: int, k: int, pattern: str, forward: float) -> AxisMap:
    """``k`` copies of each of ``size`` coordinates, ``repeat`` (x1 x1 x2 x2) or ``tile``
    (x1 x2 x1 x2), every copy scaled by ``forward`` and read with ``1 / (k forward)``."""
    base = np.arange(size)
    index = np.repeat(base, k) if pattern == "repeat" else np.tile(base, k)
    ones = np.ones(index.shape)
    return AxisMap(index, forward * ones, ones / (k * forward))


def identity_map(size: int) -> AxisMap:
    """The axis left as it is."""
    ones = np.ones(size)
    return AxisMap(np.arange(size), ones, ones)


@dataclasses.dataclass(frozen=True)
class ModelMaps:
    """The axis maps of one growth move.

    ``hidden`` (residual stream, d_model), ``query`` (the flat ``n_heads * head_dim``
    axis), ``key``/``value`` (the flat ``kv_heads * head_dim`` axes; only ``forward`` of
    query and key is used), ``context`` (the attention output read by ``wo``, one
    ``head_dim`` block per query head; None means ``value``, right when every query
    head has its own value head), ``ffn``
    (the FFN hidden units; ``up`` columns use its forward, ``down`` rows its readout),
    ``gate_forward`` (forward of the gate columns of a gated FFN, 1: a pure copy so
    that the activation commutes), ``mlm_forward`` (forward of the MLM dense output)
    and ``down_bias_forward``
    (None, or an override of the FFN output bias scale: the post's verbatim table).
    """

    hidden: AxisMap
    query: AxisMap
    key: AxisMap
    value: AxisMap
    ffn: AxisMap
    gate_forward: float
    mlm_forward: float
    down_bias_forward: float | None = None
    context: AxisMap | None = None


def copy_tree(tree: Any) -> Any:
    """A deep copy of a nested dict/list of arrays (float64)."""
    if isinstance(tree, dict):
        return {key: copy_tree(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [copy_tree(value) for value in tree]
    return np.array(tree, dtype=np.float64)


def _zero_sum_noise(rows: AxisMap, shape: tuple, noise: float, scale: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise minus its ``forward``-weighted mean over each copy group (rows
    copying the same old row): ``sum_j forward_j delta_j = 0`` over the group, so the
    function is unchanged (the plain mean when the group has one ``forward``).
    """
    draw = rng.standard_normal(shape)
    column = (-1,) + (1,) * (len(shape) - 1)
    sums = np.zeros((int(rows.index.max()) + 1,) + shape[1:])
    np.add.at(sums, rows.index, rows.forward.reshape(column) * draw)
    totals = np.bincount(rows.index, rows.forward).reshape(column)
    return noise * scale * (draw - (sums / totals)[rows.index])


def dense(weight: np.ndarray, bias: np.ndarray | None, rows: AxisMap, cols_index: np.ndarray,
          cols_forward: np.ndarray, noise: float = 0.0, rng: Any = None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """``W~ = W[rows.index, cols_index] * rows.readout * cols_forward``, ``b~ = b[cols] f``.

    With ``noise > 0``, zero-sum noise of standard deviation ``noise * rms`` is added to
    ``W[rows.index] * rows.readout`` across each group of copied rows, before the columns
    are copied: copied output columns stay bit-for-bit copies (their states stay equal
    to the last bit), zeroed columns stay zero.
    """
    read = weight[rows.index] * rows.readout[:, None]
    if noise > 0.0:
        read = read + _zero_sum_noise(rows, read.shape, noise,
                                      float(np.sqrt(np.mean(read**2))), rng)
    return read[:, cols_index] * cols_forward, \
        None if bias is None else bias[cols_index] * cols_forward


def _norm(p: dict, axis: AxisMap) -> dict:
    """Gain and bias of a norm whose output is mapped by ``axis``."""
    return {name: value[axis.index] * axis.forward for name, value in p.items()}


def top_norm(config: TransformerConfig) -> tuple:
    """Key path of the norm whose output feeds the logits (the last norm of the model)."""
    if config.mlm_head:
        return ("mlm", "norm")
    if config.norm_position == "pre":
        return ("final_norm",)
    if config.n_layers:
        return ("layers", config.n_layers - 1, "ffn_norm")
    return ("embedding_norm",)


def _linear_pair(p: dict, names: tuple, rows: AxisMap, cols: AxisMap,
                 forward: np.ndarray, noise: float, rng: Any) -> dict:
    weight, bias = dense(p[names[0]], p.get(names[1]), rows, cols.index, forward, noise, rng)
    return {names[0]: weight, **({} if bias is None else {names[1]: bias})}


def _layer(p: dict, config: TransformerConfig, maps: ModelMaps, out_norm: AxisMap,
           noise: float, rng: Any) -> dict:
    """One layer under ``maps``; ``out_norm`` maps the output of its ffn_norm."""
    h, attn, ffn = maps.hidden, p["attn"], p["ffn"]
    new_attn = {}
    for name, axis in (("q", maps.query), ("k", maps.key), ("v", maps.value)):
        new_attn.update(_linear_pair(attn, ("w" + name, "b" + name), h, axis, axis.forward,
                                     noise, rng))
    context = maps.value if maps.context is None else maps.context
    new_attn.update(_linear_pair(attn, ("wo", "bo"), context, h, h.forward, noise, rng))
    new_ffn = _linear_pair(ffn, ("w_up", "b_up"), h, maps.ffn, maps.ffn.forward, noise, rng)
    if config.gated:
        new_ffn.update(_linear_pair(ffn, ("w_gate", "b_gate"), h, maps.ffn,
                                    maps.gate_forward * np.ones(maps.ffn.index.shape),
                                    noise, rng))
    new_ffn.update(_linear_pair(ffn, ("w_down", "b_down"), maps.ffn, h, h.forward, noise, rng))
    if maps.down_bias_forward is not None and "b_down" in ffn:
        new_ffn["b_down"] = ffn["b_down"][h.index] * maps.down_bias_forward
    return {"attn_norm": _norm(p["attn_norm"], h), "attn": new_attn,
            "ffn_norm": _norm(p["ffn_norm"], out_norm), "ffn": new_ffn}


def reciprocal_factors(shape: tuple[int, ...], noise: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Random positive factors ``s = (1 + noise |z|)^{sign z}``, ``z ~ N(0, 1)``.

    For a pair of axes whose product is what matters (a copy and the row that reads
    it, a query and a key feature), ``x s`` and ``y / s`` keep ``x y``; ``s`` and ``1/s``
    are equally likely, ``|log s| ~ noise |z|`` for small noise, and no draw overflows
    for any finite noise that the zero-sum noise itself survives.
    """
    z = rng.standard_normal(shape)
    magnitude = 1.0 + noise * np.abs(z)
    return np.where(z < 0.0, 1.0 / magnitude, magnitude)


def _top_map(hidden: AxisMap, config: TransformerConfig, noise: float,
             rng: Any) -> AxisMap:
    """Map of the top norm's output, the state the logits read.

    Tied output: its forward is the hidden readout, so that ``h~ E~^T = h E^T`` (Su's
    1/sqrt k cancels itself; pure copies need a ``1/k`` there, as in HyperCloning).
    Untied: the hidden map; with ``noise > 0`` and copies, copy ``j`` times
    ``s_j`` (:func:`reciprocal_factors`) and its output row divided by ``s_j`` (each term
    ``y_j W_j`` unchanged). The output rows read exact copies of the top state, so
    without the factors their gradients would be equal.
    """
    if config.tie_output:
        return AxisMap(hidden.index, hidden.readout, hidden.forward)
    if noise == 0.0 or np.unique(hidden.index).size == hidden.index.size:
        return hidden
    scales = reciprocal_factors(hidden.index.shape, noise, rng)
    return AxisMap(hidden.index, hidden.forward * scales, hidden.readout / scales)


def expand_params(params: dict, config: TransformerConfig, maps: ModelMaps, *,
                  noise: float = 0.0, rng: Any = None) -> dict:
    """Every parameter of ``params`` under ``maps`` (a new tree; ``params`` is not changed).

    The top norm (the last before the logits) is mapped by :func:`_top_map`; its output
    is read only by the output matrix (tied or not).
    """
    h = maps.hidden
    top = _top_map(h, config, noise, rng)
    top_path = top_norm(config)
    new: dict[str, Any] = {"embedding": {name: table[:, h.index] * h.forward
                         for name, table in params["embedding"].items()}}
    for name in ("embedding_norm", "final_norm"):
        if name in params:
            new[name] = _norm(params[name], top if top_path == (name,) else h)
    layers = []
    for i, layer in enumerate(params["layers"]):
        out_norm = top if top_path == ("layers", i, "ffn_norm") else h
        layers.append(_layer(layer, config, maps, out_norm, noise, rng))
    new["layers"] = layers
    if config.mlm_head:
        mlm = params["mlm"]
        new["mlm"] = _linear_pair(mlm, ("w", "b"), h, h, maps.mlm_forward * np.ones(h.index.shape),
                                  noise, rng)
        new["mlm"]["norm"] = _norm(mlm["norm"], top)
    output = {name: value.copy() for name, value in params["output"].items()}
    if not config.tie_output:
        output["w"] = dense(output["w"], None, top, np.arange(config.vocab_size),
                            np.ones(config.vocab_size), noise, rng)[0]
    new["output"] = output
    return new
