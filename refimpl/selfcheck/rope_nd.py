"""Self-checks of N-D RoPE: relativity, commuting generators, invertibility on a grid."""

from __future__ import annotations

import numpy as np

from refimpl.rope import apply
from refimpl.rope.generators import generators, rotation_from_generators, validate_generators
from refimpl.rope.nd import (
    axial_frequencies,
    axis_interleaved_frequencies,
    mixed_frequencies,
    mrope_frequencies,
    nd_angles,
)
from refimpl.selfcheck._core import Check, CheckResult


def _cases(rng: np.random.Generator) -> list[tuple[np.ndarray, str, np.ndarray | None]]:
    """``(F, layout, basis)`` for every builder, both layouts, with and without a basis."""
    builders = [axial_frequencies(16, 2), axis_interleaved_frequencies(24, 3),
                mixed_frequencies(16, rng=rng)[0], mrope_frequencies(24, [4, 4, 4]),
                mrope_frequencies(24, [4, 4, 4], interleaved=True)]
    cases = []
    for F in builders:
        basis = np.linalg.qr(rng.standard_normal((2 * F.shape[1],) * 2))[0]
        cases += [(F, layout, Q) for layout in ("interleaved", "half") for Q in (None, basis)]
    return cases


def relativity(rng: np.random.Generator) -> CheckResult:
    """Worst ``|R(p)^T R(q) - R(q - p)|`` over builders, layouts and bases."""
    worst, cases = 0.0, _cases(rng)
    for F, layout, basis in cases:
        p, q = rng.uniform(-30, 30, (2, F.shape[0]))
        R = lambda at: apply(np.eye(2 * F.shape[1]), nd_angles(at, F), layout=layout, basis=basis).T
        worst = max(worst, float(np.max(np.abs(R(p).T @ R(q) - R(q - p)))))
    return CheckResult(len(cases), worst, 1e-11, unit="abs")


def generator_form(rng: np.random.Generator) -> CheckResult:
    """Worst commutator ``|A_k A_l - A_l A_k|`` and worst ``|apply(x) - expm(sum p A) x|``."""
    worst, cases = 0.0, _cases(rng)
    for F, layout, basis in cases:
        A = generators(F, layout, basis=basis)
        commutators = A[:, None] @ A[None, :] - A[None, :] @ A[:, None]
        p, x = rng.uniform(-30, 30, F.shape[0]), rng.standard_normal(2 * F.shape[1])
        expm_x = rotation_from_generators(p, A) @ x
        elementwise = apply(x, nd_angles(p, F), layout=layout, basis=basis)
        worst = max(worst, float(np.max(np.abs(commutators))),
                    float(np.max(np.abs(elementwise - expm_x))))
    return CheckResult(len(cases), worst, 1e-10, unit="abs")


def invertibility(rng: np.random.Generator) -> CheckResult:
    """Misjudged families: the axial D=16 RoPE must be injective on a 32x32 grid; the
    post's counter-examples rot((x+y) theta) and the quaternion generators must fail."""
    quaternion_i = generators([[1.0, 1.0]])[0]
    quaternion_j = np.array([[0, 0, -1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, -1, 0, 0]], float)
    verdicts = [
        validate_generators(generators(axial_frequencies(16, 2)), (32, 32)).valid is True,
        validate_generators(generators([[0.7], [0.7]])).valid is False,
        validate_generators(np.stack([quaternion_i, quaternion_j])).valid is False,
    ]
    wrong = verdicts.count(False)
    return CheckResult(len(verdicts), float(wrong), 0.0, f"{wrong} family(ies) misjudged",
                       unit="count")


CHECKS = [
    Check("rope N-D relativity R(p)^T R(q) = R(q-p)", relativity),
    Check("rope N-D commuting generators = apply", generator_form),
    Check("rope N-D invertibility (32x32 grid, negatives)", invertibility),
]
