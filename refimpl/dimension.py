"""How many dimensions do N items need? The ``n > 8.33 ln N`` rule and the JL lemma.

Su Jianlin's minimum-entropy argument (kexue.fm 7695, revisited in 8711) models word
pairs by ``p(w_i, w_j) ∝ exp(<u_i, v_j>)`` with vectors of norm ``sqrt(n)`` in random
directions. Replacing the double sum over the vocabulary by ``N^2`` times an average
over the angle between two random directions gives the pair entropy

.. math:: H \\approx 2 \\ln N + h_n,

where :func:`h_n` depends on the dimension only. ``H < 0`` is impossible for a
discrete distribution, so it signals that ``n`` dimensions are *more than enough*
for ``N`` items; the exact threshold is :func:`minimum_dimension`. Because
``h_n / n -> -(1/2) ln(phi)`` (``phi`` the golden ratio, a Laplace/saddle-point limit),
the threshold is asymptotically ``n = (4 / ln phi) ln N = 8.3123 ln N``; the post's
``8.33`` is ``2 / 0.24`` with the slope rounded to 0.24 (:func:`dimension_rule`).

The same ``O(ln N)`` scaling is the Johnson–Lindenstrauss lemma (kexue.fm 8679,
8706): a Gaussian random projection to ``n > 24 ln N / eps^2`` dimensions keeps all
pairwise squared distances of ``N`` points within a factor ``1 +- eps`` with
probability at least ``1 - 1/N`` (:func:`jl_dimension`, :func:`jl_failure_bound`,
:func:`random_projection`, :func:`worst_distortion`).

Logarithms are natural throughout, as in the posts. References: Su's posts
https://kexue.fm/archives/7695, /8711, /8679 and /8706; Johnson and Lindenstrauss (1984);
Dasgupta and Gupta, "An elementary proof of a theorem of Johnson and Lindenstrauss" (2003).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.spatial.distance import pdist
from scipy.special import gammaln, log_expit, logsumexp

from refimpl._validation import (
    as_float_array,
    as_generator,
    as_int,
    as_scalar,
    check_choice,
    check_ndim,
)

#: The golden ratio ``phi = (1 + sqrt 5) / 2``.
GOLDEN_RATIO = (1.0 + np.sqrt(5.0)) / 2.0
#: ``lim h_n / n = -(1/2) ln phi = -0.2406059...``.
ASYMPTOTIC_SLOPE = -0.5 * np.log(GOLDEN_RATIO)
#: ``2 / |slope| = 4 / ln phi = 8.3123...``: the exact constant behind "8.33".
ASYMPTOTIC_COEFFICIENT = 4.0 / np.log(GOLDEN_RATIO)
#: The post's rounded coefficient ``2 / 0.24``, quoted as 8.33.
POST_COEFFICIENT = 8.33

__all__ = ["GOLDEN_RATIO", "ASYMPTOTIC_SLOPE", "ASYMPTOTIC_COEFFICIENT", "POST_COEFFICIENT",
           "h_n", "pair_entropy", "dimension_rule", "minimum_dimension", "jl_dimension",
           "jl_failure_bound", "norm_deviation_bound", "inner_product_deviation_bound",
           "random_projection", "worst_distortion"]

_TANH_SINH_HALF_WIDTH = 4.5  # |s| <= 4.5 keeps theta >= pi * 1e-61: no underflow


def _angle_rule(largest_n: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tanh-sinh nodes on ``theta in (0, pi)``: ``(log weight, log sin theta, cos theta)``.

    ``theta = pi * expit(2u)``, ``u = (pi/2) sinh s``, trapezoidal in ``s``. The double
    exponential clustering absorbs the ``sin^(n-2)`` endpoint behaviour (also for
    non-integer n); the step ``min(1/32, 0.2/sqrt n)`` puts about ten nodes per width
    of the peak, whose width is ``~ 1/sqrt(1.12 n)``.
    """
    step = min(1.0 / 32.0, 0.2 / np.sqrt(largest_n))
    s = np.arange(-_TANH_SINH_HALF_WIDTH, _TANH_SINH_HALF_WIDTH + step / 2, step)
    u = 0.5 * np.pi * np.sinh(s)
    theta = np.pi * np.exp(log_expit(2.0 * u))
    near_edge = np.pi * np.exp(log_expit(-2.0 * np.abs(u)))  # min(theta, pi - theta)
    log_jacobian = (np.log(2.0 * np.pi) + log_expit(2.0 * u) + log_expit(-2.0 * u)
                    + np.log(0.5 * np.pi * np.cosh(s)))
    return np.log(step) + log_jacobian, np.log(np.sin(near_edge)), np.cos(theta)


