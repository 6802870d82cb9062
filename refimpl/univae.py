"""UniVAE: a whole sequence VAE inside one Transformer, with multi-scale vMF latents.

The UniVAE post (https://kexue.fm/archives/8475) feeds a sentence twice, as a source
segment (id 0) and a target segment (id 1), through one shared Transformer and shapes
who sees whom with attention masks (:mod:`refimpl.masks`):

* layers ``0 .. k-1`` use the *independent* mask: source bidirectional, target causal,
  no attention between the two;
* layers ``k .. L-1`` use the *UniAE* mask: the same plus one column, the source
  ``[CLS]`` at position 0, which every target query may read.

Position 0 is the bottleneck. In each of the top ``n_latent`` layers its hidden state
``h`` is encoded and replaced before the layer runs::

    mu = normalize(h W_down + b_down)            (z_dim, on the unit sphere)
    z  ~ vMF(mu, kappa)      (vae) | z = mu (encoder) | z given (decoder)
    h := z W_up + b_up                           (back to d_model)

so the target depends on the source only through ``z = [z_1, ..., z_n_latent]``, whose
KL to the uniform prior on each sphere is the constant ``n_latent * KL(z_dim, kappa)``
(30.328578 nats for the post's 4 x 16 latents with kappa = 32). The mask switch ``k``
defaults to ``L - n_latent`` as in the author's code; it may not be lower, since a
UniAE layer whose position 0 is not replaced would leak the source to the target.

Conventions of this module (and where they differ from the published script):

* **Length leakage.** Training pads source and target to one ``maxlen`` (:func:`pack`),
  so the target always starts at position ``maxlen`` and its RoPE angles carry no
  information about the source length; :func:`greedy_decode` uses the same layout.
* **Padding keys** (``tokens == pad_id``) are hidden from every query, as bert4keras
  does; position 0 must not be padding.
* **Loss quirks.** The script weights the next-token loss by ``segments[1:]``, so (a)
  the last *source* position is trained to predict the target's ``[CLS]`` and (b) the
  target's padding positions are trained to predict ``[PAD]``. By default
  (``weighting="target"``) both are dropped: a position counts when it and its next
  token are in the target and the next token is not padding. ``weighting="published"``
  reproduces the script.

The backward pass holds the vMF noise fixed: a sample is a deterministic function of
``mu`` and the noise (:func:`refimpl.vmf.transform`), so gradients flow through the
sample into ``mu`` and :mod:`refimpl.gradcheck` applies.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from refimpl import transformer as tf
from refimpl import vmf
from refimpl._validation import as_float_array, as_generator, as_int, as_scalar, check_choice
from refimpl.householder import normalize, normalize_vjp
from refimpl.masks import independent_mask, uniae_mask

__all__ = ["UniVAEConfig", "UniVAEOutput", "init_params", "check_params", "pack",
           "layer_masks", "split_latent", "forward", "backward", "kl", "seq2seq_weights",
           "seq2seq_loss", "loss_and_grad", "sample_prior", "greedy_decode"]

MODES = ("vae", "encoder", "decoder")
#: Route of the vMF sample's tangent direction: project a Gaussian orthogonally to mu
#: and normalise, as the vMF-VAE post's sampler does (:func:`refimpl.vmf.transform`).
TANGENT = "projection"
WEIGHTINGS = ("target", "published")


@dataclasses.dataclass(frozen=True)
class UniVAEConfig:
    """A UniVAE on top of a :class:`refimpl.transformer.TransformerConfig`.

    Attributes
    ----------
    transformer : TransformerConfig
        The shared encoder-decoder (the post uses RoFormer: post-LN, RoPE, 2 segments).
    n_latent : int
        Number of latent layers, the top ``n_latent`` of ``transformer.n_layers`` (4).
    z_dim : int
        Size of each layer's latent direction (16), at least 2.
    kappa : float
        Fixed vMF concentration (32).
    mask_switch : int or None
        First layer with the UniAE mask; ``None`` means ``n_layers - n_latent``, the
        post's choice. Must lie in ``[n_layers - n_latent, n_layers]``.
    pad_id : int or None
        Token id of padding: such keys are hidden and (by default) not trained on.
        ``None``: no padding handling.

    Examples
    --------
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=3), n_latent=2, z_dim=4)
    >>> config.first_latent_layer, config.switch_layer, config.latent_size
    (1, 1, 8)
    """

    transformer: tf.TransformerConfig
    n_latent: int = 4
    z_dim: int = 16
    kappa: float = 32.0
    mask_switch: int | None = None
    pad_id: int | None = 0

    def __post_init__(self) -> None:
        if not isinstance(self.transformer, tf.TransformerConfig):
            raise TypeError(f"transformer must be a TransformerConfig, got "
                            f"{type(self.transformer).__name__}")
        layers = self.transformer.n_layers
        as_int(self.n_latent, "n_latent", minimum=1)
        if self.n_latent > layers:
            raise ValueError(f"n_latent must be at most the number of layers "
                             f"n_layers={layers}, got n_latent={self.n_latent}")
        as_int(self.z_dim, "z_dim", minimum=2)
        as_scalar(self.kappa, "kappa", positive=True)
        switch = as_int(self.switch_layer, "mask_switch")
        if not self.first_latent_layer <= switch <= layers:
            raise ValueError(f"mask_switch must lie in [{self.first_latent_layer}, {layers}] "
                             f"(every UniAE layer must be a latent layer), got {switch}")
        if self.pad_id is not None:
            pad = as_int(self.pad_id, "pad_id", minimum=0)
            if pad >= self.transformer.vocab_size:
                raise ValueError(f"pad_id must be below vocab_size="
                                 f"{self.transformer.vocab_size}, got {pad}")

    @property
    def first_latent_layer(self) -> int:
        """Index of the lowest latent layer, ``n_layers - n_latent``."""
        return self.transformer.n_layers - self.n_latent

    @property
    def switch_layer(self) -> int:
        """Index of the first layer with the UniAE mask."""
        return self.first_latent_layer if self.mask_switch is None else self.mask_switch

    @property
    def latent_size(self) -> int:
        """Length of the whole code, ``n_latent * z_dim``."""
        return self.n_latent * self.z_dim


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
    noise: Any
    hidden_states: tuple
    cache: dict


# ---------------------------------------------------------------- parameters


def _latent_shapes(config: UniVAEConfig) -> dict:
    d, k = config.transformer.d_model, config.z_dim
    return {"down": {"w": (d, k), "b": (k,)}, "up": {"w": (k, d), "b": (d,)}}


def init_params(config: UniVAEConfig, rng: Any = None, *, std: float = 0.02) -> dict:
    """Draw parameters: ``{"transformer": ..., "latent": [per latent layer]}``.

    ``params["latent"][j]`` belongs to layer ``first_latent_layer + j`` and holds
    ``{"down": {"w": (d_model, z_dim), "b": (z_dim,)}, "up": {"w": (z_dim, d_model),
    "b": (d_model,)}}``. Matrices are ``N(0, std^2)``, biases zero (as in
    :func:`refimpl.transformer.init_params`).

    Examples
    --------
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=3), n_latent=2, z_dim=4)
    >>> params = init_params(config, rng=0)
    >>> len(params["latent"]), params["latent"][0]["down"]["w"].shape
    (2, (8, 4))
    """
    generator = as_generator(rng)
    std = as_scalar(std, "std", nonnegative=True)
    params = {"transformer": tf.init_params(config.transformer, generator, std=std)}
    params["latent"] = [
        {part: {"w": std * generator.standard_normal(shapes["w"]), "b": np.zeros(shapes["b"])}
         for part, shapes in _latent_shapes(config).items()}
        for _ in range(config.n_latent)]
    return params


def check_params(params: Any, config: UniVAEConfig) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``params`` matches ``config``'s tree."""
    if not isinstance(params, dict) or set(params) != {"transformer", "latent"}:
        raise ValueError("params must be a dict with the keys 'latent' and 'transformer'")
    tf.check_params(params["transformer"], config.transformer)
    latent = params["latent"]
    if not isinstance(latent, (list, tuple)) or len(latent) != config.n_latent:
        raise ValueError(f"params['latent'] must be a list of n_latent={config.n_latent} "
                         f"dicts, got {type(latent).__name__}")
    for j, layer in enumerate(latent):
        for part, shapes in _latent_shapes(config).items():
            for key, shape in shapes.items():
                value = layer.get(part, {}).get(key) if isinstance(layer, dict) else None
                if not (isinstance(value, np.ndarray) and value.dtype == np.float64
                        and value.shape == shape):
                    raise ValueError(f"params['latent'][{j}][{part!r}][{key!r}] must be a "
                                     f"float64 array of shape {shape}, got "
                                     f"{np.shape(value) if value is not None else None}")


