r"""Quadrature of the density of the polar angle ``theta = arccos <mu, x>`` of a vMF sample.

On S^(d-1) the angle has density ``p(theta) \propto exp(kappa cos theta) sin^(d-2) theta``
on ``[0, pi]``, smooth for every d >= 2 (see :mod:`refimpl.vmf.marginal`). Everything here
works with many kappas at once: one *layout* (reference angle, panel edges, cumulative
masses) per distinct kappa, built in one vectorised pass, and queries that each point to
their layout's row. No Python loop runs over kappa values.

**The density relative to the mode.** With ``m`` the mode of theta and ``z = theta - m``,
``sin theta / sin m = 1 + x``, ``x = cot(m) sin z - 2 sin^2(z/2)``, and

.. math:: \log\frac{p(m + z)}{p(m)} = r \sin z - 2 \sin^2(z/2)\,(\kappa \cos m + d - 2)
   + (d - 2)\,[\log(1 + x) - x], \qquad r = (d - 2)\cot m - \kappa \sin m,

obtained by expanding ``cos theta = cos m cos z - sin m sin z`` and splitting
``log(1 + x) = x + [log(1 + x) - x]``. ``r`` is zero at the exact mode (it is kept, so
any reference angle is exact). The two terms linear in z, of size ``kappa sin m |z|``
each, cancel analytically; what is left is O(z^2/sd^2) near the mode. The direct form
``-2 kappa sin^2(theta/2) + (d-2) log sin theta`` rounds each of its terms of size up to
~kappa and ~d log d, which cost ~1e-12 relative at kappa ~ 1e9 or d ~ 1e5; this form
rounds to ~eps of O(1) quantities (plus ``(d - 2) eps |x|`` from ``log1p(x) - x``). No
normalizing constant enters: every probability is a ratio of two quadratures of the same
relative density.

**Panels.** In z, 20-point Gauss-Legendre panels: ``_MODE_PANELS`` over
``[m - 16 sd, m + 16 sd]`` (clipped to ``[0, pi]``; ``sd`` from the curvature of
``-log p`` at the mode, each panel at most 5.4 sd wide, where the 20-point rule errs
by at most 2.3e-15 of the total mass on a Gaussian) and ``_TAIL_PANELS`` on each side
in the tails (zero width when the mode interval reaches the end). Each side of a query
is summed from its own end, so both ``F`` and ``1 - F`` keep their accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["AngleLayout", "Prepared", "angle_layout", "layout_rows", "mode_and_sd", "mode_interval",
           "angle_integrals", "angle_quantile", "angle_density"]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(20)
#: The mode interval spans this many standard deviations of theta on each side.
_SPAN = 16.0
_MODE_PANELS = 6
_TAIL_PANELS = 1
#: Layout rows built per vectorised pass (bounds the temporary (rows, panels, 20) arrays).
_ROWS_PER_PASS = 512


def mode_and_sd(d: int, kappa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mode of theta and ``sd = curvature^(-1/2)`` of ``-log p`` there (at most pi).

    The mode solves ``kappa sin^2 theta = (d-2) cos theta``:
    ``sin^2 m = 2(d-2) / ((d-2) + hypot(d-2, 2 kappa))`` (0 at d = 2).
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    if d == 2:
        mode, curvature = np.zeros(kappa.shape), kappa
    else:
        n = d - 2.0
        sin2 = 2.0 * n / (n + np.hypot(n, 2.0 * kappa))
        mode = np.arcsin(np.sqrt(sin2))
        curvature = kappa * np.sqrt(1.0 - sin2) + n / sin2
    with np.errstate(divide="ignore"):
        sd = np.minimum(np.pi, 1.0 / np.sqrt(curvature))
    return mode, sd


def mode_interval(d: int, kappa: float) -> tuple[float, float]:
    """``[mode - 16 sd, mode + 16 sd]`` of theta, clipped to ``[0, pi]`` (one kappa)."""
    mode, sd = (float(v) for v in mode_and_sd(d, np.asarray(kappa, dtype=np.float64)))
    return max(0.0, mode - _SPAN * sd), min(np.pi, mode + _SPAN * sd)


@dataclass(frozen=True)
class AngleLayout:
    """Per row (one distinct kappa): the reference angle and the coefficients of the
    relative log-density (module notes), the panel edges in z and the masses of the
    normalised density summed from 0 (``from_zero``) and from pi (``from_pi``)."""

    d: int
    kappa: np.ndarray
    mode: np.ndarray
    sd: np.ndarray
    slope: np.ndarray
    curvature: np.ndarray
    cot: np.ndarray
    edges: np.ndarray
    total: np.ndarray
    from_zero: np.ndarray
    from_pi: np.ndarray

    def coefficients(self, rows: np.ndarray, ndim: int) -> tuple[np.ndarray, ...]:
        """``(slope, curvature, cot)`` of ``rows``, shaped to broadcast against an array
        of ``ndim`` dimensions whose first axis follows ``rows``."""
        shape = rows.shape + (1,) * (ndim - rows.ndim)
        return tuple(c[rows].reshape(shape) for c in (self.slope, self.curvature, self.cot))


def log_relative_density(z: np.ndarray, d: int, slope: np.ndarray, curvature: np.ndarray,
                         cot: np.ndarray) -> np.ndarray:
    """``log p(m + z) - log p(m)`` (module notes); ``-inf`` at theta = 0, pi for d > 2."""
    half_sin = np.sin(0.5 * z)
    # |z| <= pi, so cos(z/2) >= 0 is sqrt((1 - s)(1 + s)): one transcendental fewer, exact
    # to an ulp absolutely; its relative error eps/(1 - s) grows only as theta nears pi in
    # the far upper tail (or at d = 2, where sin z has no weight). In-place steps below
    # spare the temporaries of these (rows, panels, 20) arrays.
    sin_z = np.sqrt((1.0 - half_sin) * (1.0 + half_sin))
    sin_z *= half_sin
    sin_z *= 2.0                                    # sin z = 2 sin(z/2) cos(z/2)
    square = np.multiply(half_sin, half_sin, out=half_sin)
    square *= 2.0                                   # 2 sin^2(z/2)
    log_p = slope * sin_z
    log_p -= square * curvature
    if d > 2:
        x = cot * sin_z
        x -= square
        np.maximum(x, -1.0, out=x)  # sin(theta) >= 0: x >= -1 exactly
        with np.errstate(divide="ignore"):  # x = -1 at theta = 0, pi: the exact limit 0
            excess = np.log1p(x)
        excess -= x
        excess *= d - 2.0
        log_p += excess                             # (d - 2) (log(1 + x) - x)
    return log_p


def _weighted(z: np.ndarray, d: int, coefficients: tuple[np.ndarray, ...],
              mode: np.ndarray, offset: np.ndarray | None) -> np.ndarray:
    """The relative density at ``z``, times ``offset - 2 sin^2(theta/2)`` if given."""
    values = log_relative_density(z, d, *coefficients)
    np.exp(values, out=values)
    if offset is None:
        return values
    half = np.sin(0.5 * (mode + z))
    return values * (offset - 2.0 * half * half)


def _panels(a: np.ndarray, b: np.ndarray, d: int, coefficients: tuple[np.ndarray, ...],
            mode: np.ndarray, offset: np.ndarray | None) -> np.ndarray:
    """``int_a^b weight * p_rel dz`` per entry, one 20-point Gauss-Legendre panel each.
    ``coefficients``, ``mode`` and ``offset`` broadcast against ``a[..., None]``."""
    half, middle = 0.5 * (b - a), 0.5 * (b + a)
    z = middle[..., None] + half[..., None] * _NODES
    return half * (_weighted(z, d, coefficients, mode, offset) @ _WEIGHTS)


def _edges(mode: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Panel edges in z per row: tail, mode interval, tail (repeated edges allowed)."""
    lo = np.maximum(-mode, -_SPAN * sd)[:, None]
    hi = np.minimum(np.pi - mode, _SPAN * sd)[:, None]
    tail = np.linspace(0.0, 1.0, _TAIL_PANELS + 1)
    middle = np.linspace(0.0, 1.0, _MODE_PANELS + 1)[1:]
    return np.concatenate([-mode[:, None] + (lo + mode[:, None]) * tail,
                           lo + (hi - lo) * middle,
                           hi + (np.pi - mode[:, None] - hi) * tail[1:]], axis=1)


