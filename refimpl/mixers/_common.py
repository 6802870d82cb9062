"""Pieces shared by the token mixers: input checks, the activation table, the two-layer
MLP in the ``(out, in)`` weight layout (over channels, or over tokens by transposing the
sequence) and the weight gradient of a linear map.

Every weight here is stored ``(out, in)`` like ``torch.nn.Linear.weight``: a linear map
is ``y = x W^T + b`` on the last axis (see :mod:`refimpl.mixers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import sum_to_shape
from refimpl._validation import as_float_array, check_choice, check_ndim
from refimpl.activations import (
    gelu,
    gelu_tanh,
    gelu_tanh_vjp,
    gelu_vjp,
    relu,
    relu_vjp,
    silu,
    silu_vjp,
)

#: An activation and its VJP ``(f, f_vjp)`` with ``f_vjp(grad, x) = grad * f'(x)``.
Activation = tuple[Callable[[ArrayLike], np.ndarray], Callable[[ArrayLike, ArrayLike], np.ndarray]]

#: The activations a mixer block accepts by name (:mod:`refimpl.activations`).
ACTIVATIONS: dict[str, Activation] = {
    "gelu": (gelu, gelu_vjp), "gelu_tanh": (gelu_tanh, gelu_tanh_vjp),
    "relu": (relu, relu_vjp), "silu": (silu, silu_vjp)}

Params = TypeVar("Params")

#: Gradients of a two-layer MLP in its input and ``(w1, b1, w2, b2)``, in that order.
MLPGradients = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# ----------------------------------------------------------------------------- checks

def sequence(x: ArrayLike, name: str = "x") -> np.ndarray:
    """``x`` as a float64 ``(..., n, d)`` array: tokens on axis -2, channels on axis -1."""
    array = as_float_array(x, name)
    check_ndim(array, name, 2)
    return array


def exact_shape(value: ArrayLike, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float64 parameter of exactly ``shape``, or ``ValueError`` naming it."""
    array = as_float_array(value, name)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    return array


def token_sized(value: ArrayLike, name: str, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter sized by the sequence length ``n``: another length is rejected by name."""
    array = as_float_array(value, name)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape} but a sequence of n={n} tokens "
                         f"needs {shape}: this mixer's parameters fix the sequence length")
    return array


def linear_weight(value: ArrayLike, name: str, fan_in: int, out: str = "out",
                  multiple: int = 1) -> np.ndarray:
    """A weight ``(out, fan_in)`` whose output size is free (a multiple of ``multiple``)."""
    array = as_float_array(value, name)
    if array.ndim != 2 or array.shape[1] != fan_in or array.shape[0] % multiple:
        raise ValueError(f"{name} must have shape ({out}, {fan_in}), got {array.shape}")
    return array


def activation_functions(name: str) -> Activation:
    """The ``(f, f_vjp)`` pair of an activation named in :data:`ACTIVATIONS`."""
    return ACTIVATIONS[check_choice(name, "activation", ACTIVATIONS)]


def check_params(params: object, kind: type[Params]) -> Params:
    """``params`` if it is a ``kind`` dataclass, else ``TypeError`` naming both types."""
    if not isinstance(params, kind):
        raise TypeError(f"params must be a {kind.__name__}, got {type(params).__name__}")
    return params


def channel_mlp_params(d: int, w1: ArrayLike, b1: ArrayLike, w2: ArrayLike, b2: ArrayLike,
                       prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked channel-MLP weights ``w1 (c, d), b1 (c,), w2 (d, c), b2 (d,)``."""
    w1 = linear_weight(w1, f"{prefix}_w1", d, "hidden")
    hidden = w1.shape[0]
    return (w1, exact_shape(b1, f"{prefix}_b1", (hidden,)),
            exact_shape(w2, f"{prefix}_w2", (d, hidden)), exact_shape(b2, f"{prefix}_b2", (d,)))


def token_mlp_params(n: int, w1: ArrayLike, b1: ArrayLike, w2: ArrayLike, b2: ArrayLike,
                     names: tuple[str, str, str, str] = ("token_w1", "token_b1", "token_w2",
                                                         "token_b2"),
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked token-MLP weights ``w1 (h, n), b1 (h,), w2 (n, h), b2 (n,)`` for ``n`` tokens."""
    w1 = as_float_array(w1, names[0])
    if w1.ndim != 2 or w1.shape[1] != n:
        raise ValueError(f"{names[0]} has shape {w1.shape} but a sequence of n={n} tokens "
                         f"needs (hidden, {n}): this mixer's parameters fix the sequence length")
    hidden = w1.shape[0]
    return (w1, exact_shape(b1, names[1], (hidden,)), token_sized(w2, names[2], n, (n, hidden)),
            token_sized(b2, names[3], n, (n,)))


# ----------------------------------------------------------------------------- linear pieces

def weight_gradient(grad: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Gradient of ``W`` in ``y = x W^T``, summed over every leading axis: ``sum G^T X``.

    ``grad`` is ``(..., r, out)``, ``inputs`` is ``(..., r, in)``; the result is
    ``(out, in)``, the layout of the weight itself.
    """
    return grad.reshape(-1, grad.shape[-1]).T @ inputs.reshape(-1, inputs.shape[-1])


def bias_gradient(grad: np.ndarray) -> np.ndarray:
    """Gradient of ``b`` in ``y = ... + b``: ``grad`` summed over every axis but the last."""
    return sum_to_shape(grad, grad.shape[-1:])


def channel_mlp(h: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray,
                act: Activation) -> tuple[np.ndarray, np.ndarray]:
    """Two-layer MLP over the last axis, ``sigma(h W_1^T + b_1) W_2^T + b_2``.

    Returns the output and the pre-activation ``h W_1^T + b_1`` (what the VJP needs).
    """
    pre = h @ w1.T + b1
    return act[0](pre) @ w2.T + b2, pre


def channel_mlp_vjp(grad: np.ndarray, h: np.ndarray, w1: np.ndarray, w2: np.ndarray,
                    pre: np.ndarray, act: Activation) -> MLPGradients:
    """Gradients ``(h, w1, b1, w2, b2)`` of :func:`channel_mlp` given its pre-activation."""
    hidden = act[0](pre)
    grad_pre = act[1](grad @ w2, pre)
    return (grad_pre @ w1, weight_gradient(grad_pre, h), bias_gradient(grad_pre),
            weight_gradient(grad, hidden), bias_gradient(grad))


def token_mlp(h: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray,
              act: Activation) -> tuple[np.ndarray, np.ndarray]:
    """Token MLP ``W_2 sigma(W_1 h + b_1 1^T) + b_2 1^T``: :func:`channel_mlp` on ``h^T``.

    Returns the output ``(..., n, d)`` and the pre-activation ``(..., d, hidden)``.
    """
    out, pre = channel_mlp(np.swapaxes(h, -1, -2), w1, b1, w2, b2, act)
    return np.swapaxes(out, -1, -2), pre


def token_mlp_vjp(grad: np.ndarray, h: np.ndarray, w1: np.ndarray, w2: np.ndarray,
                  pre: np.ndarray, act: Activation) -> MLPGradients:
    """Gradients ``(h, w1, b1, w2, b2)`` of :func:`token_mlp` given its pre-activation."""
    gh, gw1, gb1, gw2, gb2 = channel_mlp_vjp(np.swapaxes(grad, -1, -2), np.swapaxes(h, -1, -2),
                                             w1, w2, pre, act)
    return np.swapaxes(gh, -1, -2), gw1, gb1, gw2, gb2
