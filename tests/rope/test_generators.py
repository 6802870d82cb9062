"""Tests of refimpl.rope.generators: the commuting-generator form of N-D RoPE.

Also the RoPE-2D post's negative results (kexue.fm/archives/8397), each shown
failing: ``rot((x + y) theta)`` is relative but not invertible; the quaternion
generators do not commute and relativity breaks; in 3 dimensions (and 2) a second
commuting skew generator is a multiple of the first, while 4 dimensions admit two.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from rope_cases import rotary_dim

from refimpl.rope import apply
from refimpl.rope.generators import (
    canonical_form,
    generators,
    rotation_from_generators,
    validate_generators,
)
from refimpl.rope.grids import index_grid
from refimpl.rope.nd import (
    axial_frequencies,
    axis_interleaved_frequencies,
    mixed_frequencies,
    mrope_frequencies,
    nd_angles,
)

LAYOUTS = ["interleaved", "half"]


@st.composite
def frequency_matrices(draw, builders_only=False):
    """F of shape (n_axes, P), n_axes in 1..4, 2P a multiple of 2 n_axes up to 64.

    Builders, and (unless ``builders_only``) arbitrary real F whose columns may be
    zero, repeated or negated (the degenerate cases of the block-diagonalisation).
    """
    kinds = ["axial", "axis_interleaved", "mixed",
             "mrope"] + ([] if builders_only else ["arbitrary"])
    kind = draw(st.sampled_from(kinds))
    n_axes = 2 if kind == "mixed" else draw(st.integers(1, 4))
    dim = 4 * n_axes * draw(st.integers(1, 16 // n_axes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "axial":
        return axial_frequencies(dim, n_axes)
    if kind == "axis_interleaved":
        return axis_interleaved_frequencies(dim, n_axes, 100.0)
    if kind == "mixed":
        return mixed_frequencies(dim, rng=rng)[0]
    if kind == "mrope":
        return mrope_frequencies(dim, [dim // (2 * n_axes)] * n_axes, interleaved=True)
    F = rng.uniform(-3, 3, size=(n_axes, dim // 2))
    source = rng.integers(0, dim // 2, size=dim // 2)     # repeat some columns,
    F = F[:, source] * rng.choice([-1.0, 0.0, 1.0], size=dim // 2, p=[0.3, 0.1, 0.6])
    return F                                               # negate some, zero some


def haar(dim, rng):
    return scipy.stats.ortho_group.rvs(dim, random_state=rng) if dim > 1 else np.eye(1)


def sign_normalised(F, tol):
    """Columns of F with the first entry above ``tol`` in magnitude made positive."""
    F = F.copy()
    for j in range(F.shape[1]):
        nonzero = np.flatnonzero(np.abs(F[:, j]) > tol)
        if nonzero.size and F[nonzero[0], j] < 0:
            F[:, j] *= -1
    return F


def same_columns_up_to_sign_and_order(F, G, tol):
    """True when the columns of F and G agree as multisets, each up to sign."""
    remaining = list(sign_normalised(G, 100 * tol).T)
    for column in sign_normalised(F, 100 * tol).T:
        distances = [np.max(np.abs(column - other)) for other in remaining]
        best = int(np.argmin(distances))
        if distances[best] > tol:
            return False
        remaining.pop(best)
    return True


# ---------------------------------------------------------------- generators and expm

@given(frequency_matrices(), st.sampled_from(LAYOUTS), st.booleans(), st.integers(0, 4))
def test_generators_are_skew_and_commute(F, layout, with_basis, extra):
    dim = 2 * F.shape[1]
    basis = haar(dim, np.random.default_rng(0)) if with_basis else None
    A = generators(F, layout, dim=dim + extra, basis=basis)
    assert A.shape == (F.shape[0], dim + extra, dim + extra)
    np.testing.assert_allclose(A, -np.swapaxes(A, -1, -2), atol=1e-15)
    for k in range(len(A)):
        for j in range(k):
            np.testing.assert_allclose(A[k] @ A[j], A[j] @ A[k], atol=1e-13)


@given(frequency_matrices(), st.sampled_from(LAYOUTS), st.booleans(), st.integers(0, 3), st.data())
def test_apply_equals_expm_of_generators(F, layout, with_basis, extra, data):
    n_axes, dim = F.shape[0], 2 * F.shape[1]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    basis = haar(dim, rng) if with_basis else None
    p = np.array(data.draw(st.lists(st.floats(-20, 20), min_size=n_axes, max_size=n_axes)))
    x = rng.standard_normal((2, dim + extra))
    R = rotation_from_generators(p, generators(F, layout, dim=dim + extra, basis=basis))
    np.testing.assert_allclose(apply(x, nd_angles(p, F), layout=layout, basis=basis,
                                     rotary_dim=rotary_dim(nd_angles(p, F))),
                               x @ R.T, atol=1e-10)


def test_rotation_from_generators_closed_form():
    # One plane turned by p . F: the closed-form rotation, and R(0) = I.
    A = generators([[0.5], [2.0]])
    c, s = np.cos(0.5 * 3 - 2.0 * 1), np.sin(0.5 * 3 - 2.0 * 1)
    np.testing.assert_allclose(rotation_from_generators([3.0, -1.0], A), [[c, -s], [s, c]],
                               atol=1e-15)
    np.testing.assert_array_equal(rotation_from_generators([0.0, 0.0], A), np.eye(2))


# ---------------------------------------------------------------- canonical form

@given(frequency_matrices(), st.sampled_from(LAYOUTS), st.booleans())
def test_canonical_form_round_trip(F, layout, with_basis):
    # Unique: the multiset of columns up to sign. Free: order, signs, in-plane rotation.
    dim = 2 * F.shape[1]
    basis = haar(dim, np.random.default_rng(1)) if with_basis else None
    A = generators(F, layout, basis=basis)
    Q, G = canonical_form(A)
    np.testing.assert_allclose(Q.T @ Q, np.eye(dim), atol=1e-12)
    np.testing.assert_allclose(generators(G, "interleaved", basis=Q), A, atol=1e-12)
    assert same_columns_up_to_sign_and_order(F, G, tol=1e-10)


def test_canonical_form_with_repeated_and_opposite_columns():
    # Columns (1, 2), (1, 2), (-1, -2), 0: one 6-dimensional joint invariant subspace.
    F = np.array([[1.0, 1.0, -1.0, 0.0, 3.0], [2.0, 2.0, -2.0, 0.0, 0.5]])
    A = generators(F, "half", basis=haar(10, np.random.default_rng(5)))
    Q, G = canonical_form(A)
    np.testing.assert_allclose(generators(G, basis=Q), A, atol=1e-12)
    assert same_columns_up_to_sign_and_order(F, G, tol=1e-10)
    np.testing.assert_array_equal(G[:, -1], [0.0, 0.0])      # the kernel comes last


def test_canonical_form_sign_and_order_are_the_only_freedom():
    # Negating a column or permuting columns gives the same generators after the
    # matching change of basis, so canonical_form cannot (and does not) pin them.
    F = np.array([[1.0, 0.0], [0.0, 0.25]])
    flip = np.diag([1.0, -1.0, 1.0, 1.0])       # reverse plane 0: F[:, 0] -> -F[:, 0]
    swap = np.eye(4)[[2, 3, 0, 1]]              # exchange the two planes
    np.testing.assert_allclose(generators(F * [-1, 1], basis=flip), generators(F), atol=0)
    np.testing.assert_allclose(generators(F[:, ::-1], basis=swap), generators(F), atol=0)


# ---------------------------------------------------------------- validator

@given(frequency_matrices(builders_only=True), st.sampled_from(LAYOUTS))
def test_validator_accepts_builders_in_any_basis(F, layout):
    A = generators(F, layout, basis=haar(2 * F.shape[1], np.random.default_rng(2)))
    report = validate_generators(A, (5,) * F.shape[0])
    assert report.skew_symmetric and report.commuting and report.full_rank
    assert report.valid


def test_invertibility_on_32_by_32_grid():
    # kexue.fm/archives/8397: axial layout, D = 16, base 1e4: all 1024 positions of a
    # 32 x 32 grid give distinct rotations. Checked directly (every pair of dense
    # matrices) and through the validator's closed form, which must agree.
    F = axial_frequencies(16, 2)
    grid = index_grid((32, 32))
    R = apply(np.eye(16), nd_angles(grid, F)[:, None, :]).reshape(len(grid), -1)
    squared = np.sum(R**2, axis=1)
    distance2 = squared[:, None] + squared[None, :] - 2 * R @ R.T
    np.fill_diagonal(distance2, np.inf)
    direct = np.sqrt(np.min(distance2))
    report = validate_generators(generators(F), (32, 32))
    assert direct > 0.5 and report.injective_on_grid and report.valid
    assert report.grid_separation == pytest.approx(direct, abs=1e-7)


def test_validator_rejects_rank_deficient_and_periodic_families():
    theta = 0.7
    sum_angle = validate_generators(generators([[theta], [theta]]))        # rot((x+y) theta)
    assert sum_angle.rank == 1 and not sum_angle.injective_on_grid and not sum_angle.valid
    irrational = validate_generators(generators([[theta], [np.sqrt(2) * theta]]))
    assert irrational.injective_on_grid and not irrational.full_rank and not irrational.valid
    periodic = validate_generators(generators([[2 * np.pi, 0.0], [0.0, 1.0]]))
    assert periodic.full_rank and not periodic.injective_on_grid and not periodic.valid
    zero = validate_generators(np.zeros((2, 4, 4)))
    assert zero.rank == 0 and not zero.valid


def test_validator_rejects_non_skew_and_non_commuting():
    symmetric = np.array([[[0.0, 1.0], [1.0, 0.0]]])
    report = validate_generators(symmetric)
    assert not report.skew_symmetric and report.grid_separation is None and not report.valid
    # LieRE: learned dense skew generators, commutation not enforced.
    rng = np.random.default_rng(3)
    B = rng.standard_normal((2, 6, 6))
    lie_re = validate_generators(B - np.swapaxes(B, 1, 2))
    assert lie_re.skew_symmetric and not lie_re.commuting and not lie_re.valid


# ---------------------------------------------------------------- negative results

def quaternion_left(a, b, c, d):
    """Matrix of ``q -> (a + bi + cj + dk) q`` on (1, i, j, k) coordinates (§B.5)."""
    return np.array([[a, -b, -c, -d], [b, a, -d, c], [c, d, a, -b], [d, -c, b, a]], float)


L_I, L_J, L_K = quaternion_left(0, 1, 0, 0), quaternion_left(0, 0, 1, 0), quaternion_left(0, 0, 0,
                                                                                          1)


def test_rot_of_sum_is_relative_but_not_invertible():
    R = lambda x, y: rotation_from_generators([x, y], generators([[1.0], [1.0]]))
    np.testing.assert_allclose(R(2.0, 5.0).T @ R(-1.0, 3.0), R(-3.0, -2.0), atol=1e-14)
    np.testing.assert_allclose(R(1.0, 2.0), R(2.0, 1.0), atol=1e-15)   # information lost


def test_quaternion_generators_do_not_commute_and_relativity_fails():
    np.testing.assert_array_equal(L_I @ L_J, L_K)        # the matrices are quaternions
    np.testing.assert_array_equal(L_J @ L_I, -L_K)       # ij = -ji: they do not commute
    A = np.stack([L_I, L_J])
    R = lambda p: rotation_from_generators(p, A)
    deviation = np.max(np.abs(R([2, 5]).T @ R([-1, 3]) - R([-3, -2])))
    assert deviation == pytest.approx(0.986, abs=5e-4)   # §B.5 [N]
    report = validate_generators(A)
    assert report.skew_symmetric and not report.commuting and not report.valid
    with pytest.raises(ValueError, match="commute"):
        canonical_form(A)


def test_quaternion_left_times_right_commutes():
    # §B.5 rescue: q -> e^{x i} q e^{y j}. Right multiplication by j commutes with left
    # multiplication by i (associativity); the pair is RoPE with columns (1, 1), (1, -1).
    right_j = np.array([[0, 0, -1, 0], [0, 0, 0, -1], [1, 0, 0, 0], [0, 1, 0, 0]], float)
    q = np.array([0.3, -1.2, 0.5, 2.0])
    np.testing.assert_allclose(right_j @ q, quaternion_left(*q) @ [0, 0, 1, 0])  # q j
    A = np.stack([L_I, right_j])
    assert validate_generators(A).valid
    _, F = canonical_form(A)
    assert same_columns_up_to_sign_and_order(F, np.array([[1.0, 1.0], [1.0, -1.0]]), 1e-12)


def skew_basis(n):
    """The ``n(n-1)/2`` matrices ``E_ab - E_ba``, a < b: a basis of so(n)."""
    basis = []
    for a in range(n):
        for b in range(a + 1, n):
            E = np.zeros((n, n))
            E[a, b], E[b, a] = -1.0, 1.0
            basis.append(E)
    return np.array(basis)


def commutant_dimension(M):
    """Dimension of ``{X in so(n) : MX = XM}``: the null space of ``X -> [M, X]``."""
    basis = skew_basis(len(M))
    brackets = np.array([(M @ X - X @ M).ravel() for X in basis]).T
    return len(basis) - np.linalg.matrix_rank(brackets, tol=1e-10)


@pytest.mark.parametrize("n", range(2, 9))
def test_commuting_skew_generators_span_at_most_half_the_dimension(n):
    # A generic skew M commutes with a floor(n/2)-dimensional family (a maximal torus
    # of so(n)): 1 for n = 2, 3, so a second commuting generator is a multiple of the
    # first and 2-D positions cannot be recovered; 2 for n = 4, the minimum for 2-D.
    B = np.random.default_rng(n).standard_normal((n, n))
    assert commutant_dimension(B - B.T) == n // 2


def test_three_dimensions_force_the_second_generator_to_zero():
    # §B.6: B1 = B(1, 0, 0), B2 = B(0, b, c); [B1, B2] = 0 forces b = c = 0: the
    # linear map (b, c) -> [B1, B2] has a trivial kernel.
    so3 = lambda a, b, c: np.array([[0, -a, -b], [a, 0, -c], [b, c, 0]], float)
    B1 = so3(1, 0, 0)
    columns = [(B1 @ so3(0, *e) - so3(0, *e) @ B1).ravel() for e in ([1, 0], [0, 1])]
    assert np.linalg.matrix_rank(np.array(columns).T) == 2
    # And every nonzero so(3) element commutes only with its own multiples.
    B = np.random.default_rng(4).standard_normal((3, 3))
    assert commutant_dimension(B - B.T) == 1


def so4(a, b, c, d, e, f):
    return np.array([[0, -a, -b, -d], [a, 0, -c, -e], [b, c, 0, -f], [d, e, f, 0]], float)


@given(st.floats(-2, 2), st.floats(-2, 2))
def test_four_dimensions_admit_two_commuting_generators(b, c):
    # §B.6: B1 = B(1, b, c, 0, 0, 0) and B2 = B(0, 0, 0, d, e, f) commute iff
    # d = c f, e = -b f: the kernel of (d, e, f) -> [B1, B2] is spanned by (c, -b, 1).
    B1 = so4(1, b, c, 0, 0, 0)
    bracket = lambda d, e, f: (B1 @ so4(0, 0, 0, d, e, f) - so4(0, 0, 0, d, e, f) @ B1).ravel()
    linear_map = np.array([bracket(*e) for e in np.eye(3)]).T
    kernel = scipy.linalg.null_space(linear_map)
    assert kernel.shape[1] == 1
    np.testing.assert_allclose(abs(kernel[:, 0] @ [c, -b, 1]), np.linalg.norm([c, -b, 1]),
                               rtol=1e-9)
    A = np.stack([B1, so4(0, 0, 0, c, -b, 1)])
    assert validate_generators(A).full_rank and validate_generators(A).commuting


def test_four_dimensional_solution_eigenvalues():
    # §B.6 [N]: b = 0.3, c = -0.7, f = 1.5 gives |eig B1| = 1.2570, |eig B2| = 1.8855.
    b, c, f = 0.3, -0.7, 1.5
    B1, B2 = so4(1, b, c, 0, 0, 0), so4(0, 0, 0, c * f, -b * f, f)
    assert np.max(np.abs(np.linalg.eigvals(B1))) == pytest.approx(1.2570, abs=5e-5)
    assert np.max(np.abs(np.linalg.eigvals(B2))) == pytest.approx(1.8855, abs=5e-5)
    # With f = 1 and b = c = 0 the solution is the post's blockdiag(rot(x), rot(y)).
    A = np.stack([so4(1, 0, 0, 0, 0, 0), so4(0, 0, 0, 0, 0, 1)])
    np.testing.assert_allclose(A, generators(np.eye(2)), atol=0)


def test_two_dimensional_generators_are_always_rank_one():
    a, b = 0.8, -1.3
    A = np.stack([generators([[a]])[0], generators([[b]])[0]])
    report = validate_generators(A)
    assert report.commuting and report.rank == 1 and not report.valid


# ---------------------------------------------------------------- bad input

def test_bad_input():
    with pytest.raises(ValueError, match="layout"):
        generators([[1.0]], "complex")
    with pytest.raises(ValueError, match="dim"):
        generators([[1.0, 2.0]], dim=3)
    with pytest.raises(ValueError, match="basis"):
        generators([[1.0]], basis=[[1.0, 0.1], [0.0, 1.0]])
    with pytest.raises(ValueError, match="basis"):
        generators([[1.0]], basis=np.eye(3))
    with pytest.raises(ValueError, match="frequencies"):
        generators([1.0, 2.0])
    with pytest.raises(ValueError, match="positions"):
        rotation_from_generators([1.0, 2.0], generators([[1.0]]))
    with pytest.raises(ValueError, match="A must"):
        rotation_from_generators([1.0], np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="A must"):
        validate_generators(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="even"):
        canonical_form(np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match="skew"):
        canonical_form([[[0.0, 1.0], [1.0, 0.0]]])
    with pytest.raises(ValueError, match="grid_shape"):
        validate_generators(generators([[1.0], [0.5]]), (4,))
    with pytest.raises(ValueError, match="grid_shape"):
        validate_generators(generators([[1.0]]), (1,))
    with pytest.raises(ValueError, match="rtol"):
        canonical_form(generators([[1.0]]), rtol=0.0)
