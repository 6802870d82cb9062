"""New attention capacity with zero effect: extra heads, and wider heads under RoPE.

* :func:`add_heads` appends heads with random q, k, v and a zero output projection:
  they attend, but nothing they compute reaches the residual stream (Gesmundo and
  Maile 2023, "head addition"; MSG's masked heads at mask 0). In a grouped-query model
  the new query heads join the existing key/value heads, at the end of each group, so
  every old query head keeps reading the key/value head it read.
* :func:`grow_head_dim` widens every head. With RoPE each old pair must stay on a slot
  of the new frequency grid with the same frequency: with ``base^(-2i/R)`` and a new
  rotary size ``R' = m R``, old pair ``p`` moves to slot ``m p``
  (``base^(-2mp/(mR)) = base^(-2p/R)``), so ``m`` must be an integer (any ``R'`` works
  when there is one pair). New features get random queries and zero keys (they add
  nothing to the scores); new value features get a zero output projection; q and k
  are multiplied by ``(head_dim'/head_dim)^(1/4)`` to undo the change of
  ``1/sqrt(head_dim)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from refimpl._validation import as_generator, as_int, as_scalar
from refimpl.transformer import TransformerConfig, check_params
from refimpl.widening.maps import copy_tree
from refimpl.widening.width import grown_inv_freq

__all__ = ["add_heads", "grow_head_dim"]


def _new_columns(weight: np.ndarray, heads: int, head_dim: int, positions: np.ndarray,
                 new_head_dim: int, scale: float, fill: np.ndarray) -> np.ndarray:
    """Last axis ``heads * head_dim`` -> ``heads * new_head_dim``: old feature ``f`` of
    each head to ``positions[f]`` times ``scale``; the other entries from ``fill``."""
    new = fill.reshape(weight.shape[:-1] + (heads, new_head_dim)).copy()
    new[..., positions] = scale * weight.reshape(weight.shape[:-1] + (heads, head_dim))
    return new.reshape(weight.shape[:-1] + (heads * new_head_dim,))


def add_heads(params: dict, config: TransformerConfig, n_heads: int, *, std: float = 0.02,
              rng: Any = None) -> tuple[dict, TransformerConfig]:
    """Grow to ``n_heads`` heads: new q, k, v columns ``N(0, std^2)`` (biases 0), new
    rows of the output projection 0.

    .. math:: \\tilde W_o = \\begin{bmatrix} W_o \\\\ 0 \\end{bmatrix}
              \\;\\Rightarrow\\; [c, c_{new}] \\tilde W_o = c W_o

    Exact for every config. The new heads' q, k, v start with zero gradient (their
    output is multiplied by 0); their output rows do not, so they start learning at once.

    With ``n_kv_heads`` set (grouped-query or multi-query attention) no key/value head
    is added: ``n_heads`` must stay a multiple of ``n_kv_heads``, and each group of
    ``G = n_heads / n_kv_heads`` query heads grows to ``G'`` by new heads appended at
    its end (query head ``h`` reads key/value head ``h // G``, so the order matters).

    Examples
    --------
    >>> from refimpl.transformer import TransformerConfig, forward, init_params
    >>> config = TransformerConfig(vocab_size=7, d_model=4, n_heads=1, head_dim=2,
    ...                            d_ff=4, n_layers=1)
    >>> params = init_params(config, rng=0, std=0.5)
    >>> wide, wide_config = add_heads(params, config, 3, rng=1)
    >>> wide["layers"][0]["attn"]["wq"].shape, wide_config.n_heads
    ((4, 6), 3)
    >>> bool(np.all(forward(wide, wide_config, [1, 2])[0] == forward(params, config, [1, 2])[0]))
    True
    """
    check_params(params, config)
    n_heads = as_int(n_heads, "n_heads", minimum=config.n_heads)
    std = as_scalar(std, "std", nonnegative=True)
    generator = as_generator(rng)
    if config.n_kv_heads is not None:
        return _add_grouped_heads(params, config, n_heads, std, generator)
    extra = (n_heads - config.n_heads) * config.head_dim
    new = copy_tree(params)
    for layer in new["layers"]:
        attn = layer["attn"]
        for name in ("q", "k", "v"):
            weight = attn["w" + name]
            attn["w" + name] = np.concatenate(
                [weight, std * generator.standard_normal((weight.shape[0], extra))], axis=1)
            if "b" + name in attn:
                attn["b" + name] = np.concatenate([attn["b" + name], np.zeros(extra)])
        attn["wo"] = np.concatenate([attn["wo"], np.zeros((extra, config.d_model))])
    return new, dataclasses.replace(config, n_heads=n_heads)


def _add_grouped_heads(params: dict, config: TransformerConfig, n_heads: int, std: float,
                       rng: np.random.Generator) -> tuple[dict, TransformerConfig]:
    """:func:`add_heads` for a model with ``n_kv_heads``: new query heads at the end of
    each group, no new key/value heads."""
    kv_heads, head_dim, old = config.kv_heads, config.head_dim, config.groups
    if n_heads % kv_heads:
        raise ValueError(f"n_heads must stay a multiple of n_kv_heads={kv_heads} (each "
                         f"key/value head serves a whole group of query heads), got "
                         f"n_heads={n_heads}")
    grown = n_heads // kv_heads
    new = copy_tree(params)

    def grouped(columns: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """``(..., kv_heads * old * head_dim)`` with each group extended by ``fill``."""
        lead = columns.shape[:-1]
        groups = columns.reshape(lead + (kv_heads, old, head_dim))
        extra = fill.reshape(lead + (kv_heads, grown - old, head_dim))
        return np.concatenate([groups, extra], axis=-2).reshape(lead + (n_heads * head_dim,))

    extra_width = (n_heads - config.n_heads) * head_dim
    for layer in new["layers"]:
        attn = layer["attn"]
        attn["wq"] = grouped(attn["wq"], std * rng.standard_normal((config.d_model,
                                                                    extra_width)))
        if "bq" in attn:
            attn["bq"] = grouped(attn["bq"], np.zeros(extra_width))
        attn["wo"] = grouped(attn["wo"].T, np.zeros((config.d_model, extra_width))).T.copy()
    return new, dataclasses.replace(config, n_heads=n_heads)


def _feature_positions(config: TransformerConfig, head_dim: int,
                       rotary_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """New position of each old feature of a head, and the old pairs' new slots.

    Raises when an old pair has no slot of the new grid with its frequency.
    """
    old_rotary = config.rope_dim if config.positions == "rope" else 0
    pairs = old_rotary // 2
    if old_rotary and (pairs > 1 and rotary_dim % old_rotary or rotary_dim < old_rotary):
        raise ValueError(
            f"head_dim growth must keep RoPE's frequency grid: the rotary size must grow by "
            f"an integer factor so that old pair p lands on slot m*p with the same frequency "
            f"base^(-2p/R); got rotary_dim {old_rotary} -> {rotary_dim} (head_dim "
            f"{config.head_dim} -> {head_dim})")
    if head_dim - rotary_dim < config.head_dim - old_rotary:
        raise ValueError(
            f"head_dim={head_dim} with rotary_dim={rotary_dim} leaves fewer unrotated "
            f"features than the model has ({config.head_dim - old_rotary})")
    slots = np.arange(pairs) * (rotary_dim // old_rotary if pairs > 1 else 1)
    if config.rope_layout == "interleaved":
        rotated = np.stack([2 * slots, 2 * slots + 1], axis=-1).ravel()
    else:
        rotated = np.concatenate([slots, rotary_dim // 2 + slots])
    rest = rotary_dim + np.arange(config.head_dim - old_rotary)
    return np.concatenate([rotated, rest]).astype(np.intp), slots


def grow_head_dim(params: dict, config: TransformerConfig, head_dim: int, *,
                  rotary_dim: int | None = None, std: float = 0.02,
                  rng: Any = None) -> tuple[dict, TransformerConfig]:
    """Widen every head to ``head_dim`` features, keeping the scores and outputs.

    .. math:: \\tilde q = s\\,[q \\text{ on its slots}, \\text{random}],\\quad
              \\tilde k = s\\,[k \\text{ on its slots}, 0],\\quad
              s = (\\tilde d / d)^{1/4}

    (``s = 1`` without the attention scale), so ``q~.k~ / sqrt(d~) = q.k / sqrt(d)``;
    value features are appended with random weights and zero output-projection rows.

    Parameters
    ----------
    head_dim : int
        New head size, ``>= config.head_dim`` (even with RoPE).
    rotary_dim : int, optional
        New rotated size under partial rotary (default: unchanged); with full rotary
        (``config.rotary_dim`` None) it is ``head_dim``. Must be ``m * rotary_dim`` for
        an integer ``m`` (any size with a single pair).
    std : float
        Standard deviation of the new random query and value weights.
    rng : None, int or numpy.random.Generator

    Raises
    ------
    ValueError
        Shrinking, or a rotary size that takes an old pair off the frequency grid.

    Examples
    --------
    >>> from refimpl.transformer import TransformerConfig, forward, init_params
    >>> config = TransformerConfig(vocab_size=7, d_model=4, n_heads=2, head_dim=4,
    ...                            d_ff=4, n_layers=1, rope_layout="half")
    >>> params = init_params(config, rng=0, std=0.5)
    >>> wide, wide_config = grow_head_dim(params, config, 8, rng=1)
    >>> error = forward(wide, wide_config, [1, 2, 3])[0] - forward(params, config, [1, 2, 3])[0]
    >>> bool(np.max(np.abs(error)) < 1e-12)
    True
    >>> grow_head_dim(params, config, 6)
    Traceback (most recent call last):
    ...
    ValueError: head_dim growth must keep RoPE's frequency grid: ... (head_dim 4 -> 6)
    """
    check_params(params, config)
    head_dim = as_int(head_dim, "head_dim", minimum=config.head_dim)
    std = as_scalar(std, "std", nonnegative=True)
    generator = as_generator(rng)
    rope_on = config.positions == "rope"
    if rotary_dim is not None and (not rope_on or config.rotary_dim is None):
        raise ValueError("rotary_dim can only be given for a model with partial rotary "
                         f"RoPE, got rotary_dim={rotary_dim!r}")
    new_rotary = config.rotary_dim if rotary_dim is None else as_int(rotary_dim, "rotary_dim")
    new_config = dataclasses.replace(config, head_dim=head_dim, rotary_dim=new_rotary,
                                     rope_inv_freq=None)
    positions, slots = _feature_positions(config, head_dim,
                                          new_config.rope_dim if rope_on else 0)
    if rope_on:
        new_config = dataclasses.replace(
            new_config, rope_inv_freq=grown_inv_freq(config, slots, new_config.rope_dim))
    scale = (head_dim / config.head_dim) ** 0.25 if config.attention_scale else 1.0
    value_positions = np.arange(config.head_dim)
    old = config.head_dim
    new = copy_tree(params)
    for layer in new["layers"]:
        attn = layer["attn"]
        for name, where, factor, random in (("q", positions, scale, True),
                                            ("k", positions, scale, False),
                                            ("v", value_positions, 1.0, True)):
            heads = config.n_heads if name == "q" else config.kv_heads
            weight = attn["w" + name]
            fill = std * generator.standard_normal((weight.shape[0], heads * head_dim)) \
                if random else np.zeros((weight.shape[0], heads * head_dim))
            attn["w" + name] = _new_columns(weight, heads, old, where, head_dim, factor, fill)
            if "b" + name in attn:
                attn["b" + name] = _new_columns(attn["b" + name], heads, old, where, head_dim,
                                                factor, np.zeros(heads * head_dim))
        heads = config.n_heads
        attn["wo"] = _new_columns(attn["wo"].T, heads, old, value_positions, head_dim, 1.0,
                                  np.zeros((config.d_model, heads * head_dim))).T.copy()
    return new, new_config
