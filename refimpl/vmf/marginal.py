"""The law of ``w = <mu, x>`` for ``x ~ vMF(mu, kappa)`` on S^(d-1): density, CDF, quantile.

With ``mu = e_1`` the first polar angle ``theta = arccos w`` decouples from a uniform
point on S^(d-2) (the vMF-VAE post's derivation), so

.. math:: p(w) = C_d(\\kappa)\\, |S^{d-2}|\\, e^{\\kappa w} (1 - w^2)^{(d-3)/2},
   \\qquad -1 \\le w \\le 1,

with mean ``A_d(kappa)`` and variance ``A_d'(kappa)``. At d = 3 it is a truncated
exponential with closed-form CDF and quantile. For other d we integrate the density of
the angle, ``p(theta) = C_d |S^(d-2)| exp(kappa cos theta) sin^(d-2) theta`` on
``[0, pi]``, which is smooth for every d >= 2 (at d = 2, ``p(w)`` itself has integrable
singularities at ``w = +-1``: the post's grid in ``w`` under-weights them). The
quadrature uses 20-point Gauss-Legendre panels, dense around the mode of ``theta``
(width about half its standard deviation) and coarse in the tails; each side of a
query point is integrated separately, so both ``F`` and ``1 - F`` keep their accuracy,
and both are divided by the quadrature's total mass (which is 1 to rounding), so that
the rounding of ``log C_d`` at very large d does not leak into the CDF.
References: the vMF-VAE post (kexue.fm/archives/8404) for the density of ``w``; Figurnov,
Mohamed and Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
arXiv:1805.08498, for the kappa derivative of a sample.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from refimpl._validation import as_float_array, as_scalar
from refimpl.vmf.bessel import bessel_iv_ratio_complement
from refimpl.vmf.distribution import check_dimension, check_kappa, log_mode_density

__all__ = ["marginal_logpdf", "marginal_pdf", "marginal_cdf", "marginal_quantile",
           "marginal_cdf_kappa_derivative", "angle_from_w", "quantile_angle"]

#: A weight ``factor(theta)`` multiplying the density under an integral.
Factor = Callable[[np.ndarray], np.ndarray]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)
#: Panels around the mode of theta span this many standard deviations each side.
_SPAN = 16.0


def angle_from_w(w: np.ndarray) -> np.ndarray:
    """``theta = arccos w``, computed as ``2 arcsin(sqrt((1 - w)/2))`` near ``w = 1``
    (and symmetrically near -1), where ``arccos`` is ill-conditioned."""
    upper = 2.0 * np.arcsin(np.sqrt(np.clip(0.5 * (1.0 - w), 0.0, 1.0)))
    lower = np.pi - 2.0 * np.arcsin(np.sqrt(np.clip(0.5 * (1.0 + w), 0.0, 1.0)))
    return np.where(w >= 0, upper, lower)


def _angle_constant(d: int, kappa: float) -> float:
    """``log C_d + kappa + log|S^(d-2)|``: the angle's log-density at theta = 0 sans sines."""
    return float(log_mode_density(d, np.array(kappa))) + _log_area_minus_one(d)


def _log_angle_density(theta: np.ndarray, d: int, kappa: float, constant: float) -> np.ndarray:
    """``log p(theta) = constant - 2 kappa sin^2(theta/2) + (d-2) log sin theta`` on
    ``[0, pi]``, with ``constant`` from :func:`_angle_constant` (computed once per call)."""
    half = np.sin(0.5 * theta)
    log_density = constant - 2.0 * kappa * half * half
    if d > 2:  # log(0) = -inf at theta = 0, pi is the exact limit (density 0 there)
        with np.errstate(divide="ignore"):
            log_density += (d - 2.0) * np.log(np.sin(theta))
    return log_density


def _log_area_minus_one(d: int) -> float:
    """``log |S^(d-2)|`` (``|S^0| = 2``: two points)."""
    return float(np.log(2.0) + 0.5 * (d - 1) * np.log(np.pi) - special.gammaln(0.5 * (d - 1)))


def mode_interval(d: int, kappa: float) -> tuple[float, float]:
    """``[mode - 16 sd, mode + 16 sd]`` of the angle ``theta``, clipped to ``[0, pi]``.

    The mode solves ``kappa sin^2 theta = (d-2) cos theta`` and ``sd`` is the inverse
    square root of the curvature of ``-log p(theta)`` there (at most pi).
    """
    if d == 2:
        mode, curvature = 0.0, kappa
    else:
        m = d - 2.0
        sin2 = 2.0 * m / (m + np.hypot(m, 2.0 * kappa))
        mode = float(np.arcsin(np.sqrt(sin2)))
        curvature = kappa * np.sqrt(1.0 - sin2) + m / sin2
    sd = min(np.pi, 1.0 / np.sqrt(curvature)) if curvature > 0 else np.pi
    return max(0.0, mode - _SPAN * sd), min(np.pi, mode + _SPAN * sd)


