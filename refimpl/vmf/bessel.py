"""Modified Bessel functions of the first kind, in log space, for any order and argument.

The von Mises-Fisher normalizer needs ``log I_v(x)`` for orders ``v = d/2 - 1`` up to
5e4 and arguments up to 1e10; SciPy's ``ive`` underflows at large order and returns NaN
for ``x > 2**30``. We compute the exponentially scaled logarithm
``log ive_v(x) = log I_v(x) - x`` natively in four regions:

* ``x^2 <= 16 (v + 1)`` (any order, and ``x = 0``): the power series DLMF 10.25.2,
  whose terms are all positive;
* ``v >= 50`` otherwise: Olver's uniform (Debye) expansion, DLMF 10.41.3, with ten
  terms ``U_k(p)/v^k`` generated exactly in rational arithmetic (DLMF 10.41.9);
* ``v < 50`` and ``x > 1000 (v + 1)^2``: Hankel's large-argument expansion DLMF 10.40.1;
* otherwise ``log(scipy.special.ive(v, x))``, where ``ive`` neither underflows nor
  leaves AMOS's range.

The ratio ``R_v(x) = I_(v+1)(x)/I_v(x)`` and its complement ``1 - R_v(x)`` come from
Perron's continued fraction (Gautschi and Slavik 1978, the form TFP's ``bessel_iv_ratio``
uses), evaluated backward with 60 terms, which is accurate to a few ulps for every
``v >= 0`` and ``x >= 0``; its derivative in ``x`` is carried along the same recursion,
so ``R'`` never suffers the cancellation of ``1 - R^2 - (2v+1) R/x`` at ``x >> v``.
References: W. Gautschi and J. Slavik, "On the computation of modified Bessel function
ratios", Math. Comp. 32 (1978) 865-875; DLMF chapter 10 (dlmf.nist.gov/10).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from scipy import special

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_float_array, broadcast_batch

__all__ = ["log_bessel_ive", "log_bessel_iv", "log_bessel_iv_vjp", "bessel_iv_ratio",
           "bessel_iv_ratio_complement", "bessel_iv_ratio_derivative", "bessel_iv_ratio_vjp",
           "log_hyp0f1"]

#: Orders at or above this use the uniform (Debye) expansion.
DEBYE_MIN_ORDER = 50.0
#: Terms of Perron's continued fraction (60 gives a few ulps everywhere, §5.2).
PERRON_TERMS = 60
_SERIES_TERMS = 60
_HANKEL_TERMS = 9


def _debye_polynomials(count: int) -> list[np.ndarray]:
    """Coefficients of ``U_k(p) = p^k P_k(p^2)`` as arrays of ``P_k``, k = 1..count.

    Olver's recursion, exact in rationals: ``U_0 = 1``,
    ``U_(k+1)(p) = p^2 (1 - p^2) U_k'(p) / 2 + (1/8) int_0^p (1 - 5 t^2) U_k(t) dt``.
    """
    u = [Fraction(1)]  # coefficients of U_k in powers of p
    result: list[np.ndarray] = []
    for _ in range(count):
        nxt = [Fraction(0)] * (len(u) + 3)
        for j, c in enumerate(u):
            if j:  # p^2 (1 - p^2) * j c p^(j-1) / 2
                nxt[j + 1] += c * j / 2
                nxt[j + 3] -= c * j / 2
            nxt[j + 1] += c / (8 * (j + 1))  # (1/8) int t^j
            nxt[j + 3] -= 5 * c / (8 * (j + 3))  # -(5/8) int t^(j+2)
        u = nxt
        k = len(result) + 1
        result.append(np.array([float(c) for c in u[k::2]]))  # P_k in powers of p^2
    return result


_DEBYE = _debye_polynomials(10)


def _log_ive_debye(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """DLMF 10.41.3 in scaled log form; ``v >= 50``, ``x > 0``.

    With ``z = x/v``, ``s = sqrt(1 + z^2)``, ``p = 1/s``:
    ``log ive = v [1/(s+z) - log1p((1 + 1/(s+z))/z)] - log(2 pi v)/2 - log(s)/2
    + log(1 + sum_k U_k(p)/v^k)``; the bracket is ``eta - z`` without cancellation.
    """
    z = x / v
    s = np.hypot(1.0, z)
    inv = 1.0 / (s + z)
    return (v * (inv - np.log1p((1.0 + inv) / z)) - 0.5 * np.log(2 * np.pi * v)
            - 0.5 * np.log(s) + log_debye_series(v, x))


def log_debye_series(v: np.ndarray | float, x: np.ndarray) -> np.ndarray:
    """``log(1 + sum_(k=1..10) U_k(p)/v^k)``, ``p = v/sqrt(v^2 + x^2)``: the correction
    factor of Debye's expansion of ``I_v(x)`` (DLMF 10.41.3); ``v >= 50``."""
    p = 1.0 / np.hypot(1.0, x / v)
    p2, step = p * p, p / v
    total = np.zeros_like(p)
    for coefficients in reversed(_DEBYE):  # Horner in p/v over k, in p^2 inside U_k
        total = (total + np.polynomial.polynomial.polyval(p2, coefficients)) * step
    return np.log1p(total)


