"""Sampling the von Mises-Fisher distribution, and the reparameterized transform.

Every sampler draws the scalar ``w = <mu, x>`` from its marginal law (see
:mod:`refimpl.vmf.marginal`) and then a direction uniform on the sphere of vectors
orthogonal to mu, and returns ``x = w mu + sqrt(1 - w^2) nu``. The route of one call of
:func:`sample`, in the order it consumes the random stream:

1. *method choice* (``_draw_w``): ``"auto"`` is ``"exact"`` at d = 2, 3 and ``"wood"``
   otherwise;
2. *w*, by the chosen method (below), with ``s = sqrt(1 - w^2)`` from the complements
   ``1 - w`` and ``1 + w`` where the method has them;
3. *tangent*: Gaussians ``eps ~ N(0, I_d)`` per sample, or at d <= 3 on the Householder
   route a random sign (d = 2) or angle (d = 3) (``_low_dimensional_place``);
4. *placement* (``_place``): ``tangent="householder"`` writes ``(w, s v)`` around
   e_1, ``v`` the normalised Gaussian tail, and reflects e_1 -> mu with
   :func:`refimpl.householder.reflect` (O(d) per sample); ``tangent="projection"`` (the
   vMF-VAE post) projects ``eps`` onto the hyperplane orthogonal to mu, normalises it and
   adds ``w mu``. The two routes are tested against each other.

The methods for ``w``:

* ``"wood"``: the rejection sampler of Wood, "Simulation of the von Mises Fisher
  distribution", Commun. Stat. Simul. Comput. 23(1):157-164 (1994), with a Beta
  proposal. :func:`refimpl.vmf.wood.wood_definition` states it in Wood's variables; the
  sampler (:func:`refimpl.vmf.wood.wood`) draws the same proposals but computes with
  complements (``1 - w``, ``1 - x0``, ``z`` and ``1 - z`` from two Gamma draws) so that
  no step cancels at any kappa, and runs the rejection loop over arrays;
* ``"exact"``: the von Mises angle at d = 2 (NumPy's sampler); at d = 3, ``1 - w`` is
  a truncated exponential, drawn by the closed-form inverse CDF of Jakob, "Numerically
  stable sampling of the von Mises Fisher distribution on S^2 (and other tricks)"
  (2012), in complement form, for kappa < 1 and by redrawing the values above 2 for
  kappa >= 1;
* ``"inverse"``: the numerical inverse CDF of the angle, ``theta = F^{-1}(u)``;
* ``"table"``: the fixed-kappa inverse-CDF table of the vMF-VAE post
  (kexue.fm/archives/8404), built once (:func:`inverse_cdf_table`) and reused; we
  tabulate the CDF of the angle ``theta = arccos w``, whose density is smooth at every
  d >= 2, which removes the bias of a table in ``w`` at d = 2, where ``p(w)`` has
  integrable singularities at ``w = +-1``
  (``tests/vmf/test_vmf_sampling.py::test_post_table_bias_at_d2_is_fixed``);
* ``"auto"`` (default): ``"exact"`` at d = 2 and 3, ``"wood"`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import (
    as_float_array,
    as_generator,
    as_int,
    as_scalar,
    broadcast_batch,
    check_choice,
    check_last_axis,
)
from refimpl.householder import reflect, reflect_vjp
from refimpl.vmf._common import RandomSource, Size, size_tuple
from refimpl.vmf.angle_quadrature import Prepared, layout_rows
from refimpl.vmf.distribution import check_dimension, check_directions, check_kappa
from refimpl.vmf.marginal import (
    angle_integrals,
    mode_interval,
    one_minus_w_d3,
    quantile_angle,
    quantile_angle_kappa_derivative,
)
from refimpl.vmf.wood import wood

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


def inverse_cdf_table(d: int, kappa: float, size: int = 16384) -> InverseCdfTable:
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
    upper, lower = angle_integrals(angle, d, kappa)
    cdf = np.where(lower <= 0.5, lower, 1.0 - upper)
    cdf[0], cdf[-1] = 0.0, 1.0
    return InverseCdfTable(d, kappa, np.maximum.accumulate(cdf), angle)


def _exact(d: int, kappa: np.ndarray, n: int, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
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
        gap = one_minus_w_d3(1.0 - r, r, kappa)
        return gap, 2.0 - gap
    raise ValueError(f"method='exact' needs d = 2 or 3, got d={d}; use 'wood' or 'inverse'")


def _angles(d: int, kappa: np.ndarray, u: np.ndarray, table: InverseCdfTable | None
            ) -> np.ndarray:
    """``theta = F^{-1}(u)`` per entry, by the table or by Newton (all kappas at once)."""
    if table is not None:
        return table.angle_at(u)
    return quantile_angle(u, d, kappa)


def _distinct(kappa: np.ndarray) -> np.ndarray:
    """The distinct values of kappa (without sorting when there is only one)."""
    if kappa.size and kappa.min() == kappa.max():
        return kappa.ravel()[:1]
    return np.unique(kappa)


def _check_table(table: Any, d: int, kappa: np.ndarray) -> InverseCdfTable:
    """``table`` if it is an :class:`InverseCdfTable` built for ``d`` and every ``kappa``."""
    if not isinstance(table, InverseCdfTable):
        raise TypeError(f"table must be an InverseCdfTable, got {type(table).__name__}")
    if table.d != d or np.any(kappa != table.kappa):
        raise ValueError(f"table was built for d={table.d}, kappa={table.kappa}; "
                         f"got d={d} and kappa values {_distinct(kappa)[:3]}")
    return table


def _draw_w(d: int, kappa: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator,
            method: str, table: InverseCdfTable | None) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1 and 2 of the route (module notes): choose the method, draw
    ``(w, sqrt(1 - w^2))``, flat, for ``kappa`` broadcast to ``shape``.

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
        gap, rest = (wood if method == "wood" else _exact)(d, kappa, n, rng)
        return 1.0 - gap, np.sqrt(gap * rest)
    kappa = np.broadcast_to(kappa, (n,))
    if method == "table":
        table = inverse_cdf_table(d, _single_kappa(kappa)) if table is None else table
        table = _check_table(table, d, kappa)
    theta = _angles(d, kappa, rng.random(kappa.shape), table)
    return np.cos(theta), np.sin(theta)


def _single_kappa(kappa: np.ndarray) -> float:
    """The one value of ``kappa`` a fixed-kappa table is built for."""
    values = _distinct(kappa)
    if values.size != 1:
        raise ValueError(f"method='table' needs one kappa (a fixed-kappa table), got {values.size}")
    return float(values[0])


def sample_marginal(d: int, kappa: ArrayLike, size: Size = None, rng: RandomSource = None,
                    method: str = "auto", table: InverseCdfTable | None = None) -> np.ndarray:
    """Draw ``w = <mu, x>`` for ``x ~ vMF(mu, kappa)`` on S^(d-1), shape ``size + kappa.shape``.

    The same draws of ``w`` that :func:`sample` uses (same methods, same ``rng``
    consumption for the rejection and inverse methods), without the d-dimensional
    direction: cheap for large d. ``method="wood"`` is defined by
    :func:`refimpl.vmf.wood.wood_definition`.

    Examples
    --------
    >>> w = sample_marginal(3, 1e-12, size=100000, rng=0)  # kappa -> 0: uniform in [-1, 1]
    >>> bool(abs(w.mean()) < 0.01 and np.all(np.abs(w) <= 1))
    True
    """
    d, kappa = check_dimension(d), check_kappa(kappa)
    check_choice(method, "method", METHODS)
    shape = size_tuple(size) + kappa.shape
    return _draw_w(d, kappa, shape, as_generator(rng), method, table)[0].reshape(shape)


def reflection_normal(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The normal ``e_1 - mu`` of the reflection e_1 -> mu, without cancellation.

    Its first entry ``1 - mu_1`` is computed as ``||mu_(2:)||^2 / (1 + mu_1)`` when
    ``mu_1 > 0``, the choice of LAPACK's ``xLARFGP`` (``alpha - beta = -||x||^2 /
    (alpha + beta)``). Returns ``(normal, is_e1)``; where ``mu = e_1``
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


def _place(w: np.ndarray, s: np.ndarray, normals: np.ndarray, mu: np.ndarray, tangent: str
           ) -> np.ndarray:
    """Step 4 of the route: ``x = w mu + s nu`` with ``nu`` from the Gaussians ``normals``
    (n, d), overwritten with the result (the largest array is allocated once).

    ``"householder"``: ``x = H (w, s v/||v||)``, ``v = normals[:, 1:]``, ``H`` the
    reflection e_1 -> mu. ``"projection"``: ``x = w mu + s r/||r||``, ``r`` the projection
    of ``normals`` orthogonal to mu.
    """
    if tangent == "projection":
        r, norm = _project(normals, mu)
        r *= (s / norm)[:, None]
        r += w[:, None] * mu
        return r
    tail = normals[:, 1:]
    tail *= (s / np.sqrt(np.einsum("ij,ij->i", tail, tail)))[:, None]
    normals[:, 0] = w
    return _reflect_from_e1(normals, mu)


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


def _low_dimensional_place(w: np.ndarray, s: np.ndarray, rng: np.random.Generator,
                           mu: np.ndarray) -> np.ndarray:
    """Steps 3 and 4 on the Householder route at d = 2 and 3, with ``v`` uniform on
    S^(d-2) drawn directly: a random sign (d = 2) or ``(cos phi, sin phi)`` with ``phi``
    uniform (d = 3), which is cheaper than normalising Gaussians (TFP's
    ``SphericalUniform``, tensorflow_probability ``python/distributions/
    spherical_uniform.py`` at c847a41, does the same)."""
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


def sample(mu: ArrayLike, kappa: ArrayLike, size: Size = None, rng: RandomSource = None,
           method: str = "auto", tangent: str = "householder",
           table: InverseCdfTable | None = None) -> np.ndarray:
    r"""Draw from vMF(mu, kappa) on S^(d-1).

    .. math:: x = w\,\mu + \sqrt{1 - w^2}\,\nu, \qquad
       p(w) \propto e^{\kappa w}(1 - w^2)^{(d-3)/2}, \quad
       \nu \sim \mathrm{Unif}(S^{d-1} \cap \mu^\perp)

    The draw follows the route of the module notes: method choice, ``w``, tangent noise,
    placement.

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
        How ``w`` is drawn (module notes); ``"wood"`` is defined by
        :func:`refimpl.vmf.wood.wood_definition`. ``"table"`` needs a single kappa and
        uses ``table`` if given (built by :func:`inverse_cdf_table`, reusable across
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
    shape = size_tuple(size) + batch
    generator = as_generator(rng)
    w, s = _draw_w(d, kappa, shape, generator, method, table)  # steps 1, 2
    rows = mu if mu.ndim == 1 else np.broadcast_to(mu, shape + (d,)).reshape(-1, d)
    if tangent == "householder" and d <= 3:  # steps 3, 4 with a sign or an angle
        x = _low_dimensional_place(w, s, generator, rows)
    else:  # step 3: Gaussian tangent noise; step 4: placement
        x = _place(w, s, generator.standard_normal((w.shape[0], d)), rows, tangent)
    return x.reshape(shape + (d,))


def draw_noise(d: int, size: Size = None, rng: RandomSource = None) -> np.ndarray:
    """Noise for :func:`transform`: shape ``size + (d + 1,)``.

    Entry 0 is ``u ~ Uniform(0, 1)`` (the probability of ``w``), entries ``1..d`` are
    standard normals for the direction (the Householder route uses the last ``d - 1``).

    Examples
    --------
    >>> draw_noise(3, size=(2,), rng=0).shape
    (2, 4)
    """
    d, generator = check_dimension(d), as_generator(rng)
    shape = size_tuple(size)
    noise = np.empty(shape + (d + 1,))
    noise[..., 0] = generator.random(shape)
    noise[..., 1:] = generator.standard_normal(shape + (d,))
    return noise


def _transform_args(noise: ArrayLike, mu: ArrayLike, kappa: ArrayLike, tangent: str
                    ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], np.ndarray, np.ndarray,
                               np.ndarray, Prepared | None]:
    """Validate the arguments of :func:`transform`; return mu, kappa, the batch shape, the
    angles ``theta = F^{-1}(u)``, the Gaussian rows and mu per row (all flat), and the
    quadrature layout of the kappas (``None`` at d = 3, where the quantile is closed)."""
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
    flat_kappa = flat(kappa, ())
    prepared = None if d == 3 else layout_rows(d, flat_kappa)
    theta = quantile_angle(flat(u, ()).copy(), d, flat_kappa, prepared)
    normals = flat(noise[..., 1:], (d,)).copy()  # the Householder route uses [:, 1:]
    if np.any(np.all(normals[:, tangent == "householder":] == 0, axis=-1)):
        raise ValueError("noise[..., 1:] (the Gaussian part) must not be all zeros")
    if tangent == "projection":
        rows = flat(mu, (d,))
        along = np.einsum("ij,ij->i", normals, rows)
        if np.any(np.einsum("ij,ij->i", normals, normals) <= along * along):
            raise ValueError("noise[..., 1:] must not be parallel to mu (projection route)")
    return mu, kappa, shape, theta, normals, flat(mu, (d,)), prepared


