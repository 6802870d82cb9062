"""Self-checks of refimpl.gradcheck: it accepts correct VJPs and rejects wrong ones."""

from __future__ import annotations

import numpy as np

from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck._core import Check, CheckResult


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


CHECKS = [
    Check("gradcheck accepts correct VJPs", accepts_correct),
    Check("gradcheck rejects wrong VJPs", rejects_wrong),
]