def _log_ive_series(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """DLMF 10.25.2: ``log I_v = v log(x/2) - lgamma(v+1) + log sum_k q^k/(k! (v+1)_k)``.

    ``q = x^2/4 <= 4 (v + 1)``; all terms are positive and 60 of them reach rounding.
    """
    q = 0.25 * x * x
    term, total = np.ones_like(x), np.ones_like(x)
    for k in range(1, _SERIES_TERMS):
        term = term * q / (k * (v + k))
        total = total + term
    return special.xlogy(v, 0.5 * x) - special.gammaln(v + 1.0) + np.log(total) - x


def _log_ive_hankel(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """DLMF 10.40.1: ``ive ~ (2 pi x)^(-1/2) sum_k (-1)^k a_k(v)/x^k``, ``x > 1000 (v+1)^2``.

    ``a_k(v) = prod_(j<=k) (4v^2 - (2j-1)^2) / (k! 8^k)``; the terms fall by at least
    ``v^2/(8 k x) < 1e-3`` each, so nine of them reach rounding.
    """
    term, total = np.ones_like(x), np.ones_like(x)
    for k in range(1, _HANKEL_TERMS):
        term = -term * (4 * v * v - (2 * k - 1) ** 2) / (8 * k * x)
        total = total + term
    return -0.5 * np.log(2 * np.pi * x) + np.log(total)


#: Largest order or argument accepted: the region tests and the continued fraction
#: square their arguments, which overflows float64 beyond about 1.3e154.
ARGUMENT_MAX = 1e100


def _bessel_args(v: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``0 <= v, x <= ARGUMENT_MAX`` (finite) and broadcast them."""
    v, x = as_float_array(v, "v"), as_float_array(x, "x")
    for name, value in (("v (the order)", v), ("x", x)):
        if np.any(value < 0) or np.any(value > ARGUMENT_MAX):
            raise ValueError(f"{name} must lie in [0, {ARGUMENT_MAX:g}], got values in "
                             f"[{value.min():g}, {value.max():g}]")
    shape = broadcast_batch(v=v.shape, x=x.shape)
    return np.broadcast_to(v, shape), np.broadcast_to(x, shape)


def log_bessel_ive(v: Any, x: Any) -> np.ndarray:
    r"""Exponentially scaled log-Bessel function ``log(I_v(x) e^(-x))``, vectorised.

    .. math:: \log \mathrm{ive}_v(x) = \log I_v(x) - x

    computed natively (never as ``log I - x``) in four regions: the power series for
    ``x^2 <= 16 (v+1)`` (any order; exact at ``x = 0``), Olver's uniform expansion for
    ``v >= 50``, Hankel's expansion for ``v < 50`` and ``x > 1000 (v+1)^2``, and
    ``log(scipy.special.ive)`` in the remaining box ``v < 50``, where ``ive`` is safe.

    Parameters
    ----------
    v : array_like
        Order(s), ``v >= 0`` (tested on ``[0, 5e4]``).
    x : array_like
        Argument(s), ``x >= 0`` (tested on ``[0, 1e10]``); broadcasts with ``v``.

    Returns
    -------
    ndarray
        ``log ive_v(x)``, the broadcast shape of ``v`` and ``x``. At ``x = 0`` it is the
        exact limit: ``0`` for ``v = 0`` and ``-inf`` (``I_v(0) = 0``) for ``v > 0``.

    References
    ----------
    DLMF 10.25.2 (series), 10.40.1 (Hankel), 10.41.3 and 10.41.9 (Debye, uniform in the
    order); F. W. J. Olver, "The asymptotic expansion of Bessel functions of large order",
    Phil. Trans. R. Soc. A 247 (1954) 328-368.

    Examples
    --------
    >>> float(log_bessel_ive(0.5, 2.0))  # log(sinh(2) sqrt(2/(2 pi))) - 2 = -1.28399757...
    -1.28399757...
    >>> float(log_bessel_ive(5e4, 1e10))  # scipy.special.ive gives nan here
    -12.55686...
    """
    v, x = _bessel_args(v, x)
    out = np.empty(v.shape)
    series = x * x <= 16.0 * (v + 1.0)
    debye = ~series & (v >= DEBYE_MIN_ORDER)
    hankel = ~series & ~debye & (x > 1e3 * (v + 1.0) ** 2)
    middle = ~(series | debye | hankel)
    out[series] = _log_ive_series(v[series], x[series])
    out[debye] = _log_ive_debye(v[debye], x[debye])
    out[hankel] = _log_ive_hankel(v[hankel], x[hankel])
    out[middle] = np.log(special.ive(v[middle], x[middle]))
    return out


def log_bessel_iv(v: Any, x: Any) -> np.ndarray:
    r"""Log of the modified Bessel function of the first kind, ``log I_v(x)``.

    .. math:: \log I_v(x) = \log \mathrm{ive}_v(x) + x

    See :func:`log_bessel_ive` for the method; the error is about
    ``1e-15 max(1, |log I_v(x)|)`` for ``v`` in ``[0, 5e4]`` and ``x`` in ``[0, 1e10]``.
    ``x = 0`` gives ``0`` for ``v = 0`` and ``-inf`` for ``v > 0``.

    Examples
    --------
    >>> float(log_bessel_iv(0.0, 1.0))  # log I_0(1) = log 1.2660658777520082
    0.2359...
    >>> float(log_bessel_iv(499.0, 10.0))  # I_499(10) ~ 1e-783 underflows in float64
    -1801.9563345...
    """
    v, x = _bessel_args(v, x)
    return log_bessel_ive(v, x) + x



def log_bessel_iv_vjp(grad: Any, v: Any, x: Any) -> np.ndarray:
    r"""VJP of :func:`log_bessel_iv` in ``x`` (the order is not differentiated).

    .. math:: \frac{\partial}{\partial x} \log I_v(x) = \frac{v}{x} + R_v(x)

    At ``x = 0`` the derivative is ``R_0(0) = 0`` for ``v = 0``; for ``v > 0`` the
    function is ``-inf`` there and ``x = 0`` must be avoided.

    Returns
    -------
    ndarray
        ``grad * d log I_v(x) / dx``, shaped like ``x`` (summed over broadcast axes).

    Examples
    --------
    >>> x = 2.0  # d/dx log(sinh(x)/sqrt(x)) = coth(x) - 1/(2x)
    >>> bool(np.isclose(log_bessel_iv_vjp(1.0, 0.5, x), 1 / np.tanh(x) - 0.5 / x))
    True
    """
    v_arr, x_arr = _bessel_args(v, x)
    grad = cotangent(grad, v_arr.shape, broadcast=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # v/x at x = 0 is replaced below
        slope = np.where(v_arr == 0, 0.0, v_arr / x_arr) + bessel_iv_ratio(v_arr, x_arr)
    return sum_to_shape(grad * slope, np.shape(x))


def _perron(v: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Perron's continued fraction for ``R_v(x)``, with ``1 - R`` and ``dR/dx``.

    With ``w = v + 1``, ``t_1 = -x(w + 1/2) / (2 (w + x/2)(w + x + 1/2))`` and
    ``t_k = -x(w + k - 1/2) / (2 (w + x + (k-1)/2)(w + x + k/2))``, the fraction
    ``cf = t_1/(1 + t_2/(1 + ...))`` gives ``R = x / ((x + 2w)(1 + cf))`` and
    ``1 - R = (2w + (x + 2w) cf) / ((x + 2w)(1 + cf))``. Differentiating the backward
    recursion ``f_k = t_k/(1 + f_(k+1))`` gives ``cf'``, and then
    ``R' = 2w/((x + 2w)^2 (1 + cf)) - R cf'/(1 + cf)``.
    """
    w = v + 1.0
    f, df = np.zeros_like(x), np.zeros_like(x)
    for k in range(PERRON_TERMS, 0, -1):
        p, dp = (w + 0.5 * x, 0.5) if k == 1 else (w + x + 0.5 * (k - 1), 1.0)
        q = w + x + 0.5 * k
        scale = -(w + k - 0.5) / (2.0 * p * q)  # t_k = scale * x
        t = scale * x
        dt = scale - t * (dp / p + 1.0 / q)
        denominator = 1.0 + f
        f, df = t / denominator, (dt - t / denominator * df) / denominator
    base = (x + 2.0 * w) * (1.0 + f)
    ratio = x / base
    complement = (2.0 * w + (x + 2.0 * w) * f) / base
    derivative = 2.0 * w / ((x + 2.0 * w) * base) - ratio * df / (1.0 + f)
    return ratio, complement, derivative


def bessel_iv_ratio(v: Any, x: Any) -> np.ndarray:
    r"""The ratio ``R_v(x) = I_(v+1)(x) / I_v(x)``, vectorised, for ``v, x >= 0``.

    .. math:: R_v(x) = \frac{I_{v+1}(x)}{I_v(x)}
       = \frac{x}{(x + 2v + 2)(1 + \mathrm{cf})}

    with ``cf`` Perron's continued fraction (60 terms, backward; Gautschi and Slavik
    1978). ``R_v(0) = 0``; ``R_v(x) -> 1`` as ``x -> inf``. The vMF mean resultant
    length is ``A_d(kappa) = R_(d/2-1)(kappa)``.

    Examples
    --------
    >>> x = 2.0  # R_(1/2)(x) = coth(x) - 1/x
    >>> bool(abs(bessel_iv_ratio(0.5, x) - (1 / np.tanh(x) - 1 / x)) < 1e-15)
    True
    """
    return _perron(*_bessel_args(v, x))[0]


def bessel_iv_ratio_complement(v: Any, x: Any) -> np.ndarray:
    r"""``1 - R_v(x)`` without cancellation (accurate where ``R`` rounds to 1).

    .. math:: 1 - R_v(x) = \frac{2v + 2 + (x + 2v + 2)\,\mathrm{cf}}{(x + 2v + 2)(1 + \mathrm{cf})}

    Examples
    --------
    >>> float(bessel_iv_ratio_complement(0.5, 1e20))  # 1 - coth(x) + 1/x = 1/x
    1e-20
    """
    return _perron(*_bessel_args(v, x))[1]


def bessel_iv_ratio_derivative(v: Any, x: Any) -> np.ndarray:
    r"""``dR_v/dx``, by differentiating Perron's recursion (no cancellation at ``x >> v``).

    .. math:: R_v'(x) = 1 - R_v(x)^2 - \frac{2v + 1}{x} R_v(x) \;>\; 0

    The right-hand side is the definition (DLMF 10.29.2 applied to the ratio); it is
    only used as a test oracle, because it cancels when ``x >> v``.
    ``R_v'(0) = 1/(2v + 2)``; ``R_v'(x) ~ (v + 1/2)/x^2`` as ``x -> inf``.

    Examples
    --------
    >>> float(bessel_iv_ratio_derivative(0.0, 0.0))
    0.5
    >>> float(bessel_iv_ratio_derivative(4.0, 1e8) * 1e16)  # (v + 1/2)/x^2
    4.5...
    """
    return _perron(*_bessel_args(v, x))[2]


def bessel_iv_ratio_vjp(grad: Any, v: Any, x: Any) -> np.ndarray:
    """VJP of :func:`bessel_iv_ratio` in ``x``: ``grad * R_v'(x)``, shaped like ``x``.

    Examples
    --------
    >>> float(bessel_iv_ratio_vjp(1.0, 0.0, 0.0))  # R_0'(0) = 1/2
    0.5
    """
    v_arr, x_arr = _bessel_args(v, x)
    grad = cotangent(grad, v_arr.shape, broadcast=True)
    return sum_to_shape(grad * _perron(v_arr, x_arr)[2], np.shape(x))


def log_hyp0f1(b: Any, q: Any) -> np.ndarray:
    r"""``log 0F1(; b; q)`` for ``b > 0`` and ``0 <= q <= 8 b`` by its positive series.

    .. math:: {}_0F_1(;b;q) = \sum_{k \ge 0} \frac{q^k}{k!\,(b)_k},
       \qquad I_v(x) = \frac{(x/2)^v}{\Gamma(v+1)}\, {}_0F_1\!\left(;v+1;\tfrac{x^2}{4}\right)

    Returned as ``log1p(sum_(k>=1) ...)`` so that ``q -> 0`` keeps full relative
    accuracy (``log 0F1 ~ q/b``). Terms are added until the largest remaining one is
    below rounding; with ``q <= 8 b`` that takes at most about 200 terms. Larger ``q``
    is rejected: use :func:`log_bessel_ive` there.

    Examples
    --------
    >>> float(log_hyp0f1(1.5, 1e-20))  # q/b
    6.666666666666667e-21
    """
    b, q = as_float_array(b, "b"), as_float_array(q, "q")
    if np.any(b <= 0):
        raise ValueError(f"b must be > 0, got a minimum of {float(np.min(b))}")
    if np.any(q < 0) or np.any(q > 8 * b):
        raise ValueError(f"q must lie in [0, 8 b] (use log_bessel_ive beyond), got q in "
                         f"[{float(np.min(q))}, {float(np.max(q))}] with b in "
                         f"[{float(np.min(b))}, {float(np.max(b))}]")
    b, q = np.broadcast_arrays(b, q)
    term, tail = np.ones(b.shape), np.zeros(b.shape)
    past_peak = np.sqrt(np.max(q, initial=0.0))  # terms decrease once k (b + k) > q
    for k in range(1, 1000):
        term = term * q / (k * (b + (k - 1.0)))  # (b + k) - 1 would lose b < 1
        tail = tail + term
        if k > past_peak and np.all(term <= 1e-17 * (1.0 + tail)):
            break
    return np.log1p(tail)