def h_n(n: Any) -> np.ndarray:
    """The dimension term of the pair entropy ``H ≈ 2 ln N + h_n`` (Su, kexue.fm 7695).

    .. math::

        h_n = \\ln \\mathbb{E}_\\theta\\left[e^{n\\cos\\theta}\\right]
              - \\frac{\\mathbb{E}_\\theta\\left[e^{n\\cos\\theta}\\, n\\cos\\theta\\right]}
                     {\\mathbb{E}_\\theta\\left[e^{n\\cos\\theta}\\right]},
        \\qquad
        p_n(\\theta) = \\frac{\\Gamma(n/2)}{\\Gamma((n-1)/2)\\sqrt\\pi}\\sin^{n-2}\\theta,
        \\quad \\theta \\in [0, \\pi],

    ``p_n`` being the law of the angle between two random directions in ``R^n``.

    Parameters
    ----------
    n : float or array_like
        Dimension(s), each ``>= 2``. Non-integer ``n`` uses the same formula (its
        analytic continuation), which :func:`minimum_dimension` needs.

    Returns
    -------
    ndarray
        ``h_n``, same shape as ``n`` (a 0-d array for a scalar).

    Notes
    -----
    Stable quadrature: both expectations are sums over tanh-sinh nodes in ``theta``
    evaluated in the log domain (log-sum-exp), so nothing overflows although
    ``E[e^{n cos theta}]`` grows like ``e^{0.377 n}``. The second term is the mean of
    ``n cos theta`` under the weights ``softmax(log w + log p_n + n cos theta)``.
    Relative error below ``1e-12`` for ``2 <= n <= 10^4``, checked against a 40-digit
    mpmath evaluation of the Bessel closed form ``ln Γ(n/2) + (n/2 - 1) ln(2/n)
    + ln I_{n/2-1}(n) - n I_{n/2}(n) / I_{n/2-1}(n)`` (the same form in double precision,
    via ``scipy.special.ive``, is less accurate near ``n = 4000`` and underflows beyond
    ``n ≈ 5500``). ``h_n / n`` tends to :data:`ASYMPTOTIC_SLOPE` from below, and
    ``h_n - n * ASYMPTOTIC_SLOPE -> ln(phi) - ln(5)/4 - 2/(5 phi^2) = -0.07393``.

    Examples
    --------
    >>> print(np.round(h_n([32, 64, 128]), 4))
    [ -7.7747 -15.4734 -30.8718]
    """
    n = as_float_array(n, "n")
    if np.any(n < 2):
        raise ValueError(f"n must be at least 2 (a dimension), got n={n.min()}")
    log_weight, log_sin, cos = _angle_rule(float(np.max(n, initial=2.0)))
    d = n[..., None]
    log_density = (gammaln(d / 2) - gammaln((d - 1) / 2) - 0.5 * np.log(np.pi)
                   + (d - 2) * log_sin)
    log_terms = log_weight + log_density + d * cos
    log_mean_exp = logsumexp(log_terms, axis=-1)
    tilted = np.exp(log_terms - log_mean_exp[..., None])
    return log_mean_exp - np.sum(tilted * d * cos, axis=-1)


def pair_entropy(n: Any, vocab_size: Any) -> np.ndarray:
    """The approximate pair entropy ``H ≈ 2 ln N + h_n`` of ``N`` items in ``n`` dims.

    .. math:: H(n, N) = 2 \\ln N + h_n

    A negative value is impossible for a true (discrete) entropy: it means the
    sampling approximation broke down because ``n`` dimensions are more than enough
    for ``N`` items (kexue.fm 7695).

    Parameters
    ----------
    n : float or array_like
        Dimension(s) ``>= 2``.
    vocab_size : float or array_like
        Number of items ``N >= 2``; broadcast against ``n``.

    Examples
    --------
    >>> print(np.round(pair_entropy(64, 1e5), 5))   # the post's worked example
    7.55245
    """
    vocab_size = as_float_array(vocab_size, "vocab_size")
    if np.any(vocab_size < 2):
        raise ValueError(f"vocab_size must be at least 2, got vocab_size={vocab_size.min()}")
    return 2.0 * np.log(vocab_size) + h_n(n)


