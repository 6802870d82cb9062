"""Self-checks of refimpl.householder: the a -> b maps are orthogonal, send a to b within
their stated bounds and have the stated determinants; the VJPs agree with finite
differences; householder_product agrees with LAPACK dorgqr.

The map and product rows run the properties of :mod:`refimpl.testing.properties.maps`
and :mod:`refimpl.testing.properties.householder_product` on refimpl's functions, with
the claims their docstrings make (singular point, determinant, action on the
complement of span(a, b)).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from refimpl import householder as hh
from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck._core import Check, CheckResult, from_properties
from refimpl.testing.properties import Case, PropertyResult, maps
from refimpl.testing.properties import householder_product as product

#: refimpl's householder_product as a property subject.
PRODUCT = product.product_subject(hh.householder_product)

KINDS = ("householder", "rotation", "symmetric", "stable")

#: ``kind: (singular point, determinant rule, complement rule)`` as the docstrings state.
CLAIMS = {"householder": ("a-b", "-1", "+1"), "rotation": ("a+b", "+1", "+1"),
          "symmetric": ("a+b", "(-1)^(d-1)", "-1"), "stable": ("none", "stable",
                                                                "stable-complement")}


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


def subject(kind: str) -> maps.MapSubject:
    """refimpl's ``<kind>_map`` with the claims of its docstring, as a property subject."""
    singular, determinant, complement = CLAIMS[kind]
    return maps.map_subject(getattr(hh, f"{kind}_map"), determinant=determinant,
                            complement=complement, singular=singular)


def _maps_row(checks: tuple[Callable[[maps.MapSubject, Case], PropertyResult], ...],
              rng: np.random.Generator) -> CheckResult:
    cases = [Case(a=a, b=b, z=rng.standard_normal((3, a.size))) for a, b in pairs(rng)]
    return from_properties([check(subject(kind), case) for case in cases for kind in KINDS
                            for check in checks])


def orthogonality(rng: np.random.Generator) -> CheckResult:
    """maps.orthogonality of the four maps on every pair (ratio to 16 eps sqrt(d))."""
    return _maps_row((maps.orthogonality,), rng)


def maps_a_to_b(rng: np.random.Generator) -> CheckResult:
    """maps.maps_a_to_b: ||T a - b|| within 16 eps (sqrt(d) + 1/distance to the map's own
    singular point); the stable map has none."""
    return _maps_row((maps.maps_a_to_b,), rng)


def determinants(rng: np.random.Generator) -> CheckResult:
    """maps.determinant and maps.complement: -1, +1, (-1)^(d-1) and the stable branch."""
    return _maps_row((maps.determinant, maps.complement), rng)


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
    """householder_product.agrees_with_xorgqr, blocked sizes included, and the exact
    properties (entries outside the reflectors ignored, tau = 0 the identity)."""
    results = []
    for m, n, k in [(6, 4, 3), (9, 9, 9), (40, 33, 33), (120, 100, 70)]:
        V = rng.standard_normal((m, n))
        case = Case(V=V, tau=rng.uniform(0.0, 2.0, k), noise=rng.standard_normal((m, n)))
        results += [check(PRODUCT, case) for check in (
            product.agrees_with_xorgqr, product.orthonormal_columns,
            product.reads_only_the_reflectors, product.zero_tau_is_identity)]
    return from_properties(results)


def product_vjp(rng: np.random.Generator) -> CheckResult:
    """householder_product_vjp against central differences (V and tau)."""
    V, tau = rng.standard_normal((6, 4)), rng.uniform(0.0, 2.0, 3)
    report = assert_vjp(hh.householder_product, hh.householder_product_vjp, [V, tau], rng=rng)
    return CheckResult(1, report.worst_abs_error, 1e-6, unit="abs")


CHECKS = [
    Check("householder: maps a->b are orthogonal", orthogonality),
    Check("householder: T a = b within the stated bound", maps_a_to_b),
    Check("householder: det, action on span(a,b)^perp", determinants),
    Check("householder: map VJPs vs central differences", map_vjps),
    Check("householder: householder_product vs dorgqr, exact", product_against_lapack),
    Check("householder: householder_product VJP", product_vjp),
]
