"""The softmax over the last (key) axis, stable and optionally masked, with its VJP.

:func:`softmax` shifts by the maximum so that no exponent is positive; a boolean mask
removes entries, and a slice with no allowed entry is *defined* to be all zeros (with
zero gradient), the convention every attention function of :mod:`refimpl.attention`
inherits. ``softmax_into`` is the in-place core the attention functions call.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl._validation import as_float_array, as_int, check_ndim
from refimpl.masks import as_mask

__all__ = ["softmax", "softmax_vjp"]


def _axis(x: np.ndarray, axis: object) -> int:
    """Validate an axis of ``x`` and return it as a non-negative int."""
    axis = as_int(axis, "axis")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must index an axis of x with shape {x.shape}, got axis={axis}")
    return axis % x.ndim


def _any_allowed(mask: np.ndarray | None, shape: tuple[int, ...],
                 axis: int) -> bool | np.ndarray:
    """Per slice along ``axis`` (kept as size 1): does it have an allowed entry?"""
    if shape[axis] == 0 or mask is None:
        return shape[axis] > 0
    from_end = axis - len(shape)
    return np.any(mask, axis=from_end, keepdims=True) if mask.ndim >= -from_end else mask


def softmax_into(logits: np.ndarray, mask: np.ndarray | None, axis: int) -> np.ndarray:
    """Masked softmax of ``logits`` along ``axis``, computed in place (see :func:`softmax`).

    Internal (not in ``__all__``): ``logits`` is a float64 array the caller owns, ``mask``
    a boolean array broadcasting to it or None. A slice whose peak is -inf has no
    allowed entry (fully masked, or no keys at all) and becomes zeros, unless it has
    allowed entries that all overflowed to -inf.
    """
    if mask is not None:
        np.copyto(logits, -np.inf, where=~mask)
    peak = np.max(logits, axis=axis, keepdims=True, initial=-np.inf)
    empty = peak == -np.inf
    if np.any(np.isnan(peak) | (peak == np.inf) | (empty & _any_allowed(mask, logits.shape,
                                                                          axis))):
        raise ValueError("attention logits overflowed (q.k + bias is beyond the float64 "
                         "range); rescale q and k")
    peak[empty] = 0.0  # an empty slice: every entry is -inf and stays so
    with np.errstate(over="ignore"):  # a spread beyond float64 gives -inf: exp(-inf) = 0 exactly
        logits -= peak
    np.exp(logits, out=logits)
    total = np.sum(logits, axis=axis, keepdims=True)
    total[empty] = 1.0  # empty slices stay all zero
    logits /= total
    return logits


def softmax(x: ArrayLike, axis: int = -1, *, mask: ArrayLike | None = None) -> np.ndarray:
    """Softmax along ``axis``, computed stably by shifting by the maximum; optionally masked.

    .. math:: \\operatorname{softmax}(x)_i = \\frac{M_i\\, e^{x_i - m}}{\\sum_j M_j\\,
        e^{x_j - m}}, \\quad m = \\max_{j : M_j} x_j

    The shift leaves the value unchanged and keeps every exponent ``<= 0``, so nothing
    overflows and the denominator is at least 1.

    Parameters
    ----------
    x : array_like, finite
    axis : int
    mask : array_like of bool, optional
        Broadcasts to ``x``; false entries get probability 0. Where every entry along
        ``axis`` is masked the output is all zeros (not a distribution), and so is the
        gradient.

    Returns
    -------
    ndarray, shape of ``x``; non-negative and summing to 1 along ``axis`` (or to 0 on
    fully masked slices).

    Examples
    --------
    >>> softmax([0.0, np.log(3.0)])
    array([0.25, 0.75])
    >>> softmax([1000.0, 1000.0])  # no overflow
    array([0.5, 0.5])
    >>> softmax([[1.0, 2.0], [3.0, 4.0]], mask=[[True, False], [False, False]])
    array([[1., 0.],
           [0., 0.]])
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 1)
    axis = _axis(x, axis)
    checked = None if mask is None else as_mask(mask, x.shape)
    return softmax_into(x.copy(), checked, axis)


def softmax_vjp(grad: ArrayLike, x: ArrayLike, axis: int = -1, *,
                mask: ArrayLike | None = None) -> np.ndarray:
    """VJP of :func:`softmax` in ``x``.

    With :math:`s = \\operatorname{softmax}(x)` the Jacobian is
    :math:`\\operatorname{diag}(s) - s s^T`, so

    .. math:: \\frac{\\partial L}{\\partial x} = s \\odot (g - \\langle g, s \\rangle)

    Masked entries (where ``s = 0``) and fully masked slices get gradient 0.

    Examples
    --------
    >>> softmax_vjp([1.0, 1.0], [0.3, -2.0])  # softmax is invariant to a common shift
    array([0., 0.])
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 1)
    upstream = cotangent(grad, x.shape)
    axis = _axis(x, axis)
    s = softmax(x, axis, mask=mask)
    return s * (upstream - np.sum(upstream * s, axis=axis, keepdims=True))
