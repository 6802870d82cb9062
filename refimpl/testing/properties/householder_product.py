"""Properties of a Householder product ``fn(V, tau) -> Q`` with LAPACK ``xORGQR`` semantics.

``Q = H_1 H_2 ... H_k I[:, :n]`` with ``H_i = I - tau_i y_i y_i^T``, ``y_i`` the strictly
lower part of column ``i`` of ``V`` with an implicit 1 on the diagonal (LAPACK
``dorgqr``; ``torch.linalg.householder_product``). The reference is SciPy's binding of
LAPACK ``dorgqr`` itself (``scipy.linalg.lapack.dorgqr``), not refimpl, so refimpl's
own :func:`refimpl.householder.householder_product` is checked by the same statements.

Error model: each of the ``k`` reflectors costs a few ``eps`` per entry of ``Q``, and its
inner products over ``m`` entries another ``m eps`` at most, so the size factor is
``m + k``, times ``max(1, max|Q|)`` for ``tau`` that do not make the ``H_i`` orthogonal.
(Measured: ``torch.linalg.householder_product`` 2.13 in float64 against ``dorgqr``
stays below 0.4 of this tolerance for ``m <= 40``, and below 1.4 of the random-walk
guess ``sqrt(m k)``, which is therefore not used.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import lapack

from refimpl.testing.properties._core import (
    Case,
    Property,
    PropertyResult,
    numpy_callable,
    tolerance,
)

__all__ = ["ProductSubject", "product_subject", "xorgqr", "agrees_with_xorgqr",
           "orthonormal_columns", "reads_only_the_reflectors", "zero_tau_is_identity",
           "PROPERTIES"]


@dataclass(frozen=True, eq=False)
class ProductSubject:
    """A ``householder_product`` ``fn(V, tau)`` (NumPy in and out), ``V (m, n)``, ``tau (k,)``."""

    fn: Callable[[np.ndarray, np.ndarray], Any]
    dtype: str = "float64"
    name: str = "fn"

    def __call__(self, V: np.ndarray, tau: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            try:
                return np.asarray(self.fn(V, tau), dtype=np.float64)
            except Exception:  # reported as a non-finite result of the right shape
                return np.full(V.shape, np.nan)


def product_subject(fn: Callable[..., Any], *, dtype: str = "float64",
                    framework: str | None = None) -> ProductSubject:
    """Wrap a foreign ``fn(V, tau)`` as a :class:`ProductSubject`."""
    return ProductSubject(numpy_callable(fn, framework, dtype), dtype,
                          getattr(fn, "__name__", "fn"))


def xorgqr(V: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """LAPACK ``dorgqr(V, tau)`` through SciPy (``I[:, :n]`` when ``tau`` is empty)."""
    if len(tau) == 0:
        return np.eye(*V.shape)
    return lapack.dorgqr(V, tau)[0]


def _size(V: np.ndarray, tau: np.ndarray) -> float:
    return float(V.shape[0] + len(tau))


def _shape_fault(found: np.ndarray, V: np.ndarray) -> tuple[str, ...]:
    if found.shape != V.shape:
        return (f"output shape {found.shape}, expected {V.shape} (xORGQR returns the first "
                f"n columns)",)
    return () if np.all(np.isfinite(found)) else ("non-finite output",)


def agrees_with_xorgqr(subject: ProductSubject, case: Case) -> PropertyResult:
    """``fn(V, tau) = dorgqr(V, tau)`` for any ``tau`` (fields ``V, tau``).

    Measured: ``max |fn - dorgqr| / max(1, max|dorgqr|)``. Tolerance:
    ``SAFETY eps (m + k)`` (module notes).
    """
    V, tau = case.V, case.tau
    found, expected = subject(V, tau), xorgqr(V, tau)
    faults = _shape_fault(found, V)
    error = (float(np.max(np.abs(found - expected))) if not faults or found.shape == V.shape
             else np.inf) / max(1.0, float(np.max(np.abs(expected))))
    return PropertyResult("householder_product.agrees_with_xorgqr", error,
                          tolerance(subject.dtype, _size(V, tau)),
                          "max |fn(V, tau) - dorgqr(V, tau)| / max(1, max |Q|)", faults, case)


def orthonormal_columns(subject: ProductSubject, case: Case) -> PropertyResult:
    """``Q^T Q = I`` when every ``H_i`` is a reflection, ``tau_i = 2 / |y_i|^2`` (fields
    ``V, tau``; the tau are replaced by those values here).

    Measured: ``max |Q^T Q - I|``. Tolerance: ``SAFETY eps (m + k)``.
    """
    V = case.V
    k = len(case.tau)
    Y = (np.tril(V, -1) + np.eye(*V.shape))[:, :k]
    tau = 2.0 / np.sum(Y * Y, axis=0)
    Q = subject(V, tau)
    faults = _shape_fault(Q, V)
    error = float(np.max(np.abs(Q.T @ Q - np.eye(V.shape[1])))) if not faults else np.inf
    return PropertyResult("householder_product.orthonormal_columns", error,
                          tolerance(subject.dtype, _size(V, tau)),
                          "max |Q^T Q - I| with tau_i = 2/|y_i|^2", faults, Case(V=V, tau=tau))


def reads_only_the_reflectors(subject: ProductSubject, case: Case) -> PropertyResult:
    """Only the strictly lower triangle of the first ``k`` columns of ``V`` is read:
    changing the rest (by ``noise``) changes no bit of ``Q`` (fields ``V, tau, noise``).

    Measured: ``max |fn(V', tau) - fn(V, tau)|``. Tolerance: 0 (entries never read take
    part in no arithmetic).
    """
    V, tau, k = case.V, case.tau, len(case.tau)
    read = np.zeros(V.shape, dtype=bool)
    read[:, :k] = np.tril(np.ones((V.shape[0], k), dtype=bool), -1)
    changed = np.where(read, V, V + case.noise)
    difference = subject(changed, tau) - subject(V, tau)
    error = float(np.max(np.abs(difference))) if difference.size else 0.0
    faults = () if error == 0 or np.isnan(error) else (
        "reads V on or above the diagonal (the diagonal of V instead of the implicit 1?), or "
        "columns beyond k",)
    return PropertyResult("householder_product.reads_only_the_reflectors", error, 0.0,
                          "change of Q when V changes outside the reflectors", faults,
                          Case(V=V, changed=changed, tau=tau))


def zero_tau_is_identity(subject: ProductSubject, case: Case) -> PropertyResult:
    """``fn(V, 0) = I[:, :n]`` exactly: ``tau_i = 0`` means ``H_i = I`` (field ``V, tau``).

    Measured: ``max |fn(V, 0) - I|``. Tolerance: 0 (``I - 0 y y^T`` is exact).
    """
    V = case.V
    tau = np.zeros(len(case.tau))
    Q = subject(V, tau)
    error = (float(np.max(np.abs(Q - np.eye(*V.shape)), initial=0.0)) if Q.shape == V.shape
             else np.inf)
    return PropertyResult("householder_product.zero_tau_is_identity", error, 0.0,
                          "max |fn(V, 0) - I[:, :n]|", _shape_fault(Q, V), Case(V=V, tau=tau))


def diagnose(subject: ProductSubject) -> tuple[str, ...]:
    """The usual mistakes named by :func:`refimpl.testing.check_householder_product`."""
    from refimpl.testing.householder import check_householder_product

    return check_householder_product(subject, dtype=subject.dtype).faults


#: The properties of a Householder product, in the order the plugin runs them.
PROPERTIES = (
    Property("householder_product", "agrees_with_xorgqr", "fn(V, tau) = LAPACK dorgqr(V, tau)",
             "SAFETY eps(dtype) (m + k) max(1, |Q|)", agrees_with_xorgqr, "product_cases",
             diagnose=diagnose),
    Property("householder_product", "orthonormal_columns",
             "Q^T Q = I for tau_i = 2/|y_i|^2", "SAFETY eps(dtype) (m + k)",
             orthonormal_columns, "product_cases", diagnose=diagnose),
    Property("householder_product", "reads_only_the_reflectors",
             "V on/above the diagonal and beyond column k is ignored", "exact",
             reads_only_the_reflectors, "product_cases", diagnose=diagnose),
    Property("householder_product", "zero_tau_is_identity", "fn(V, 0) = I[:, :n]", "exact",
             zero_tau_is_identity, "product_cases", diagnose=diagnose),
)