# ---------------------------------------------------------------- inputs and masks


def pack(source: Any, target: Any = None, *, maxlen: int, pad_id: int = 0
         ) -> tuple[np.ndarray, np.ndarray]:
    """Token and segment ids of a (source, target) pair, each padded to ``maxlen``.

    ``tokens = [source, pad..., target, pad...]`` of length ``2 maxlen`` and
    ``segments = [0] * maxlen + [1] * maxlen``: the target always starts at position
    ``maxlen``, whatever the source length (the post's fix for length leakage). The
    target defaults to the source (autoencoding, as in the post's training script).

    Examples
    --------
    >>> pack([2, 5, 3], maxlen=4)
    (array([2, 5, 3, 0, 2, 5, 3, 0]), array([0, 0, 0, 0, 1, 1, 1, 1]))
    """
    maxlen = as_int(maxlen, "maxlen", minimum=1)
    halves = []
    for name, ids in (("source", source), ("target", source if target is None else target)):
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu" or not 1 <= ids.size <= maxlen:
            raise ValueError(f"{name} must be a 1-D integer array of 1 to maxlen={maxlen} "
                             f"ids, got {ids.tolist()}")
        halves.append(np.concatenate([ids, np.full(maxlen - ids.size, pad_id)]))
    return np.concatenate(halves).astype(np.int64), np.repeat([0, 1], maxlen)


