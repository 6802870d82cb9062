"""Layer normalisation and RMS normalisation over the feature (last) axis, with VJPs.

LayerNorm (Ba, Kiros and Hinton 2016) centres each feature vector, divides it by its
standard deviation and applies a learned gain and bias; RMSNorm (Zhang and Sennrich
2019) skips the centring and the bias and divides by the root mean square. Both
normalise the last axis of an array shaped ``(..., d)``; ``gain`` and ``bias`` have
shape ``(d,)`` and their gradients are summed over every leading axis.

The variance is the biased (population) one, ``mean((x - mean(x))^2)``, as in PyTorch's
``torch.nn.LayerNorm``; ``eps`` is added to it (or to the mean square) inside the
square root, which keeps a constant input finite: LayerNorm of a constant vector is
``bias``. Rows are first divided by a power of two near their largest entry (an exact
operation that leaves the result unchanged), so squares never overflow: inputs up to
the float64 maximum are normalised correctly.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl._validation import as_float_array, as_scalar, check_last_axis

__all__ = ["layer_norm", "layer_norm_vjp", "rms_norm", "rms_norm_vjp"]


def _inputs(x: ArrayLike, gain: ArrayLike, bias: ArrayLike | None, eps: object
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float]:
    """Validate ``x (..., d)``, ``gain (d,)``, ``bias (d,)`` and ``eps > 0``."""
    x = as_float_array(x, "x")
    d = check_last_axis(x, "x")
    if d == 0:
        raise ValueError(f"x must have a non-empty last axis, got shape {x.shape}")
    gain = as_float_array(gain, "gain")
    if gain.shape != (d,):
        hint = (" (gain is the weight vector, torch's weight=, not its normalized_shape: "
                "pass np.ones(d) for no gain)") if gain.ndim == 0 else ""
        raise ValueError(f"gain must have shape ({d},) to match x {x.shape}, got "
                         f"{gain.shape}{hint}")
    checked_bias = None
    if bias is not None:
        checked_bias = as_float_array(bias, "bias")
        if checked_bias.shape != (d,):
            raise ValueError(f"bias must have shape ({d},) to match x {x.shape}, got "
                             f"{checked_bias.shape}")
    return x, gain, checked_bias, as_scalar(eps, "eps", positive=True)



def _required(bias: ArrayLike | None) -> ArrayLike:
    """LayerNorm's bias, which may not be None (torch's ``bias=None`` habit)."""
    if bias is None:
        raise TypeError("layer_norm needs a bias vector; pass np.zeros(d) for none (torch's "
                        "bias=None), or use rms_norm for a norm without a bias")
    return bias


def _row_scale(x: np.ndarray) -> np.ndarray:
    """Per row a power of two ``s >= 1`` with ``max |x| < 2 s``, so ``(x / s)^2`` cannot overflow.

    Dividing by a power of two is exact, and ``norm(x; eps) = norm(x / s; eps / s^2)``.
    Rows with ``max |x| < 2`` get ``s = 1`` (no change at all).
    """
    _, exponent = np.frexp(np.max(np.abs(x), axis=-1, keepdims=True))
    return np.ldexp(1.0, np.maximum(exponent - 1, 0))


def _normalize(scaled: np.ndarray, mean_square: np.ndarray, eps: float,
               scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scaled / sqrt(mean_square + eps / s^2)`` and ``1 / sqrt(s^2 mean_square + eps)``.

    The second factor (for the VJP, in the units of ``x``) uses ``hypot``, whose
    argument ``s sqrt(mean_square)`` is at most ``max |x|``; ``eps / s^2`` is kept above
    the smallest normal number so that a constant row gives 0, not 0/0.
    """
    scaled_eps = np.maximum(eps / scale / scale, np.finfo(np.float64).tiny)
    x_hat = scaled / np.sqrt(mean_square + scaled_eps)
    return x_hat, 1.0 / np.hypot(scale * np.sqrt(mean_square), np.sqrt(eps))


