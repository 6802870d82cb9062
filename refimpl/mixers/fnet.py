"""FNet: token mixing by a fixed matrix, the real part of the discrete Fourier transform.

In Su's reading (kexue.fm/archives/8431) FNet is attention with ``A = exp(i B)``,
``B_jk = -2 pi jk / n``: the DFT matrix, applied along the tokens and the channels,
real part kept. There are no parameters, so any sequence length works.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl.mixers._common import sequence

__all__ = ["fnet_mixing", "fnet_mixing_definition", "fnet_mixing_vjp"]


def fnet_mixing(x: ArrayLike) -> np.ndarray:
    """FNet's parameter-free mixing: the real part of the 2-D DFT over (tokens, channels).

    .. math::

        O = \\operatorname{Re}\\left(F_n X F_d\\right), \\qquad
        (F_m)_{jk} = e^{-2\\pi i jk/m}

    Computed with ``numpy.fft.fft2`` in ``O(n d log(n d))``. Defined by
    :func:`fnet_mixing_definition`.

    Parameters
    ----------
    x : array_like, shape (..., n, d)

    Returns
    -------
    ndarray, shape (..., n, d)

    References
    ----------
    Lee-Thorp et al., "FNet: Mixing Tokens with Fourier Transforms", NAACL 2022
    (arXiv 2105.03824); google-research ``f_net/layers.py`` (``FourierTransform``).

    Examples
    --------
    >>> fnet_mixing([[1.0, 0.0], [0.0, 0.0]])  # an impulse has a flat spectrum
    array([[1., 1.],
           [1., 1.]])
    """
    return np.fft.fft2(sequence(x), axes=(-2, -1)).real


def fnet_mixing_definition(x: ArrayLike) -> np.ndarray:
    """The definition of :func:`fnet_mixing`, with explicit DFT matrices.

    .. math::

        O = \\operatorname{Re}\\left(F_n X F_d\\right) = C_n X C_d - S_n X S_d, \\qquad
        F_m = C_m - i S_m, \\quad (C_m)_{jk} = \\cos\\frac{2\\pi jk}{m}, \\quad
        (S_m)_{jk} = \\sin\\frac{2\\pi jk}{m}

    ``O(n d (n + d))`` work: for reading and testing, not for speed.

    Examples
    --------
    >>> fnet_mixing_definition([[1.0, 0.0], [0.0, 0.0]])
    array([[1., 1.],
           [1., 1.]])
    """
    x = sequence(x)
    n, d = x.shape[-2:]
    angle_n = 2 * np.pi * np.outer(np.arange(n), np.arange(n)) / n
    angle_d = 2 * np.pi * np.outer(np.arange(d), np.arange(d)) / d
    return np.cos(angle_n) @ x @ np.cos(angle_d) - np.sin(angle_n) @ x @ np.sin(angle_d)


def fnet_mixing_vjp(grad: ArrayLike, x: ArrayLike) -> np.ndarray:
    """VJP of :func:`fnet_mixing`: the map is self-adjoint, so ``grad_x = Re(fft2(grad))``.

    The DFT matrices are symmetric, so for real ``X, G``:
    :math:`\\langle G, \\operatorname{Re}(F_n X F_d)\\rangle
    = \\operatorname{Re}\\operatorname{tr}(G^T F_n X F_d)
    = \\langle \\operatorname{Re}(F_n G F_d), X\\rangle`.

    Examples
    --------
    >>> fnet_mixing_vjp([[1.0, 0.0], [0.0, 0.0]], np.zeros((2, 2)))
    array([[1., 1.],
           [1., 1.]])
    """
    x = sequence(x)
    return np.fft.fft2(cotangent(grad, x.shape), axes=(-2, -1)).real
