"""The UniVAE code: ``n_latent`` unit directions of size ``z_dim``, their prior and their KL.

A code ``z = [z_1, ..., z_n_latent]`` holds one point on the sphere ``S^(z_dim - 1)``
per latent layer (https://kexue.fm/archives/8475). The prior is uniform on each sphere
(:func:`sample_prior`); a given code is split and renormalised per layer
(:func:`split_latent`). With a fixed concentration ``kappa`` every factor of the
posterior is a vMF whose KL to the uniform prior is the same constant, so the whole KL
is :func:`kl`, ``n_latent * KL(z_dim, kappa)`` (30.328578 nats for the post's 4 x 16
latents with kappa = 32).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl import vmf
from refimpl._validation import as_float_array, as_generator
from refimpl.householder import normalize
from refimpl.univae.config import UniVAEConfig

__all__ = ["split_latent", "sample_prior", "kl"]


def split_latent(z: ArrayLike, config: UniVAEConfig) -> np.ndarray:
    """Reshape a code ``(..., n_latent * z_dim)`` to ``(..., n_latent, z_dim)`` unit chunks.

    Each chunk is renormalised, as the post's decoder does with any given z.

    Examples
    --------
    >>> from refimpl import transformer as tf
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


def sample_prior(config: UniVAEConfig, size: int | tuple[int, ...] | None = None,
                 rng: int | np.random.Generator | None = None) -> np.ndarray:
    """Codes from the prior, uniform on each of the ``n_latent`` spheres.

    Normalised Gaussian chunks, as the post's random generation does.

    Returns
    -------
    ndarray, shape ``size + (n_latent * z_dim,)``

    Examples
    --------
    >>> from refimpl import transformer as tf
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=2), n_latent=2, z_dim=3)
    >>> z = sample_prior(config, rng=0)
    >>> z.shape, np.linalg.norm(z.reshape(2, 3), axis=-1).round(12)
    ((6,), array([1., 1.]))
    """
    shape = () if size is None else tuple(np.atleast_1d(size).tolist())
    draws = as_generator(rng).standard_normal(shape + (config.n_latent, config.z_dim))
    return normalize(draws).reshape(shape + (config.latent_size,))


def kl(config: UniVAEConfig) -> float:
    """The constant KL term: ``n_latent * KL(vMF(mu, kappa) || Uniform(S^(z_dim - 1)))``.

    Fixed kappa makes every factor of the hierarchical posterior
    ``q(z_1|x) q(z_2|x, z_1) ...`` a vMF with the same KL to the uniform prior,
    whatever ``mu``; it does not depend on the parameters and has no gradient.

    Examples
    --------
    >>> from refimpl import transformer as tf
    >>> config = UniVAEConfig(tf.TransformerConfig(vocab_size=20, d_model=8, n_heads=2,
    ...                       head_dim=4, d_ff=16, n_layers=12))
    >>> round(kl(config), 6)  # 4 x 7.582144 nats
    30.328578
    """
    return float(config.n_latent * vmf.kl_to_uniform(config.z_dim, config.kappa))
