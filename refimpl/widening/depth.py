"""Depth growth: identity blocks inserted into a pre-LN Transformer.

A pre-LN block is ``h + attn(norm(h))`` then ``+ ffn(norm(.))``; with the attention
output projection and the FFN down projection (weights and biases) set to zero both
residual branches add exactly 0, so the block is the identity for every input, while
its other weights are random and start learning through the zeroed projections
(Net2Net's deeper net needs ``phi(I phi(v)) = phi(v)``; the residual form needs nothing).

Post-LN has no such block that we know of, and here is why it is not a matter of
choosing weights. A post-LN block ends in a norm: ``out = norm2(z)``. Its input ``h``
is the output of the previous norm, ``h = gamma x_hat + beta`` with ``x_hat`` the
standardised previous input, whose variance is ``v = s^2 / (s^2 + eps) < 1`` (``s^2``
the variance before that norm). Taking ``norm2`` with the same ``gamma, beta``,
``out = h`` needs ``z_hat = x_hat``, i.e. ``z = c x_hat + const`` with
``c = sqrt(eps / (1 - v))``: a per-token factor that depends non-polynomially on the
token's own ``|x_hat|``. Zero branches give ``c = 1`` (so ``norm(norm(h)) != h``);
attention mixes tokens; a ReLU FFN is piecewise linear in ``h`` and cannot produce
``c(|x_hat|) x_hat`` exactly (for GELU/SiLU we have no proof, only no construction).
So :func:`add_layers` refuses post-LN models instead of returning an approximation
(MSG's gate ``m layer(h) + (1 - m) h`` is the known workaround; it is outside this
model).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from refimpl._validation import as_generator, as_int, as_scalar
from refimpl.transformer import TransformerConfig, check_params, init_params
from refimpl.widening.maps import copy_tree

__all__ = ["add_layers", "identity_layer"]


def identity_layer(config: TransformerConfig, *, std: float = 0.02, rng: Any = None) -> dict:
    """One pre-LN layer that computes the identity: :func:`refimpl.transformer.init_params`
    weights (norm gains 1, biases 0, matrices ``N(0, std^2)``) with ``wo``, ``bo``,
    ``w_down``, ``b_down`` set to zero.

    Examples
    --------
    >>> from refimpl.transformer import TransformerConfig, block_forward
    >>> config = TransformerConfig(vocab_size=7, d_model=4, n_heads=2, head_dim=2,
    ...                            d_ff=4, n_layers=1)
    >>> h = np.random.default_rng(0).standard_normal((3, 4))
    >>> bool(np.all(block_forward(identity_layer(config, rng=1), config, h)[0] == h))
    True
    """
    _require_pre_ln(config)
    std = as_scalar(std, "std", nonnegative=True)
    layer = init_params(dataclasses.replace(config, n_layers=1), as_generator(rng),
                        std=std)["layers"][0]
    for sublayer, names in (("attn", ("wo", "bo")), ("ffn", ("w_down", "b_down"))):
        for name in names:
            if name in layer[sublayer]:
                layer[sublayer][name] = np.zeros_like(layer[sublayer][name])
    return layer


def _require_pre_ln(config: TransformerConfig) -> None:
    if config.norm_position != "pre":
        raise ValueError(
            "depth growth needs norm_position='pre': a post-LN block ends in a norm, so "
            "zeroing its branches gives norm(norm(h)), not h, and no choice of weights makes "
            "it the identity for every input (see refimpl.widening.depth)")


def add_layers(params: dict, config: TransformerConfig, n_layers: int, *, at: int | None = None,
               std: float = 0.02, rng: Any = None) -> tuple[dict, TransformerConfig]:
    """Grow to ``n_layers`` layers by inserting :func:`identity_layer` blocks before layer
    ``at`` (default: at the top, after the last layer).

    Exact for pre-LN models (every activation, norm and position scheme); raises
    ``ValueError`` for post-LN (no exact identity block; module docstring).

    Examples
    --------
    >>> from refimpl.transformer import TransformerConfig, forward, init_params
    >>> config = TransformerConfig(vocab_size=7, d_model=4, n_heads=2, head_dim=2,
    ...                            d_ff=4, n_layers=1)
    >>> params = init_params(config, rng=0, std=0.5)
    >>> deep, deep_config = add_layers(params, config, 3, at=0, rng=1)
    >>> deep_config.n_layers
    3
    >>> bool(np.all(forward(deep, deep_config, [1, 2])[0] == forward(params, config, [1, 2])[0]))
    True
    """
    check_params(params, config)
    _require_pre_ln(config)
    n_layers = as_int(n_layers, "n_layers", minimum=config.n_layers)
    at = config.n_layers if at is None else as_int(at, "at", minimum=0)
    if at > config.n_layers:
        raise ValueError(f"at must lie in [0, {config.n_layers}], got {at}")
    generator = as_generator(rng)
    new = copy_tree(params)
    fresh = [identity_layer(config, std=std, rng=generator)
             for _ in range(n_layers - config.n_layers)]
    new["layers"] = new["layers"][:at] + fresh + new["layers"][at:]
    return new, dataclasses.replace(config, n_layers=n_layers)
