"""reflect, reflection_matrix and normalize: the Householder reflection H_v itself."""

from __future__ import annotations

import numpy as np
import pytest
from householder_cases import EPS, unit
from hypothesis import given
from hypothesis import strategies as st

from refimpl import householder as hh
from refimpl.gradcheck import assert_vjp


@st.composite
def vectors(draw, min_d=1, max_d=64):
    """A non-zero vector with random, axis-aligned, tiny, huge or mixed-scale entries."""
    d = draw(st.integers(min_d, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    style = draw(st.sampled_from(["random", "axis", "tiny", "huge", "mixed"]))
    if style == "axis":
        return np.eye(d)[rng.integers(d)] * rng.choice([-3.0, 0.5])
    scale = {"random": 1.0, "tiny": 1e-300, "huge": 1e300,
             "mixed": 10.0 ** rng.uniform(-300, 300, d)}[style]
    return rng.standard_normal(d) * scale


@given(v=vectors(), seed=st.integers(0, 2**32 - 1))
def test_reflection_properties(v, seed):
    """H_v is symmetric, orthogonal, involutive, det -1, flips v and fixes v^perp."""
    d = v.size
    H = hh.reflection_matrix(v)
    u = unit(v)
    assert np.array_equal(H, H.T)
    assert np.max(np.abs(H @ H - np.eye(d))) <= 1e-14
    assert np.linalg.det(H) == pytest.approx(-1.0, abs=1e-12)
    # Error model (as in test_reflect_matches_its_definition): H is formed entrywise
    # (2 roundings per entry), u here and the u inside H are two separate normalisations,
    # and the product sums d terms of unit-norm rows: 2 (d + 4) eps of the scale.
    assert np.max(np.abs(H @ u + u)) <= 2 * (d + 4) * EPS
    z = np.random.default_rng(seed).standard_normal(d)
    z -= u * (u @ z)
    assert np.max(np.abs(H @ z - z)) <= 2 * (d + 4) * EPS * max(1.0, np.abs(z).max())


@given(v=vectors(), seed=st.integers(0, 2**32 - 1), batch=st.sampled_from([(), (3,), (2, 1)]))
def test_reflect_equals_dense_matrix(v, seed, batch):
    x = np.random.default_rng(seed).standard_normal(batch + v.shape)
    expected = x @ hh.reflection_matrix(v).T
    scale = max(1, np.abs(x).max())
    assert np.max(np.abs(hh.reflect(x, v) - expected)) <= 1e-14 * np.sqrt(v.size) * scale


def test_reflection_matrix_of_a_batch_of_normals():
    """v of shape (2, 3, 5) (batch sizes unlike d) gives a (2, 3, 5, 5) stack of
    I - 2 u u^T, u = v / ||v|| normalised here. Error model: each entry is 1 - 2 u_i u_j
    from a u accurate to a few eps, so it errs by at most 8 eps."""
    v = np.random.default_rng(9).standard_normal((2, 3, 5))
    H = hh.reflection_matrix(v)
    assert H.shape == (2, 3, 5, 5)
    for index in np.ndindex(2, 3):
        u = unit(v[index])
        assert np.max(np.abs(H[index] - (np.eye(5) - 2 * np.outer(u, u)))) <= 8 * EPS


def test_reflect_closed_forms():
    assert hh.reflect([1.0, 2.0, 3.0], [0.0, 0.0, -7.0]).tolist() == [1.0, 2.0, -3.0]
    assert np.allclose(hh.reflect([[1.0, 0.0]], [1.0, -1.0]), [[0.0, 1.0]], rtol=0, atol=1e-15)
    assert hh.reflect([5.0], [-2.0]).tolist() == [-5.0]  # d = 1: H = -1


def test_reflect_broadcasts_and_blocks():
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal((4, 1, 7)), rng.standard_normal((3, 7))
    y = hh.reflect(x, v)
    assert y.shape == (4, 3, 7)
    for i in range(4):
        for j in range(3):
            assert np.allclose(y[i, j], hh.reflection_matrix(v[j]) @ x[i, 0], atol=1e-14)
    many, w = rng.standard_normal((2, 2500, 300)), rng.standard_normal(300)  # several row blocks
    expected = many @ hh.reflection_matrix(w).T
    assert np.max(np.abs(hh.reflect(many, w) - expected)) <= 1e-13
    hh.reflect(many, w, out=many)  # in place
    assert np.max(np.abs(many - expected)) <= 1e-13


@given(v=vectors(), seed=st.integers(0, 2**32 - 1), batch=st.sampled_from([(), (3,), (2, 1)]))
def test_reflect_matches_its_definition(v, seed, batch):
    """reflect (unit normal, BLAS update in row blocks; batch () takes the einsum path)
    against the formula term by term. Error model: in each form the inner product of d
    terms errs by at most d eps ||v|| ||x|| in any summation order, the normalisation and
    the update by a few eps more, and the update doubles the error of the coefficient:
    at most 2 (d + 4) eps ||x|| per form and vector, 4 (d + 4) eps ||x|| between them."""
    x = np.random.default_rng(seed).standard_normal(batch + v.shape)
    error = np.linalg.norm(hh.reflect(x, v) - hh.reflect_definition(x, v), axis=-1)
    assert np.all(error <= 4 * (v.size + 4) * EPS * np.linalg.norm(x, axis=-1))


def test_reflect_definition_closed_forms_and_errors():
    assert hh.reflect_definition([1.0, 2.0, 3.0], [0.0, 0.0, -7.0]).tolist() == [1.0, 2.0, -3.0]
    assert hh.reflect_definition([5.0], [-2.0]).tolist() == [-5.0]  # d = 1: H = -1
    # tiny and huge normals: only the direction counts
    assert hh.reflect_definition([[3.0, 1.0]], [1e-320, 0.0]).tolist() == [[-3.0, 1.0]]
    assert hh.reflect_definition([[3.0, 1.0]], [0.0, 1e300]).tolist() == [[3.0, -1.0]]
    with pytest.raises(ValueError, match="^v must not contain a zero vector"):
        hh.reflect_definition([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="^x must be finite"):
        hh.reflect_definition([np.inf, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="^x is too large"):
        hh.reflect_definition(np.full(3, 1e308), [1.0, 1.0, 1.0])


@given(x=vectors())
def test_normalize(x):
    y = hh.normalize(x)
    assert abs(np.linalg.norm(y) - 1) <= 4 * EPS
    assert np.all(y * x >= 0)  # a positive multiple (entries below 1e-308 may underflow to 0)
    # y is parallel to x: compare with the test's own scaled normalisation
    assert np.max(np.abs(y - unit(x))) <= 4 * EPS


@given(v=vectors(max_d=6), seed=st.integers(0, 2**32 - 1))
def test_reflect_vjp(v, seed):
    rng = np.random.default_rng(seed)
    v = v / np.max(np.abs(v))  # finite differences need steps on the scale of v
    assert_vjp(hh.reflect, hh.reflect_vjp, [rng.standard_normal((2, v.size)), v], rng=rng)


def test_reflect_vjp_sums_over_broadcast_dimensions():
    rng = np.random.default_rng(3)
    for x_shape, v_shape in [((4,), (3, 1, 4)), ((2, 3, 4), (3, 4))]:
        args = [rng.standard_normal(x_shape), rng.standard_normal(v_shape)]
        assert_vjp(hh.reflect, hh.reflect_vjp, args, rng=rng)


def test_reflect_vjp_closed_form():
    """d/dv of <g, H_v x> at v = e2, x = e1, g = e2: only the tangent part of
    -2((u.x) g + (u.g) x) = -2 e1 survives, divided by ||v|| = 1."""
    grad_x, grad_v = hh.reflect_vjp([0.0, 1.0], [1.0, 0.0], [0.0, 1.0])
    assert grad_x.tolist() == [0.0, -1.0]
    assert grad_v.tolist() == [-2.0, 0.0]


@given(x=vectors(max_d=6))
def test_normalize_vjp(x):
    x = x / np.max(np.abs(x))
    assert_vjp(hh.normalize, hh.normalize_vjp, [x], rng=0)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="^v must not contain a zero vector"):
        hh.reflect([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="^v must not contain a zero vector"):
        hh.reflect_vjp([1.0, 2.0], [1.0, 2.0], [[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="^v must not contain a zero vector"):
        hh.reflection_matrix([0.0])
    with pytest.raises(ValueError, match="^x must not contain a zero vector"):
        hh.normalize([[1.0, 2.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="x and v must have the same last dimension"):
        hh.reflect([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        hh.reflect(np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="^v must be finite"):
        hh.reflect([1.0, 2.0], [np.inf, 1.0])
    with pytest.raises(ValueError, match="^x must be finite"):
        hh.reflect([np.nan, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="^x must be finite"):
        hh.reflect(np.full((300, 2), np.inf), [0.0, 1.0])
    with pytest.raises(ValueError, match="^x must be finite"):
        hh.reflect_vjp([1.0, 1.0], [np.nan, 2.0], [1.0, 1.0])
    with pytest.raises(TypeError, match="^x must hold real numbers"):
        hh.normalize(["a"])
    with pytest.raises(ValueError, match="^x must have at least 1 dimension"):
        hh.normalize(3.0)
    with pytest.raises(ValueError, match="^grad must have the output.s shape"):
        hh.reflect_vjp(np.ones((2, 3)), np.ones(3), np.ones((3,)))
    with pytest.raises(ValueError, match="^grad must have the output.s shape"):
        hh.normalize_vjp(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="^grad must have the output.s shape"):
        hh.stable_map_vjp(np.ones(2), np.ones(3), np.eye(3)[0], np.eye(3)[1])
    huge = np.full(3, 1e308)
    with pytest.raises(ValueError, match="^x and grad are too large"):
        hh.reflect_vjp(huge, huge, [1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="^x and grad are too large"):
        hh.rotation_map_vjp(huge, huge, np.eye(3)[0], np.eye(3)[1])
    # the gradient in a subnormal v (or x of normalize) is ~1/||v||, beyond float64
    with pytest.raises(ValueError, match="^x and grad are too large, or v too small"):
        hh.reflect_vjp([1.0, 1.0], [1.0, 2.0], [1e-320, 1e-320])
    with pytest.raises(ValueError, match="^grad is too large or x too small"):
        hh.normalize_vjp([1.0, 0.0], [1e-310, 1e-310])
    with pytest.raises(ValueError, match="^v must have a non-empty last axis"):
        hh.reflect(np.ones((2, 0)), np.ones(0))
