"""``VonMisesFisher(mu, kappa)``: one frozen distribution over the function API.

A small immutable object for code that passes distributions around, in the style of
``scipy.stats.vonmises_fisher``. It holds nothing but a validated ``mu`` (unit vector,
shape ``(d,)``) and a scalar ``kappa >= 0``; every method is one call of the function of
the same name in :mod:`refimpl.vmf.distribution`, :mod:`refimpl.vmf.sampling` or
:mod:`refimpl.vmf.fit`, so it has the accuracy, the errors and (for
:meth:`VonMisesFisher.rvs`) the algorithms and ``rng`` semantics of those functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refimpl.vmf._common import RandomSource, Size
from refimpl.vmf.distribution import (
    check_directions,
    check_kappa,
    entropy,
    kl,
    logpdf,
    mean_resultant_length,
    pdf,
)
from refimpl.vmf.fit import fit
from refimpl.vmf.sampling import sample


@dataclass(frozen=True, init=False, eq=False, repr=False)
class VonMisesFisher:
    r"""The frozen distribution vMF(mu, kappa) on S^(d-1).

    .. math:: f(x) = C_d(\kappa)\, e^{\kappa \langle \mu, x \rangle}, \qquad
       \mathbb{E}[x] = A_d(\kappa)\, \mu, \quad A_d = I_{d/2}/I_{d/2-1}

    Parameters
    ----------
    mu : array_like, shape (d,)
        The mean direction, unit norm within 1e-10, ``d >= 2``.
    kappa : float
        The concentration, ``0 <= kappa <= 1e100``; 0 is the uniform distribution.

    Examples
    --------
    >>> p = VonMisesFisher([0.0, 0.0, 1.0], 10.0)
    >>> p.d, round(p.mean_resultant_length(), 6)  # coth(10) - 1/10 on S^2
    (3, 0.9)
    >>> p.rvs(size=4, rng=0).shape
    (4, 3)
    >>> float(p.kl(p))
    0.0
    """

    mu: np.ndarray = field()
    kappa: float = field()

    def __init__(self, mu: ArrayLike, kappa: ArrayLike) -> None:
        direction = check_directions(mu, "mu")
        if direction.ndim != 1:
            raise ValueError(f"mu must be one direction of shape (d,), got shape "
                             f"{direction.shape}; for a batch use refimpl.vmf.sample and "
                             "the other functions, which broadcast")
        concentration = check_kappa(kappa)
        if concentration.ndim != 0:
            raise ValueError(f"kappa must be a scalar, got shape {concentration.shape}")
        direction = direction.copy()
        direction.flags.writeable = False
        object.__setattr__(self, "mu", direction)
        object.__setattr__(self, "kappa", float(concentration))

    @property
    def d(self) -> int:
        """The ambient dimension (the sphere is S^(d-1))."""
        return int(self.mu.shape[0])

    def logpdf(self, x: ArrayLike) -> np.ndarray:
        """Log density at unit vectors ``x`` of shape ``(..., d)``:
        :func:`~refimpl.vmf.distribution.logpdf`."""
        return logpdf(x, self.mu, self.kappa)

    def pdf(self, x: ArrayLike) -> np.ndarray:
        """Density at unit vectors ``x`` of shape ``(..., d)``:
        :func:`~refimpl.vmf.distribution.pdf`."""
        return pdf(x, self.mu, self.kappa)

    def rvs(self, size: Size = None, rng: RandomSource = None, **options: Any) -> np.ndarray:
        """Draws of shape ``size + (d,)``: :func:`~refimpl.vmf.sampling.sample` with the
        same ``rng`` and options (``method=``, ``tangent=``, ``table=``), so equal seeds
        give equal draws."""
        return sample(self.mu, self.kappa, size=size, rng=rng, **options)

    def entropy(self) -> float:
        """Differential entropy in nats: :func:`~refimpl.vmf.distribution.entropy`."""
        return float(entropy(self.d, self.kappa))

    def mean_resultant_length(self) -> float:
        """``A_d(kappa) = ||E[x]||``: :func:`~refimpl.vmf.distribution.mean_resultant_length`."""
        return float(mean_resultant_length(self.d, self.kappa))

    def mean(self) -> np.ndarray:
        """``E[x] = A_d(kappa) mu`` (not a unit vector unless kappa is infinite)."""
        return self.mean_resultant_length() * self.mu

    def kl(self, other: VonMisesFisher) -> float:
        """``KL(self || other)`` in nats: :func:`~refimpl.vmf.distribution.kl`."""
        if not isinstance(other, VonMisesFisher):
            raise TypeError(f"other must be a VonMisesFisher, got {type(other).__name__}")
        if other.d != self.d:
            raise ValueError(f"other lives on S^{other.d - 1}, self on S^{self.d - 1}")
        return float(kl(self.mu, self.kappa, other.mu, other.kappa))

    @classmethod
    def fit(cls, X: ArrayLike, weights: ArrayLike | None = None) -> VonMisesFisher:
        """The maximum-likelihood distribution of unit vectors ``X`` (n, d):
        :func:`~refimpl.vmf.fit.fit`."""
        mu, kappa = fit(X, weights)
        return cls(mu, kappa)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VonMisesFisher):
            return NotImplemented
        return self.kappa == other.kappa and np.array_equal(self.mu, other.mu)

    def __hash__(self) -> int:
        return hash((self.kappa, self.mu.tobytes()))

    def __repr__(self) -> str:
        return f"VonMisesFisher(mu={self.mu.tolist()!r}, kappa={self.kappa!r})"
