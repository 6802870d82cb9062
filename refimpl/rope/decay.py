"""The long-range decay indicator of the RoPE post (kexue.fm/archives/8265; RoFormer §3.4.3).

Writing the pairs of ``q`` and ``k`` as complex numbers, the RoPE score at relative
distance ``r`` is ``Re sum_i h_i e^{i r theta_i}`` with ``h_i = q_i conj(k_i)``. Abel
summation bounds its modulus by ``max_i |h_(i+1) - h_i| * sum_j |S_j|``, where
``S_j = sum_(i<j) e^{i r theta_i}``. The post plots the average ``(1/(d/2)) sum_j |S_j|``
against ``r`` and observes that it tends to fall: an upper-bound tendency, not a
monotone decrease of actual scores.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_float_array, as_int
from refimpl.rope.frequencies import inv_freq


def decay_indicator(relative_distance: ArrayLike, dim: int = 128,
                    base: float = 10000.0) -> np.ndarray:
    """The post's decay indicator ``(1/(d/2)) sum_(j=1)^(d/2) |S_j|`` at relative distance ``r``.

    .. math::

        S_j = \\sum_{i=0}^{j-1} e^{\\mathrm{i}\\, r \\theta_i}, \\qquad
        \\theta_i = b^{-2i/d}, \\qquad
        \\text{indicator}(r) = \\frac{1}{d/2} \\sum_{j=1}^{d/2} |S_j|

    At ``r = 0`` every ``|S_j| = j``, so the indicator is ``(d/2 + 1) / 2``; it is even
    in ``r``.

    Parameters
    ----------
    relative_distance : array_like, shape (...)
        ``r = m - n``, any real values.
    dim : int
        Head dimension ``d``, even.
    base : float
        Frequency base, greater than 1.

    Returns
    -------
    ndarray, shape (...)

    Examples
    --------
    >>> decay_indicator([0, 256]).round(4)
    array([32.5   ,  6.5431])
    """
    distance = as_float_array(relative_distance, "relative_distance")
    dim = as_int(dim, "dim", minimum=2)
    if dim % 2:
        raise ValueError(f"dim must be even (pairs of features), got dim={dim}")
    theta = inv_freq(dim, base)
    partial_sums = np.cumsum(np.exp(1j * distance[..., None] * theta), axis=-1)
    return np.mean(np.abs(partial_sums), axis=-1)