def _tokens(tokens: Any, config: UniVAEConfig) -> np.ndarray:
    """Token ids ``(..., T)`` in ``[0, vocab_size)``."""
    ids = np.asarray(tokens)
    vocab = config.transformer.vocab_size
    if ids.dtype.kind not in "iu":
        raise TypeError(f"tokens must hold integers, got dtype {ids.dtype}")
    if ids.ndim < 1 or ids.shape[-1] == 0 or ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"tokens must be a non-empty (..., T) array of ids in [0, {vocab}), "
                         f"got {ids.tolist()}")
    return ids.astype(np.intp)


def _layout(segments: Any, tokens: np.ndarray, config: UniVAEConfig) -> np.ndarray:
    """Segment ids as a source block then a target block, position 0 a real source token."""
    s = np.asarray(segments)
    if s.dtype.kind not in "biu" or not np.all((s == 0) | (s == 1)):
        raise ValueError(f"segments must hold 0 (source) and 1 (target), got {s.tolist()}")
    try:
        s = np.broadcast_to(s, tokens.shape).astype(np.int64)
    except ValueError:
        raise ValueError(f"segments of shape {s.shape} must broadcast to the tokens' shape "
                         f"{tokens.shape}") from None
    if np.any(s[..., 0] != 0):
        raise ValueError("segments must start with the source segment: position 0 is the "
                         f"source [CLS], the bottleneck, got segments {s.tolist()}")
    if np.any(np.diff(s, axis=-1) < 0):
        raise ValueError("segments must be a source block (0) followed by a target block "
                         f"(1), got {s.tolist()}")
    if config.pad_id is not None and np.any(tokens[..., 0] == config.pad_id):
        raise ValueError(f"tokens at position 0 (the source [CLS]) must not be padding "
                         f"(pad_id={config.pad_id})")
    return s


def layer_masks(config: UniVAEConfig, tokens: Any, segments: Any) -> list[np.ndarray]:
    """The attention mask of every layer: independent below the switch, UniAE from it.

    Padding keys (``tokens == pad_id``) are hidden in both. Shapes ``(..., T, T)``.

    Examples
    --------
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=2), n_latent=1, z_dim=4)
    >>> masks = layer_masks(config, [1, 5, 1, 5], [0, 0, 1, 1])
    >>> masks[0].astype(int), masks[1].astype(int)
    (array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 1, 0],
           [0, 0, 1, 1]]), array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [1, 0, 1, 0],
           [1, 0, 1, 1]]))
    """
    tokens = _tokens(tokens, config)
    segments = _layout(segments, tokens, config)
    keys = np.ones(tokens.shape, bool) if config.pad_id is None else tokens != config.pad_id
    below = independent_mask(segments) & keys[..., None, :]
    above = uniae_mask(segments) & keys[..., None, :]
    return [below if layer < config.switch_layer else above
            for layer in range(config.transformer.n_layers)]


