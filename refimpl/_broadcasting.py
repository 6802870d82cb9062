"""Undoing NumPy broadcasting in backward passes.

When a forward pass broadcasts an argument of shape ``s`` up to a larger shape, the
chain rule sums the upstream gradient over every axis that broadcasting added in front
or stretched from length 1. :func:`sum_to_shape` does that sum, so that every VJP in
refimpl returns a gradient of exactly its argument's shape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from refimpl._validation import as_float_array


def sum_to_shape(array: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape``.

    .. math:: g_s[i] = \\sum_{j \\,:\\, j \\text{ broadcasts from } i} g[j]

    Leading axes that broadcasting added are summed away (reshaped away, without a
    copy, when they all have length 1); axes where ``shape`` has length 1 and the
    gradient does not are summed with ``keepdims``. A gradient of the same shape is
    returned as is.

    Examples
    --------
    >>> sum_to_shape(np.ones((2, 3, 4)), (1, 4))
    array([[6., 6., 6., 6.]])
    """
    array = np.asarray(array)
    shape = tuple(shape)
    lead = array.ndim - len(shape)
    if lead > 0 and math.prod(array.shape[:lead]) == 1:
        array = array.reshape(array.shape[lead:])
    elif lead > 0:
        array = array.sum(axis=tuple(range(lead)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and array.shape[i] != 1)
    if stretched:
        array = array.sum(axis=stretched, keepdims=True)
    return array


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when ``shape`` broadcasts to ``target`` without enlarging it.

    Examples
    --------
    >>> broadcasts_to((1, 4), (3, 4)), broadcasts_to((2, 4), (3, 4)), broadcasts_to((3, 4), (4,))
    (True, False, False)
    """
    try:
        return np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        return False


def cotangent(grad: Any, shape: tuple[int, ...], *, name: str = "grad",
              of: str = "the output's", broadcast: bool = False) -> np.ndarray:
    """The upstream gradient of a VJP: a finite float64 array of the output's ``shape``.

    Every ``*_vjp`` validates its ``grad`` here, so the rule and the message are the same
    everywhere: ``grad`` must have exactly the output's shape (as ``torch.autograd``
    requires of ``grad_outputs``), or, with ``broadcast=True``, broadcast to it (the
    result is then a read-only broadcast view). ``name`` and ``of`` word the message,
    e.g. ``name="grad_logits", of="the logits'"``.

    Examples
    --------
    >>> cotangent([1.0, 2.0], (2,))
    array([1., 2.])
    >>> cotangent(1.0, (2, 2), broadcast=True).shape
    (2, 2)
    """
    grad = as_float_array(grad, name)
    shape = tuple(shape)
    if broadcast and broadcasts_to(grad.shape, shape):
        return np.broadcast_to(grad, shape)
    if grad.shape != shape:
        rule = "broadcast to" if broadcast else "have"
        raise ValueError(f"{name} must {rule} {of} shape {shape}, got shape {grad.shape}")
    return grad