def _standardize(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``x_hat = (x - mean) / sqrt(var + eps)`` and ``1 / sqrt(var + eps)`` per row.

    Computed on ``x / s`` (:func:`_row_scale`) so that no square overflows.
    """
    scale = _row_scale(x)
    centred = x / scale
    centred -= np.mean(centred, axis=-1, keepdims=True)
    return _normalize(centred, np.mean(centred * centred, axis=-1, keepdims=True), eps, scale)


def _rms_normalize(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``x_hat = x / sqrt(mean(x^2) + eps)`` and ``1 / sqrt(mean(x^2) + eps)`` per row."""
    scale = _row_scale(x)
    scaled = x / scale
    return _normalize(scaled, np.mean(scaled * scaled, axis=-1, keepdims=True), eps, scale)


def _leading_sum(values: np.ndarray) -> np.ndarray:
    """Sum over every axis but the last: the gradient of a ``(d,)`` parameter."""
    return values.reshape(-1, values.shape[-1]).sum(axis=0)


def layer_norm(x: ArrayLike, gain: ArrayLike, bias: ArrayLike, eps: float = 1e-5) -> np.ndarray:
    """Layer normalisation over the last axis.

    .. math::

        \\mu = \\frac1d \\sum_i x_i, \\quad
        \\sigma^2 = \\frac1d \\sum_i (x_i - \\mu)^2, \\quad
        y = g \\odot \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + b

    Parameters
    ----------
    x : array_like, shape (..., d)
    gain, bias : array_like, shape (d,)
    eps : float, positive
        Added to the (biased) variance; PyTorch's default ``1e-5``.

    Returns
    -------
    ndarray, shape (..., d)
        A constant row maps to ``bias``.

    References
    ----------
    Ba, Kiros, Hinton, "Layer Normalization", arXiv:1607.06450.

    Examples
    --------
    >>> layer_norm([[1.0, 3.0]], [1.0, 1.0], [0.0, 0.0], eps=1e-12).round(6)
    array([[-1.,  1.]])
    """
    x, gain, checked_bias, eps = _inputs(x, gain, _required(bias), eps)
    return layer_norm_unchecked(x, gain, np.zeros_like(gain) if checked_bias is None
                                else checked_bias, eps)


def layer_norm_unchecked(x: np.ndarray, gain: np.ndarray, bias: np.ndarray,
                         eps: float) -> np.ndarray:
    """:func:`layer_norm` without its checks (internal, not in ``__all__``).

    For callers that have validated ``x (..., d)``, ``gain``, ``bias (d,)`` and ``eps > 0``
    themselves, once for many calls (:mod:`refimpl.transformer`); any other caller wants
    :func:`layer_norm`.
    """
    x_hat, _ = _standardize(x, eps)
    return gain * x_hat + bias


def layer_norm_vjp(grad: ArrayLike, x: ArrayLike, gain: ArrayLike, bias: ArrayLike,
                   eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of :func:`layer_norm` in ``x``, ``gain`` and ``bias``.

    With :math:`\\hat x` the standardised input, :math:`r = 1/\\sqrt{\\sigma^2+\\epsilon}`
    and :math:`\\bar g = g \\odot \\text{grad}`,

    .. math::

        \\frac{\\partial L}{\\partial x} = r \\left(\\bar g - \\operatorname{mean}(\\bar g)
            - \\hat x \\operatorname{mean}(\\bar g \\odot \\hat x)\\right),\\quad
        \\frac{\\partial L}{\\partial g} = \\sum \\text{grad} \\odot \\hat x, \\quad
        \\frac{\\partial L}{\\partial b} = \\sum \\text{grad}

    where the last two sums run over every leading axis.

    Returns
    -------
    (grad_x, grad_gain, grad_bias) : shapes (..., d), (d,), (d,)

    Examples
    --------
    >>> gx, gg, gb = layer_norm_vjp([[1.0, 1.0]], [[1.0, 3.0]], [1.0, 1.0], [0.0, 0.0])
    >>> gx, gb  # a uniform upstream gradient does not move a centred output
    (array([[0., 0.]]), array([1., 1.]))
    """
    x, gain, _, eps = _inputs(x, gain, _required(bias), eps)
    return layer_norm_vjp_unchecked(cotangent(grad, x.shape, of="x's"), x, gain, eps)


def layer_norm_vjp_unchecked(grad: np.ndarray, x: np.ndarray, gain: np.ndarray,
                             eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`layer_norm_vjp` without its checks (internal, not in ``__all__``).

    ``grad`` must have the shape of ``x``; the bias is not needed (it does not enter the
    gradients). Same callers as :func:`layer_norm_unchecked`.
    """
    x_hat, inv_std = _standardize(x, eps)
    g = grad * gain
    grad_x = inv_std * (g - np.mean(g, axis=-1, keepdims=True)
                        - x_hat * np.mean(g * x_hat, axis=-1, keepdims=True))
    return grad_x, _leading_sum(grad * x_hat), _leading_sum(grad)


def rms_norm(x: ArrayLike, gain: ArrayLike, eps: float = 1e-6) -> np.ndarray:
    """RMS normalisation over the last axis.

    .. math::

        y = g \\odot \\frac{x}{\\sqrt{\\frac1d \\sum_i x_i^2 + \\epsilon}}

    Parameters
    ----------
    x : array_like, shape (..., d)
    gain : array_like, shape (d,)
    eps : float, positive
        Added to the mean square (default ``1e-6``, as in T5 and Llama).

    Returns
    -------
    ndarray, shape (..., d)
        The zero vector maps to zero.

    References
    ----------
    Zhang, Sennrich, "Root Mean Square Layer Normalization", NeurIPS 2019.

    Examples
    --------
    >>> rms_norm([[3.0, -3.0]], [1.0, 2.0], eps=1e-12).round(6)
    array([[ 1., -2.]])
    """
    x, gain, _, eps = _inputs(x, gain, None, eps)
    return rms_norm_unchecked(x, gain, eps)


def rms_norm_unchecked(x: np.ndarray, gain: np.ndarray, eps: float) -> np.ndarray:
    """:func:`rms_norm` without its checks (internal, not in ``__all__``).

    For callers that have validated ``x (..., d)``, ``gain (d,)`` and ``eps > 0``
    themselves (:mod:`refimpl.transformer`); any other caller wants :func:`rms_norm`.
    """
    x_hat, _ = _rms_normalize(x, eps)
    return gain * x_hat


def rms_norm_vjp(grad: ArrayLike, x: ArrayLike, gain: ArrayLike,
                 eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`rms_norm` in ``x`` and ``gain``.

    With :math:`r = (\\operatorname{mean}(x^2) + \\epsilon)^{-1/2}`,
    :math:`\\hat x = r x` and :math:`\\bar g = g \\odot \\text{grad}`,

    .. math::

        \\frac{\\partial L}{\\partial x} = r\\left(\\bar g
            - \\hat x \\operatorname{mean}(\\bar g \\odot \\hat x)\\right), \\quad
        \\frac{\\partial L}{\\partial g} = \\sum \\text{grad} \\odot \\hat x

    Returns
    -------
    (grad_x, grad_gain) : shapes (..., d), (d,)

    Examples
    --------
    >>> gx, gg = rms_norm_vjp([[1.0, 0.0]], [[2.0, 0.0]], [1.0, 1.0], eps=1e-12)
    >>> gx.round(6)  # moving along x itself does not change x / rms(x)
    array([[0., 0.]])
    """
    x, gain, _, eps = _inputs(x, gain, None, eps)
    return rms_norm_vjp_unchecked(cotangent(grad, x.shape, of="x's"), x, gain, eps)


def rms_norm_vjp_unchecked(grad: np.ndarray, x: np.ndarray, gain: np.ndarray,
                           eps: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rms_norm_vjp` without its checks (internal, not in ``__all__``).

    ``grad`` must have the shape of ``x``. Same callers as :func:`rms_norm_unchecked`.
    """
    x_hat, inv_rms = _rms_normalize(x, eps)
    g = grad * gain
    grad_x = inv_rms * (g - x_hat * np.mean(g * x_hat, axis=-1, keepdims=True))
    return grad_x, _leading_sum(grad * x_hat)
