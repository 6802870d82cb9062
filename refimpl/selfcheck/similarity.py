"""Self-checks of refimpl.similarity: VJPs, task masking, closed forms, scale invariance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl import similarity as sim
from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck._core import Check, CheckResult


def vjps_agree(rng: np.random.Generator) -> CheckResult:
    """Worst gradcheck error over the four losses on small random inputs."""
    u, v, x = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), \
        rng.standard_normal((4, 3))
    weight, labels = rng.standard_normal((9, 5)), np.array([0, 2, 4, 1])
    grades = np.array([0.0, 1.0, 2.0, 1.0])
    cases: list[tuple[Callable[..., Any], Callable[..., Any], list[np.ndarray]]] = [
        (lambda u, v, w: sim.pair_classifier_loss(u, v, w, labels),
         lambda g, u, v, w: sim.pair_classifier_loss_vjp(g, u, v, w, labels), [u, v, weight]),
        (sim.cosine_distillation_loss, sim.cosine_distillation_loss_vjp, [u, x]),
        (lambda x: sim.in_batch_contrastive_loss(x, scale=5.0),
         lambda g, x: sim.in_batch_contrastive_loss_vjp(g, x, scale=5.0), [x]),
        (lambda u, v: sim.cosent_loss(u, v, grades, scale=5.0),
         lambda g, u, v: sim.cosent_loss_vjp(g, u, v, grades, scale=5.0), [u, v]),
    ]
    reports = [assert_vjp(f, f_vjp, args, rng=rng) for f, f_vjp, args in cases]
    return CheckResult(len(reports), max(r.worst_abs_error for r in reports), 1e-7, unit="abs")


def task_masking(rng: np.random.Generator) -> CheckResult:
    """Largest probability a binary example puts on NLI classes, or the reverse."""
    u, v = rng.standard_normal((50, 4)), rng.standard_normal((50, 4))
    weight = 30.0 * rng.standard_normal((12, 5))
    nli = rng.random(50) < 0.5
    p = sim.pair_class_probabilities(u, v, weight, nli)
    leak = max(np.max(p[~nli][:, 2:], initial=0.0), np.max(p[nli][:, :2], initial=0.0))
    return CheckResult(50, float(leak), 0.0, "probability leaked across tasks", unit="abs")


def closed_forms(rng: np.random.Generator) -> CheckResult:
    """CoSENT on two pairs and the contrastive loss on two orthogonal pairs, vs closed forms."""
    errors = []
    for alpha, beta in rng.uniform(0.0, np.pi, (10, 2)):
        v = [[np.cos(alpha), np.sin(alpha)], [np.cos(beta), np.sin(beta)]]
        loss = sim.cosent_loss([[1.0, 0.0], [1.0, 0.0]], v, [1.0, 0.0])
        expected = np.logaddexp(0.0, 20.0 * (np.cos(beta) - np.cos(alpha)))
        errors.append(abs(loss - expected) / max(1.0, expected))
    lengths = rng.uniform(0.5, 2.0, 4)[:, None]
    x = lengths * np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    errors.append(abs(sim.in_batch_contrastive_loss(x) - np.log1p(2 * np.exp(-20.0)))
                  / np.log1p(2 * np.exp(-20.0)))
    return CheckResult(len(errors), float(max(errors)), 1e-12, unit="abs")


def length_invariance(rng: np.random.Generator) -> CheckResult:
    """Relative change of each cosine loss when every sentence vector is rescaled."""
    x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    scales = 10.0 ** rng.uniform(-100, 100, (6, 1))
    grades = np.array([0.0, 2.0, 1.0])

    def losses(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.array([sim.cosine_distillation_loss(y, x), sim.in_batch_contrastive_loss(x),
                         sim.cosent_loss(x[0::2], x[1::2], grades)])

    before, after = losses(x, y), losses(x * scales, y * scales[::-1])
    return CheckResult(3, float(np.max(np.abs(after - before) / np.abs(before))), 1e-12, unit="rel")


CHECKS = [
    Check("similarity: loss VJPs match finite differences", vjps_agree),
    Check("similarity: task masking never crosses tasks", task_masking),
    Check("similarity: CoSENT / contrastive closed forms", closed_forms),
    Check("similarity: cosine losses ignore vector lengths", length_invariance),
]
