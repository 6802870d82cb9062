"""Self-checks of refimpl.householder: the a -> b maps are orthogonal, send a to b within
their stated bounds and have the stated determinants; the VJPs agree with finite
differences; householder_product agrees with LAPACK dorgqr."""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy.linalg import lapack

from refimpl import householder as hh
from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck._core import Check, CheckResult

EPS = float(np.finfo(np.float64).eps)
KINDS = ("householder", "rotation", "symmetric", "stable")


def pairs(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Unit pairs in d = 2..64: random, equal, opposite, nearly equal/opposite, axes."""
    result = []
    for d in (2, 3, 5, 16, 64):
        a = hh.normalize(rng.standard_normal(d))
        result += [(a, hh.normalize(rng.standard_normal(d))), (a, a), (a, -a),
                   (np.eye(d)[0], np.eye(d)[-1]), (np.eye(d)[0], -np.eye(d)[0])]
        for epsilon in (1e-4, 1e-9, 1e-14):
            result += [(a, hh.normalize(a + epsilon * rng.standard_normal(d))),
                       (a, hh.normalize(-a + epsilon * rng.standard_normal(d)))]
    return result


def singular_distance(kind: str, a: np.ndarray, b: np.ndarray) -> float:
    """Distance to the map's singular point; 0 means the documented fallback is used."""
    if kind == "stable":
        return np.inf
    return float(np.linalg.norm(a - b if kind == "householder" else a + b))


def orthogonality(rng: np.random.Generator) -> CheckResult:
    """Worst max |T T^T - I| over all maps and pairs."""
    errors = [np.max(np.abs(T @ T.T - np.eye(len(a))))
              for a, b in pairs(rng) for kind in KINDS
              for T in [getattr(hh, f"{kind}_map_matrix")(a, b)]]
    return CheckResult(len(errors), float(max(errors)), 1e-14, unit="abs")


def maps_a_to_b(rng: np.random.Generator) -> CheckResult:
    """Worst ||T a - b|| divided by its documented bound 8 eps (sqrt(d) + 1/distance)."""
    ratios = []
    for a, b in pairs(rng):
        for kind in KINDS:
            distance = singular_distance(kind, a, b)
            near = 1.0 / distance if 0 < distance < np.inf else 0.0
            bound = 8 * EPS * (np.sqrt(len(a)) + near)
            ratios.append(np.linalg.norm(getattr(hh, f"{kind}_map")(a, a, b) - b) / bound)
    return CheckResult(len(ratios), float(max(ratios)), 1.0, "ratio to the stated bound",
                       unit="ratio")


def determinants(rng: np.random.Generator) -> CheckResult:
    """Worst |det T - expected|: -1, +1, (-1)^(d-1), and the stable map's branch."""
    errors = []
    for a, b in pairs(rng):
        d = len(a)
        expected = {"householder": -1.0, "rotation": 1.0, "symmetric": (-1.0) ** (d - 1),
                    "stable": (-1.0) ** (d - 1) if a @ b >= 0 else -1.0}
        for kind in KINDS:
            T = getattr(hh, f"{kind}_map_matrix")(a, b)
            errors.append(abs(np.linalg.det(T) - expected[kind]))
    return CheckResult(len(errors), float(max(errors)), 1e-12, unit="abs")


def map_vjps(rng: np.random.Generator) -> CheckResult:
    """Worst absolute VJP error of the four maps against central differences."""
    worst, cases = 0.0, 0
    for kind in KINDS:
        a, b = hh.normalize(rng.standard_normal(5)), hh.normalize(rng.standard_normal(5))
        f = partial(getattr(hh, f"{kind}_map"), rtol=1e-4)
        f_vjp = partial(getattr(hh, f"{kind}_map_vjp"), rtol=1e-4)
        report = assert_vjp(f, f_vjp, [rng.standard_normal((2, 5)), a, b], rng=rng)
        worst, cases = max(worst, report.worst_abs_error), cases + 1
    return CheckResult(cases, worst, 1e-6, unit="abs")


def product_against_lapack(rng: np.random.Generator) -> CheckResult:
    """Worst |householder_product - dorgqr| relative to max |Q|, blocked sizes included."""
    errors = []
    for m, n, k in [(6, 4, 3), (9, 9, 9), (40, 33, 33), (120, 100, 70)]:
        V, tau = rng.standard_normal((m, n)), rng.uniform(0.0, 2.0, k)
        expected = lapack.dorgqr(V, tau)[0]
        error = np.abs(hh.householder_product(V, tau) - expected).max()
        errors.append(error / max(1.0, np.abs(expected).max()))
    return CheckResult(len(errors), float(max(errors)), 1e-13, unit="rel")


def product_vjp(rng: np.random.Generator) -> CheckResult:
    """householder_product_vjp against central differences (V and tau)."""
    V, tau = rng.standard_normal((6, 4)), rng.uniform(0.0, 2.0, 3)
    report = assert_vjp(hh.householder_product, hh.householder_product_vjp, [V, tau], rng=rng)
    return CheckResult(1, report.worst_abs_error, 1e-6, unit="abs")


CHECKS = [
    Check("householder: maps a->b are orthogonal", orthogonality),
    Check("householder: T a = b within the stated bound", maps_a_to_b),
    Check("householder: determinants -1, +1, (-1)^(d-1)", determinants),
    Check("householder: map VJPs vs central differences", map_vjps),
    Check("householder: householder_product vs dorgqr", product_against_lapack),
    Check("householder: householder_product VJP", product_vjp),
]
