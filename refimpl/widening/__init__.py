"""Function-preserving growth of the reference Transformer (:mod:`refimpl.transformer`).

Every move takes ``(params, config)`` and returns a new ``(params, config)`` whose
model computes the same logits for every input, to float64 round-off (the tests ask
``max |logits_wide - logits_small| <= 1e-12 max(1, |logits|)``); the inputs are never
modified.

* :func:`widen_hidden` -- the post "can we losslessly enlarge a Transformer" (kexue.fm
  8444): ``d_model``, ``head_dim``, ``d_ff`` times ``k`` by "repeat and divide by
  sqrt k", with the two corrections that make it exact (FFN output bias ``b/sqrt k``,
  norm ``eps/k``) and three exact RoPE repairs; ``faithful=True`` is the post verbatim.
* :func:`duplicate_heads` -- ``k`` times the heads at the same head size (HyperCloning,
  "Su-scaled"); exact with RoPE and tied embeddings.
* :func:`split_ffn` -- Net2Net: wider FFN by copying units and splitting their
  outgoing weights in random fractions.
* :func:`add_heads`, :func:`grow_head_dim` -- new heads with a zero output projection;
  wider heads that keep RoPE's frequency grid.
* :func:`add_layers` -- identity blocks (pre-LN only; post-LN raises, see
  :mod:`refimpl.widening.depth`).
* :func:`widen` -- composes them to reach a target config; ``noise > 0`` adds
  function-preserving zero-sum noise across copies (and reciprocal random scales on the
  q/k features of :func:`widen_hidden`) so that the copies' gradients differ (exact
  copies get identical gradients and stay identical under SGD and Adam).

The copying moves share one rule (:mod:`refimpl.widening.maps`): a new coordinate
copies an old one times ``forward``, weight rows reading it are scaled by ``readout``,
and the products sum to 1 over each group of copies. Background and the measured errors
of the post's table: ``docs/widening.md``. Sources: Su, https://kexue.fm/archives/8444
(2021); Chen, Goodfellow, Shlens, "Net2Net", ICLR 2016, arXiv:1511.05641; Samragh et
al., "Scaling Smart" (HyperCloning), 2024, arXiv:2409.12903; Gesmundo and Maile,
"Composable function-preserving expansions for Transformer architectures", 2023,
arXiv:2308.06103.
"""

from __future__ import annotations

from typing import Any

from refimpl._validation import as_generator, as_int, as_scalar, check_choice
from refimpl.transformer import TransformerConfig, check_params
from refimpl.widening.depth import add_layers, identity_layer
from refimpl.widening.heads import add_heads, grow_head_dim
from refimpl.widening.maps import copy_tree
from refimpl.widening.width import (
    REPETITIONS,
    ROPE_METHODS,
    SCALINGS,
    duplicate_heads,
    split_ffn,
    widen_hidden,
)

__all__ = ["widen", "widen_hidden", "duplicate_heads", "split_ffn", "add_heads",
           "grow_head_dim", "add_layers", "identity_layer", "METHODS", "ROPE_METHODS",
           "SCALINGS", "REPETITIONS"]

METHODS = ("duplicate_heads", "su")


def _target(value: Any, name: str, current: int) -> int:
    """A target size, at least ``current`` (None means ``current``)."""
    if value is None:
        return current
    value = as_int(value, name, minimum=0)
    if value < current:
        raise ValueError(f"{name}={value} would shrink the model ({name} is {current} after "
                         f"the earlier moves); growth moves only grow")
    return value


def _hidden_factor(config: TransformerConfig, d_model: Any) -> int:
    """``d_model / config.d_model`` as an integer, or raise."""
    d_model = _target(d_model, "d_model", config.d_model)
    if d_model % config.d_model:
        raise ValueError(f"d_model must grow by an integer factor (every coordinate is "
                         f"copied k times), got {config.d_model} -> {d_model}")
    return d_model // config.d_model


