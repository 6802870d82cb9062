"""Heads: splitting the feature axis into heads and back, and sharing key/value heads.

:func:`split_heads` reshapes ``(..., T, H d)`` to ``(..., H, T, d)`` (head ``h`` owns
features ``h d .. h d + d - 1``) and :func:`merge_heads` undoes it. In grouped-query
attention (Ainslie et al. 2023, "GQA", arXiv:2305.13245; multi-query attention is the
case of one key/value head, Shazeer 2019, arXiv:1911.02150) ``H_kv`` key/value heads
serve ``H`` query heads; :func:`repeat_kv` is the textbook form of that sharing (query
head ``h`` reads key/value head ``h // (H / H_kv)``, Hugging Face's ``repeat_kv`` and
torch's ``enable_gqa``), and :func:`repeat_kv_vjp` its gradient, which sums over each
group.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl._validation import as_float_array, as_int, check_ndim

__all__ = ["split_heads", "merge_heads", "repeat_kv", "repeat_kv_vjp"]


def split_heads(x: ArrayLike, n_heads: int) -> np.ndarray:
    """Reshape ``(..., T, H d)`` to ``(..., H, T, d)``; head ``h`` owns features
    ``h d .. h d + d - 1``.

    Its VJP is :func:`merge_heads` (the map is a permutation of entries).

    Examples
    --------
    >>> split_heads(np.arange(8.0).reshape(2, 4), 2)[1]  # head 1 of both positions
    array([[2., 3.],
           [6., 7.]])
    """
    array = as_float_array(x, "x")
    check_ndim(array, "x", 2)
    heads = as_int(n_heads, "n_heads", minimum=1)
    if array.shape[-1] % heads:
        raise ValueError(f"x's last dimension {array.shape[-1]} is not divisible by "
                         f"n_heads={heads}")
    return split_heads_unchecked(array, heads)


def split_heads_unchecked(x: np.ndarray, n_heads: int) -> np.ndarray:
    """:func:`split_heads` without its checks (internal, not in ``__all__``).

    For callers that have validated ``x`` and ``n_heads`` themselves, once for many
    calls (:mod:`refimpl.transformer`); any other caller wants :func:`split_heads`.
    """
    heads = x.reshape(x.shape[:-1] + (n_heads, x.shape[-1] // n_heads))
    return np.swapaxes(heads, -2, -3)


def merge_heads(x: ArrayLike) -> np.ndarray:
    """Reshape ``(..., H, T, d)`` to ``(..., T, H d)``, the inverse of :func:`split_heads`.

    Its VJP is :func:`split_heads` with ``H`` heads.

    Examples
    --------
    >>> x = np.arange(8.0).reshape(2, 4)
    >>> np.array_equal(merge_heads(split_heads(x, 2)), x)
    True
    """
    array = as_float_array(x, "x")
    check_ndim(array, "x", 3)
    return merge_heads_unchecked(array)


def merge_heads_unchecked(x: np.ndarray) -> np.ndarray:
    """:func:`merge_heads` without its checks (internal, not in ``__all__``).

    Same callers as :func:`split_heads_unchecked`.
    """
    tokens_first = np.swapaxes(x, -2, -3)
    return tokens_first.reshape(tokens_first.shape[:-2] + (x.shape[-3] * x.shape[-1],))


def repeat_kv(x: ArrayLike, n_rep: int) -> np.ndarray:
    """Repeat each key/value head ``n_rep`` times: ``(..., H_kv, T, d)`` to
    ``(..., H_kv n_rep, T, d)``.

    .. math:: \\tilde x_{h} = x_{\\lfloor h / n_{rep} \\rfloor}

    The textbook form of grouped-query attention: attention over ``repeat_kv(k, G)``
    and ``repeat_kv(v, G)`` equals :func:`refimpl.attention.scaled_dot_product_attention`
    with ``enable_gqa=True``, which never forms the copies. Hugging Face's
    ``repeat_kv`` (``modeling_llama.py``, transformers 5.23.0), i.e.
    ``torch.repeat_interleave(x, n_rep, dim=-3)``.

    Examples
    --------
    >>> repeat_kv(np.arange(2.0).reshape(2, 1, 1), 2).ravel()
    array([0., 0., 1., 1.])
    """
    array = as_float_array(x, "x")
    check_ndim(array, "x", 3)
    return np.repeat(array, as_int(n_rep, "n_rep", minimum=1), axis=-3)


def repeat_kv_vjp(grad: ArrayLike, x: ArrayLike, n_rep: int) -> np.ndarray:
    """VJP of :func:`repeat_kv` in ``x``: the gradient of each copy summed over its group.

    .. math:: \\bar x_g = \\sum_{r=0}^{n_{rep}-1} \\bar{\\tilde x}_{g n_{rep} + r}

    Examples
    --------
    >>> repeat_kv_vjp(np.arange(4.0).reshape(4, 1, 1), np.zeros((2, 1, 1)), 2).ravel()
    array([1., 5.])
    """
    array = as_float_array(x, "x")
    check_ndim(array, "x", 3)
    n_rep = as_int(n_rep, "n_rep", minimum=1)
    shape = array.shape[:-3] + (array.shape[-3] * n_rep,) + array.shape[-2:]
    upstream = cotangent(grad, shape)
    grouped = upstream.reshape(array.shape[:-3] + (array.shape[-3], n_rep) + array.shape[-2:])
    return grouped.sum(axis=-3)