def dimension_rule(vocab_size: Any, coefficient: float = POST_COEFFICIENT) -> np.ndarray:
    """The rule of thumb ``n > 8.33 ln N`` (natural log), as a number of dimensions.

    .. math:: n_{\\text{rule}} = c \\ln N, \\qquad c = 8.33 \\text{ (post) or }
              4/\\ln\\varphi = 8.3123 \\text{ (exact asymptotic constant)}

    It stays within 1 of the exact root :func:`minimum_dimension` for
    ``512 <= N <= 5e6`` (above it by about 0.4 at ``N = 512`` and 0.6 at ``N = 5e6``).

    Examples
    --------
    >>> print(np.round(dimension_rule([512, 1e5, 5e6]), 2))   # head size 64 vs 52
    [ 51.97  95.9  128.49]
    """
    vocab_size = as_float_array(vocab_size, "vocab_size")
    if np.any(vocab_size < 2):
        raise ValueError(f"vocab_size must be at least 2, got vocab_size={vocab_size.min()}")
    return as_scalar(coefficient, "coefficient", positive=True) * np.log(vocab_size)


def minimum_dimension(vocab_size: float) -> float:
    """The exact root ``n*`` of ``2 ln N + h_n = 0``: the smallest "enough" dimension.

    .. math:: n^* : \\; 2 \\ln N + h_{n^*} = 0

    ``h_n`` decreases in ``n`` (from ``h_2 = -0.5716``), so the root is unique and
    exists for every ``N >= 2``. Found by Brent's method to ``1e-10``, starting from a
    bracket ``[2, 8.5 ln N + 10]`` that is widened until it holds a sign change.

    Examples
    --------
    >>> print(round(minimum_dimension(512), 2), round(minimum_dimension(1e5), 2))
    51.54 95.39
    """
    vocab_size = as_scalar(vocab_size, "vocab_size")
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2, got vocab_size={vocab_size}")
    target = 2.0 * np.log(vocab_size)
    upper = 8.5 * np.log(vocab_size) + 10.0
    while target + h_n(upper) > 0:
        upper *= 2.0
    return float(brentq(lambda n: target + float(h_n(n)), 2.0, upper, xtol=1e-10))


def _check_distortion(distortion: Any) -> float:
    eps = as_scalar(distortion, "distortion", positive=True)
    if eps >= 1:
        raise ValueError(f"distortion must be in (0, 1), got distortion={eps}")
    return eps


def jl_dimension(num_points: int, distortion: float, guarantee: str = "probable") -> float:
    """Johnson–Lindenstrauss target dimension for ``N`` points and distortion ``eps``.

    .. math::

        n > \\frac{24 \\ln N}{\\varepsilon^2} \\;\\; (\\text{probable}), \\qquad
        n > \\frac{16 \\ln N}{\\varepsilon^2} \\;\\; (\\text{exists})

    A projection ``A`` with i.i.d. ``N(0, 1/n)`` entries then keeps every pair,
    ``(1 - eps) |x_i - x_j|^2 <= |A x_i - A x_j|^2 <= (1 + eps) |x_i - x_j|^2``, with
    probability at least ``1 - 1/N`` ("probable"), or at least ``1/N > 0`` so that such
    a map exists ("exists"). Both follow from the union bound of
    :func:`jl_failure_bound` (kexue.fm 8679). The constants are loose; only the
    ``O(ln N / eps^2)`` scaling is sharp.

    Parameters
    ----------
    num_points : int
        ``N >= 2``.
    distortion : float
        ``eps`` in ``(0, 1)``.
    guarantee : {"probable", "exists"}

    Returns
    -------
    float
        The threshold (round up for a dimension).

    Examples
    --------
    >>> round(jl_dimension(10**5, 0.5)), round(jl_dimension(10**5, 0.1))
    (1105, 27631)
    """
    count = as_int(num_points, "num_points", minimum=2)
    eps = _check_distortion(distortion)
    constant = {"probable": 24.0, "exists": 16.0}[
        check_choice(guarantee, "guarantee", ("probable", "exists"))]
    if np.log(constant * np.log(count)) - 2.0 * np.log(eps) >= np.log(np.finfo(np.float64).max):
        raise ValueError(f"distortion={eps} is too small: the dimension would exceed the "
                         f"float64 range")
    return float(constant * np.log(count) / eps**2)


def norm_deviation_bound(dimension: int, distortion: float) -> float:
    """Chernoff bound on ``P(| |u|^2 - 1 | >= eps)`` for ``u`` with i.i.d. ``N(0, 1/n)`` entries.

    .. math:: P\\left(\\left|\\|u\\|^2 - 1\\right| \\ge \\varepsilon\\right)
              \\le 2 e^{-\\varepsilon^2 n / 8}

    (kexue.fm 8679: Cramér–Chernoff with ``E[e^{lambda u_i^2}] = sqrt(n / (n - 2 lambda))``.)
    ``|A x|^2 / |x|^2`` for a Gaussian projection ``A`` has the law of ``|u|^2``, so this
    bounds one pair's distortion. Clipped at 1.

    Examples
    --------
    >>> round(norm_deviation_bound(64, 0.5), 3)
    0.271
    """
    n = as_int(dimension, "dimension", minimum=1)
    eps = _check_distortion(distortion)
    return float(min(1.0, 2.0 * np.exp(-eps**2 * n / 8.0)))