def _row_masses(layout_rows: tuple[np.ndarray, ...], d: int, offset: np.ndarray | None
                ) -> np.ndarray:
    """Masses of every panel of every row, ``(rows, panels)``; panels of zero width (a
    tail where the mode interval reaches 0 or pi) are 0 without being evaluated. The
    panels are taken in passes of ``_ROWS_PER_PASS * _MODE_PANELS``."""
    edges, slope, curvature, cot, mode = layout_rows
    out = np.zeros((edges.shape[0], edges.shape[1] - 1))
    row, panel = np.nonzero(edges[:, 1:] > edges[:, :-1])
    step = _ROWS_PER_PASS * _MODE_PANELS
    for start in range(0, row.size, step):
        r, j = row[start:start + step], panel[start:start + step]
        coefficients = tuple(c[r, None] for c in (slope, curvature, cot))
        weight = None if offset is None else offset[r, None]
        out[r, j] = _panels(edges[r, j], edges[r, j + 1], d, coefficients, mode[r, None],
                            weight)
    return out


def _cumulative(masses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(from_zero, from_pi)``: the masses summed up to each edge from either end."""
    zeros = np.zeros((masses.shape[0], 1))
    from_zero = np.concatenate([zeros, np.cumsum(masses, axis=1)], axis=1)
    from_pi = np.concatenate([np.cumsum(masses[:, ::-1], axis=1)[:, ::-1], zeros], axis=1)
    return from_zero, from_pi


def angle_layout(d: int, kappa: np.ndarray) -> AngleLayout:
    """The layout of every kappa in the 1-D array ``kappa`` (one row each)."""
    kappa = np.asarray(kappa, dtype=np.float64).reshape(-1)
    mode, sd = mode_and_sd(d, kappa)
    sin_m, cos_m = np.sin(mode), np.cos(mode)
    with np.errstate(divide="ignore", invalid="ignore"):
        cot = np.where(sin_m > 0, cos_m / np.where(sin_m > 0, sin_m, 1.0), 0.0)
    slope = (d - 2.0) * cot - kappa * sin_m
    curvature = kappa * cos_m + (d - 2.0)
    edges = _edges(mode, sd)
    masses = _row_masses((edges, slope, curvature, cot, mode), d, None)
    total = masses.sum(axis=1)
    from_zero, from_pi = _cumulative(masses / total[:, None])
    return AngleLayout(d, kappa, mode, sd, slope, curvature, cot, edges, total,
                       from_zero, from_pi)


#: A layout and, per entry of a kappa array, its row: see :func:`layout_rows`.
Prepared = tuple[AngleLayout, np.ndarray]


def layout_rows(d: int, kappa: np.ndarray) -> Prepared:
    """The layout of the distinct values of ``kappa`` and each entry's row in it.

    Functions below take it as ``prepared=`` to share one layout between calls on the
    same (d, kappa) (e.g. a quantile and its kappa derivative)."""
    kappa = np.asarray(kappa, dtype=np.float64)
    flat = kappa.reshape(-1)
    if flat.size and flat.min() == flat.max():
        return angle_layout(d, flat[:1]), np.zeros(kappa.shape, dtype=np.intp)
    values, rows = np.unique(flat, return_inverse=True)
    return angle_layout(d, values), rows.reshape(kappa.shape)


def _panel_of(edges: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Index of the panel holding ``z`` (the last of repeated edges; clipped)."""
    j = np.sum(edges <= z[:, None], axis=1) - 1
    return np.clip(j, 0, edges.shape[1] - 2)


def _offset_from_w(w: np.ndarray, theta: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """``z = theta - mode`` for ``theta = arccos w``, from ``w`` itself where ``|w| < 1/2``.

    There ``z = -atan2(sin(mode - theta), cos(mode - theta))`` with
    ``sin(mode - theta) = w sin(mode) - cos(mode) sin(theta)`` and ``cos(mode - theta) =
    w cos(mode) + sin(mode) sin(theta)``, ``sin theta = sqrt((1 - w)(1 + w))``: the sine
    errs by ~eps max(|w|, |cos mode|), far below the ``eps theta`` of rounding theta first
    when both are small (large d, where the mode is near pi/2 and the CDF's sensitivity
    ``p(theta)`` reaches ~sqrt(d)); elsewhere ``theta - mode``."""
    sin_theta = np.sqrt((1.0 - w) * (1.0 + w))
    sine = w * np.sin(mode) - np.cos(mode) * sin_theta
    cosine = w * np.cos(mode) + np.sin(mode) * sin_theta
    return np.where(np.abs(w) < 0.5, -np.arctan2(sine, cosine), theta - mode)


def angle_integrals(theta: ArrayLike, d: int, kappa: ArrayLike,
                    offset: np.ndarray | None = None, prepared: Prepared | None = None,
                    w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(int_0^theta f, int_theta^pi f)`` of the normalised density (weighted by
    ``offset - 2 sin^2(t/2)`` where ``offset``, broadcast with kappa, is given), each
    side summed from its own end. ``theta`` and ``kappa`` broadcast together; ``w =
    cos theta``, where the caller has it exactly, sharpens the result near the equator
    (:func:`_offset_from_w`)."""
    theta, kappa = np.broadcast_arrays(np.asarray(theta, dtype=np.float64),
                                       np.asarray(kappa, dtype=np.float64))
    shape = theta.shape
    layout, rows = layout_rows(d, kappa) if prepared is None else prepared
    theta, rows = theta.reshape(-1), np.broadcast_to(rows, shape).reshape(-1)
    if offset is None:
        from_zero, from_pi, row_offset = layout.from_zero, layout.from_pi, None
    else:
        row_offset = np.zeros(layout.kappa.shape)
        row_offset[rows] = np.broadcast_to(offset, shape).reshape(-1)
        masses = _row_masses((layout.edges, layout.slope, layout.curvature, layout.cot,
                              layout.mode), d, row_offset)
        from_zero, from_pi = _cumulative(masses / layout.total[:, None])
    mode = layout.mode[rows]
    if w is None:
        z = theta - mode
    else:
        z = _offset_from_w(np.broadcast_to(w, shape).reshape(-1), theta, mode)
    edges = layout.edges[rows]
    j = _panel_of(edges, z)
    index = np.arange(z.size)
    coefficients = layout.coefficients(rows, 2)
    weight = None if row_offset is None else row_offset[rows, None]
    scale = layout.total[rows]
    upper = from_zero[rows, j] + _panels(edges[index, j], z, d, coefficients, mode[:, None],
                                         weight) / scale
    lower = from_pi[rows, j + 1] + _panels(z, edges[index, j + 1], d, coefficients,
                                           mode[:, None], weight) / scale
    return upper.reshape(shape), lower.reshape(shape)


def angle_density(theta: ArrayLike, d: int, kappa: ArrayLike,
                  prepared: Prepared | None = None) -> np.ndarray:
    """The normalised density ``p(theta)`` (relative density over its quadrature)."""
    theta, kappa = np.broadcast_arrays(np.asarray(theta, dtype=np.float64),
                                       np.asarray(kappa, dtype=np.float64))
    layout, rows = layout_rows(d, kappa) if prepared is None else prepared
    rows = np.broadcast_to(rows, theta.shape).reshape(-1)
    z = theta.reshape(-1) - layout.mode[rows]
    coefficients = layout.coefficients(rows, 1)
    density = np.exp(log_relative_density(z, d, *coefficients)) / layout.total[rows]
    return density.reshape(theta.shape)


def angle_quantile(u: ArrayLike, d: int, kappa: ArrayLike, prepared: Prepared | None = None
                   ) -> np.ndarray:
    """The angle ``theta`` with ``F(cos theta) = u`` per entry: safeguarded Newton in z.

    For ``u <= 1/2`` solve ``int_theta^pi p = u``, otherwise ``int_0^theta p = 1 - u``
    (``1 - u`` is exact there), bisecting whenever a Newton step leaves the bracket given
    by the panel edges. Only unconverged entries are iterated. ``u`` and ``kappa``
    broadcast together.
    """
    u, kappa = np.broadcast_arrays(np.asarray(u, dtype=np.float64),
                                   np.asarray(kappa, dtype=np.float64))
    shape = u.shape
    layout, rows = layout_rows(d, kappa) if prepared is None else prepared
    u, rows = u.reshape(-1), np.broadcast_to(rows, shape).reshape(-1)
    edges, from_pi = layout.edges[rows], layout.from_pi[rows]
    j = np.clip(np.sum(from_pi > u[:, None], axis=1) - 1, 0, edges.shape[1] - 2)
    index = np.arange(u.size)
    a, b = edges[index, j], edges[index, j + 1]
    top, bottom = from_pi[index, j], from_pi[index, j + 1]
    z = a + (b - a) * np.clip((top - u) / np.maximum(top - bottom, 1e-300), 0.0, 1.0)
    lower = u <= 0.5
    sign = np.where(lower, 1.0, -1.0)  # d(side mass)/dz = -sign * p
    target = np.where(lower, u, 1.0 - u)
    base = np.where(lower, bottom, layout.from_zero[rows, j])
    mode, sd, total = layout.mode[rows], layout.sd[rows], layout.total[rows]
    active = np.flatnonzero((u > 0) & (u < 1))
    for _ in range(200):
        r = rows[active]
        coefficients = layout.coefficients(r, 2)
        now = z[active]
        low_end = np.where(lower[active], now, edges[active, j[active]])
        high_end = np.where(lower[active], edges[active, j[active] + 1], now)
        mass = base[active] + _panels(low_end, high_end, d, coefficients, mode[active, None],
                                      None) / total[active]
        residual = sign[active] * (mass - target[active])  # > 0: z is too small
        too_small = residual > 0
        a[active] = np.where(too_small, now, a[active])
        b[active] = np.where(too_small, b[active], now)
        density = np.exp(log_relative_density(now, d, *layout.coefficients(r, 1)))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = now + residual * total[active] / density
        inside = np.isfinite(newton) & (newton >= a[active]) & (newton <= b[active])
        new = np.where(inside, newton, 0.5 * (a[active] + b[active]))
        z[active] = new
        # Quadratic convergence: a step of 1e-9 sd leaves an error ~ 1e-18 sd (z/sd).
        small_step = inside & (np.abs(new - now) <= 1e-9 * sd[active])
        resolution = 4e-16 * (mode[active] + np.abs(new))  # the spacing of theta there
        done = small_step | (b[active] - a[active] <= resolution)
        active = active[~done]
        if active.size == 0:
            break
    theta = np.where(u == 1.0, 0.0, np.where(u == 0.0, np.pi, mode + z))
    return theta.reshape(shape)
