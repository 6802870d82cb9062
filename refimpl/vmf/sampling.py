"""Sampling the von Mises-Fisher distribution, and the reparameterized transform.

Every sampler draws the scalar ``w = <mu, x>`` from its marginal law (see
:mod:`refimpl.vmf.marginal`) and then a direction uniform on the sphere of vectors
orthogonal to mu, and returns ``x = w mu + sqrt(1 - w^2) nu``. The methods for ``w``:

* ``"wood"``: Wood's (1994) rejection sampler with a Beta proposal, written with
  complements (``1 - w``, ``1 - x0``, ``z`` and ``1 - z`` from two Gamma draws) so that no
  step cancels at any kappa; the rejection loop runs over arrays (research note
  vmf_householder_testing_anchors.md §6.1);
* ``"exact"``: the von Mises angle at d = 2 (NumPy's sampler); at d = 3, ``1 - w`` is
  a truncated exponential, drawn exactly by the closed-form inverse CDF in complement
  form (§6.2) for kappa < 1 and by redrawing the values above 2 for kappa >= 1;
* ``"inverse"``: the numerical inverse CDF of the angle, ``theta = F^{-1}(u)``;
* ``"table"``: the vMF-VAE post's fixed-kappa inverse-CDF table, built once
  (:func:`inverse_cdf_table`) and reused; we tabulate the CDF of the angle
  ``theta = arccos w``, whose density is smooth at every d >= 2, which removes the
  post's bias at d = 2 (research/vmf_univae_dimension.md §1.6, §1.9);
* ``"auto"`` (default): ``"exact"`` at d = 2 and 3, ``"wood"`` otherwise.

The orthogonal direction comes from one of two routes, which are tested against each
other: ``tangent="projection"`` (the post: project a Gaussian ``eps ~ N(0, I_d)`` onto
the hyperplane orthogonal to mu and normalise) or ``tangent="householder"`` (draw
``(w, sqrt(1-w^2) v)`` around e_1, with ``v`` uniform on S^(d-2), and reflect e_1 -> mu
with :func:`refimpl.householder.reflect`, O(d) per sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import (as_float_array, as_generator, as_int, as_scalar,
                                 broadcast_batch, check_choice, check_last_axis)
from refimpl.householder import reflect, reflect_vjp
from refimpl.vmf.distribution import check_dimension, check_directions, check_kappa
from refimpl.vmf.marginal import (_angle_integrals, _one_minus_w_d3, mode_interval,
                                  quantile_angle, quantile_angle_kappa_derivative)

__all__ = ["METHODS", "TANGENTS", "InverseCdfTable", "inverse_cdf_table", "sample_marginal",
           "sample", "draw_noise", "transform", "transform_vjp", "reflection_normal"]

METHODS = ("auto", "wood", "exact", "inverse", "table")
TANGENTS = ("householder", "projection")


@dataclass(frozen=True)
class InverseCdfTable:
    """The fixed-kappa inverse-CDF table of the vMF-VAE post, tabulated in the angle.

    ``cdf[i] = F(cos angle[i])`` increases from 0 to 1 while ``angle`` decreases from
    pi to 0; a uniform ``u`` is mapped to ``theta = interp(u, cdf, angle)``.
    """

    d: int
    kappa: float
    cdf: np.ndarray
    angle: np.ndarray

    def angle_at(self, u: np.ndarray) -> np.ndarray:
        """Linear interpolation of the inverse CDF: ``theta(u)``."""
        return np.interp(u, self.cdf, self.angle)


def inverse_cdf_table(d: Any, kappa: Any, size: Any = 16384) -> InverseCdfTable:
    """Build the inverse-CDF table of ``theta = arccos <mu, x>`` for one (d, kappa).

    The grid has ``size`` angles, equally spaced over ``mode +- 16`` standard
    deviations of ``theta`` (clipped to ``[0, pi]``) plus the quadrature panel edges in
    the tails; the CDF at each is integrated by Gauss-Legendre quadrature (not the
    post's left Riemann sum). Linear interpolation then errs by about
    ``(spacing/sd)^2 / 60`` in probability, ~1e-7 at the default size.

    Examples
    --------
    >>> table = inverse_cdf_table(8, 20.0)
    >>> float(table.cdf[0]), float(table.cdf[-1])
    (0.0, 1.0)
    """
    d, size = check_dimension(d), as_int(size, "size", minimum=16)
    kappa = as_scalar(kappa, "kappa", nonnegative=True)
    lo, hi = mode_interval(d, kappa)
    grid = np.concatenate([np.linspace(0.0, lo, 9), np.linspace(lo, hi, size),
                           np.linspace(hi, np.pi, 9)])
    angle = np.unique(grid)[::-1]
    upper, lower = _angle_integrals(angle, d, kappa)
    cdf = np.where(lower <= 0.5, lower, 1.0 - upper)
    cdf[0], cdf[-1] = 0.0, 1.0
    return InverseCdfTable(d, kappa, np.maximum.accumulate(cdf), angle)


def _wood(d: int, kappa: np.ndarray, n: int, rng: np.random.Generator):
    """Wood's rejection sampler: ``n`` accepted draws for ``kappa`` (0-d, or one per draw).

    With ``m = d - 1``, ``s = hypot(2 kappa, m)``: ``b = m/(2 kappa + s)``,
    ``x0 = 2 kappa/(m + s)``, ``1 - x0 = m (1 + m/(s + 2 kappa))/(m + s)``. A proposal
    ``z = g1/(g1 + g2)``, ``g_i ~ Gamma(m/2)``, gives ``1 - w = 2 b z/den`` and
    ``1 + w = 2 (1 - z)/den`` with ``den = (1 - z) + b z``; it is accepted iff
    ``kappa [(1 - x0) - (1 - w)] + m [log((1 - x0) + x0 (1 - w)) - log(1 - x0) - log1p(x0)]
    >= log U``, which is Wood's test ``kappa w + m log(1 - x0 w) - c >= log U`` without
    cancellation. Only the rejected entries are redrawn. Returns ``(1 - w, 1 + w)``.
    """
    m = d - 1.0
    s = np.hypot(2.0 * kappa, m)
    b, x0 = m / (2.0 * kappa + s), 2.0 * kappa / (m + s)
    one_minus_x0 = m * (1.0 + m / (s + 2.0 * kappa)) / (m + s)
    log_envelope = np.log(one_minus_x0) + np.log1p(x0)
    params = np.broadcast_arrays(kappa, b, x0, one_minus_x0, log_envelope)
    gap, rest, accept = _wood_proposals(m, params, n, rng)  # the first round fills all
    pending = np.flatnonzero(~accept)
    while pending.size:  # redraw only the rejected entries
        taken = [a if a.ndim == 0 else a[pending] for a in params]
        gap_p, rest_p, accept = _wood_proposals(m, taken, pending.size, rng)
        done = pending[accept]
        gap[done], rest[done] = gap_p[accept], rest_p[accept]
        pending = pending[~accept]
    return gap, rest


def _wood_proposals(m: float, params, size: int, rng: np.random.Generator):
    """One round of Wood proposals: ``(1 - w, 1 + w, accepted)`` for ``size`` entries."""
    kappa, b, x0, one_minus_x0, log_envelope = params
    g1, g2 = rng.standard_gamma(0.5 * m, size=(2, size))
    total = g1 + g2
    z, z_bar = g1 / total, g2 / total
    den = z_bar + b * z
    gap = 2.0 * b * z / den
    log_ratio = kappa * (one_minus_x0 - gap) + m * (np.log(one_minus_x0 + x0 * gap)
                                                     - log_envelope)
    return gap, 2.0 * z_bar / den, log_ratio >= np.log1p(-rng.random(size))


def _exact(d: int, kappa: np.ndarray, n: int, rng: np.random.Generator):
    """d = 2: von Mises angle (NumPy). d = 3: ``1 - w`` is an exponential variable of rate
    kappa truncated to ``[0, 2]``: drawn by redrawing the rare values above 2 when
    kappa >= 1, by the closed-form inverse CDF otherwise. Returns ``(1 - w, 1 + w)``."""
    if d == 2:
        half = 0.5 * np.abs(rng.vonmises(0.0, kappa, size=n))
        return 2.0 * np.sin(half) ** 2, 2.0 * np.cos(half) ** 2
    if d == 3 and np.min(kappa) >= 1.0:  # 1 - w ~ Exp(kappa) truncated to [0, 2]
        gap = rng.standard_exponential(n) / kappa
        pending = np.flatnonzero(gap > 2.0)  # probability e^(-2 kappa) <= 0.14
        while pending.size:
            taken = kappa if kappa.ndim == 0 else kappa[pending]
            gap[pending] = rng.standard_exponential(pending.size) / taken
            pending = pending[gap[pending] > 2.0]
        return gap, 2.0 - gap
    if d == 3:
        r = rng.random(n)  # r = 1 - u in [0, 1); 1 - r is exact where it is used
        gap = _one_minus_w_d3(1.0 - r, r, kappa)
        return gap, 2.0 - gap
    raise ValueError(f"method='exact' needs d = 2 or 3, got d={d}; use 'wood' or 'inverse'")


def _angles(d: int, kappa: np.ndarray, u: np.ndarray, table: InverseCdfTable | None):
    """``theta = F^{-1}(u)`` per entry, by the table or by Newton (one solve per kappa)."""
    if table is not None:
        return table.angle_at(u)
    theta = np.empty(u.shape)
    for value in _distinct(kappa):
        where = kappa == value
        theta[where] = quantile_angle(u[where], d, float(value))
    return theta


def _distinct(kappa: np.ndarray) -> np.ndarray:
    """The distinct values of kappa (without sorting when there is only one)."""
    if kappa.size and kappa.min() == kappa.max():
        return kappa.ravel()[:1]
    return np.unique(kappa)


def _check_table(table: Any, d: int, kappa: np.ndarray) -> InverseCdfTable:
    if not isinstance(table, InverseCdfTable):
        raise TypeError(f"table must be an InverseCdfTable, got {type(table).__name__}")
    if table.d != d or np.any(kappa != table.kappa):
        raise ValueError(f"table was built for d={table.d}, kappa={table.kappa}; "
                         f"got d={d} and kappa values {_distinct(kappa)[:3]}")
    return table


def _marginal_pair(d: int, kappa: np.ndarray, shape: tuple[int, ...], rng, method: str,
                   table) -> tuple[np.ndarray, ...]:
    """Draw ``(w, sqrt(1 - w^2))``, flat, for ``kappa`` broadcast to ``shape``.

    A single kappa stays a scalar (no per-draw parameter arrays)."""
    n = int(np.prod(shape))
    if n == 0:
        return np.empty(0), np.empty(0)
    single = kappa.size == 1
    kappa = np.asarray(kappa.ravel()[0]) if single else np.broadcast_to(kappa, shape).ravel()
    if method == "auto":
        method = "exact" if d <= 3 else "wood"
    if table is not None and method != "table":
        raise ValueError(f"table is only used with method='table', got method={method!r}")
    if method in ("wood", "exact"):
        gap, rest = (_wood if method == "wood" else _exact)(d, kappa, n, rng)
        return 1.0 - gap, np.sqrt(gap * rest)
    kappa = np.broadcast_to(kappa, (n,))
    if method == "table":
        table = inverse_cdf_table(d, _single_kappa(kappa)) if table is None else table
        table = _check_table(table, d, kappa)
    theta = _angles(d, kappa, rng.random(kappa.shape), table)
    return np.cos(theta), np.sin(theta)


def _single_kappa(kappa: np.ndarray) -> float:
    values = _distinct(kappa)
    if values.size != 1:
        raise ValueError(f"method='table' needs one kappa (a fixed-kappa table), got {values.size}")
    return float(values[0])


def _size_tuple(size: Any) -> tuple[int, ...]:
    if size is None:
        return ()
    size = (size,) if np.ndim(size) == 0 else tuple(size)
    return tuple(as_int(n, "size", minimum=0) for n in size)


def sample_marginal(d: Any, kappa: Any, size: Any = None, rng: Any = None,
                    method: str = "auto", table: InverseCdfTable | None = None) -> np.ndarray:
    """Draw ``w = <mu, x>`` for ``x ~ vMF(mu, kappa)`` on S^(d-1), shape ``size + kappa.shape``.

    The same draws of ``w`` that :func:`sample` uses (same methods, same ``rng``
    consumption for the rejection and inverse methods), without the d-dimensional
    direction: cheap for large d.

    Examples
    --------
    >>> w = sample_marginal(3, 1e-12, size=100000, rng=0)  # kappa -> 0: uniform in [-1, 1]
    >>> bool(abs(w.mean()) < 0.01 and np.all(np.abs(w) <= 1))
    True
    """
    d, kappa = check_dimension(d), check_kappa(kappa)
    check_choice(method, "method", METHODS)
    shape = _size_tuple(size) + kappa.shape
    return _marginal_pair(d, kappa, shape, as_generator(rng), method, table)[0].reshape(shape)


def reflection_normal(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The normal ``e_1 - mu`` of the reflection e_1 -> mu, without cancellation.

    Its first entry ``1 - mu_1`` is computed as ``||mu_(2:)||^2 / (1 + mu_1)`` when
    ``mu_1 > 0`` (research note §7.1). Returns ``(normal, is_e1)``; where ``mu = e_1``
    exactly the normal is 0 and the map is the identity (``is_e1`` true); the normal is
    then replaced by ``e_2`` only so that it is a valid argument.

    Examples
    --------
    >>> normal, is_e1 = reflection_normal(np.array([0.6, 0.8]))
    >>> normal.round(12).tolist(), bool(is_e1)  # e_1 - mu, first entry 0.64/1.6
    ([0.4, -0.8], False)
    """
    tail2 = np.einsum("...i,...i->...", mu[..., 1:], mu[..., 1:])
    first = mu[..., 0]
    safe = np.where(first > 0, 1.0 + first, 1.0)
    delta = np.where(first > 0, tail2 / safe, 1.0 - first)
    normal = np.concatenate([delta[..., None], -mu[..., 1:]], axis=-1)
    is_e1 = (tail2 == 0) & (first > 0)
    normal[..., 1] = np.where(is_e1, 1.0, normal[..., 1])
    return normal, is_e1


def _householder_place(w, s, y, mu):
    """``x = H (w, s v/||v||)`` with ``H`` the reflection e_1 -> mu, in place in ``y``.

    ``y`` is (n, d) with the Gaussian ``v`` in columns 1..d-1 (column 0 is overwritten
    by ``w``), so the largest array is allocated once, by the normal draws.
    """
    tail = y[:, 1:]
    tail *= (s / np.sqrt(np.einsum("ij,ij->i", tail, tail)))[:, None]
    y[:, 0] = w
    return _reflect_from_e1(y, mu)


def _project(eps: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``r = eps - <eps, mu> mu`` in place and ``||r||``. Rows within 45 degrees of mu
    (``||r||^2 < <eps, mu>^2``) lose relative accuracy in the subtraction and are
    projected a second time ("twice is enough"), so ``r`` is orthogonal to rounding."""
    along = _row_dot(eps, mu)
    eps -= along[:, None] * mu
    norm2 = np.einsum("ij,ij->i", eps, eps)
    close = norm2 < along * along
    if np.any(close):
        mu_rows = mu if mu.ndim == 1 else mu[close]
        eps[close] -= _row_dot(eps[close], mu_rows)[:, None] * mu_rows
        norm2[close] = np.einsum("ij,ij->i", eps[close], eps[close])
    return eps, np.sqrt(norm2)


def _row_dot(rows: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """``<rows_i, mu>`` for one mu ``(d,)`` (a matrix-vector product) or one per row."""
    return rows @ mu if mu.ndim == 1 else np.einsum("ij,ij->i", rows, mu)


def _projection_place(w, s, eps, mu):
    """``x = w mu + s r/||r||`` with ``r`` the projection of ``eps`` (n, d) orthogonal to mu."""
    r, norm = _project(eps, mu)
    r *= (s / norm)[:, None]
    r += w[:, None] * mu
    return r


def _place(w, s, rng_or_noise, mu, tangent: str) -> np.ndarray:
    """Combine ``w`` and ``s = sqrt(1 - w^2)`` with a uniform tangent direction."""
    d = mu.shape[-1]
    if isinstance(rng_or_noise, np.random.Generator):
        if tangent == "householder" and d <= 3:
            return _low_dimensional_place(w, s, rng_or_noise, mu)
        normals = rng_or_noise.standard_normal((w.shape[0], d))
    else:
        normals = rng_or_noise
    if tangent == "householder":  # uses normals[:, 1:]; column 0 is the output's w
        return _householder_place(w, s, normals, mu)
    return _projection_place(w, s, normals, mu)


def _reflect_from_e1(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Map rows ``y`` (around e_1) by the reflection e_1 -> mu, in place; identity rows
    where ``mu = e_1`` exactly."""
    normal, is_e1 = reflection_normal(mu)
    rows = np.broadcast_to(is_e1, y.shape[:1])
    kept = y[rows] if np.any(rows) else None
    x = reflect(y, normal, out=y)
    if kept is not None:
        x[rows] = kept
    return x


def _low_dimensional_place(w, s, rng, mu):
    """The Householder route at d = 2 and 3, with ``v`` uniform on S^(d-2) drawn directly:
    a random sign (d = 2) or ``(cos phi, sin phi)`` with ``phi`` uniform (d = 3), which
    is cheaper than normalising Gaussians (TFP's ``SphericalUniform`` does the same)."""
    n, d = w.shape[0], mu.shape[-1]
    y = np.empty((n, d))
    if d == 2:
        y[:, 1] = np.where(rng.random(n) < 0.5, -s, s)
    else:
        phi = (2.0 * np.pi) * rng.random(n)
        np.multiply(s, np.cos(phi), out=y[:, 1])
        np.multiply(s, np.sin(phi), out=y[:, 2])
    y[:, 0] = w
    return _reflect_from_e1(y, mu)


def sample(mu: Any, kappa: Any, size: Any = None, rng: Any = None, method: str = "auto",
           tangent: str = "householder", table: InverseCdfTable | None = None) -> np.ndarray:
    r"""Draw from vMF(mu, kappa) on S^(d-1).

    .. math:: x = w\,\mu + \sqrt{1 - w^2}\,\nu, \qquad
       p(w) \propto e^{\kappa w}(1 - w^2)^{(d-3)/2}, \quad \nu \sim \mathrm{Unif}(S^{d-1} \cap \mu^\perp)

    Parameters
    ----------
    mu : array_like, shape (..., d)
        Mean directions (unit norm within 1e-10), ``d >= 2``.
    kappa : array_like
        Concentrations ``>= 0``, broadcasting over the batch axes of mu; kappa = 0 gives
        uniform directions.
    size : int or tuple of int, optional
        Sample axes, prepended: the output has shape ``size + batch + (d,)``.
    rng : None, int or numpy.random.Generator
        Source of randomness; the same seed gives the same draw.
    method : {"auto", "wood", "exact", "inverse", "table"}
        How ``w`` is drawn (module notes). ``"table"`` needs a single kappa and uses
        ``table`` if given (built by :func:`inverse_cdf_table`, reusable across
        calls), otherwise builds one.
    tangent : {"householder", "projection"}
        Route for the direction orthogonal to mu (module notes).

    Returns
    -------
    ndarray, shape ``size + batch + (d,)``; every row has unit norm to rounding.

    Notes
    -----
    Finite for every valid input, tested for d up to 1e5 and kappa up to 1e10. At
    d = 2, ``"exact"`` inherits NumPy's von Mises sampler (a wrapped normal for
    kappa > 1e6). Reference: Wood (1994), Commun. Stat. Simul. Comput. 23(1):157-164;
    the vMF-VAE post (kexue.fm/archives/8404).

    Examples
    --------
    >>> x = sample([0.0, 0.0, 1.0], 50.0, size=4, rng=0)
    >>> x.shape, bool(np.allclose(np.linalg.norm(x, axis=-1), 1.0))
    ((4, 3), True)
    """
    mu = check_directions(mu, "mu")
    d, kappa = mu.shape[-1], check_kappa(kappa)
    check_choice(method, "method", METHODS)
    check_choice(tangent, "tangent", TANGENTS)
    batch = broadcast_batch(mu=mu.shape[:-1], kappa=kappa.shape)
    shape = _size_tuple(size) + batch
    rng = as_generator(rng)
    w, s = _marginal_pair(d, kappa, shape, rng, method, table)
    rows = mu if mu.ndim == 1 else np.broadcast_to(mu, shape + (d,)).reshape(-1, d)
    return _place(w, s, rng, rows, tangent).reshape(shape + (d,))


def draw_noise(d: Any, size: Any = None, rng: Any = None) -> np.ndarray:
    """Noise for :func:`transform`: shape ``size + (d + 1,)``.

    Entry 0 is ``u ~ Uniform(0, 1)`` (the probability of ``w``), entries ``1..d`` are
    standard normals for the direction (the Householder route uses the last ``d - 1``).

    Examples
    --------
    >>> draw_noise(3, size=(2,), rng=0).shape
    (2, 4)
    """
    d, rng = check_dimension(d), as_generator(rng)
    shape = _size_tuple(size)
    noise = np.empty(shape + (d + 1,))
    noise[..., 0] = rng.random(shape)
    noise[..., 1:] = rng.standard_normal(shape + (d,))
    return noise


def _transform_args(noise, mu, kappa, tangent):
    mu = check_directions(mu, "mu")
    d, kappa = mu.shape[-1], check_kappa(kappa)
    noise = as_float_array(noise, "noise")
    check_last_axis(noise, "noise", size=d + 1)
    u = noise[..., 0]
    if np.any((u < 0) | (u > 1)):
        raise ValueError("noise[..., 0] must lie in [0, 1] (the probability of w)")
    check_choice(tangent, "tangent", TANGENTS)
    shape = broadcast_batch(noise=noise.shape[:-1], mu=mu.shape[:-1], kappa=kappa.shape)
    flat = lambda a, tail: np.broadcast_to(a, shape + tail).reshape((-1,) + tail)  # noqa: E731
    theta = _angles(d, flat(kappa, ()), flat(u, ()).copy(), None)
    normals = flat(noise[..., 1:], (d,)).copy()  # the Householder route uses [:, 1:]
    if np.any(np.all(normals[:, tangent == "householder":] == 0, axis=-1)):
        raise ValueError("noise[..., 1:] (the Gaussian part) must not be all zeros")
    if tangent == "projection":
        rows = flat(mu, (d,))
        along = np.einsum("ij,ij->i", normals, rows)
        if np.any(np.einsum("ij,ij->i", normals, normals) <= along * along):
            raise ValueError("noise[..., 1:] must not be parallel to mu (projection route)")
    return mu, kappa, shape, theta, normals, flat(mu, (d,))


def transform(noise: Any, mu: Any, kappa: Any, tangent: str = "householder") -> np.ndarray:
    r"""The reparameterized sampler: a deterministic map from noise to vMF samples.

    .. math:: \theta = F^{-1}(u;\, d, \kappa), \qquad
       x = \cos\theta\,\mu + \sin\theta\,\nu(\varepsilon, \mu)

    with ``u = noise[..., 0]``, ``eps = noise[..., 1:]`` (see :func:`draw_noise`) and
    ``nu`` the unit tangent direction of the chosen route: the normalised projection of
    ``eps`` orthogonal to mu, or the reflection e_1 -> mu of ``(0, eps_(2:d)/||.||)``.
    If ``noise ~ draw_noise``, ``x ~ vMF(mu, kappa)``. The quantile ``F^{-1}`` is the
    exact inverse of the marginal CDF (closed form at d = 3, Newton otherwise).

    Parameters
    ----------
    noise : array_like, shape (..., d + 1)
    mu : array_like, shape (..., d)
        Unit mean directions.
    kappa : array_like
        Concentrations ``>= 0``.
    tangent : {"householder", "projection"}

    Returns
    -------
    ndarray, shape ``broadcast(noise, mu, kappa batch) + (d,)``.

    Examples
    --------
    >>> noise = draw_noise(3, size=5, rng=0)
    >>> x = transform(noise, [0.0, 1.0, 0.0], 8.0)
    >>> bool(np.allclose(np.linalg.norm(x, axis=-1), 1.0))
    True
    """
    mu, kappa, shape, theta, normals, rows = _transform_args(noise, mu, kappa, tangent)
    x = _place(np.cos(theta), np.sin(theta), normals, rows, tangent)
    return x.reshape(shape + (mu.shape[-1],))


def _angle_kappa_derivative(theta: np.ndarray, d: int, kappa: np.ndarray) -> np.ndarray:
    """``d theta/d kappa`` per entry (one quadrature per distinct kappa)."""
    out = np.empty(theta.shape)
    for value in _distinct(kappa):
        where = kappa == value
        out[where] = quantile_angle_kappa_derivative(theta[where], d, float(value))
    return out


def _rotation_at_e1_vjp(g, y):
    """mu-gradient at ``mu = e_1`` of ``x = R_mu y``, ``R_mu`` the minimal rotation e_1 -> mu.

    The reflection has no limit at e_1 (its derivative grows like ``1/||mu - e_1||``), so
    we differentiate the smooth family that equals the identity used there. To first
    order ``R_(e_1 + delta) y = y + w delta - <delta, y_(2:)> e_1`` (``delta`` orthogonal
    to e_1, ``w = y_1``): the gradient is ``w g - g_1 (0, y_(2:))``, the path through
    ``w mu`` plus the tilt that keeps the tangent part orthogonal to mu.
    """
    grad = y[:, :1] * g
    grad[:, 1:] -= g[:, :1] * y[:, 1:]
    return grad


def _householder_vjp(g, theta, normals, rows):
    """Gradients of the Householder route in ``mu`` (ambient) and in ``theta``."""
    w, s = np.cos(theta), np.sin(theta)
    normals = normals[:, 1:]
    direction = normals / np.sqrt(np.einsum("ij,ij->i", normals, normals))[:, None]
    y = np.concatenate([w[:, None], s[:, None] * direction], axis=1)
    normal, is_e1 = reflection_normal(rows)
    grad_y, grad_normal = reflect_vjp(g, y, normal)
    grad_y = np.where(is_e1[:, None], g, grad_y)  # mu = e_1: the map is the identity
    grad_mu = np.where(is_e1[:, None], _rotation_at_e1_vjp(g, y), -grad_normal)
    grad_theta = -s * grad_y[:, 0] + w * np.einsum("ij,ij->i", grad_y[:, 1:], direction)
    return grad_mu, grad_theta


def _projection_vjp(g, theta, eps, rows):
    """Gradients of ``x = w mu + s r/||r||``, ``r = eps - <eps, mu> mu``, in mu and theta."""
    w, s = np.cos(theta), np.sin(theta)
    along = np.einsum("ij,ij->i", eps, rows)
    r, norm = _project(eps.copy(), rows)
    nu = r / norm[:, None]
    scaled = s[:, None] * g
    h = (scaled - nu * np.einsum("ij,ij->i", nu, scaled)[:, None]) / norm[:, None]
    grad_mu = (w[:, None] * g - eps * np.einsum("ij,ij->i", rows, h)[:, None]
               - along[:, None] * h)
    grad_theta = np.einsum("ij,ij->i", g, -s[:, None] * rows + w[:, None] * nu)
    return grad_mu, grad_theta


def transform_vjp(grad: Any, noise: Any, mu: Any, kappa: Any,
                  tangent: str = "householder") -> tuple[np.ndarray, np.ndarray]:
    r"""VJP of :func:`transform` in ``(mu, kappa)`` (the noise is not differentiated).

    * mu: the path through ``w mu`` and the tangent direction (projection or
      reflection). It is the ambient gradient of the formula in which mu enters as
      written (``e_1 - mu`` for the reflection normal); only its tangent component is
      meaningful. At ``mu = e_1`` exactly the reflection route uses the identity; the
      reflection has no limit there (its mu-gradient grows like ``1/||mu - e_1||``), so
      the gradient returned is that of the minimal rotation e_1 -> mu, the smooth
      family equal to the identity at e_1:
      ``w g - g_1 (0, x_(2:))`` (the pathwise estimate stays unbiased).
    * kappa: the implicit reparameterization gradient of the angle,
      ``d theta/d kappa = (dF/d kappa)/p(theta)`` (see
      :func:`refimpl.vmf.marginal.quantile_angle_kappa_derivative`), so that
      ``d/d kappa E[<mu, x>] = A_d'(kappa)``.

    Returns
    -------
    (grad_mu, grad_kappa) : shaped like ``mu`` and ``kappa``.

    Examples
    --------
    >>> noise = draw_noise(4, size=3, rng=0)
    >>> grad_mu, grad_kappa = transform_vjp(np.ones((3, 4)), noise, np.eye(4)[1], 5.0)
    >>> grad_mu.shape, grad_kappa.shape
    ((4,), ())
    """
    mu, kappa, shape, theta, normals, rows = _transform_args(noise, mu, kappa, tangent)
    d = mu.shape[-1]
    g = cotangent(grad, shape + (d,), broadcast=True).reshape(-1, d)
    rows = np.ascontiguousarray(rows)
    route = _householder_vjp if tangent == "householder" else _projection_vjp
    grad_mu, grad_theta = route(g, theta, normals, rows)
    flat_kappa = np.broadcast_to(kappa, shape).ravel()
    grad_kappa = grad_theta * _angle_kappa_derivative(theta, d, flat_kappa)
    return (sum_to_shape(grad_mu.reshape(shape + (d,)), mu.shape),
            sum_to_shape(grad_kappa.reshape(shape), kappa.shape))
