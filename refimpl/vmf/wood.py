"""Wood's rejection sampler for ``w = <mu, x>``, ``x ~ vMF(mu, kappa)`` on S^(d-1).

Wood (1994) draws ``w`` by rejection from a proposal that is a Moebius transform of a
``Beta((d-1)/2, (d-1)/2)`` variable, with an envelope constant chosen so that the
acceptance rate stays high at every ``d`` and ``kappa``. :func:`wood_definition` is the
algorithm in Wood's variables ``b``, ``x0``, ``c``: read it first. :func:`wood` draws the
same proposals but computes in complements (``1 - w``, ``1 - x0``, ``1 - z``), because
the textbook ``b = (-2 kappa + sqrt(4 kappa^2 + m^2)) / m`` and ``kappa w - c`` cancel as
``kappa / (d - 1)`` grows; it is the ``"wood"`` method of
:func:`refimpl.vmf.sample_marginal` and :func:`refimpl.vmf.sample`. Both consume the
random stream in the same order, so one seed gives both the same proposals.

Reference: A. T. A. Wood, "Simulation of the von Mises Fisher distribution", Commun.
Stat. Simul. Comput. 23(1):157-164 (1994).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_generator
from refimpl.vmf._common import RandomSource, Size, size_tuple
from refimpl.vmf.distribution import check_dimension, check_kappa

__all__ = ["WOOD_DEFINITION_MAX_RATIO", "wood_definition", "wood"]

#: Largest ``kappa / (d - 1)`` that :func:`wood_definition` accepts. Its envelope
#: ``b = (-2 kappa + sqrt(4 kappa^2 + m^2)) / m`` cancels: relative error about
#: ``16 (kappa/m)^2 eps``, 4e-7 at this bound; near ``kappa/m = 1e8`` no digit is left.
WOOD_DEFINITION_MAX_RATIO = 1e4


def wood_definition(d: int, kappa: ArrayLike, size: Size = None,
                    rng: RandomSource = None) -> np.ndarray:
    r"""The definition of :func:`wood`: Wood's rejection sampler for ``w = <mu, x>`` in
    his (1994) variables; the ``"wood"`` method of :func:`~refimpl.vmf.sample_marginal`.

    With ``m = d - 1``:

    .. math::

        b = \frac{-2\kappa + \sqrt{4\kappa^2 + m^2}}{m}, \qquad
        x_0 = \frac{1 - b}{1 + b}, \qquad c = \kappa x_0 + m \log(1 - x_0^2);

    then, until accepted: draw ``z ~ Beta(m/2, m/2)`` and ``u ~ Uniform(0, 1]``, set

    .. math:: w = \frac{1 - (1 + b) z}{1 - (1 - b) z}

    and accept if ``kappa w + m log(1 - x0 w) - c >= log u``. Every entry is proposed in
    the first round; later rounds redraw only the rejected ones. ``z`` is
    ``g1 / (g1 + g2)`` with ``g1, g2 ~ Gamma(m/2)`` and ``u = 1 - U[0, 1)``, drawn from
    ``rng`` in the order the fast sampler draws them, so ``wood_definition(d, kappa, n,
    rng=seed)`` and ``sample_marginal(d, kappa, n, rng=seed, method="wood")`` see the same
    proposals and agree up to the rounding of these formulas.

    Reference: A. T. A. Wood, "Simulation of the von Mises Fisher distribution", Commun.
    Stat. Simul. Comput. 23(1):157-164 (1994).

    Parameters
    ----------
    d : int
        Dimension, ``d >= 2``.
    kappa : array_like
        Concentrations, ``0 <= kappa <= WOOD_DEFINITION_MAX_RATIO * (d - 1)``.
    size : int or tuple of int, optional
        Sample axes, prepended: the output has shape ``size + kappa.shape``.
    rng : None, int or numpy.random.Generator

    Raises
    ------
    ValueError
        ``kappa > 1e4 (d - 1)``: ``b``, ``x0`` and ``c`` cancel (``1 - x0^2`` and
        ``kappa w - c`` too); the fast sampler computes with complements and has no limit.

    Examples
    --------
    >>> from refimpl.vmf import sample_marginal
    >>> w = wood_definition(5, 2.0, size=3, rng=0)
    >>> bool(np.allclose(w, sample_marginal(5, 2.0, size=3, rng=0, method="wood"), atol=1e-14))
    True
    """
    d, kappa = check_dimension(d), check_kappa(kappa)
    if np.any(kappa > WOOD_DEFINITION_MAX_RATIO * (d - 1)):
        raise ValueError(f"kappa must be at most {WOOD_DEFINITION_MAX_RATIO:g} (d - 1) = "
                         f"{WOOD_DEFINITION_MAX_RATIO * (d - 1):g} for Wood's textbook form, got "
                         f"kappa={kappa.max():g}; use sample_marginal(..., method='wood')")
    shape, generator = size_tuple(size) + kappa.shape, as_generator(rng)
    kappa = np.broadcast_to(kappa, shape).ravel()
    m = d - 1.0
    b = (-2.0 * kappa + np.sqrt(4.0 * kappa**2 + m**2)) / m
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa * x0 + m * np.log(1.0 - x0**2)
    w, pending = np.empty(kappa.shape), np.arange(kappa.size)
    while pending.size:
        g1, g2 = generator.standard_gamma(m / 2.0, size=(2, pending.size))
        z = g1 / (g1 + g2)  # Beta(m/2, m/2)
        u = 1.0 - generator.random(pending.size)  # Uniform(0, 1]
        k, bp, xp, cp = kappa[pending], b[pending], x0[pending], c[pending]
        proposal = (1.0 - (1.0 + bp) * z) / (1.0 - (1.0 - bp) * z)
        accept = k * proposal + m * np.log(1.0 - xp * proposal) - cp >= np.log(u)
        w[pending[accept]] = proposal[accept]
        pending = pending[~accept]
    return w.reshape(shape)


def wood(d: int, kappa: np.ndarray, n: int, rng: np.random.Generator
         ) -> tuple[np.ndarray, np.ndarray]:
    """Wood's rejection sampler: ``n`` accepted draws for ``kappa`` (0-d, or one per draw),
    as the complements ``(1 - w, 1 + w)``; no argument checks (the samplers check first).

    Defined by :func:`wood_definition`, with the same draws, in complements: with
    ``m = d - 1``, ``s = hypot(2 kappa, m)``: ``b = m/(2 kappa + s)``,
    ``x0 = 2 kappa/(m + s)``, ``1 - x0 = m (1 + m/(s + 2 kappa))/(m + s)``. A proposal
    ``z = g1/(g1 + g2)``, ``g_i ~ Gamma(m/2)``, gives ``1 - w = 2 b z/den`` and
    ``1 + w = 2 (1 - z)/den`` with ``den = (1 - z) + b z``; it is accepted iff
    ``kappa [(1 - x0) - (1 - w)] + m [log((1 - x0) + x0 (1 - w)) - log(1 - x0) - log1p(x0)]
    >= log U``, which is Wood's test ``kappa w + m log(1 - x0 w) - c >= log U`` without
    cancellation. Only the rejected entries are redrawn.
    """
    m = d - 1.0
    s = np.hypot(2.0 * kappa, m)
    b, x0 = m / (2.0 * kappa + s), 2.0 * kappa / (m + s)
    one_minus_x0 = m * (1.0 + m / (s + 2.0 * kappa)) / (m + s)
    log_envelope = np.log(one_minus_x0) + np.log1p(x0)
    params = np.broadcast_arrays(kappa, b, x0, one_minus_x0, log_envelope)
    gap, rest, accept = _proposals(m, params, n, rng)  # the first round fills all
    pending = np.flatnonzero(~accept)
    while pending.size:  # redraw only the rejected entries
        taken = [a if a.ndim == 0 else a[pending] for a in params]
        gap_p, rest_p, accept = _proposals(m, taken, pending.size, rng)
        done = pending[accept]
        gap[done], rest[done] = gap_p[accept], rest_p[accept]
        pending = pending[~accept]
    return gap, rest


def _proposals(m: float, params: Sequence[np.ndarray], size: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
