"""The UniVAE forward and backward passes: a Transformer whose ``[CLS]`` is a vMF bottleneck.

Position 0, the source ``[CLS]``, is the only way from the source to the target
(https://kexue.fm/archives/8475; :mod:`refimpl.univae.inputs` has the masks). In each
of the top ``n_latent`` layers its hidden state ``h`` is encoded and replaced before the
layer runs::

    mu = normalize(h W_down + b_down)            (z_dim, on the unit sphere)
    z  ~ vMF(mu, kappa)      (vae) | z = mu (encoder) | z given (decoder)
    h := z W_up + b_up                           (back to d_model)

so the target depends on the source only through ``z = [z_1, ..., z_n_latent]``
(:mod:`refimpl.univae.latent`). This follows ``UniVAE.apply_main_layers`` in
``univae.py`` of https://github.com/bojone/univae at commit 428c458.

The backward pass holds the vMF noise fixed: a sample is a deterministic function of
``mu`` and the noise (:func:`refimpl.vmf.transform`), so gradients flow through the
sample into ``mu`` and :mod:`refimpl.gradcheck` applies.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from refimpl import transformer as tf
from refimpl import vmf
from refimpl._validation import as_float_array, check_choice
from refimpl.householder import normalize, normalize_vjp
from refimpl.univae._common import segment_layout, token_ids
from refimpl.univae.config import UniVAEConfig, check_params
from refimpl.univae.inputs import layer_masks
from refimpl.univae.latent import split_latent

__all__ = ["MODES", "TANGENT", "UniVAEOutput", "forward", "backward"]

MODES = ("vae", "encoder", "decoder")
#: Route of the vMF sample's tangent direction: project a Gaussian orthogonally to mu
#: and normalise, as the vMF-VAE post's sampler does (:func:`refimpl.vmf.transform`).
TANGENT = "projection"


@dataclasses.dataclass(frozen=True)
class UniVAEOutput:
    """What :func:`forward` returns.

    ``logits`` (..., T, vocab_size); ``z`` (..., n_latent * z_dim), the latents the
    decoder used; ``mu`` the concatenated mean directions (None in decoder mode);
    ``noise`` the vMF noise (vae mode, else None); ``hidden_states`` the output of every
    layer; ``cache`` what :func:`backward` needs.
    """

    logits: np.ndarray
    z: np.ndarray
    mu: np.ndarray | None
    noise: np.ndarray | None
    hidden_states: tuple[np.ndarray, ...]
    cache: dict[str, Any]


# ---------------------------------------------------------------- the latent layers


def _latent_forward(latent: dict[str, Any], config: UniVAEConfig, cls: np.ndarray, mode: str,
                    noise: np.ndarray | None, given: np.ndarray | None
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """Encode position 0 of one latent layer and return the vector that replaces it."""
    cache: dict[str, Any] = dict(cls=cls, noise=noise)
    if mode == "decoder":
        z = given
    else:
        cache["pre"] = cls @ latent["down"]["w"] + latent["down"]["b"]
        cache["mu"] = normalize(cache["pre"])
        z = cache["mu"] if mode == "encoder" else vmf.transform(
            cast(np.ndarray, noise), cache["mu"], config.kappa, tangent=TANGENT)
    cache["z"] = z
    return z @ latent["up"]["w"] + latent["up"]["b"], cache


def _latent_backward(latent: dict[str, Any], config: UniVAEConfig, cache: dict[str, Any],
                     mode: str, grad_slot: np.ndarray
                     ) -> tuple[dict[str, Any], np.ndarray | None]:
    """Gradients of one latent layer's projections, and of ``h[..., 0, :]`` before it."""
    z = cache["z"]
    grads = {"up": {"w": _outer_sum(z, grad_slot), "b": _batch_sum(grad_slot)}}
    if mode == "decoder":
        grads["down"] = {key: np.zeros_like(value) for key, value in latent["down"].items()}
        return grads, None
    grad_z = grad_slot @ latent["up"]["w"].T
    grad_mu = grad_z if mode == "encoder" else vmf.transform_vjp(
        grad_z, cache["noise"], cache["mu"], config.kappa, tangent=TANGENT)[0]
    grad_pre = normalize_vjp(grad_mu, cache["pre"])
    grads["down"] = {"w": _outer_sum(cache["cls"], grad_pre), "b": _batch_sum(grad_pre)}
    return grads, grad_pre @ latent["down"]["w"].T