def split_latent(z: Any, config: UniVAEConfig) -> np.ndarray:
    """Reshape a code ``(..., n_latent * z_dim)`` to ``(..., n_latent, z_dim)`` unit chunks.

    Each chunk is renormalised, as the post's decoder does with any given z.

    Examples
    --------
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=2), n_latent=2, z_dim=2)
    >>> split_latent([3.0, 4.0, 0.0, -2.0], config)
    array([[ 0.6,  0.8],
           [ 0. , -1. ]])
    """
    z = as_float_array(z, "z")
    if z.ndim < 1 or z.shape[-1] != config.latent_size:
        raise ValueError(f"z must have last dimension n_latent * z_dim = {config.n_latent} * "
                         f"{config.z_dim} = {config.latent_size}, got shape {z.shape}")
    chunks = z.reshape(z.shape[:-1] + (config.n_latent, config.z_dim))
    if np.any(~np.any(chunks != 0, axis=-1)):
        raise ValueError("z must not have an all-zero chunk: each of its n_latent chunks "
                         "of size z_dim is a direction")
    return normalize(chunks)


def kl(config: UniVAEConfig) -> float:
    """The constant KL term: ``n_latent * KL(vMF(mu, kappa) || Uniform(S^(z_dim - 1)))``.

    Fixed kappa makes every factor of the hierarchical posterior
    ``q(z_1|x) q(z_2|x, z_1) ...`` a vMF with the same KL to the uniform prior,
    whatever ``mu``; it does not depend on the parameters and has no gradient.

    Examples
    --------
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=12))
    >>> round(kl(config), 6)  # 4 x 7.582144 nats
    30.328578
    """
    return float(config.n_latent * vmf.kl_to_uniform(config.z_dim, config.kappa))


# ---------------------------------------------------------------- forward and backward


