"""The training loss of the reference Transformer: token cross-entropy and its gradient.

:func:`token_cross_entropy` is the weighted mean of ``-log softmax(logits_t)[y_t]`` over
the positions ``t`` (weight 0 leaves a position out, e.g. padding),
:func:`token_cross_entropy_vjp` its gradient in the logits, and :func:`loss_and_grad`
chains them with :func:`refimpl.transformer.forward` and
:func:`refimpl.transformer.backward` into the loss and its gradient in every parameter.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl.transformer._common import token_ids
from refimpl.transformer.config import TransformerConfig
from refimpl.transformer.model import backward, forward

__all__ = ["token_cross_entropy", "token_cross_entropy_vjp", "loss_and_grad"]


def _cross_entropy_inputs(logits: ArrayLike, targets: ArrayLike, weights: ArrayLike | None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the arguments of :func:`token_cross_entropy`; weights default to 1."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim < 1 or not np.all(np.isfinite(logits)):
        raise ValueError(f"logits must be a finite array with a vocabulary axis, got "
                         f"shape {logits.shape}")
    targets = token_ids(targets, "targets", logits.shape[-1], minimum_ndim=0)
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


def token_cross_entropy(logits: ArrayLike, targets: ArrayLike,
                        weights: ArrayLike | None = None) -> float:
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


def token_cross_entropy_vjp(grad: float, logits: ArrayLike, targets: ArrayLike,
                            weights: ArrayLike | None = None) -> np.ndarray:
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


def loss_and_grad(params: dict, config: TransformerConfig, tokens: ArrayLike,
                  targets: ArrayLike, weights: ArrayLike | None = None,
                  mask: ArrayLike | None = None, *, bias: ArrayLike | None = None,
                  segments: ArrayLike | None = None,
                  positions: ArrayLike | None = None) -> tuple[float, dict]:
    """Token cross-entropy of the model's predictions and its gradient in every parameter.

    ``loss = token_cross_entropy(forward(params, config, tokens, mask)[0], targets, weights)``.
    For next-token prediction pass ``targets = tokens shifted left`` and a causal mask (or
    a ``causal=True`` config). ``mask``, ``bias``, ``segments`` and ``positions`` are
    those of :func:`refimpl.transformer.forward`.

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
    >>> from refimpl.transformer import init_params
    >>> config = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4,
    ...                            d_ff=16, n_layers=1)
    >>> params = init_params(config, rng=0)
    >>> loss, grads = loss_and_grad(params, config, [1, 2, 3], [2, 3, 4], mask=causal_mask(3))
    >>> bool(abs(loss - np.log(11)) < 0.01)  # small weights: nearly uniform predictions
    True
    """
    logits, cache = forward(params, config, tokens, mask, bias=bias, segments=segments,
                            positions=positions)
    loss = token_cross_entropy(logits, targets, weights)
    grads = backward(params, config, cache,
                     token_cross_entropy_vjp(1.0, logits, targets, weights))
    return loss, grads