def _outer_sum(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """``sum over the batch of x^T grad`` for ``y = x W``, with x broadcast to grad's batch."""
    x = np.broadcast_to(x, grad.shape[:-1] + x.shape[-1:])
    return x.reshape(-1, x.shape[-1]).T @ grad.reshape(-1, grad.shape[-1])


def _batch_sum(grad: np.ndarray) -> np.ndarray:
    """``grad`` summed over every batch axis (the gradient of a bias added to each row)."""
    return grad.reshape(-1, grad.shape[-1]).sum(axis=0)


def _replace_cls(h: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """A copy of ``h`` (broadcast to the slot's batch) with position 0 set to ``slot``."""
    batch = np.broadcast_shapes(h.shape[:-2], slot.shape[:-1])
    h = np.broadcast_to(h, batch + h.shape[-2:]).copy()
    h[..., 0, :] = slot
    return h


# ---------------------------------------------------------------- forward and backward


def _mode_inputs(
    config: UniVAEConfig, tokens: np.ndarray, mode: str, z: ArrayLike | None,
    noise: ArrayLike | None, rng: int | np.random.Generator | None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Check the mode's latent inputs; draw the vMF noise in vae mode when not given."""
    check_choice(mode, "mode", MODES)
    if mode != "vae" and noise is not None:
        raise ValueError(f"noise is only used in vae mode, got noise with mode={mode!r}")
    if mode == "decoder":
        if z is None:
            raise ValueError("decoder mode needs z, of shape (..., n_latent * z_dim)")
        return split_latent(z, config), None
    if z is not None:
        raise ValueError(f"z is only used in decoder mode, got z with mode={mode!r}")
    if mode == "encoder":
        return None, None
    if noise is None:
        return None, vmf.draw_noise(config.z_dim, tokens.shape[:-1] + (config.n_latent,), rng)
    noise = as_float_array(noise, "noise")
    if noise.shape[-2:] != (config.n_latent, config.z_dim + 1):
        raise ValueError(f"noise must have shape (..., n_latent, z_dim + 1) = (..., "
                         f"{config.n_latent}, {config.z_dim + 1}), got {noise.shape}")
    return None, noise


def forward(params: dict[str, Any], config: UniVAEConfig, tokens: ArrayLike,
            segments: ArrayLike, mode: str = "vae", z: ArrayLike | None = None,
            rng: int | np.random.Generator | None = None, *,
            noise: ArrayLike | None = None) -> UniVAEOutput:
    """Run the UniVAE on token ids ``tokens`` (..., T) with segment ids ``segments``.

    Parameters
    ----------
    params : dict
        From :func:`init_params`.
    config : UniVAEConfig
    tokens : array_like of int, shape (..., T)
        Source then target (see :func:`pack`); position 0 is the source ``[CLS]``.
    segments : array_like of 0/1, broadcasting to ``tokens``
        A block of 0 (source, starting at position 0) then a block of 1 (target).
    mode : {"vae", "encoder", "decoder"}
        ``vae`` samples ``z_j ~ vMF(mu_j, kappa)`` at each latent layer (training);
        ``encoder`` uses ``z_j = mu_j`` (deterministic; ``output.mu`` is the code);
        ``decoder`` uses the given ``z``, split per layer and renormalised, and never
        computes ``mu``, so the source content is ignored.
    z : array_like, shape (..., n_latent * z_dim), optional
        The code, decoder mode only.
    rng : None, int or numpy.random.Generator
        Draws the vMF noise in vae mode.
    noise : optional
        The vMF noise of each latent layer (vae mode), as returned in ``output.noise``;
        given noise makes the forward pass deterministic.

    Returns
    -------
    UniVAEOutput

    Examples
    --------
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...     head_dim=4, d_ff=16, n_layers=3, norm_position="post", n_segments=2),
    ...     n_latent=2, z_dim=4)
    >>> from refimpl.univae import init_params, pack
    >>> params = init_params(config, rng=0)
    >>> tokens, segments = pack([1, 7, 9, 2], maxlen=6)
    >>> out = forward(params, config, tokens, segments, "vae", rng=0)
    >>> out.logits.shape, out.z.shape, out.mu.shape, out.noise.shape
    ((12, 20), (8,), (8,), (2, 5))
    >>> code = forward(params, config, tokens, segments, "encoder").mu
    >>> again = forward(params, config, tokens, segments, "decoder", z=code)
    >>> bool(np.allclose(again.logits[6:], forward(params, config, tokens, segments,
    ...                                            "encoder").logits[6:]))
    True
    """
    check_params(params, config)
    tokens = token_ids(tokens, config)
    masks = layer_masks(config, tokens, segments)
    given, noise = _mode_inputs(config, tokens, mode, z, noise, rng)
    tc, tp = config.transformer, params["transformer"]
    segment_ids = segment_layout(segments, tokens, config) if tc.n_segments else None
    h, embed_cache = tf.embed_forward(tp, tc, tokens, segments=segment_ids)
    angles = tf.rope_angles(tc, np.arange(tokens.shape[-1]))
    layer_caches, latent_caches, hidden = [], [], []
    for index, (layer, mask) in enumerate(zip(tp["layers"], masks, strict=True)):
        j = index - config.first_latent_layer
        if j >= 0:
            slot, latent_cache = _latent_forward(
                params["latent"][j], config, h[..., 0, :], mode,
                None if noise is None else noise[..., j, :],
                None if given is None else given[..., j, :])
            h = _replace_cls(h, slot)
            latent_caches.append(latent_cache)
        h, layer_cache = tf.block_forward(layer, tc, h, mask, angles)
        layer_caches.append(layer_cache)
        hidden.append(h)
    logits, head_cache = tf.head_forward(tp, tc, h)
    codes = np.concatenate(np.broadcast_arrays(*[c["z"] for c in latent_caches]), -1)
    mu = None if mode == "decoder" else np.concatenate(
        np.broadcast_arrays(*[c["mu"] for c in latent_caches]), -1)
    cache = dict(mode=mode, embedding=embed_cache, layers=layer_caches, latent=latent_caches,
                 head=head_cache)
    return UniVAEOutput(logits, codes, mu, noise, tuple(hidden), cache)


def backward(params: dict[str, Any], config: UniVAEConfig, output: UniVAEOutput,
             grad_logits: ArrayLike) -> dict[str, Any]:
    """Gradients of every parameter given ``dL/dlogits``, with the vMF noise held fixed.

    Back through the head, then each layer from the top; at a latent layer the
    gradient arriving at position 0 goes into ``W_up`` and, through the sample
    (``vmf`` transform VJP at fixed noise and kappa; identity in encoder mode), the
    normalisation and ``W_down``, into the hidden state the layer replaced. In decoder
    mode ``W_down`` gets a zero gradient. Returns the tree of ``params``.
    """
    tc, tp, cache = config.transformer, params["transformer"], output.cache
    grad = as_float_array(grad_logits, "grad_logits")
    if grad.shape != output.logits.shape:
        raise ValueError(f"grad_logits must have the logits' shape {output.logits.shape}, "
                         f"got {grad.shape}")
    head_grads, grad = tf.head_backward(tp, tc, cache["head"], grad)
    layer_grads, latent_grads = [], []
    for index in reversed(range(tc.n_layers)):
        grads_layer, grad = tf.block_backward(tp["layers"][index], tc, cache["layers"][index],
                                              grad)
        layer_grads.append(grads_layer)
        j = index - config.first_latent_layer
        if j >= 0:
            grads_latent, grad_cls = _latent_backward(params["latent"][j], config,
                                                      cache["latent"][j], cache["mode"],
                                                      grad[..., 0, :])
            latent_grads.append(grads_latent)
            # the replaced slot reaches the layers below only through W_down
            grad = grad.copy()
            grad[..., 0, :] = 0.0
            cls = cache["latent"][j]["cls"]
            grad = _sum_batch_to(grad, cls.shape[:-1] + grad.shape[-2:])
            if grad_cls is not None:
                grad[..., 0, :] += grad_cls
    grads = tf.embed_backward(tp, tc, cache["embedding"], grad)
    if tc.tie_output:
        grads["embedding"]["tokens"] += head_grads.pop("embedding")["tokens"]
    grads.update(head_grads)
    grads["layers"] = layer_grads[::-1]
    return {"transformer": {key: grads[key] for key in tp}, "latent": latent_grads[::-1]}


def _sum_batch_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum the leading axes a latent broadcast added (a batch of z for one sentence)."""
    return grad.reshape((-1,) + shape).sum(axis=0) if grad.shape != shape else grad