def _panel_edges(d: int, kappa: float) -> np.ndarray:
    """Panel edges on ``[0, pi]``: 64 panels over :func:`mode_interval`, 8 in each tail."""
    lo, hi = mode_interval(d, kappa)
    parts = [np.linspace(lo, hi, 65)]
    if lo > 0:
        parts.append(np.linspace(0.0, lo, 9))
    if hi < np.pi:
        parts.append(np.linspace(hi, np.pi, 9))
    return np.unique(np.concatenate(parts))


def _gauss_legendre(a: np.ndarray, b: np.ndarray, d: int, kappa: float, constant: float,
                    factor: Factor | None) -> np.ndarray:
    """``int_a^b factor(theta) p(theta) dtheta`` per pair, one 20-point panel each."""
    half, middle = 0.5 * (b - a), 0.5 * (b + a)
    theta = middle[..., None] + half[..., None] * _NODES
    values = np.exp(_log_angle_density(theta, d, kappa, constant))
    if factor is not None:
        values = values * factor(theta)
    return half * (values @ _WEIGHTS)


def angle_integrals(theta: np.ndarray, d: int, kappa: float, factor: Factor | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(int_0^theta f, int_theta^pi f)`` for ``f = factor * p(theta)``, each side summed
    from its own end, so a small side is never the difference of two large numbers."""
    edges, constant = _panel_edges(d, kappa), _angle_constant(d, kappa)
    total = np.sum(_gauss_legendre(edges[:-1], edges[1:], d, kappa, constant, None))
    masses = _gauss_legendre(edges[:-1], edges[1:], d, kappa, constant, factor)
    from_zero = np.concatenate([[0.0], np.cumsum(masses)])
    from_pi = np.concatenate([np.cumsum(masses[::-1])[::-1], [0.0]])
    j = np.clip(np.searchsorted(edges, theta, side="right") - 1, 0, len(masses) - 1)
    upper = from_zero[j] + _gauss_legendre(edges[j], theta, d, kappa, constant, factor)
    lower = from_pi[j + 1] + _gauss_legendre(theta, edges[j + 1], d, kappa, constant, factor)
    return upper / total, lower / total


def _marginal_args(w: ArrayLike, d: int, kappa: float) -> tuple[np.ndarray, int, float]:
    w = as_float_array(w, "w")
    if np.any(np.abs(w) > 1):
        raise ValueError(f"w must lie in [-1, 1], got a value {w[np.abs(w) > 1].ravel()[0]}")
    return w, check_dimension(d), as_scalar(kappa, "kappa", nonnegative=True)


def _per_kappa(scalar_form: Callable[[np.ndarray, int, float], np.ndarray],
               x: ArrayLike, x_name: str, d: int, kappa: ArrayLike) -> np.ndarray:
    """``scalar_form(x, d, kappa)`` with ``x`` and ``kappa`` broadcast against each other.

    The functions of this module take one kappa at a time (the quadrature panels are laid
    out around the mode of that kappa's angle); an array of kappas is evaluated once per
    distinct value, on the entries that share it, so each entry gets exactly the value
    of a scalar call. ``d`` stays a scalar: it is the sphere's dimension, one per
    distribution family (and the density's exponent ``(d - 3)/2``).
    """
    x = as_float_array(x, x_name)
    kappa = check_kappa(kappa)
    if kappa.ndim == 0:
        return scalar_form(x, d, float(kappa))
    try:
        x, kappa = np.broadcast_arrays(x, kappa)
    except ValueError:
        raise ValueError(f"{x_name} of shape {x.shape} and kappa of shape {kappa.shape} "
                         "do not broadcast") from None
    out = np.empty(x.shape)
    for value in np.unique(kappa):
        where = kappa == value
        out[where] = scalar_form(x[where], d, float(value))
    return out


def marginal_logpdf(w: ArrayLike, d: int, kappa: ArrayLike) -> np.ndarray:
    r"""Log-density of ``w = <mu, x>``.

    .. math:: \log p(w) = \log C_d + \kappa + \log|S^{d-2}| - \kappa (1 - w)
       + \tfrac{d-3}{2} \left[\log(1 - w) + \log(1 + w)\right]

    At ``w = +-1`` it is ``-inf`` for d > 3 and ``+inf`` for d = 2 (the exact limits).
    ``w`` and ``kappa`` broadcast against each other; ``d`` is a scalar.

    Examples
    --------
    >>> k = 2.0  # d = 3: p(w) = kappa e^(kappa w) / (2 sinh kappa)
    >>> bool(np.isclose(marginal_logpdf(0.3, 3, k), np.log(k * np.exp(k * 0.3) / (2 * np.sinh(k)))))
    True
    """
    return _per_kappa(_logpdf_one, w, "w", d, kappa)


def _logpdf_one(w: ArrayLike, d: int, kappa: float) -> np.ndarray:
    w, d, kappa = _marginal_args(w, d, kappa)
    power = 0.5 * (d - 3.0)
    constant = float(log_mode_density(d, np.array(kappa))) + _log_area_minus_one(d)
    with np.errstate(divide="ignore"):  # log(0) at w = +-1 is the exact limit
        return (constant - kappa * (1.0 - w) + special.xlog1py(power, -w)
                + special.xlog1py(power, w))


def marginal_pdf(w: ArrayLike, d: int, kappa: ArrayLike) -> np.ndarray:
    """Density of ``w = <mu, x>``: ``exp`` of :func:`marginal_logpdf`.

    Examples
    --------
    >>> float(marginal_pdf(0.3, 3, 0.0))  # uniform on the sphere: w ~ U[-1, 1] at d = 3
    0.5
    """
    return np.exp(marginal_logpdf(w, d, kappa))


def marginal_cdf(w: ArrayLike, d: int, kappa: ArrayLike) -> np.ndarray:
    r"""``F(w) = P(<mu, x> <= w)`` for ``x ~ vMF(mu, kappa)`` on S^(d-1).

    .. math:: F(w) = \int_{-1}^{w} p(t)\, dt

    d = 3: ``F(w) = exp(-kappa (1 - w)) expm1(-kappa (1 + w)) / expm1(-2 kappa)``
    (``(1 + w)/2`` at kappa = 0). Otherwise Gauss-Legendre quadrature of the angle's
    density (module notes): absolute error about 1e-15, and small values of ``F``
    keep their relative accuracy away from the extreme tails.

    Parameters
    ----------
    w : array_like
        Points in ``[-1, 1]``.
    d : int
        Dimension, ``d >= 2``.
    kappa : array_like
        Concentrations ``>= 0``, broadcasting against ``w`` (the quadrature grid depends
        on kappa: one grid per distinct value).

    Examples
    --------
    >>> float(marginal_cdf(0.0, 5, 0.0))  # symmetric at kappa = 0
    0.5
    >>> marginal_cdf(0.0, 5, [0.0, 1.0, 10.0]).round(6).tolist()
    [0.5, 0.32043, 0.000247]
    """
    return _per_kappa(_cdf_one, w, "w", d, kappa)


def _cdf_one(w: ArrayLike, d: int, kappa: float) -> np.ndarray:
    w, d, kappa = _marginal_args(w, d, kappa)
    if d == 3:
        if kappa == 0:
            return 0.5 * (1.0 + w)
        return np.exp(-kappa * (1.0 - w)) * np.expm1(-kappa * (1.0 + w)) / np.expm1(-2 * kappa)
    return angle_integrals(angle_from_w(w), d, kappa)[1]


def marginal_cdf_kappa_derivative(w: ArrayLike, d: int, kappa: ArrayLike) -> np.ndarray:
    r"""``dF(w)/d kappa`` at fixed ``w``: the input of the implicit reparameterization.

    .. math:: \frac{\partial F(w)}{\partial \kappa} = \int_{-1}^{w} (t - A_d)\, p(t)\, dt
       = -\int_{w}^{1} (t - A_d)\, p(t)\, dt \;\le\; 0

    integrated on the side of ``w`` holding less mass, with ``t - A_d`` written as
    ``(1 - A_d) - 2 sin^2(theta/2)`` so it does not cancel near ``t = 1``. The sample
    path derivative is ``dw/d kappa = -(dF/d kappa)/p(w)`` (Figurnov et al. 2018,
    arXiv:1805.08498).

    Examples
    --------
    >>> k, w = 2.0, 0.3  # d = 3: differentiate the closed-form CDF
    >>> exact = ((1 + w) * np.exp(k * (1 + w)) * np.expm1(2 * k)
    ...          - 2 * np.exp(2 * k) * np.expm1(k * (1 + w))) / np.expm1(2 * k) ** 2
    >>> bool(np.isclose(marginal_cdf_kappa_derivative(w, 3, k), exact, rtol=1e-13))
    True
    """
    return _per_kappa(_cdf_kappa_derivative_one, w, "w", d, kappa)


def _cdf_kappa_derivative_one(w: ArrayLike, d: int, kappa: float) -> np.ndarray:
    w, d, kappa = _marginal_args(w, d, kappa)
    complement = float(bessel_iv_ratio_complement(0.5 * d - 1.0, kappa))
    theta = angle_from_w(w)

    def centred(t: np.ndarray) -> np.ndarray:
        half = np.sin(0.5 * t)
        return complement - 2.0 * half * half

    upper, lower = angle_integrals(theta, d, kappa, centred)
    below_half = angle_integrals(theta, d, kappa)[1] <= 0.5
    return np.where(below_half, lower, -upper)


def _angle_quantile(u: np.ndarray, d: int, kappa: float) -> np.ndarray:
    """The angle ``theta`` with ``F(cos theta) = u``: safeguarded Newton in each panel.

    For ``u <= 1/2`` solve ``int_theta^pi p = u``, otherwise ``int_0^theta p = 1 - u``
    (``1 - u`` is exact there), bisecting whenever a Newton step leaves the bracket
    given by the panel edges. Only unconverged entries are iterated.
    """
    edges, constant = _panel_edges(d, kappa), _angle_constant(d, kappa)
    masses = _gauss_legendre(edges[:-1], edges[1:], d, kappa, constant, None)
    total = np.sum(masses)
    masses = masses / total
    from_zero = np.concatenate([[0.0], np.cumsum(masses)])
    from_pi = np.concatenate([np.cumsum(masses[::-1])[::-1], [0.0]])  # F at the edges
    j = np.clip(np.searchsorted(-from_pi, -u, side="left") - 1, 0, len(masses) - 1)
    a, b = edges[j], edges[j + 1]
    span = np.maximum(from_pi[j] - from_pi[j + 1], 1e-300)
    theta = a + (b - a) * np.clip((from_pi[j] - u) / span, 0.0, 1.0)
    theta = np.where(u == 1.0, 0.0, np.where(u == 0.0, np.pi, theta))
    lower = u <= 0.5
    sign = np.where(lower, 1.0, -1.0)  # d(side mass)/d theta = -sign * p(theta)
    target = np.where(lower, u, 1.0 - u)
    base = np.where(lower, from_pi[j + 1], from_zero[j])
    active = np.flatnonzero((u > 0) & (u < 1))
    for _ in range(200):
        th = theta[active]
        low_end = np.where(lower[active], th, edges[j[active]])
        high_end = np.where(lower[active], edges[j[active] + 1], th)
        partial = _gauss_legendre(low_end, high_end, d, kappa, constant, None) / total
        mass = base[active] + partial
        residual = sign[active] * (mass - target[active])  # > 0: theta is too small
        too_small = residual > 0
        a[active] = np.where(too_small, th, a[active])
        b[active] = np.where(too_small, b[active], th)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = th + residual * total / np.exp(_log_angle_density(th, d, kappa, constant))
        inside = np.isfinite(newton) & (newton >= a[active]) & (newton <= b[active])
        new = np.where(inside, newton, 0.5 * (a[active] + b[active]))
        theta[active] = new
        # A Newton step of 1e-10 theta leaves an error ~ (1e-10 theta)^2 / sd: rounding.
        small_step = inside & (np.abs(new - th) <= 1e-10 * new)
        done = small_step | (b[active] - a[active] <= 4e-16 * np.maximum(new, 1e-300))
        active = active[~done]
        if active.size == 0:
            break
    return theta


def marginal_quantile(u: ArrayLike, d: int, kappa: ArrayLike) -> np.ndarray:
    r"""The quantile ``w = F^{-1}(u)`` of ``w = <mu, x>``, for ``u`` in ``[0, 1]``.

    d = 3: ``1 - w = -log(u + (1-u) e^(-2 kappa)) / kappa``, with the logarithm taken as
    ``log1p(-(1 - u)(-expm1(-2 kappa)))`` when its argument is near 1 (small kappa or u
    near 1: the stable form of W. Jakob, "Numerically stable sampling of the von Mises
    Fisher distribution on S^2 (and other tricks)", 2012, in complements) and directly
    otherwise (u near 0 at large kappa); ``2 (1 - u)`` at kappa = 0. Otherwise a safeguarded Newton
    iteration on the angle's CDF (see :func:`marginal_cdf`), accurate to a few ulps of
    ``theta = arccos w``. ``u`` and ``kappa`` broadcast against each other; ``d`` is a
    scalar.

    Examples
    --------
    >>> float(marginal_quantile(1.0, 3, 1e-12)), float(marginal_quantile(0.0, 3, 1e-12))
    (1.0, -1.0)
    >>> u = np.array([0.1, 0.5, 0.9])
    >>> bool(np.allclose(marginal_cdf(marginal_quantile(u, 6, 4.0), 6, 4.0), u, rtol=1e-13))
    True
    """
    return _per_kappa(_quantile_one, u, "u", d, kappa)


def _quantile_one(u: ArrayLike, d: int, kappa: float) -> np.ndarray:
    u = as_float_array(u, "u")
    if np.any((u < 0) | (u > 1)):
        raise ValueError(f"u must lie in [0, 1], got a value {u[(u < 0) | (u > 1)].ravel()[0]}")
    d, kappa = check_dimension(d), as_scalar(kappa, "kappa", nonnegative=True)
    if d == 3:
        return 1.0 - one_minus_w_d3(u, 1.0 - u, kappa)
    return np.cos(_angle_quantile(u.ravel(), d, kappa)).reshape(u.shape)


def quantile_angle(u: np.ndarray, d: int, kappa: float) -> np.ndarray:
    """``theta = arccos F^{-1}(u)``, accurate also where ``w`` rounds to +-1 (no checks).

    d = 3 uses the closed form through ``1 - w`` (``theta = 2 arcsin sqrt((1 - w)/2)``);
    other d the Newton iteration of :func:`marginal_quantile`.
    """
    if d == 3:
        half_gap = np.minimum(0.5 * one_minus_w_d3(u, 1.0 - u, kappa), 1.0)
        return 2.0 * np.arcsin(np.sqrt(half_gap))
    return _angle_quantile(u, d, kappa)


def one_minus_w_d3(u: np.ndarray, r: np.ndarray, kappa: ArrayLike) -> np.ndarray:
    """``1 - F^{-1}(u)`` at d = 3, cancellation-free, given both ``u`` and ``r = 1 - u``
    (each exact where it is used); kappa may be an array.

    ``1 - w = -log(q)/kappa`` with ``q = u + r e^(-2 kappa) = 1 - r (1 - e^(-2 kappa))``:
    ``log1p`` of the drop ``r (1 - e^(-2 kappa))`` where it is at most 1/2, else
    ``log(u + r e^(-2 kappa))`` (``r > 1/2`` there), taken as ``logaddexp(log u,
    log r - 2 kappa)`` so that ``u = 0`` gives ``1 - w = 2`` even where ``e^(-2 kappa)``
    underflows.
    """
    u, r = np.asarray(u, dtype=np.float64), np.asarray(r, dtype=np.float64)
    kappa = np.asarray(kappa, dtype=np.float64)
    safe = np.where(kappa > 0, kappa, 1.0)
    drop = r * -np.expm1(-2.0 * safe)
    log_q = np.array(np.log1p(-np.minimum(drop, 0.5)))
    big = drop > 0.5
    if np.any(big):
        safe_big = safe if safe.ndim == 0 else np.broadcast_to(safe, r.shape)[big]
        small_u = u[big]
        log_u = np.log(small_u, out=np.full(small_u.shape, -np.inf), where=small_u > 0)
        log_q[big] = np.logaddexp(log_u, np.log(r[big]) - 2.0 * safe_big)
    value = -log_q / safe
    return np.where(kappa > 0, value, 2.0 * r) if np.any(kappa == 0) else value


def quantile_angle_kappa_derivative(theta: np.ndarray, d: int, kappa: float) -> np.ndarray:
    """``d theta / d kappa`` at fixed ``u = F(cos theta)``: implicit reparameterization.

    Differentiating ``F(cos theta(kappa); kappa) = u`` gives
    ``d theta/d kappa = (dF/d kappa) / p(theta)`` with ``p(theta)`` the angle's density
    (so ``dw/d kappa = -(dF/d kappa)/p(w)``); ``dF/d kappa`` as in
    :func:`marginal_cdf_kappa_derivative`. Where ``p(theta)`` is 0 (the end points at
    d >= 3) the derivative is set to 0. No argument checks.
    """
    complement = float(bessel_iv_ratio_complement(0.5 * d - 1.0, kappa))

    def centred(t: np.ndarray) -> np.ndarray:
        half = np.sin(0.5 * t)
        return complement - 2.0 * half * half

    upper, lower = angle_integrals(theta, d, kappa, centred)
    below_half = angle_integrals(theta, d, kappa)[1] <= 0.5
    d_cdf = np.where(below_half, lower, -upper)
    density = np.exp(_log_angle_density(theta, d, kappa, _angle_constant(d, kappa)))
    positive = density > 0
    return np.where(positive, d_cdf / np.where(positive, density, 1.0), 0.0)
