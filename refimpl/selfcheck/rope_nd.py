"""Self-checks of N-D RoPE: relativity, commuting generators, invertibility on a grid.

Relativity, commutation and invertibility run the properties of
:mod:`refimpl.testing.properties.rope_nd` on refimpl's N-D RoPE; the generator row checks
refimpl's generator form against ``apply``.
"""

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
from refimpl.selfcheck._core import Check, CheckResult, from_properties
from refimpl.testing.properties import Case
from refimpl.testing.properties.rope_nd import (
    RopeNdSubject,
    commutation,
    invertibility_on_grid,
    relativity,
)


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


def subject(F: np.ndarray, layout: str, basis: np.ndarray | None,
            grid: tuple[int, ...] | None = None) -> RopeNdSubject:
    """refimpl's ``apply(x, nd_angles(p, F))`` as a property subject."""
    def fn(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return apply(x, nd_angles(positions, F), layout=layout, basis=basis)

    return RopeNdSubject(fn, 2 * F.shape[1], F.shape[0],
                         omega_max=float(np.max(np.abs(F), initial=0.0)) or 1.0,
                         grid=grid or (8,) * F.shape[0], name=f"apply[{layout}]")


def relativity_and_commutation(rng: np.random.Generator) -> CheckResult:
    """rope_nd.relativity and rope_nd.commutation over builders, layouts and bases."""
    results = []
    for F, layout, basis in _cases(rng):
        p, q = rng.uniform(-30, 30, (2, 3, F.shape[0]))
        case = Case(x=rng.standard_normal((3, 2 * F.shape[1])), p=p, q=q)
        results += [relativity(subject(F, layout, basis), case),
                    commutation(subject(F, layout, basis), case)]
    return from_properties(results)


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
    """Misjudged families: the axial D=16 RoPE must be injective on a 32x32 grid (both by
    ``validate_generators`` and by the property rope_nd.invertibility_on_grid); the
    post's counter-examples rot((x+y) theta) and the quaternion generators must fail."""
    quaternion_i = generators([[1.0, 1.0]])[0]
    quaternion_j = np.array([[0, 0, -1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, -1, 0, 0]], float)
    axial, diagonal = axial_frequencies(16, 2), np.array([[0.7], [0.7]])
    verdicts = [
        validate_generators(generators(axial), (32, 32)).valid is True,
        invertibility_on_grid(subject(axial, "interleaved", None, (32, 32)), Case()).passed,
        validate_generators(generators(diagonal)).valid is False,
        not invertibility_on_grid(subject(diagonal, "interleaved", None, (4, 4)), Case()).passed,
        validate_generators(np.stack([quaternion_i, quaternion_j])).valid is False,
    ]
    wrong = verdicts.count(False)
    return CheckResult(len(verdicts), float(wrong), 0.0, f"{wrong} family(ies) misjudged",
                       unit="count")


CHECKS = [
    Check("rope N-D relativity and commutation", relativity_and_commutation),
    Check("rope N-D commuting generators = apply", generator_form),
    Check("rope N-D invertibility (32x32 grid, negatives)", invertibility),
]
