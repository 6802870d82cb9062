"""Maximum-likelihood fit of a von Mises-Fisher distribution to unit vectors.

The MLE of the mean direction is the normalised (weighted) sample mean; the MLE of
kappa solves ``A_d(kappa) = r_bar``, the mean resultant length. We solve it in complement
form, ``1 - A_d(kappa) = 1 - r_bar``, with ``1 - r_bar = mean_i ||x_i - mu_hat||^2 / 2``
(exact for unit rows, and accurate when ``r_bar -> 1``) and ``1 - A_d`` from Perron's
continued fraction, starting from Banerjee et al.'s approximation and taking Newton
steps as Sra (2012) suggests. SciPy's bracketed solver (``scipy.stats.vonmises_fisher.fit``,
SciPy 1.17) returns its bracket end 1e-8 at d = 3000 because its Bessel ratio is 0/0
there; this one does not (``tests/vmf/test_vmf_fit.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refimpl._validation import as_float_array, check_ndim
from refimpl.vmf.bessel import bessel_iv_ratio_complement
from refimpl.vmf.distribution import (
    check_directions,
    mean_resultant_length,
    mean_resultant_length_derivative,
)

__all__ = ["fit", "fit_kappa"]


def fit_kappa(d: int, r_bar: float, r_bar_complement: float | None = None) -> float:
    r"""Solve ``A_d(kappa) = r_bar`` for kappa >= 0 (``0 <= r_bar < 1``).

    .. math:: \kappa_0 = \frac{\bar r (d - \bar r^2)}{1 - \bar r^2}, \qquad
       \kappa_{t+1} = \kappa_t - \frac{A_d(\kappa_t) - \bar r}{A_d'(\kappa_t)}

    (Banerjee et al. 2005; Sra 2012), halving kappa whenever a step would make it
    non-positive, until the step is below ``1e-15 kappa``. For ``r_bar > 1/2`` the
    equation is solved as ``1 - A_d(kappa) = 1 - r_bar`` with ``1 - A_d`` from the
    continued fraction; pass ``r_bar_complement = 1 - r_bar`` computed without
    cancellation (as :func:`fit` does) to keep full accuracy when ``r_bar -> 1``.

    Examples
    --------
    >>> round(fit_kappa(16, float(mean_resultant_length(16, 32.0))), 9)
    32.0
    """
    r_bar = float(r_bar)
    c = 1.0 - r_bar if r_bar_complement is None else float(r_bar_complement)
    if not (0.0 <= r_bar < 1.0 and 0.0 < c <= 1.0):
        raise ValueError(f"r_bar must lie in [0, 1) and 1 - r_bar in (0, 1], got {r_bar}, {c}")
    if r_bar == 0.0:
        return 0.0
    kappa = r_bar * (d - r_bar * r_bar) / (c * (1.0 + r_bar))
    nu = 0.5 * d - 1.0
    for _ in range(100):
        if r_bar > 0.5:  # residual in complements: 1 - A is accurate near A = 1
            residual = c - float(bessel_iv_ratio_complement(nu, kappa))
        else:
            residual = float(mean_resultant_length(d, kappa)) - r_bar
        step = -residual / float(mean_resultant_length_derivative(d, kappa))
        new = kappa + step if kappa + step > 0 else 0.5 * kappa
        if abs(new - kappa) <= 1e-15 * new:
            return new
        kappa = new
    return kappa


def fit(X: Any, weights: Any = None) -> tuple[np.ndarray, Any]:
    r"""Maximum-likelihood ``(mu, kappa)`` of vMF from unit vectors ``X`` (n, d).

    .. math:: \hat\mu = \frac{\bar x}{\lVert \bar x \rVert}, \quad
       \bar x = \frac{\sum_i w_i x_i}{\sum_i w_i}, \qquad A_d(\hat\kappa) = \lVert \bar x \rVert

    Parameters
    ----------
    X : array_like, shape (..., n, d)
        Unit vectors (norm 1 within 1e-10), ``d >= 2``; leading axes hold a batch of
        sample sets, each fitted on its own.
    weights : array_like, shape (..., n), optional
        Non-negative weights with a positive sum per set (default: all 1), broadcasting
        against the batch axes of ``X``.

    Returns
    -------
    (mu, kappa) : ndarray of shape (..., d), float or ndarray of shape (...)
        A float kappa for one set ``(n, d)``, an array for a batch. Where a weighted
        mean is exactly 0 the data look uniform: kappa = 0 and mu is e_1 (any direction
        is a maximiser).

    Raises
    ------
    ValueError
        If every (weighted) row of a set equals its mean direction: the likelihood grows
        without bound in kappa and no finite MLE exists.

    Examples
    --------
    >>> from refimpl.vmf.sampling import sample
    >>> mu, kappa = fit(sample([0.0, 0.6, 0.8], 30.0, size=20000, rng=0))
    >>> bool(abs(kappa / 30.0 - 1) < 0.05 and mu @ [0.0, 0.6, 0.8] > 0.999)
    True
    >>> sets = np.stack([sample([0.0, 0.6, 0.8], k, size=4000, rng=1) for k in (5.0, 50.0)])
    >>> mus, kappas = fit(sets)
    >>> mus.shape, kappas.shape
    ((2, 3), (2,))
    """
    X = check_directions(X, "X")
    check_ndim(X, "X", 2)
    if X.shape[-2] == 0:
        raise ValueError(f"X must have shape (..., n, d) with n >= 1, got {X.shape}")
    batch, (n, d) = X.shape[:-2], X.shape[-2:]
    if weights is None:
        weights = np.ones(X.shape[:-1])
    else:
        weights = as_float_array(weights, "weights")
        try:
            if weights.ndim == 0 or weights.shape[-1] != n:  # one weight per sample
                raise ValueError
            weights = np.broadcast_to(weights, X.shape[:-1])
        except ValueError:
            raise ValueError(f"weights must have shape (..., {n}) broadcasting against X of "
                             f"shape {X.shape}, got shape {weights.shape}") from None
    if X.ndim == 2:
        return _fit_one(X, weights)
    mus, kappas = np.empty(batch + (d,)), np.empty(batch)
    for index in np.ndindex(batch):  # one Newton solve per sample set
        mus[index], kappas[index] = _fit_one(X[index], weights[index], index)
    return mus, kappas


def _fit_one(X: np.ndarray, weights: np.ndarray, index: tuple[int, ...] = ()
             ) -> tuple[np.ndarray, float]:
    """The fit of one sample set ``X`` (n, d) with weights (n,); ``index`` names it."""
    where = f" (sample set {index})" if index else ""
    if np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum{where}, got "
                         f"values in [{weights.min():g}, {weights.max():g}] summing to "
                         f"{weights.sum():g}")
    d = X.shape[1]
    weights = weights / weights.sum()
    mean = weights @ X
    length = np.linalg.norm(mean)
    if length == 0:
        return np.eye(d)[0], 0.0
    mu = mean / length
    difference = X - mu
    complement = float(0.5 * weights @ np.einsum("ij,ij->i", difference, difference))
    if complement <= 0:
        raise ValueError(f"every sample equals the mean direction{where}: the MLE of kappa "
                         "is infinite")
    return mu, fit_kappa(d, min(float(length), 1.0 - 1e-16), min(complement, 1.0))