def widen(params: dict, config: TransformerConfig, *, d_model: int | None = None,
          n_heads: int | None = None, head_dim: int | None = None, d_ff: int | None = None,
          n_layers: int | None = None, method: str = "duplicate_heads",
          rope_method: str | None = None, scaling: str = "orthogonal", noise: float = 0.0,
          std: float = 0.02, rng: Any = None) -> tuple[dict, TransformerConfig]:
    """Grow a model to the target sizes with function-preserving moves, in this order:

    1. ``d_model`` by an integer factor ``k``: ``method="duplicate_heads"`` (heads and
       ``d_ff`` times ``k``, :func:`duplicate_heads`) or ``method="su"`` (``head_dim``
       and ``d_ff`` times ``k``, :func:`widen_hidden` with ``rope_method``);
    2. ``d_ff`` to its target by :func:`split_ffn`;
    3. ``head_dim`` by :func:`grow_head_dim`;
    4. ``n_heads`` by :func:`add_heads`;
    5. ``n_layers`` by :func:`add_layers` (appended at the top; pre-LN only).

    Parameters
    ----------
    d_model, n_heads, head_dim, d_ff, n_layers : int, optional
        Targets; None keeps what the earlier moves give.
    method : {"duplicate_heads", "su"}
    rope_method : str, optional
        Passed to :func:`widen_hidden`; only with ``method="su"`` (head duplication
        leaves RoPE untouched, so a ``rope_method`` there raises instead of being
        ignored). Like ``scaling``, it has no effect when ``d_model`` does not grow.
    scaling : str
        Passed to :func:`widen_hidden` / :func:`duplicate_heads`.
    noise : float
        Relative standard deviation of the function-preserving zero-sum noise on rows
        that read copies (moves 1 and 2), and size of the reciprocal random factors
        on q/k features and untied output rows, to break the copies' symmetry.
    std : float
        Standard deviation of the new random weights of moves 3 to 5.
    rng : None, int or numpy.random.Generator

    Raises
    ------
    ValueError
        A target smaller than what the earlier moves give (shrinking), a ``d_model`` that
        is not an integer multiple, a ``head_dim`` that breaks RoPE's frequency grid,
        ``n_layers`` growth of a post-LN model, a ``rope_method`` with
        ``method="duplicate_heads"``.

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.transformer import TransformerConfig, forward, init_params
    >>> config = TransformerConfig(vocab_size=7, d_model=4, n_heads=2, head_dim=2,
    ...                            d_ff=4, n_layers=1)
    >>> params = init_params(config, rng=0, std=0.5)
    >>> big, big_config = widen(params, config, d_model=8, d_ff=10, head_dim=4,
    ...                         n_heads=5, n_layers=2, noise=0.1, rng=1)
    >>> [getattr(big_config, name) for name in ("d_model", "n_heads", "head_dim", "d_ff",
    ...                                         "n_layers")]
    [8, 5, 4, 10, 2]
    >>> error = forward(big, big_config, [3, 1, 4])[0] - forward(params, config, [3, 1, 4])[0]
    >>> bool(np.max(np.abs(error)) < 1e-12)
    True
    >>> widen(params, config, d_model=6)
    Traceback (most recent call last):
    ...
    ValueError: d_model must grow by an integer factor ... got 4 -> 6
    """
    check_params(params, config)
    check_choice(method, "method", METHODS)
    # checked here, not only by the move that uses them: a bad value must not pass
    # silently when that move does not run
    if rope_method is not None:
        check_choice(rope_method, "rope_method", ROPE_METHODS)
        if method != "su":
            raise ValueError(
                f"rope_method={rope_method!r} applies only to method='su' (widen_hidden); "
                f"method={method!r} (duplicate_heads) keeps the head size and RoPE as they "
                f"are and would ignore it")
    check_choice(scaling, "scaling", SCALINGS)
    noise = as_scalar(noise, "noise", nonnegative=True)
    std = as_scalar(std, "std", nonnegative=True)
    generator = as_generator(rng)
    original = params
    k = _hidden_factor(config, d_model)
    grown_heads = config.n_heads * (k if method == "duplicate_heads" else 1)
    grown_head_dim = config.head_dim * (k if method == "su" else 1)
    targets = dict(d_ff=_target(d_ff, "d_ff", k * config.d_ff),
                   head_dim=_target(head_dim, "head_dim", grown_head_dim),
                   n_heads=_target(n_heads, "n_heads", grown_heads),
                   n_layers=_target(n_layers, "n_layers", config.n_layers))
    if targets["n_layers"] > config.n_layers and config.norm_position != "pre":
        add_layers(params, config, targets["n_layers"])  # raises the documented error
    if k > 1 and method == "su":
        params, config = widen_hidden(params, config, k, rope_method=rope_method,
                                      scaling=scaling, noise=noise, rng=generator)
    elif k > 1:
        params, config = duplicate_heads(params, config, k, scaling=scaling, noise=noise,
                                         rng=generator)
    if targets["d_ff"] > config.d_ff:
        params, config = split_ffn(params, config, targets["d_ff"], noise=noise,
                                   rng=generator)
    if targets["head_dim"] > config.head_dim:
        params, config = grow_head_dim(params, config, targets["head_dim"], std=std,
                                       rng=generator)
    if targets["n_heads"] > config.n_heads:
        params, config = add_heads(params, config, targets["n_heads"], std=std, rng=generator)
    if targets["n_layers"] > config.n_layers:
        params, config = add_layers(params, config, targets["n_layers"], std=std,
                                    rng=generator)
    return (copy_tree(params) if params is original else params), config
