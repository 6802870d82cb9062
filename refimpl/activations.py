"""Pointwise activations of Transformer feed-forward layers, with VJPs.

``relu``, ``gelu`` (the exact form ``x Phi(x)`` with the normal CDF, as in BERT's
original code and PyTorch's default), ``gelu_tanh`` (the tanh approximation of GPT-2
and PyTorch's ``approximate="tanh"``, which ``gelu`` also accepts) and ``silu``
(``x sigmoid(x)``, also called swish). Each ``f(x)`` has ``f_vjp(grad, x) = grad * f'(x)``.

Every function is finite on every finite input: the CDF and the sigmoid come from
``scipy.special.ndtr`` and ``scipy.special.expit``, and the Gaussian density and the
cubic inside ``gelu_tanh`` are evaluated on a clipped copy of ``x`` beyond which they
are exactly saturated in float64, so no overflow can occur; ``1 + tanh(u)`` is computed
as ``2 sigmoid(2u)``, which does not cancel for negative ``u``.

The gated units GEGLU and SwiGLU (Shazeer 2020) are ``gelu(x W) * (x V)`` and
``silu(x W) * (x V)``; they are built from these functions in
:mod:`refimpl.transformer`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, ndtr

from refimpl._validation import as_float_array, check_choice

__all__ = ["relu", "relu_vjp", "gelu", "gelu_vjp", "gelu_tanh", "gelu_tanh_vjp",
           "silu", "silu_vjp", "APPROXIMATIONS"]

#: The constants of the tanh approximation: sqrt(2 / pi) and 0.044715.
_TANH_SCALE = float(np.sqrt(2.0 / np.pi))
_TANH_CUBIC = 0.044715
#: Beyond |x| = 40 the Gaussian density underflows to 0 and the tanh gate is exactly 0 or 1.
_SATURATION = 40.0


def _input_and_grad(grad: ArrayLike, x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``x`` and an upstream gradient of the same shape."""
    x = as_float_array(x, "x")
    grad = as_float_array(grad, "grad")
    if grad.shape != x.shape:
        raise ValueError(f"grad must have the shape of x {x.shape}, got {grad.shape}")
    return grad, x


def relu(x: ArrayLike) -> np.ndarray:
    """Rectified linear unit :math:`\\max(x, 0)`.

    Examples
    --------
    >>> relu([-1.0, 0.0, 2.0])
    array([0., 0., 2.])
    """
    return np.maximum(as_float_array(x, "x"), 0.0)


def relu_vjp(grad: ArrayLike, x: ArrayLike) -> np.ndarray:
    """VJP of :func:`relu`: ``grad * [x > 0]`` (the subgradient 0 is taken at ``x = 0``).

    Examples
    --------
    >>> relu_vjp([1.0, 1.0, 1.0], [-1.0, 0.0, 2.0])
    array([0., 0., 1.])
    """
    grad, x = _input_and_grad(grad, x)
    return np.where(x > 0.0, grad, 0.0)


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    """Standard normal density, exactly 0 beyond ``|x| = 40`` (no overflow in ``x**2``)."""
    z = np.clip(x, -_SATURATION, _SATURATION)
    return np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)


#: torch's ``approximate=`` values of ``torch.nn.functional.gelu``
APPROXIMATIONS = ("none", "tanh")


def gelu(x: ArrayLike, approximate: str = "none") -> np.ndarray:
    """Gaussian error linear unit, exact form (``approximate="tanh"``: :func:`gelu_tanh`).

    .. math:: \\operatorname{gelu}(x) = x\\,\\Phi(x)
        = \\tfrac{x}{2}\\left(1 + \\operatorname{erf}(x/\\sqrt2)\\right)

    ``Phi`` is ``scipy.special.ndtr``: a few ulp on ``[-5, 5]``, relative error up to
    about ``3e-13`` in the far negative tail (``x < -20``, where ``gelu(x) < 1e-87``).

    References
    ----------
    Hendrycks, Gimpel, "Gaussian Error Linear Units (GELUs)", arXiv:1606.08415.

    Examples
    --------
    >>> gelu([0.0, 1.0]).round(6)  # 1 * Phi(1) = 0.841345
    array([0.      , 0.841345])
    >>> gelu([1.0], approximate="tanh").round(6)   # torch's keyword, the tanh form
    array([0.841192])
    """
    if check_choice(approximate, "approximate", APPROXIMATIONS) == "tanh":
        return gelu_tanh(x)
    return gelu_and_cdf_unchecked(as_float_array(x, "x"))[0]


