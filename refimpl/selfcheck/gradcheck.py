"""Self-checks of refimpl.gradcheck: it accepts correct VJPs and rejects wrong ones.

The last row runs the VJP properties of :mod:`refimpl.testing.properties.vjp` (a
backward against finite differences, and against a reference VJP) on refimpl's own
hand-written VJPs, and on one with a flipped sign, which must fail with the sign named.
"""

from __future__ import annotations

import numpy as np

from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck._core import Check, CheckResult, from_properties
from refimpl.testing.properties import Case
from refimpl.testing.properties import vjp as vjp_properties


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (max-shifted)."""
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_vjp(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``dL/dx = s * (g - <g, s>)`` for ``s = softmax(x)``."""
    s = softmax(x)
    return s * (g - np.sum(g * s, axis=-1, keepdims=True))


def examples(rng: np.random.Generator) -> list[tuple]:
    """Correct ``(f, f_vjp, args)`` triples: sin, a matrix product, a softmax."""
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    return [
        (np.sin, lambda g, x: g * np.cos(x), [rng.standard_normal((2, 3))]),
        (np.matmul, lambda g, a, b: (g @ b.T, a.T @ g), [a, b]),
        (softmax, softmax_vjp, [rng.standard_normal((2, 5))]),
    ]


def wrong_examples(rng: np.random.Generator) -> list[tuple]:
    """Wrong VJPs: one sign flipped, a transposed Jacobian, a factor of 2."""
    a = rng.standard_normal((3, 3))
    return [
        (np.matmul, lambda g, a, b: (g @ b.T, -(a.T @ g)), [a, rng.standard_normal((3, 2))]),
        (lambda x: a @ x, lambda g, x: a @ g, [rng.standard_normal(3)]),
        (softmax, lambda g, x: 2 * softmax_vjp(g, x), [rng.standard_normal((2, 5))]),
    ]


def accepts_correct(rng: np.random.Generator) -> CheckResult:
    """Worst error over the correct examples."""
    reports = [assert_vjp(f, f_vjp, args, rng=rng) for f, f_vjp, args in examples(rng)]
    return CheckResult(len(reports), max(r.worst_abs_error for r in reports), 1e-7, unit="abs")


def rejects_wrong(rng: np.random.Generator) -> CheckResult:
    """Number of wrong VJPs that were (wrongly) accepted; must be zero."""
    cases = wrong_examples(rng)
    accepted = 0
    for f, f_vjp, args in cases:
        try:
            assert_vjp(f, f_vjp, args, rng=rng)
            accepted += 1
        except AssertionError:
            pass
    return CheckResult(len(cases), float(accepted), 0.0, f"{accepted} wrong VJP(s) accepted",
                       unit="count")


def vjp_properties_on_refimpl(rng: np.random.Generator) -> CheckResult:
    """vjp.against_finite_differences of every VJP reference on random arguments; a
    sign-flipped backward must fail vjp.against_reference with the sign named (else inf)."""
    results = []
    for name, (f, f_vjp) in vjp_properties.VJP_REFERENCES.items():
        x = rng.standard_normal((3, 6))
        args = {"rope.apply": (x, rng.uniform(-3, 3, (3, 3))),
                "householder.householder_product": (x.T, rng.uniform(0.2, 1.8, 3)),
                "householder.stable_map": (x[:2], *_pair(rng)),
                "attention.scaled_dot_product_attention": (x, x[::-1] + 1, x[:, :2])}[name]
        case = Case(**{f"arg{i}": a for i, a in enumerate(args)})
        results.append(vjp_properties.against_finite_differences(
            vjp_properties.vjp_subject(f, f_vjp), case))
        flipped = vjp_properties.against_reference(vjp_properties.vjp_subject(
            f, lambda g, *a, f_vjp=f_vjp: tuple(-u for u in f_vjp(g, *a)), reference=name),
            case)
        if flipped.passed or not any("wrong sign" in fault for fault in flipped.faults):
            return CheckResult(len(results), float("inf"), 1.0,
                               f"a sign-flipped {name} VJP was not caught", unit="ratio")
    return from_properties(results)


def _pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Unit a, b with a.b = 0.6, away from the stable map's branch switch at a.b = 0."""
    a, u = np.linalg.qr(rng.standard_normal((6, 2)))[0].T
    return a, 0.6 * a + 0.8 * u


CHECKS = [
    Check("gradcheck accepts correct VJPs", accepts_correct),
    Check("gradcheck rejects wrong VJPs", rejects_wrong),
    Check("vjp properties: refimpl's VJPs, a sign flip", vjp_properties_on_refimpl),
]
