"""The UniVAE configuration and its parameters: the shared Transformer plus the latent layers.

A UniVAE is a :class:`refimpl.transformer.TransformerConfig` whose top ``n_latent``
layers each encode the source ``[CLS]`` state into a ``z_dim``-dimensional vMF latent
and decode it back (https://kexue.fm/archives/8475). :class:`UniVAEConfig` holds the
sizes and the mask switch, :func:`init_params` draws the parameters, a plain dict
``{"transformer": ..., "latent": [...]}`` of float64 arrays, and :func:`check_params`
checks such a tree against a config.

The mask switch ``k`` (the first layer with the UniAE mask) defaults to
``n_layers - n_latent``, the first latent layer, as in the author's code (``UniAE_Mask``
in ``univae.py`` of https://github.com/bojone/univae at commit 428c458); it may not be
lower, since a UniAE layer whose position 0 is not replaced would leak the source to
the target.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from refimpl import transformer as tf
from refimpl._validation import as_generator, as_int, as_scalar

__all__ = ["UniVAEConfig", "init_params", "check_params"]


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


# ---------------------------------------------------------------- parameters


def _latent_shapes(config: UniVAEConfig) -> dict[str, dict[str, tuple[int, ...]]]:
    """Shapes of one latent layer's down- and up-projections (weights ``w``, biases ``b``)."""
    d, k = config.transformer.d_model, config.z_dim
    return {"down": {"w": (d, k), "b": (k,)}, "up": {"w": (k, d), "b": (d,)}}


def init_params(config: UniVAEConfig, rng: int | np.random.Generator | None = None, *,
                std: float = 0.02) -> dict[str, Any]:
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
    params: dict[str, Any] = {"transformer": tf.init_params(config.transformer, generator,
                                                           std=std)}
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