def gelu_and_cdf_unchecked(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``gelu(x) = x Phi(x)`` and ``Phi(x)``, without checks (internal, not in ``__all__``).

    ``x`` must be a finite float64 array. A model keeps ``Phi(x)`` for its backward pass,
    :func:`gelu_vjp_from_cdf_unchecked` (:mod:`refimpl.transformer`); any other caller
    wants :func:`gelu`.
    """
    cdf = ndtr(x)
    return x * cdf, cdf


def gelu_vjp(grad: ArrayLike, x: ArrayLike, approximate: str = "none") -> np.ndarray:
    """VJP of :func:`gelu`: ``grad * (Phi(x) + x phi(x))`` with the normal density phi
    (``approximate="tanh"``: :func:`gelu_tanh_vjp`).

    Examples
    --------
    >>> gelu_vjp([1.0], [0.0])
    array([0.5])
    """
    if check_choice(approximate, "approximate", APPROXIMATIONS) == "tanh":
        return gelu_tanh_vjp(grad, x)
    grad, x = _input_and_grad(grad, x)
    return gelu_vjp_from_cdf_unchecked(grad, x, ndtr(x))


def gelu_vjp_from_cdf_unchecked(grad: np.ndarray, x: np.ndarray,
                                cdf: np.ndarray) -> np.ndarray:
    """:func:`gelu_vjp` given ``cdf = Phi(x)``, without checks (internal, not in ``__all__``).

    ``grad * (Phi(x) + x phi(x))``; ``grad``, ``x`` and ``cdf`` (the second output of
    :func:`gelu_and_cdf_unchecked`) are float64 arrays of one shape.
    """
    return grad * (cdf + x * _normal_pdf(x))


def _tanh_gate(x: np.ndarray) -> np.ndarray:
    """``(1 + tanh(u)) / 2 = sigmoid(2u)`` with ``u = sqrt(2/pi) (x + 0.044715 x^3)``.

    The sigmoid form has no cancellation for negative ``x``; ``x`` is clipped to
    ``|x| <= 40``, beyond which the gate is exactly 0 or 1 in float64.
    """
    z = np.clip(x, -_SATURATION, _SATURATION)
    # z * z * z, not z**3, which calls pow(): 40x slower
    return expit(2.0 * _TANH_SCALE * (z + _TANH_CUBIC * (z * z * z)))


def gelu_tanh(x: ArrayLike) -> np.ndarray:
    """The tanh approximation of GELU used by GPT-2.

    .. math:: \\tfrac{x}{2}\\left(1 + \\tanh u\\right), \\quad
        u = \\sqrt{2/\\pi}\\,(x + 0.044715\\,x^3)

    computed as :math:`x\\,\\sigma(2u)` (the same number, without cancellation for
    negative ``x``). It differs from :func:`gelu` by at most about ``5e-4``.

    Examples
    --------
    >>> gelu_tanh([0.0, 1.0]).round(6)
    array([0.      , 0.841192])
    """
    x = as_float_array(x, "x")
    return x * _tanh_gate(x)


def gelu_tanh_vjp(grad: ArrayLike, x: ArrayLike) -> np.ndarray:
    """VJP of :func:`gelu_tanh`.

    With :math:`s = \\sigma(2u) = (1 + \\tanh u)/2`, so that
    :math:`1 - \\tanh^2 u = 4 s (1 - s)`:

    .. math:: f'(x) = s + 2 x s (1 - s) \\sqrt{2/\\pi}\\,(1 + 3 \\cdot 0.044715\\, x^2)

    Examples
    --------
    >>> gelu_tanh_vjp([1.0], [0.0])
    array([0.5])
    """
    grad, x = _input_and_grad(grad, x)
    s = _tanh_gate(x)
    z = np.clip(x, -_SATURATION, _SATURATION)  # where |x| > 40, s (1 - s) is exactly 0
    du = _TANH_SCALE * (1.0 + 3.0 * _TANH_CUBIC * z * z)
    return grad * (s + 2.0 * z * s * (1.0 - s) * du)


def silu(x: ArrayLike) -> np.ndarray:
    """Sigmoid linear unit (swish with beta = 1): :math:`x\\,\\sigma(x)`.

    References
    ----------
    Elfwing, Uchibe, Doya, arXiv:1702.03118; Ramachandran, Zoph, Le, arXiv:1710.05941.

    Examples
    --------
    >>> silu([0.0, 2.0]).round(6)  # 2 / (1 + e^-2) = 1.761594
    array([0.      , 1.761594])
    """
    x = as_float_array(x, "x")
    return x * expit(x)


def silu_vjp(grad: ArrayLike, x: ArrayLike) -> np.ndarray:
    """VJP of :func:`silu`: ``grad * s (1 + x (1 - s))`` with ``s = sigmoid(x)``.

    Examples
    --------
    >>> silu_vjp([1.0], [0.0])
    array([0.5])
    """
    grad, x = _input_and_grad(grad, x)
    s = expit(x)
    return grad * s * (1.0 + x * (1.0 - s))
