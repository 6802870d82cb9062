"""Self-checks of Q applied without forming it and of the blocked product backward:
householder_apply agrees with LAPACK dormqr in all four side/transpose cases, its VJP
with central differences, and the compact-WY householder_product_vjp with its
one-reflector-at-a-time definition over several blocks."""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy.linalg import lapack

from refimpl import householder as hh
from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck._core import Check, CheckResult

CASES = [("left", False), ("left", True), ("right", False), ("right", True)]


def apply_against_lapack(rng: np.random.Generator) -> CheckResult:
    """Worst ``|householder_apply - dormqr|`` relative to ``max |X|``, block edges included."""
    errors = []
    for r, c, p in [(7, 4, 3), (40, 40, 9), (100, 70, 45)]:
        V, tau = hh.householder_qr(rng.standard_normal((r, c)))
        for side, transpose in CASES:
            X = rng.standard_normal((r, p) if side == "left" else (p, r))
            expected = lapack.dormqr(side[0].upper(), "T" if transpose else "N", V, tau, X,
                                     lwork=64 * max(X.shape))[0]
            result = hh.householder_apply(V, tau, X, side=side, transpose=transpose)
            errors.append(np.abs(result - expected).max() / np.abs(X).max())
    return CheckResult(len(errors), float(max(errors)), 1e-13, unit="rel")


def apply_vjp(rng: np.random.Generator) -> CheckResult:
    """householder_apply_vjp against central differences (V, tau and X), four cases."""
    worst = 0.0
    for side, transpose in CASES:
        V, tau = rng.standard_normal((5, 4)), rng.uniform(0.0, 2.0, 3)
        X = rng.standard_normal((5, 2) if side == "left" else (2, 5))

        f = partial(hh.householder_apply, side=side, transpose=transpose)
        f_vjp = partial(hh.householder_apply_vjp, side=side, transpose=transpose)
        worst = max(worst, assert_vjp(f, f_vjp, [V, tau, X], rng=rng).worst_abs_error)
    return CheckResult(len(CASES), worst, 1e-6, unit="abs")


def blocked_product_vjp(rng: np.random.Generator) -> CheckResult:
    """The blocked householder_product_vjp against its definition (4 blocks of 32)."""
    V, G = rng.standard_normal((120, 110)), rng.standard_normal((120, 110))
    Y = np.tril(V, -1) + np.eye(120, 110)
    tau = 2.0 / np.sum(Y[:, :100] ** 2, axis=0)
    blocked = hh.householder_product_vjp(G, V, tau)
    definition = hh.householder_product_vjp_definition(G, V, tau)
    error = max(np.abs(a - b).max() / max(1.0, np.abs(b).max())
                for a, b in zip(blocked, definition, strict=True))
    return CheckResult(1, float(error), 1e-12, unit="rel")


CHECKS = [
    Check("householder: householder_apply vs dormqr", apply_against_lapack),
    Check("householder: householder_apply VJP", apply_vjp),
    Check("householder: blocked product VJP vs definition", blocked_product_vjp),
]