def transform(noise: ArrayLike, mu: ArrayLike, kappa: ArrayLike, tangent: str = "householder"
              ) -> np.ndarray:
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
    mu, kappa, shape, theta, normals, rows, _ = _transform_args(noise, mu, kappa, tangent)
    x = _place(np.cos(theta), np.sin(theta), normals, rows, tangent)
    return x.reshape(shape + (mu.shape[-1],))


def _rotation_at_e1_vjp(g: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def _householder_vjp(g: np.ndarray, theta: np.ndarray, normals: np.ndarray, rows: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
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


def _projection_vjp(g: np.ndarray, theta: np.ndarray, eps: np.ndarray, rows: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
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


def transform_vjp(grad: ArrayLike, noise: ArrayLike, mu: ArrayLike, kappa: ArrayLike,
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
    mu, kappa, shape, theta, normals, rows, prepared = _transform_args(noise, mu, kappa,
                                                                       tangent)
    d = mu.shape[-1]
    g = cotangent(grad, shape + (d,), broadcast=True).reshape(-1, d)
    rows = np.ascontiguousarray(rows)
    route = _householder_vjp if tangent == "householder" else _projection_vjp
    grad_mu, grad_theta = route(g, theta, normals, rows)
    flat_kappa = np.broadcast_to(kappa, shape).ravel()
    grad_kappa = grad_theta * quantile_angle_kappa_derivative(theta, d, flat_kappa, prepared)
    return (sum_to_shape(grad_mu.reshape(shape + (d,)), mu.shape),
            sum_to_shape(grad_kappa.reshape(shape), kappa.shape))
