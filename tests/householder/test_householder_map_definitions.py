"""The textbook forms of the a -> b maps (plain reflections) against the fast forms, and
against the closed forms of https://kexue.fm/archives/8453."""

from __future__ import annotations

import numpy as np
import pytest
from householder_cases import EPS, degenerate, pairs, unit
from hypothesis import given
from hypothesis import strategies as st

from refimpl import householder as hh

KINDS = ("householder", "rotation", "symmetric", "stable")
APPLY = {kind: getattr(hh, f"{kind}_map") for kind in KINDS}
DEFINITION = {kind: getattr(hh, f"{kind}_map_definition") for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
@given(pair=pairs(), seed=st.integers(0, 2**32 - 1), rows=st.sampled_from([1, 3]))
def test_fast_form_matches_its_definition(kind, pair, seed, rows):
    """Both forms start from the same renormalised a, b and the same normal (a - b, a + b
    or the fallback, computed identically), so they differ only by the rounding of the
    reflections, whatever the distance to the singular point. Error model: an inner
    product of d terms errs by at most d eps ||x|| in any summation order; the definition
    applies one or two reflections (coefficients 2), the fast rotation one rank-2 update
    with coefficients up to 6, so the two differ by at most about 24 (d + 4) eps ||x||."""
    if pair.d == 1 and degenerate(kind, pair):
        return  # no such map (both raise; tested below)
    if kind == "stable" and pair.case != "axis" and abs(pair.a @ pair.b) <= 8 * pair.d * EPS:
        return  # a.b within its rounding of 0: the two forms may take different branches
    x = np.random.default_rng(seed).standard_normal((rows, pair.d))
    fast = APPLY[kind](x, pair.a, pair.b)
    error = np.linalg.norm(fast - DEFINITION[kind](x, pair.a, pair.b), axis=-1)
    assert np.all(error <= 32 * (pair.d + 4) * EPS * np.linalg.norm(x, axis=-1))


@pytest.mark.parametrize("kind", KINDS)
def test_definitions_broadcast_like_the_fast_forms(kind):
    rng = np.random.default_rng(7)
    a, b = unit(rng.standard_normal(6)), rng.standard_normal((3, 6))
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    x = rng.standard_normal((5, 1, 6))
    y = DEFINITION[kind](x, a, b)
    assert y.shape == (5, 3, 6)
    error = np.linalg.norm(y - APPLY[kind](x, a, b), axis=-1)
    assert np.all(error <= 32 * (6 + 4) * EPS * np.linalg.norm(x, axis=-1))  # as above


def test_definitions_are_the_posts_closed_forms():
    """The definitions applied to the identity give the post's formulas (with their
    denominators 1 -+ a.b, harmless for its example): T = definition(I)^T."""
    a, b = np.array([1.0, 2, 3, 4, 5]) / np.sqrt(55), np.array([9.0, 8, 7, 6, 5]) / np.sqrt(255)
    c, eye = a @ b, np.eye(5)
    literal = {
        "householder": eye - np.outer(a - b, a - b) / (1 - c),
        "rotation": eye + 2 * np.outer(b, a) - np.outer(a + b, a + b) / (1 + c),
        "symmetric": np.outer(a + b, a + b) / (1 + c) - eye,
        "stable": np.outer(a + b, a + b) / (1 + c) - eye,  # a.b > 0: the symmetric branch
    }
    for kind, T in literal.items():
        assert np.max(np.abs(DEFINITION[kind](eye, a, b).T - T)) <= 1e-14
    # a.(-b) < 0: the stable map is the reflection that swaps a and -b
    T_ref = eye - np.outer(a + b, a + b) / (1 + c)
    assert np.max(np.abs(hh.stable_map_definition(eye, a, -b).T - T_ref)) <= 1e-14


def test_definitions_at_the_degenerate_points():
    """The documented fallback normal p = e_j - a_j a, as in the fast forms."""
    a = unit(np.array([0.5, -0.1, 0.8, 0.3]))  # smallest |a_j| at j = 1
    p = unit(np.eye(4)[1] - a[1] * a)
    eye = np.eye(4)
    matrix = lambda kind, b: DEFINITION[kind](eye, a, b).T
    assert np.allclose(matrix("householder", a), eye - 2 * np.outer(p, p), rtol=0, atol=1e-15)
    assert np.allclose(matrix("rotation", -a), eye - 2 * np.outer(a, a) - 2 * np.outer(p, p),
                       rtol=0, atol=1e-15)
    assert np.allclose(matrix("symmetric", -a), 2 * np.outer(p, p) - eye, rtol=0, atol=1e-15)
    for kind, b in [("householder", 1.0), ("rotation", -1.0), ("symmetric", -1.0)]:
        with pytest.raises(ValueError, match="d = 1"):
            DEFINITION[kind]([2.0], [1.0], [b])


@pytest.mark.parametrize("kind", KINDS)
def test_definitions_validate_like_the_fast_forms(kind):
    a, b = np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    with pytest.raises(ValueError, match="^a must be unit"):
        DEFINITION[kind](np.ones(3), 2 * a, b)
    with pytest.raises(ValueError, match="x must have last dimension 3"):
        DEFINITION[kind](np.ones(2), a, b)
    with pytest.raises(ValueError, match="x must be finite"):
        DEFINITION[kind]([1.0, np.nan, 0], a, b)
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        DEFINITION[kind](np.ones((2, 3)), np.tile(a, (3, 1)), b)
    with pytest.raises(ValueError, match="rtol must be positive"):
        DEFINITION[kind](np.ones(3), a, b, rtol=0.0)


def test_stable_definition_takes_the_symmetric_branch_at_a_dot_b_zero():
    """a.b = 0 exactly (a = e1, b = e2 in 3-D): the documented branch a.b >= 0 is
    -H_{a+b}, which negates e3 (H_{a-b} would fix it) and sends a to b."""
    e1, e2, e3 = np.eye(3)
    assert np.max(np.abs(hh.stable_map_definition(e3, e1, e2) - (-e3))) <= 4 * EPS
    assert np.max(np.abs(hh.stable_map_definition(e1, e1, e2) - e2)) <= 4 * EPS
