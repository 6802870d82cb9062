"""The UniVAE training loss: next-token cross-entropy over the target, and its gradient.

The ELBO of the UniVAE post (https://kexue.fm/archives/8475) is the target's
reconstruction cross-entropy plus a KL term that is a constant at fixed ``kappa``
(:func:`refimpl.univae.kl`); the post trains on the cross-entropy alone.

**Loss quirks.** The published script (``CrossEntropy`` in ``univae.py`` of
https://github.com/bojone/univae at commit 428c458) weights the next-token loss by
``segments[1:]``, so (a) the last *source* position is trained to predict the
target's ``[CLS]`` and (b) the target's padding positions are trained to predict
``[PAD]``. By default (``weighting="target"``) both are dropped: a position counts when
it and its next token are in the target and the next token is not padding.
``weighting="published"`` reproduces the script.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refimpl import transformer as tf
from refimpl._validation import as_float_array, check_choice
from refimpl.univae._common import segment_layout, token_ids
from refimpl.univae.config import UniVAEConfig
from refimpl.univae.model import UniVAEOutput, backward, forward

__all__ = ["WEIGHTINGS", "seq2seq_weights", "seq2seq_loss", "loss_and_grad"]

WEIGHTINGS = ("target", "published")


def seq2seq_weights(config: UniVAEConfig, tokens: ArrayLike, segments: ArrayLike,
                    weighting: str = "target") -> np.ndarray:
    """Weights of the next-token predictions ``logits[..., t, :] -> tokens[..., t + 1]``.

    ``weighting="target"`` (default): ``w_t = s_t s_{t+1} [tokens_{t+1} != pad_id]``, i.e.
    predictions made inside the target of real target tokens. ``"published"``:
    ``w_t = s_{t+1}`` as in the post's script, which also trains the last source
    position to predict the target ``[CLS]`` and the target padding to predict ``[PAD]``.

    Returns
    -------
    ndarray, shape (..., T - 1)

    Examples
    --------
    >>> from refimpl.univae import pack
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=2), n_latent=1, z_dim=4)
    >>> tokens, segments = pack([1, 7, 2], maxlen=4)
    >>> seq2seq_weights(config, tokens, segments)
    array([0., 0., 0., 0., 1., 1., 0.])
    >>> seq2seq_weights(config, tokens, segments, weighting="published")
    array([0., 0., 0., 1., 1., 1., 1.])
    """
    check_choice(weighting, "weighting", WEIGHTINGS)
    tokens = token_ids(tokens, config)
    s = segment_layout(segments, tokens, config).astype(np.float64)
    if weighting == "published":
        return s[..., 1:]
    weights = s[..., :-1] * s[..., 1:]
    if config.pad_id is not None:
        weights = weights * (tokens[..., 1:] != config.pad_id)
    return weights


def seq2seq_loss(config: UniVAEConfig, logits: ArrayLike, tokens: ArrayLike,
                 segments: ArrayLike, weighting: str = "target") -> float:
    """Weighted mean next-token cross-entropy of the target (nats per weighted token).

    .. math:: L = -\\frac{\\sum_t w_t \\log p(x_{t+1} \\mid \\text{logits}_t)}{\\sum_t w_t}

    with ``w`` from :func:`seq2seq_weights`. The ELBO's other term is the constant
    :func:`~refimpl.univae.kl`; the post trains on this cross-entropy alone.
    """
    logits = as_float_array(logits, "logits")
    targets, weights = _prediction_targets(config, logits.shape, tokens, segments, weighting)
    return tf.token_cross_entropy(logits[..., :-1, :], targets, weights)


def _prediction_targets(
    config: UniVAEConfig, logits_shape: tuple[int, ...], tokens: ArrayLike,
    segments: ArrayLike, weighting: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Next tokens and their weights, broadcast to the batch of the logits."""
    tokens = token_ids(tokens, config)
    weights = seq2seq_weights(config, tokens, segments, weighting)
    weights = np.broadcast_to(weights, logits_shape[:-2] + weights.shape[-1:])
    return np.broadcast_to(tokens[..., 1:], weights.shape), weights


def loss_and_grad(params: dict[str, Any], config: UniVAEConfig, tokens: ArrayLike,
                  segments: ArrayLike, mode: str = "vae", z: ArrayLike | None = None,
                  rng: int | np.random.Generator | None = None, *,
                  noise: ArrayLike | None = None, weighting: str = "target"
                  ) -> tuple[float, dict[str, Any], UniVAEOutput]:
    """:func:`seq2seq_loss` of :func:`forward` and its gradient in every parameter.

    With ``noise`` given (vae mode) the result is a deterministic function of the
    parameters, the function whose gradient this is.

    Returns
    -------
    (loss, grads, output)

    Examples
    --------
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...     head_dim=4, d_ff=16, n_layers=3, norm_position="post", n_segments=2),
    ...     n_latent=2, z_dim=4)
    >>> from refimpl.univae import init_params, pack
    >>> params = init_params(config, rng=0)
    >>> tokens, segments = pack([1, 7, 9, 2], maxlen=6)
    >>> loss, grads, output = loss_and_grad(params, config, tokens, segments, rng=0)
    >>> bool(abs(loss - np.log(20)) < 0.1)  # near uniform for small random weights
    True
    >>> grads["latent"][1]["down"]["w"].shape
    (8, 4)
    """
    output = forward(params, config, tokens, segments, mode, z, rng, noise=noise)
    targets, weights = _prediction_targets(config, output.logits.shape, tokens, segments,
                                           weighting)
    loss = tf.token_cross_entropy(output.logits[..., :-1, :], targets, weights)
    grad_logits = np.zeros_like(output.logits)
    grad_logits[..., :-1, :] = tf.token_cross_entropy_vjp(1.0, output.logits[..., :-1, :],
                                                          targets, weights)
    return loss, backward(params, config, output, grad_logits), output
