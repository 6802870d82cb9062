"""The law of ``w = <mu, x>`` for ``x ~ vMF(mu, kappa)`` on S^(d-1): density, CDF, quantile.

With ``mu = e_1`` the first polar angle ``theta = arccos w`` decouples from a uniform
point on S^(d-2) (the vMF-VAE post's derivation), so

.. math:: p(w) = C_d(\\kappa)\\, |S^{d-2}|\\, e^{\\kappa w} (1 - w^2)^{(d-3)/2},
   \\qquad -1 \\le w \\le 1,

with mean ``A_d(kappa)`` and variance ``A_d'(kappa)``. At d = 3 it is a truncated
exponential with closed-form CDF and quantile. For other d we integrate the density of
the angle, ``p(theta) = C_d |S^(d-2)| exp(kappa cos theta) sin^(d-2) theta`` on
``[0, pi]``, which is smooth for every d >= 2 (at d = 2, ``p(w)`` itself has integrable
singularities at ``w = +-1``: the post's grid in ``w`` under-weights them), by
Gauss-Legendre panels around its mode, in the variable ``z = theta - mode`` and relative
to the density at the mode (:mod:`refimpl.vmf.angle_quadrature` states the stable form).
Every probability is a ratio of two quadratures of that relative density, so no
normalizing constant (of size ~d log d at large d) and no term of size kappa rounds into
it. Arrays of kappa are evaluated in one vectorised pass (one quadrature layout per
distinct value, no Python loop over them); ``d`` stays a scalar.
References: the vMF-VAE post (kexue.fm/archives/8404) for the density of ``w``; Figurnov,
Mohamed and Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
arXiv:1805.08498, for the kappa derivative of a sample.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from refimpl._validation import as_float_array
from refimpl.vmf.angle_quadrature import (
    Prepared,
    angle_density,
    angle_integrals,
    angle_quantile,
    layout_rows,
    mode_interval,
)
from refimpl.vmf.bessel import bessel_iv_ratio_complement
from refimpl.vmf.distribution import check_dimension, check_kappa, log_mode_density

__all__ = ["marginal_logpdf", "marginal_pdf", "marginal_cdf", "marginal_quantile",
           "marginal_cdf_kappa_derivative", "angle_from_w", "quantile_angle",
           "angle_integrals", "mode_interval"]


def angle_from_w(w: np.ndarray) -> np.ndarray:
    """``theta = arccos w``, computed as ``2 arcsin(sqrt((1 - w)/2))`` near ``w = 1``
    (and symmetrically near -1), where ``arccos`` is ill-conditioned."""
    upper = 2.0 * np.arcsin(np.sqrt(np.clip(0.5 * (1.0 - w), 0.0, 1.0)))
    lower = np.pi - 2.0 * np.arcsin(np.sqrt(np.clip(0.5 * (1.0 + w), 0.0, 1.0)))
    return np.where(w >= 0, upper, lower)



def _log_area_minus_one(d: int) -> float:
    """``log |S^(d-2)|`` (``|S^0| = 2``: two points)."""
    return float(np.log(2.0) + 0.5 * (d - 1) * np.log(np.pi) - special.gammaln(0.5 * (d - 1)))



def _with_kappa(x: ArrayLike, x_name: str, kappa: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``kappa`` (checked) broadcast against each other."""
    x, kappa = as_float_array(x, x_name), check_kappa(kappa)
    try:
        return tuple(np.broadcast_arrays(x, kappa))  # type: ignore[return-value]
    except ValueError:
        raise ValueError(f"{x_name} of shape {x.shape} and kappa of shape {kappa.shape} "
                         "do not broadcast") from None