def inner_product_deviation_bound(dimension: int, distortion: float) -> float:
    """Bound on ``P(|<u, v>| >= eps)`` for independent ``u, v`` with i.i.d. ``N(0, 1/n)`` entries.

    .. math:: P(|\\langle u, v\\rangle| \\ge \\varepsilon) \\le 4 e^{-\\varepsilon^2 n / 8}

    Polarisation: ``<u, v> = (|a|^2 - |b|^2) / 2`` with ``a, b = (u +- v) / sqrt 2``
    independent and distributed like ``u``, and one of them must deviate by ``eps``
    (kexue.fm 8679). Clipped at 1.

    Examples
    --------
    >>> round(inner_product_deviation_bound(256, 0.3), 3)
    0.225
    """
    return min(1.0, 2.0 * norm_deviation_bound(dimension, distortion))


def jl_failure_bound(dimension: int, num_points: int, distortion: float) -> float:
    """Union bound on the probability that a Gaussian projection distorts some pair.

    .. math:: P(\\text{some pair off by more than } \\varepsilon)
              \\le N (N - 1) \\, e^{-\\varepsilon^2 n / 8}

    (``N(N-1)/2`` pairs, each bounded by :func:`norm_deviation_bound`). Clipped at 1.
    At ``n = 24 ln N / eps^2`` it equals ``(N - 1) / N^2 < 1/N``.

    Examples
    --------
    >>> n = jl_dimension(100, 0.5)
    >>> bool(jl_failure_bound(int(np.ceil(n)), 100, 0.5) < 1 / 100)
    True
    """
    count = as_int(num_points, "num_points", minimum=2)
    n = as_int(dimension, "dimension", minimum=1)
    eps = _check_distortion(distortion)
    return float(min(1.0, count * (count - 1) * np.exp(-eps**2 * n / 8.0)))


def random_projection(points: Any, dimension: int, rng: Any = None) -> np.ndarray:
    """Project points with a Gaussian JL matrix ``A`` (i.i.d. ``N(0, 1/n)`` entries).

    .. math:: y = A x, \\qquad A \\in \\mathbb{R}^{n \\times m}, \\;
              A_{kl} \\sim \\mathcal N(0, 1/n), \\qquad \\mathbb{E}\\|A x\\|^2 = \\|x\\|^2

    Parameters
    ----------
    points : array_like, shape (..., m)
    dimension : int
        Target dimension ``n >= 1``.
    rng : None, int or numpy.random.Generator
        Draws ``A`` (one matrix for all points).

    Returns
    -------
    ndarray, shape (..., n)

    Examples
    --------
    >>> random_projection(np.ones((5, 300)), 20, rng=0).shape
    (5, 20)
    """
    points = as_float_array(points, "points")
    check_ndim(points, "points", 1)
    n = as_int(dimension, "dimension", minimum=1)
    matrix = as_generator(rng).standard_normal((n, points.shape[-1])) / np.sqrt(n)
    return points @ matrix.T


def worst_distortion(points: Any, projected: Any) -> float:
    """The largest relative change of a squared pairwise distance under a map.

    .. math:: \\max_{i < j} \\left| \\frac{\\|y_i - y_j\\|^2}{\\|x_i - x_j\\|^2} - 1 \\right|

    A map satisfies the JL guarantee with distortion ``eps`` exactly when this is at
    most ``eps``. Distances come from differences (``scipy.spatial.distance.pdist``),
    not from Gram matrices, so near points do not cancel.

    Parameters
    ----------
    points : array_like, shape (N, m)
        ``N >= 2`` distinct points.
    projected : array_like, shape (N, n)
        Their images, in the same order.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((50, 1000))
    >>> bool(worst_distortion(x, random_projection(x, 2000, rng=1)) < 0.5)
    True
    """
    points = as_float_array(points, "points")
    projected = as_float_array(projected, "projected")
    for array, name in ((points, "points"), (projected, "projected")):
        if array.ndim != 2 or array.shape[0] < 2:
            raise ValueError(f"{name} must have shape (N, dim) with N >= 2, got {array.shape}")
    if projected.shape[0] != points.shape[0]:
        raise ValueError(f"projected must have one row per point: points {points.shape}, "
                         f"projected {projected.shape}")
    before = pdist(points, "sqeuclidean")
    if np.any(before == 0):
        raise ValueError("points must be distinct (a repeated point has no distortion ratio)")
    return float(np.max(np.abs(pdist(projected, "sqeuclidean") / before - 1.0)))
