"""Width growth by copying: Su's hidden-size scheme, head duplication, the Net2Net FFN split.

* :func:`widen_hidden` is the post "can we losslessly enlarge a Transformer" (kexue.fm
  8444): every hidden coordinate is repeated ``k`` times and divided by ``sqrt k``,
  heads keep their number and grow ``k`` times wider (repetition inside each head),
  q and k carry ``k^(-1/4)`` so that the ``1/sqrt(head_dim)`` scale still matches, the
  FFN's first layer is a pure copy so that any activation commutes with it. Two
  corrections make it exact (derived in ``docs/widening.md``, "The two corrections to
  the post"): the FFN output bias is ``b / sqrt k`` (the post's table says ``b / k``)
  and the norm ``eps`` becomes ``eps / k``. ``faithful=True`` keeps the post's table
  verbatim to show the difference. Under RoPE the post's pairwise repetition puts
  copies on off-grid frequencies and is not exact; ``rope_method`` picks one of three
  exact repairs (``docs/widening.md``).
* :func:`duplicate_heads` is HyperCloning (Samragh et al., "Scaling Smart:
  Accelerating Large Language Model Pre-training with Small Model Initialization",
  2024, arXiv:2409.12903) with Su's ``1/sqrt k``: ``k`` times as many heads of the same
  size, head ``h + H`` a copy of head ``h``; RoPE untouched.
* :func:`split_ffn` is Net2Net's wider net on the FFN (Chen, Goodfellow, Shlens,
  "Net2Net: Accelerating Learning via Knowledge Transfer", ICLR 2016,
  arXiv:1511.05641): new units copy a random unit's incoming weights and the copies
  share its outgoing weights in random fractions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from refimpl import rope
from refimpl._validation import as_generator, as_int, as_scalar, check_choice
from refimpl.transformer import TransformerConfig, check_params
from refimpl.widening.maps import (
    AxisMap,
    ModelMaps,
    expand_params,
    identity_map,
    reciprocal_factors,
    uniform_map,
)

__all__ = ["widen_hidden", "duplicate_heads", "split_ffn", "SCALINGS", "ROPE_METHODS",
           "REPETITIONS"]

SCALINGS = ("orthogonal", "copy")
ROPE_METHODS = ("zero_offgrid", "repeat_frequencies", "pairwise")
REPETITIONS = ("within_head", "tile")


def _hidden_forward(k: int, scaling: str) -> float:
    """``1/sqrt k`` (Su: norm-preserving, eps/k) or ``1`` (HyperCloning: eps unchanged)."""
    check_choice(scaling, "scaling", SCALINGS)
    return 1.0 / np.sqrt(k) if scaling == "orthogonal" else 1.0


def _eps_fields(config: TransformerConfig, k: int, forward: float, mlm_forward: float,
                faithful: bool) -> dict:
    """``norm_eps`` (and ``mlm_norm_eps``) of the widened config.

    A norm whose input carries the factor ``c`` needs ``eps c^2``: ``eps / k`` under
    Su's scaling. The MLM head's norm reads ``act(h W + b)``, a pure copy (``c = 1``)
    unless the activation is ReLU, so its eps may have to stay while the others shrink.
    The post's table (``faithful``) leaves every eps unchanged.
    """
    def factor(c: float) -> float:
        return 1.0 if faithful or c == 1.0 else 1.0 / k

    fields = {"norm_eps": config.norm_eps * factor(forward)}
    if config.mlm_head and (config.mlm_norm_eps is not None
                            or factor(mlm_forward) != factor(forward)):
        fields["mlm_norm_eps"] = config.mlm_eps * factor(mlm_forward)
    return fields


def _ffn_map(config: TransformerConfig, d_ff: int, k: int, pattern: str) -> AxisMap:
    """FFN units: a pure copy before a non-homogeneous activation, ``1/sqrt k`` otherwise
    (ReLU; the linear branch of a gated FFN, whose gate is a pure copy)."""
    forward = 1.0 / np.sqrt(k) if config.activation == "relu" or config.gated else 1.0
    return uniform_map(d_ff, k, pattern, forward)


def _within_head_index(head_dim: int, rotary: int, layout: str, k: int) -> np.ndarray:
    """Old feature of each of the ``k * head_dim`` new features of one head.

    Rotary pairs are repeated as pairs (new pair ``p'`` copies old pair ``p' // k``, in
    the layout's feature positions); the remaining features are repeated one by one.
    """
    pairs = rotary // 2
    source = np.arange(k * pairs) // k
    if layout == "interleaved":
        rotated = np.stack([2 * source, 2 * source + 1], axis=-1).ravel()
    else:
        rotated = np.concatenate([source, pairs + source])
    return np.concatenate([rotated, rotary + np.arange(k * (head_dim - rotary)) // k])


def _on_grid(rotary: int, layout: str, k: int) -> np.ndarray:
    """For each of the ``k * rotary`` new rotary features: does its pair keep the old
    frequency (new pair index divisible by ``k``)?"""
    on = np.arange(k * rotary // 2) % k == 0
    return np.repeat(on, 2) if layout == "interleaved" else np.tile(on, 2)


def grown_inv_freq(config: TransformerConfig, slots: np.ndarray,
                   new_rotary_dim: int) -> tuple | None:
    """Frequency table of a grown rotary block that keeps old pair ``p`` on ``slots[p]``.

    None (the standard table) when the config has none: ``slots[p] = p m`` keeps
    ``base^(-2p/R) = base^(-2pm/(mR))`` bit for bit (both exponents are the correctly
    rounded value of the same fraction). An explicit table is carried over onto
    ``slots`` and filled elsewhere with the standard grid of the new size.
    """
    if config.rope_inv_freq is None:
        return None
    table = rope.inv_freq(new_rotary_dim, config.rope_base)
    table[slots] = config.rope_inv_freq
    return tuple(float(value) for value in table)


def _flat_index(config: TransformerConfig, k: int, rotary: int, repetition: str,
                heads: int | None = None) -> np.ndarray:
    """Old feature of each new feature of a flat ``heads * head_dim`` axis (query heads by
    default; pass ``config.kv_heads`` for keys and values): each head widened by
    :func:`_within_head_index`, or (``"tile"``) the flat axis tiled."""
    heads = config.n_heads if heads is None else heads
    head_dim = config.head_dim
    if repetition == "tile":
        return np.tile(np.arange(heads * head_dim), k)
    within = _within_head_index(head_dim, rotary, config.rope_layout, k)
    return (np.arange(heads)[:, None] * head_dim + within).ravel()


def _reciprocal_scales(config: TransformerConfig, k: int, noise: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random factors ``s`` (:func:`refimpl.widening.maps.reciprocal_factors`) for the
    ``k * head_dim`` features of each widened key head, one per rotary pair (its two
    features share it) and one per unrotated feature; returned for the flat query axis
    (each key head's factors repeated for the query heads of its group) and the flat
    key axis.

    Multiplying query feature ``j`` by ``s_j`` and key feature ``j`` by ``1 / s_j``
    leaves every term ``q_j k_j`` of the score unchanged, and under RoPE
    ``(s q_p)^T R (k_p / s) = q_p^T R k_p`` because a scalar commutes with the rotation
    of pair ``p``; it holds for every ``rope_method`` and repetition. It breaks the
    symmetry of the q/k copies: the gradient of a query copy is built from its key
    copy (``dL/dq_j = dL/dscore k_j``) and vice versa, so unequal factors give unequal
    gradients to both (zero-sum noise on q alone would leave wq's gradients equal).
    With grouped-query heads every query head of a group meets the same key copy, so
    they share its factors.
    """
    rotary = k * (config.rope_dim if config.positions == "rope" else 0)
    pairs = reciprocal_factors((config.kv_heads, rotary // 2), noise, rng)
    paired = np.repeat(pairs, 2, axis=1) if config.rope_layout == "interleaved" \
        else np.tile(pairs, 2)
    rest = reciprocal_factors((config.kv_heads, k * config.head_dim - rotary), noise, rng)
    per_key_head = np.concatenate([paired, rest], axis=1)
    return np.repeat(per_key_head, config.groups, axis=0).ravel(), per_key_head.ravel()


def _qk_maps(config: TransformerConfig, k: int, rope_method: str, repetition: str,
             scales: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[AxisMap, AxisMap]:
    """Query and key maps of the flat axes; their products sum to ``sqrt k`` (scaled
    attention) or 1 over the copies that meet on the same frequency. Query feature
    ``j`` is multiplied by ``scales[0][j]``, the key feature it meets divided by the same
    number (:func:`_reciprocal_scales`)."""
    head_dim = config.head_dim
    rotary = config.rope_dim if config.positions == "rope" else 0
    index = _flat_index(config, k, rotary, repetition)
    key_index = _flat_index(config, k, rotary, repetition, config.kv_heads)
    c = k ** -0.25 if config.attention_scale else k ** -0.5
    q_head, k_head = np.full(k * head_dim, c), np.full(k * head_dim, c)
    if rotary and rope_method == "zero_offgrid" and repetition == "within_head":
        on = _on_grid(rotary, config.rope_layout, k)
        q_head[:k * rotary] *= np.sqrt(k)
        k_head[:k * rotary] = np.where(on, c * np.sqrt(k), 0.0)
    q_scales, k_scales = (1.0, 1.0) if scales is None else scales
    return (AxisMap(index, np.tile(q_head, config.n_heads) * q_scales, np.ones(index.shape)),
            AxisMap(key_index, np.tile(k_head, config.kv_heads) / k_scales,
                    np.ones(key_index.shape)))


def _rope_fields(config: TransformerConfig, k: int, rope_method: str) -> dict:
    """``rotary_dim`` and ``rope_inv_freq`` of the widened config."""
    fields: dict[str, Any] = {
        "rotary_dim": None if config.rotary_dim is None else k * config.rotary_dim}
    if config.positions != "rope":
        return fields
    pairs = config.rope_dim // 2
    if rope_method == "repeat_frequencies":
        table = rope.inv_freq(config.rope_dim, config.rope_base) \
            if config.rope_inv_freq is None else np.asarray(config.rope_inv_freq)
        fields["rope_inv_freq"] = tuple(float(value) for value in np.repeat(table, k))
    else:
        fields["rope_inv_freq"] = grown_inv_freq(config, k * np.arange(pairs),
                                                 k * config.rope_dim)
    return fields


def _copy_map(index: np.ndarray, k: int, forward: float) -> AxisMap:
    """``k`` copies of each coordinate along ``index``, scaled by ``forward``, read with
    ``1 / (k forward)``."""
    return AxisMap(index, np.full(index.shape, forward), np.full(index.shape, 1.0 / (k * forward)))


def _factor(k: Any) -> int:
    return as_int(k, "k", minimum=1)


def widen_hidden(params: dict, config: TransformerConfig, k: int, *,
                 rope_method: str | None = None, scaling: str = "orthogonal",
                 faithful: bool = False, repetition: str = "within_head",
                 noise: float = 0.0, rng: Any = None) -> tuple[dict, TransformerConfig]:
    """Su's widening: ``d_model``, ``head_dim`` and ``d_ff`` times ``k``, same heads and depth.

    Every hidden state becomes ``repeat(h, k) * c`` (``c = 1/sqrt k``, or 1 with
    ``scaling="copy"``). Per layer, with source indices repeated:

    .. math::

        \\tilde W_{q,k} = W \\cdot \\frac{k^{-1/4}}{k c},\\quad
        \\tilde W_v = W \\cdot \\frac{c}{k c},\\quad
        \\tilde W_{up} = \\frac{W}{k c},\\quad
        \\tilde W_{down} = W \\cdot \\frac{c}{k},\\quad
        \\tilde b_{down} = c\\, b,\\quad \\widetilde{\\text{eps}} = c^2\\,\\text{eps}

    (``k^{-1/2}`` instead of ``k^{-1/4}`` without the attention scale; the up
    projection and MLM dense are pure copies before a non-homogeneous activation, and
    take the plain ``1/sqrt k`` for ReLU and for the linear branch of GEGLU/SwiGLU.)

    Parameters
    ----------
    params, config
        A model of :mod:`refimpl.transformer` (not modified).
    k : int
        Width factor, >= 1.
    rope_method : {"zero_offgrid", "repeat_frequencies", "pairwise"}, optional
        With RoPE, new pair ``p'`` copies old pair ``p' // k`` (the post's pairwise
        repetition), and only the pairs ``p' = k p`` keep their frequency on the
        standard grid of the wider head. ``"zero_offgrid"`` (default) zeroes the keys
        on the other pairs and scales q and the kept keys by ``sqrt k``: exact, standard
        RoPE. ``"repeat_frequencies"`` sets ``rope_inv_freq = repeat(inv_freq, k)``:
        exact, non-standard table. ``"pairwise"`` (the post; default when faithful) is
        *not* exact. Head duplication (:func:`duplicate_heads`) is the third exact way.
    scaling : {"orthogonal", "copy"}
        ``c = 1/sqrt k`` (the post, norm-preserving; ``norm_eps / k``, and the MLM norm
        keeps its eps in ``mlm_norm_eps`` when it reads a pure copy) or ``c = 1`` (pure
        copies, HyperCloning; eps unchanged, the last norm takes ``1/k`` under a tied
        output).
    faithful : bool
        The post's table verbatim: FFN output bias ``b/k`` for GELU-type FFNs (ReLU
        FFNs take the post's plain, exact rule; the post gives no table for GLU FFNs,
        which keep the exact split), every eps unchanged, pairwise RoPE. Not
        function-preserving; here to measure the corrections. Only with
        ``scaling="orthogonal"`` (the post's map); ``scaling="copy"`` raises.
    repetition : {"within_head", "tile"}
        ``"tile"`` tiles the flat q/k/v axis instead (the post's counterexample): it mixes
        heads, so it is exact only with one head and no RoPE.
    noise : float
        Relative standard deviation of function-preserving zero-sum noise on the rows
        that read copies (see :func:`refimpl.widening.maps.dense`), and size of
        reciprocal random factors on the q and k features (q times ``s``, k divided by
        ``s``, one ``s`` per rotary pair,
        :func:`refimpl.widening.maps.reciprocal_factors`) and, with an untied output,
        between the top norm's copies and the output rows: symmetry breaking
        (docs/widening.md).
    rng : None, int or numpy.random.Generator
        Source of the noise.

    Returns
    -------
    (params, config) of the widened model.

    Examples
    --------
    >>> from refimpl.transformer import TransformerConfig, forward, init_params
    >>> config = TransformerConfig(vocab_size=7, d_model=4, n_heads=2, head_dim=2,
    ...                            d_ff=8, n_layers=1)
    >>> params = init_params(config, rng=0, std=0.5)
    >>> wide, wide_config = widen_hidden(params, config, 2)
    >>> wide_config.d_model, wide_config.head_dim, wide_config.norm_eps
    (8, 4, 5e-06)
    >>> tokens = [0, 3, 6, 2]
    >>> error = forward(wide, wide_config, tokens)[0] - forward(params, config, tokens)[0]
    >>> bool(np.max(np.abs(error)) < 1e-12)
    True
    """
    check_params(params, config)
    k = _factor(k)
    rope_method = ("pairwise" if faithful else "zero_offgrid") if rope_method is None \
        else check_choice(rope_method, "rope_method", ROPE_METHODS)
    check_choice(repetition, "repetition", REPETITIONS)
    noise = as_scalar(noise, "noise", nonnegative=True)
    generator = as_generator(rng)
    forward = _hidden_forward(k, scaling)
    if faithful and scaling != "orthogonal":
        raise ValueError(
            f"faithful=True is the post's table, written for its 1/sqrt k map "
            f"(scaling='orthogonal'); it has no meaning with scaling={scaling!r}")
    scales = _reciprocal_scales(config, k, noise, generator) if noise > 0.0 and k > 1 else None
    query, key = _qk_maps(config, k, rope_method, repetition, scales)
    value, context = (_copy_map(_flat_index(config, k, 0, repetition, heads), k, forward)
                      for heads in (config.kv_heads, config.n_heads))   # v is not rotated
    homogeneous_ffn = config.activation == "relu" or config.gated
    maps = ModelMaps(
        hidden=uniform_map(config.d_model, k, "repeat", forward), query=query, key=key,
        value=value, ffn=_ffn_map(config, config.d_ff, k, "repeat"), gate_forward=1.0,
        mlm_forward=forward if config.activation == "relu" else 1.0,
        down_bias_forward=forward / np.sqrt(k) if faithful and not homogeneous_ffn else None,
        context=context)
    new_config = dataclasses.replace(
        config, d_model=k * config.d_model, head_dim=k * config.head_dim,
        d_ff=k * config.d_ff, **_rope_fields(config, k, rope_method),
        **_eps_fields(config, k, forward, maps.mlm_forward, faithful))
    return expand_params(params, config, maps, noise=noise, rng=generator), new_config


def duplicate_heads(params: dict, config: TransformerConfig, k: int, *,
                    scaling: str = "orthogonal", noise: float = 0.0,
                    rng: Any = None) -> tuple[dict, TransformerConfig]:
    """``k`` times the heads, ``d_model`` and ``d_ff``, same ``head_dim``: head ``h + jH``
    copies head ``h``.

    The hidden state becomes ``tile(h, k) * c`` (``c = 1/sqrt k`` or 1, as in
    :func:`widen_hidden`); q and k of each copied head are *pure* copies
    (``W~ = tile(W) / (k c)``, ``b~ = tile(b)``), so scores, the ``1/sqrt(head_dim)``
    scale and RoPE are untouched; v carries ``c``, the output projection reads with
    ``1/(k c)``; the FFN and norms follow :func:`widen_hidden`. With grouped-query
    attention the key/value heads are copied the same way (``kv_heads`` times ``k``):
    query head ``h + jH`` then reads key/value head ``(h + jH) / G = h / G + j H_kv``,
    the copy of the one head ``h`` read. HyperCloning (Samragh et al., "Scaling Smart:
    Accelerating Large Language Model Pre-training with Small Model Initialization",
    2024, arXiv:2409.12903) with Su's ``1/sqrt k`` (https://kexue.fm/archives/8444).

    Examples
    --------
    >>> from refimpl.transformer import TransformerConfig, forward, init_params
    >>> config = TransformerConfig(vocab_size=7, d_model=4, n_heads=2, head_dim=2,
    ...                            d_ff=8, n_layers=1)
    >>> params = init_params(config, rng=0, std=0.5)
    >>> wide, wide_config = duplicate_heads(params, config, 3)
    >>> wide_config.n_heads, wide_config.head_dim, wide_config.d_model
    (6, 2, 12)
    >>> error = forward(wide, wide_config, [1, 2])[0] - forward(params, config, [1, 2])[0]
    >>> bool(np.max(np.abs(error)) < 1e-12)
    True
    """
    check_params(params, config)
    k = _factor(k)
    noise = as_scalar(noise, "noise", nonnegative=True)
    forward = _hidden_forward(k, scaling)
    width, kv_width = config.n_heads * config.head_dim, config.kv_heads * config.head_dim
    maps = ModelMaps(
        hidden=uniform_map(config.d_model, k, "tile", forward),
        query=uniform_map(width, k, "tile", 1.0), key=uniform_map(kv_width, k, "tile", 1.0),
        value=uniform_map(kv_width, k, "tile", forward),
        ffn=_ffn_map(config, config.d_ff, k, "tile"), gate_forward=1.0,
        mlm_forward=forward if config.activation == "relu" else 1.0,
        context=uniform_map(width, k, "tile", forward))
    kv_heads = None if config.n_kv_heads is None else k * config.n_kv_heads
    new_config = dataclasses.replace(
        config, d_model=k * config.d_model, n_heads=k * config.n_heads, n_kv_heads=kv_heads,
        d_ff=k * config.d_ff, **_eps_fields(config, k, forward, maps.mlm_forward, False))
    return expand_params(params, config, maps, noise=noise, rng=as_generator(rng)), new_config


def split_ffn(params: dict, config: TransformerConfig, d_ff: int, *, noise: float = 0.0,
              rng: Any = None) -> tuple[dict, TransformerConfig]:
    """Net2Net's wider FFN: ``d_ff`` units, the new ones copies of random old ones.

    Unit ``j`` copies unit ``g(j)`` (``g(j) = j`` for the old units, uniform draws for
    the new ones): ``W_up[:, j] = W_up[:, g(j)]`` (and the gate, and the biases), so its
    activation equals that of ``g(j)`` for *any* activation; the outgoing row is split,
    ``W_down[j] = lambda_j W_down[g(j)]`` with random unequal fractions ``lambda > 0``
    summing to 1 over each group of copies, so the sum is unchanged. The unequal split
    already makes the copies' gradients differ. Chen, Goodfellow and Shlens 2016
    (Net2Net); here without Net2Net's non-preserving noise (``noise`` adds zero-sum
    noise instead).

    Examples
    --------
    >>> from refimpl.transformer import TransformerConfig, forward, init_params
    >>> config = TransformerConfig(vocab_size=7, d_model=4, n_heads=2, head_dim=2,
    ...                            d_ff=3, n_layers=1, activation="swiglu")
    >>> params = init_params(config, rng=0, std=0.5)
    >>> wide, wide_config = split_ffn(params, config, 5, rng=1)
    >>> wide["layers"][0]["ffn"]["w_down"].shape
    (5, 4)
    >>> error = forward(wide, wide_config, [1, 2])[0] - forward(params, config, [1, 2])[0]
    >>> bool(np.max(np.abs(error)) < 1e-12)
    True
    """
    check_params(params, config)
    d_ff = as_int(d_ff, "d_ff", minimum=config.d_ff)
    noise = as_scalar(noise, "noise", nonnegative=True)
    generator = as_generator(rng)
    index = np.concatenate([np.arange(config.d_ff),
                            generator.integers(0, config.d_ff, d_ff - config.d_ff)])
    weights = generator.uniform(0.5, 1.5, d_ff)
    fractions = weights / np.bincount(index, weights)[index]
    width, kv_width = config.n_heads * config.head_dim, config.kv_heads * config.head_dim
    maps = ModelMaps(hidden=identity_map(config.d_model), query=identity_map(width),
                     key=identity_map(kv_width), value=identity_map(kv_width),
                     context=identity_map(width),
                     ffn=AxisMap(index, np.ones(d_ff), fractions), gate_forward=1.0,
                     mlm_forward=1.0)
    new_config = dataclasses.replace(config, d_ff=d_ff)
    return expand_params(params, config, maps, noise=noise, rng=generator), new_config
