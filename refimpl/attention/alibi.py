"""ALiBi: attention with linear biases (Press, Smith and Lewis 2022).

ALiBi adds no position embedding at all; instead each head ``h`` penalises a key by its
distance to the query, with a fixed head-specific slope ``m_h``:

.. math:: b_{hij} = -m_h\\,(p_i - p_j)

(the paper's "``q_i K^T + m \\cdot [-(i-1), \\dots, -2, -1, 0]``"; Press, Smith, Lewis,
"Train Short, Test Long: Attention with Linear Biases Enables Input Length
Extrapolation", ICLR 2022, arXiv:2108.12409, §3). It is meant for causal attention,
where only keys ``p_j <= p_i`` are allowed; adding ``m_h p_i`` to a row does not change
its softmax, so ``m_h p_j`` (the paper's code and BLOOM's ``build_alibi_tensor``) gives
the same attention weights.

The slopes form a geometric sequence. For ``n`` heads, ``n`` a power of two,
``m_h = 2^{-8h/n}`` for ``h = 1 .. n``. For other ``n``, with ``c`` the largest power of
two below ``n``, the first ``c`` slopes are those of ``c`` heads and the remaining
``n - c`` are every other slope of ``2c`` heads, ``2^{-8(2i-1)/(2c)}`` for
``i = 1 .. n - c`` (the rule of the paper's reference code, ``get_slopes`` in
github.com/ofirpress/attention_with_linear_biases, ``fairseq/models/transformer.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_float_array, as_int, check_ndim

__all__ = ["alibi_slopes", "alibi_bias"]


def alibi_slopes(n_heads: int) -> np.ndarray:
    """The ALiBi slope of each of ``n_heads`` heads (module docstring).

    .. math:: m_h = 2^{-8h/c},\\; h = 1..c; \\qquad
              m_{c+i} = 2^{-4(2i-1)/c},\\; i = 1..n-c; \\qquad c = 2^{\\lfloor \\log_2 n
              \\rfloor}

    Examples
    --------
    >>> alibi_slopes(8) * 256
    array([128.,  64.,  32.,  16.,   8.,   4.,   2.,   1.])
    >>> alibi_slopes(6) * 256   # 4 heads' slopes, then every other one of 8 heads
    array([ 64.,  16.,   4.,   1., 128.,  32.])
    """
    n = as_int(n_heads, "n_heads", minimum=1)
    c = 1 << (n.bit_length() - 1)                 # the largest power of two <= n
    first = np.exp2(-8.0 * np.arange(1, c + 1) / c)
    rest = np.exp2(-4.0 * (2 * np.arange(1, n - c + 1) - 1) / c)
    return np.concatenate([first, rest])


def _positions(value: ArrayLike, name: str) -> np.ndarray:
    """Positions ``(..., T)`` as a float64 array (integers or reals)."""
    positions = as_float_array(value, name)
    check_ndim(positions, name, 1)
    return positions


def alibi_bias(slopes: ArrayLike, query_positions: ArrayLike,
               key_positions: ArrayLike | None = None) -> np.ndarray:
    """The ALiBi logit bias ``b[..., h, i, j] = -slopes[h] (q_i - k_j)``.

    Parameters
    ----------
    slopes : array_like, shape (H,)
        Usually :func:`alibi_slopes` ``(n_heads)``.
    query_positions : array_like, shape (..., Tq)
        Positions of the queries (``np.arange(T)`` for a whole sequence; ``n + arange(m)``
        for ``m`` new tokens after ``n`` cached ones).
    key_positions : array_like, shape (..., Tk), optional
        Positions of the keys; defaults to ``query_positions``.

    Returns
    -------
    ndarray, shape (..., H, Tq, Tk)
        Pass it as ``bias=`` to :func:`refimpl.attention.scaled_dot_product_attention`,
        with a causal mask (:func:`refimpl.masks.causal_mask`): for keys after the query
        the bias is positive, and the paper never uses those entries.

    Examples
    --------
    >>> alibi_bias([0.5], [0, 1, 2])[0]
    array([[ 0. ,  0.5,  1. ],
           [-0.5,  0. ,  0.5],
           [-1. , -0.5,  0. ]])
    """
    m = as_float_array(slopes, "slopes")
    if m.ndim != 1:
        raise ValueError(f"slopes must be one slope per head, shape (n_heads,), got shape "
                         f"{m.shape}; use alibi_slopes(n_heads)")
    queries = _positions(query_positions, "query_positions")
    keys = queries if key_positions is None else _positions(key_positions, "key_positions")
    behind = keys[..., None, :] - queries[..., :, None]     # -(q_i - k_j), exactly
    return m[:, None, None] * behind[..., None, :, :]