def _marginal_args(w: ArrayLike, d: int, kappa: ArrayLike
                   ) -> tuple[np.ndarray, int, np.ndarray]:
    d = check_dimension(d)
    w, kappa = _with_kappa(w, "w", kappa)
    if np.any(np.abs(w) > 1):
        raise ValueError(f"w must lie in [-1, 1], got a value {w[np.abs(w) > 1].ravel()[0]}")
    return w, d, kappa


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
    w, d, kappa = _marginal_args(w, d, kappa)
    power = 0.5 * (d - 3.0)
    constant = log_mode_density(d, kappa) + _log_area_minus_one(d)
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
    density relative to its mode (module notes): absolute error below 1e-14 against
    40-digit mpmath on d in [2, 1e5], kappa in [0, 1e10]
    (``tests/vmf/test_vmf_per_example_kappa.py``), about 1e-16 for moderate d and kappa;
    the bound is set by the conditioning of ``theta = arccos w``, whose rounding moves
    ``F`` by ``p(theta) theta eps`` (~1e-14 at d = 1e5, kappa = 1e10, where theta is 450
    standard deviations from 0). Small values of ``F`` keep their relative accuracy
    within 16 standard deviations of the mode.

    Parameters
    ----------
    w : array_like
        Points in ``[-1, 1]``.
    d : int
        Dimension, ``d >= 2``.
    kappa : array_like
        Concentrations ``>= 0``, broadcasting against ``w`` (one quadrature layout per
        distinct value, all built in one vectorised pass).

    Examples
    --------
    >>> float(marginal_cdf(0.0, 5, 0.0))  # symmetric at kappa = 0
    0.5
    >>> marginal_cdf(0.0, 5, [0.0, 1.0, 10.0]).round(6).tolist()
    [0.5, 0.32043, 0.000247]
    """
    w, d, kappa = _marginal_args(w, d, kappa)
    if d != 3:
        return angle_integrals(angle_from_w(w), d, kappa, w=w)[1]
    safe = np.where(kappa > 0, kappa, 1.0)
    closed = np.exp(-safe * (1.0 - w)) * np.expm1(-safe * (1.0 + w)) / np.expm1(-2.0 * safe)
    return np.where(kappa > 0, closed, 0.5 * (1.0 + w))


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
    w, d, kappa = _marginal_args(w, d, kappa)
    return _side_weighted_derivative(angle_from_w(w), d, kappa, layout_rows(d, kappa))


def _side_weighted_derivative(theta: np.ndarray, d: int, kappa: np.ndarray,
                              prepared: Prepared) -> np.ndarray:
    """``dF/d kappa`` at the angle ``theta``: ``int (cos t - A_d) p`` on the side of theta
    holding less mass, with ``cos t - A_d = (1 - A_d) - 2 sin^2(t/2)``."""
    complement = bessel_iv_ratio_complement(0.5 * d - 1.0, kappa)
    upper, lower = angle_integrals(theta, d, kappa, complement, prepared)
    below_half = angle_integrals(theta, d, kappa, None, prepared)[1] <= 0.5
    return np.where(below_half, lower, -upper)


def marginal_quantile(u: ArrayLike, d: int, kappa: ArrayLike) -> np.ndarray:
    r"""The quantile ``w = F^{-1}(u)`` of ``w = <mu, x>``, for ``u`` in ``[0, 1]``.

    d = 3: ``1 - w = -log(u + (1-u) e^(-2 kappa)) / kappa``, with the logarithm taken as
    ``log1p(-(1 - u)(-expm1(-2 kappa)))`` when its argument is near 1 (small kappa or u
    near 1: the stable form of W. Jakob, "Numerically stable sampling of the von Mises
    Fisher distribution on S^2 (and other tricks)", 2012, in complements) and directly
    otherwise (u near 0 at large kappa); ``2 (1 - u)`` at kappa = 0. Otherwise a safeguarded Newton
    iteration on the angle's CDF (see :func:`marginal_cdf`): the angle
    ``theta = arccos w`` to relative 1e-14 (at most 5 ulps of theta measured against
    mpmath on d in [2, 1e5], kappa in [0, 1e10]), so ``w`` to 4 eps absolutely.
    ``u`` and ``kappa`` broadcast against each other (one vectorised pass over all
    kappas); ``d`` is a scalar.

    Examples
    --------
    >>> float(marginal_quantile(1.0, 3, 1e-12)), float(marginal_quantile(0.0, 3, 1e-12))
    (1.0, -1.0)
    >>> u = np.array([0.1, 0.5, 0.9])
    >>> bool(np.allclose(marginal_cdf(marginal_quantile(u, 6, 4.0), 6, 4.0), u, rtol=1e-13))
    True
    """
    d = check_dimension(d)
    u, kappa = _with_kappa(u, "u", kappa)
    if np.any((u < 0) | (u > 1)):
        raise ValueError(f"u must lie in [0, 1], got a value {u[(u < 0) | (u > 1)].ravel()[0]}")
    if d == 3:
        return 1.0 - one_minus_w_d3(u, 1.0 - u, kappa)
    return np.cos(angle_quantile(u, d, kappa))


def quantile_angle(u: np.ndarray, d: int, kappa: ArrayLike, prepared: Prepared | None = None
                   ) -> np.ndarray:
    """``theta = arccos F^{-1}(u)``, accurate also where ``w`` rounds to +-1 (no checks).

    d = 3 uses the closed form through ``1 - w`` (``theta = 2 arcsin sqrt((1 - w)/2)``);
    other d the Newton iteration of :func:`marginal_quantile`.
    """
    if d == 3:
        half_gap = np.minimum(0.5 * one_minus_w_d3(u, 1.0 - u, kappa), 1.0)
        return 2.0 * np.arcsin(np.sqrt(half_gap))
    return angle_quantile(u, d, np.asarray(kappa, dtype=np.float64), prepared)


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


def quantile_angle_kappa_derivative(theta: np.ndarray, d: int, kappa: ArrayLike,
                                    prepared: Prepared | None = None) -> np.ndarray:
    """``d theta / d kappa`` at fixed ``u = F(cos theta)``: implicit reparameterization.

    Differentiating ``F(cos theta(kappa); kappa) = u`` gives
    ``d theta/d kappa = (dF/d kappa) / p(theta)`` with ``p(theta)`` the angle's density
    (so ``dw/d kappa = -(dF/d kappa)/p(w)``); ``dF/d kappa`` as in
    :func:`marginal_cdf_kappa_derivative`, both normalised by the same quadrature. Where
    ``p(theta)`` is 0 (the end points at d >= 3) the derivative is set to 0. ``theta`` and
    ``kappa`` broadcast together; ``prepared`` (from
    :func:`refimpl.vmf.angle_quadrature.layout_rows`) reuses a quantile's layout. No
    argument checks.
    """
    theta, kappa = np.broadcast_arrays(np.asarray(theta, dtype=np.float64),
                                       np.asarray(kappa, dtype=np.float64))
    prepared = layout_rows(d, kappa) if prepared is None else prepared
    d_cdf = _side_weighted_derivative(theta, d, kappa, prepared)
    density = angle_density(theta, d, kappa, prepared)
    positive = density > 0
    return np.where(positive, d_cdf / np.where(positive, density, 1.0), 0.0)