def _latent_forward(latent: dict, config: UniVAEConfig, cls: np.ndarray, mode: str,
                    noise: Any, given: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """Encode position 0 of one latent layer and return the vector that replaces it."""
    cache = dict(cls=cls, noise=noise)
    if mode == "decoder":
        z = given
    else:
        cache["pre"] = cls @ latent["down"]["w"] + latent["down"]["b"]
        cache["mu"] = normalize(cache["pre"])
        z = cache["mu"] if mode == "encoder" else vmf.transform(
            noise, cache["mu"], config.kappa, tangent=TANGENT)
    cache["z"] = z
    return z @ latent["up"]["w"] + latent["up"]["b"], cache


def _latent_backward(latent: dict, config: UniVAEConfig, cache: dict, mode: str,
                     grad_slot: np.ndarray) -> tuple[dict, np.ndarray | None]:
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
    return grad.reshape(-1, grad.shape[-1]).sum(axis=0)


def _replace_cls(h: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """A copy of ``h`` (broadcast to the slot's batch) with position 0 set to ``slot``."""
    batch = np.broadcast_shapes(h.shape[:-2], slot.shape[:-1])
    h = np.broadcast_to(h, batch + h.shape[-2:]).copy()
    h[..., 0, :] = slot
    return h


def _mode_inputs(config, tokens, mode, z, noise, rng):
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


def forward(params: dict, config: UniVAEConfig, tokens: Any, segments: Any,
            mode: str = "vae", z: Any = None, rng: Any = None, *,
            noise: Any = None) -> UniVAEOutput:
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
    tokens = _tokens(tokens, config)
    masks = layer_masks(config, tokens, segments)
    given, noise = _mode_inputs(config, tokens, mode, z, noise, rng)
    tc, tp = config.transformer, params["transformer"]
    segment_ids = _layout(segments, tokens, config) if tc.n_segments else None
    h, embed_cache = tf.embed_forward(tp, tc, tokens, segments=segment_ids)
    angles = tf.rope_angles(tc, np.arange(tokens.shape[-1]))
    layer_caches, latent_caches, hidden = [], [], []
    for index, (layer, mask) in enumerate(zip(tp["layers"], masks)):
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


def backward(params: dict, config: UniVAEConfig, output: UniVAEOutput,
             grad_logits: Any) -> dict:
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


# ---------------------------------------------------------------- loss


def seq2seq_weights(config: UniVAEConfig, tokens: Any, segments: Any,
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
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=2), n_latent=1, z_dim=4)
    >>> tokens, segments = pack([1, 7, 2], maxlen=4)
    >>> seq2seq_weights(config, tokens, segments)
    array([0., 0., 0., 0., 1., 1., 0.])
    >>> seq2seq_weights(config, tokens, segments, weighting="published")
    array([0., 0., 0., 1., 1., 1., 1.])
    """
    check_choice(weighting, "weighting", WEIGHTINGS)
    tokens = _tokens(tokens, config)
    s = _layout(segments, tokens, config).astype(np.float64)
    if weighting == "published":
        return s[..., 1:]
    weights = s[..., :-1] * s[..., 1:]
    if config.pad_id is not None:
        weights = weights * (tokens[..., 1:] != config.pad_id)
    return weights


def seq2seq_loss(config: UniVAEConfig, logits: Any, tokens: Any, segments: Any,
                 weighting: str = "target") -> float:
    """Weighted mean next-token cross-entropy of the target (nats per weighted token).

    .. math:: L = -\\frac{\\sum_t w_t \\log p(x_{t+1} \\mid \\text{logits}_t)}{\\sum_t w_t}

    with ``w`` from :func:`seq2seq_weights`. The ELBO's other term is the constant
    :func:`kl`; the post trains on this cross-entropy alone.
    """
    logits = as_float_array(logits, "logits")
    targets, weights = _prediction_targets(config, logits.shape, tokens, segments, weighting)
    return tf.token_cross_entropy(logits[..., :-1, :], targets, weights)


def _prediction_targets(config, logits_shape, tokens, segments, weighting):
    """Next tokens and their weights, broadcast to the batch of the logits."""
    tokens = _tokens(tokens, config)
    weights = seq2seq_weights(config, tokens, segments, weighting)
    weights = np.broadcast_to(weights, logits_shape[:-2] + weights.shape[-1:])
    return np.broadcast_to(tokens[..., 1:], weights.shape), weights


def loss_and_grad(params: dict, config: UniVAEConfig, tokens: Any, segments: Any,
                  mode: str = "vae", z: Any = None, rng: Any = None, *, noise: Any = None,
                  weighting: str = "target") -> tuple[float, dict, UniVAEOutput]:
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


# ---------------------------------------------------------------- generation


def sample_prior(config: UniVAEConfig, size: Any = None, rng: Any = None) -> np.ndarray:
    """Codes from the prior, uniform on each of the ``n_latent`` spheres.

    Normalised Gaussian chunks, as the post's random generation does.

    Returns
    -------
    ndarray, shape ``size + (n_latent * z_dim,)``

    Examples
    --------
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=2), n_latent=2, z_dim=3)
    >>> z = sample_prior(config, rng=0)
    >>> z.shape, np.linalg.norm(z.reshape(2, 3), axis=-1).round(12)
    ((6,), array([1., 1.]))
    """
    shape = () if size is None else tuple(np.atleast_1d(size).tolist())
    draws = as_generator(rng).standard_normal(shape + (config.n_latent, config.z_dim))
    return normalize(draws).reshape(shape + (config.latent_size,))


def greedy_decode(params: dict, config: UniVAEConfig, z: Any, *, start_id: int,
                  end_id: int, maxlen: int) -> np.ndarray:
    """Greedy (top-1 beam) decoding of one sentence from the code ``z``.

    The input is the training layout of :func:`pack`: a source half of length
    ``maxlen`` holding ``start_id`` then padding (its content is never read in decoder
    mode), and a target half starting with ``start_id``. Each step runs the decoder on
    the whole prefix and appends the most likely next token (the lowest id on a tie),
    until ``end_id`` is produced or the target holds ``maxlen`` tokens.

    Parameters
    ----------
    start_id : int
        The ``[CLS]`` id opening both halves. It must differ from ``config.pad_id``:
        position 0 may not be padding (its key would be hidden from every query), and
        :func:`forward` raises ``ValueError`` if it is.
    end_id : int
        The ``[SEP]`` id that ends the sentence.
    maxlen : int
        Length of each half, at least 2.

    Returns
    -------
    ndarray of int
        The generated target ids after ``start_id``, ``end_id`` included when reached.
    """
    maxlen = as_int(maxlen, "maxlen", minimum=2)
    vocab = config.transformer.vocab_size
    for name, value in (("start_id", start_id), ("end_id", end_id)):
        if not 0 <= as_int(value, name) < vocab:
            raise ValueError(f"{name} must lie in [0, {vocab}), got {value}")
    z = as_float_array(z, "z")
    if z.shape != (config.latent_size,):
        raise ValueError(f"z must be one code of shape ({config.latent_size},), got shape "
                         f"{z.shape}")
    pad = 0 if config.pad_id is None else config.pad_id
    source = np.full(maxlen, pad)
    source[0] = start_id
    target = [start_id]
    while len(target) < maxlen:
        tokens = np.concatenate([source, target])
        segments = np.repeat([0, 1], [maxlen, len(target)])
        logits = forward(params, config, tokens, segments, "decoder", z).logits
        target.append(int(np.argmax(logits[-1])))
        if target[-1] == end_id:
            break
    return np.array(target[1:], dtype=np.int64)
