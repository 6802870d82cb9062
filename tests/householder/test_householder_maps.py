"""Properties of the orthogonal maps a -> b of https://kexue.fm/archives/8453."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import scipy.linalg
from householder_cases import EPS, accuracy_bound, degenerate, make_pair, pairs, unit
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from refimpl import householder as hh
from refimpl.gradcheck import assert_vjp

KINDS = ("householder", "rotation", "symmetric", "stable")
MATRIX = {kind: getattr(hh, f"{kind}_map_matrix") for kind in KINDS}
APPLY = {kind: getattr(hh, f"{kind}_map") for kind in KINDS}
VJP = {kind: getattr(hh, f"{kind}_map_vjp") for kind in KINDS}


def defined(kind, pair) -> bool:
    """False only for the d = 1 inputs where no such map exists (tested separately)."""
    return not (pair.d == 1 and degenerate(kind, pair))


def expected_determinant(kind, pair) -> float:
    if kind == "stable":
        return (-1.0) ** (pair.d - 1) if pair.a @ pair.b >= 0 else -1.0
    return {"householder": -1.0, "rotation": 1.0, "symmetric": (-1.0) ** (pair.d - 1)}[kind]


def complement(pair, rng, count=3) -> np.ndarray:
    """Random vectors orthogonal to span(a, b), as rows (empty when d <= 2)."""
    columns = [pair.a, pair.b, rng.standard_normal((pair.d, count))]
    basis, _ = np.linalg.qr(np.column_stack(columns))
    parallel = not np.any(pair.a != pair.b) or not np.any(pair.a != -pair.b)
    rank = 1 if parallel else 2
    z = rng.standard_normal((count, pair.d)) @ basis[:, rank:] @ basis[:, rank:].T
    return z


# --------------------------------------------------------------- orthogonality, T a = b


@pytest.mark.parametrize("kind", KINDS)
@given(pair=pairs())
def test_orthogonal_and_maps_a_to_b(kind, pair):
    if not defined(kind, pair):
        return
    T = MATRIX[kind](pair.a, pair.b)
    assert np.max(np.abs(T @ T.T - np.eye(pair.d))) <= 1e-14
    # ||T a - b|| obeys the conditioning bound stated in each docstring; for the stable
    # map (no singular point) and away from the singular point it is a few eps.
    assert np.linalg.norm(T @ pair.a - pair.b) <= accuracy_bound(kind, pair)


@pytest.mark.parametrize("kind", KINDS)
@given(pair=pairs())
def test_determinant(kind, pair):
    if not defined(kind, pair):
        return
    assert np.linalg.det(MATRIX[kind](pair.a, pair.b)) == pytest.approx(
        expected_determinant(kind, pair), abs=1e-12)


@pytest.mark.parametrize("kind", ["householder", "symmetric", "stable"])
@given(pair=pairs())
def test_symmetric_involution_maps_b_to_a(kind, pair):
    if not defined(kind, pair):
        return
    T = MATRIX[kind](pair.a, pair.b)
    assert np.array_equal(T, T.T)
    assert np.max(np.abs(T @ T - np.eye(pair.d))) <= 1e-14
    assert np.linalg.norm(T @ pair.b - pair.a) <= accuracy_bound(kind, pair)


@given(pair=pairs())
def test_rotation_transpose_maps_b_to_a(pair):
    if not defined("rotation", pair):
        return
    T = hh.rotation_map_matrix(pair.a, pair.b)
    assert np.linalg.norm(T.T @ pair.b - pair.a) <= accuracy_bound("rotation", pair)


@pytest.mark.parametrize("kind, sign", [("rotation", 1), ("householder", 1), ("symmetric", -1)])
@given(pair=pairs(min_d=3), seed=st.integers(0, 2**32 - 1))
def test_action_on_the_complement_of_span_ab(kind, sign, pair, seed):
    """Identity on span(a,b)^perp for the rotation and reflection, -1 for the symmetric
    form. At the exact degenerate point the fallback plane/normal is orthogonal to a and
    the statement does not apply."""
    if degenerate(kind, pair):
        return
    z = complement(pair, np.random.default_rng(seed))
    T = MATRIX[kind](pair.a, pair.b)
    scale = np.max(np.linalg.norm(z, axis=-1), initial=0.0)
    error = np.max(np.abs(z @ T.T - sign * z), initial=0.0)
    assert error <= 2 * accuracy_bound(kind, pair) * scale


# ------------------------------------------------------------------------ identities


@given(pair=pairs(min_d=2, cases=("random", "axis", "tiny", "near_equal")))
def test_rotation_is_a_product_of_two_reflections(pair):
    if pair.sum < 1e-3:
        return
    H = hh.reflection_matrix
    T = hh.rotation_map_matrix(pair.a, pair.b)
    assert np.max(np.abs(T - H(pair.a + pair.b) @ H(pair.a))) <= 1e-13
    assert np.max(np.abs(T - H(pair.b) @ H(pair.a + pair.b))) <= 1e-13


@given(pair=pairs(min_d=2, max_d=24, cases=("random", "near_equal", "tiny")))
def test_rotation_is_the_exponential_of_a_rank_two_generator(pair):
    """T_rot = expm(theta K / sin theta), K = b a^T - a b^T (a rotation by theta in span(a, b))."""
    # theta = 2 atan2(|a - b|, |a + b|) and sin theta = |a - b| |a + b| / 2 are accurate for
    # unit vectors at every angle (arccos(a.b) loses ~eps/sin theta, which theta/sin theta
    # then amplifies: the reference itself erred by 7e-12 near b = -a).
    gap, total = np.linalg.norm(pair.a - pair.b), np.linalg.norm(pair.a + pair.b)
    theta, sine = 2 * np.arctan2(gap, total), gap * total / 2
    if not 1e-6 < theta < np.pi - 1e-2:
        return
    K = np.outer(pair.b, pair.a) - np.outer(pair.a, pair.b)
    expected = scipy.linalg.expm(theta / sine * K)
    # error model: the map's documented 8 eps (sqrt d + 1/|a + b|) plus expm's few eps of
    # |theta K / sin theta| = theta; theta / sin theta >= 1 / |a + b| bounds both
    d = pair.a.size
    tolerance = 16 * np.finfo(float).eps * (np.sqrt(d) + theta / sine)
    assert np.max(np.abs(hh.rotation_map_matrix(pair.a, pair.b) - expected)) <= tolerance


def planar_completion(a, b, rng):
    """Q = (a, w) spanning the plane, E a random orthonormal basis of its complement,
    and cos, sin of the angle from a to b."""
    cosine = a @ b
    w = unit(b - cosine * a)
    sine = np.linalg.norm(b - cosine * a)
    E = scipy.linalg.null_space(np.vstack([a, w]))
    mix, _ = np.linalg.qr(rng.standard_normal((a.size - 2, a.size - 2)))
    return np.column_stack([a, w]), E @ mix, cosine, sine


@given(pair=pairs(min_d=3, max_d=24, cases=("random", "tiny")), seed=st.integers(0, 2**32 - 1))
def test_independent_of_the_basis_completion(pair, seed):
    """T = Q R Q^T + E E^T for any orthonormal completion E (the post's derivation):
    compare with a random E."""
    rng = np.random.default_rng(seed)
    if pair.difference < 1e-3 or pair.sum < 1e-3:
        return
    Q, E, c, s = planar_completion(pair.a, pair.b, rng)
    rotation, reflection = np.array([[c, -s], [s, c]]), np.array([[c, s], [s, -c]])
    for kind, R in [("rotation", rotation), ("householder", reflection)]:
        expected = Q @ R @ Q.T + E @ E.T
        assert np.max(np.abs(MATRIX[kind](pair.a, pair.b) - expected)) <= 1e-12
    # T_sym(a, b) = -T_ref(a, -b), the post's "negate the target" trick
    Q, E, c, s = planar_completion(pair.a, -pair.b, rng)
    expected = -(Q @ np.array([[c, s], [s, -c]]) @ Q.T + E @ E.T)
    assert np.max(np.abs(hh.symmetric_map_matrix(pair.a, pair.b) - expected)) <= 1e-12


@pytest.mark.parametrize("kind", KINDS)
@given(pair=pairs(min_d=2, max_d=32, cases=("random", "axis", "tiny")),
       seed=st.integers(0, 2**32 - 1))
def test_equivariance(kind, pair, seed):
    """T(Qa, Qb) = Q T(a, b) Q^T for orthogonal Q (away from the fallback, which picks
    a coordinate axis and is therefore not equivariant)."""
    if degenerate(kind, pair) or min(pair.difference, pair.sum, abs(pair.a @ pair.b)) < 1e-3:
        return  # (the stable map switches branch at a.b = 0)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((pair.d, pair.d)))
    rotated = MATRIX[kind](Q @ pair.a, Q @ pair.b)
    assert np.max(np.abs(rotated - Q @ MATRIX[kind](pair.a, pair.b) @ Q.T)) <= 1e-12


@given(pair=pairs(min_d=2, max_d=2))
def test_symmetric_form_equals_the_reflection_in_two_dimensions(pair):
    if degenerate("householder", pair) or degenerate("symmetric", pair):
        return
    symmetric = hh.symmetric_map_matrix(pair.a, pair.b)
    difference = symmetric - hh.householder_map_matrix(pair.a, pair.b)
    assert np.max(np.abs(difference)) <= 8 * EPS * (1 + 1 / min(pair.sum, pair.difference))


@given(pair=pairs(min_d=3, max_d=3, cases=("random", "near_equal", "axis", "tiny")))
def test_rotation_is_the_minimal_rotation_of_align_vectors(pair):
    """In 3-D, align_vectors([b], [a]) returns the minimal rotation C with C a = b."""
    if pair.sum < 1e-2:  # antiparallel: the rotation plane is a convention
        return
    C, _ = Rotation.align_vectors(pair.b[None], pair.a[None])
    assert np.max(np.abs(hh.rotation_map_matrix(pair.a, pair.b) - C.as_matrix())) <= 1e-12


@given(pair=pairs(min_d=2, max_d=16), alpha=st.floats(0.5, 2.0))
def test_scale_invariance_within_the_unit_norm_tolerance(pair, alpha):
    """Inputs are renormalised: T(a (1 + t), b) = T(a, b) for |t| <= rtol (away from the
    singular points, where an ulp of change moves the normal arbitrarily)."""
    if min(pair.difference, pair.sum) < 1e-3:
        return
    factor = 1 + (alpha - 1) * 1e-11
    # an ulp of change in a moves the normal by about eps / distance
    bound = 8 * EPS * (np.sqrt(pair.d) + 1 / min(pair.difference, pair.sum))
    for kind in KINDS:
        if defined(kind, pair):
            assert np.max(np.abs(MATRIX[kind](factor * pair.a, pair.b) -
                                 MATRIX[kind](pair.a, pair.b))) <= bound


# ------------------------------------------------------------ matrix-free application


@pytest.mark.parametrize("kind", KINDS)
@given(pair=pairs(), seed=st.integers(0, 2**32 - 1), rows=st.integers(0, 5))
def test_matrix_free_equals_dense(kind, pair, seed, rows):
    if not defined(kind, pair):
        return
    x = np.random.default_rng(seed).standard_normal((rows, pair.d))
    T = MATRIX[kind](pair.a, pair.b)
    y = APPLY[kind](x, pair.a, pair.b)
    assert y.shape == x.shape
    scale = max(1.0, np.abs(x).max(initial=0))
    assert np.max(np.abs(y - x @ T.T), initial=0.0) <= 1e-14 * np.sqrt(pair.d) * scale


@pytest.mark.parametrize("kind", KINDS)
def test_batched_maps_broadcast_and_use_the_blocked_path(kind):
    """x (5, 1, d) against a (3, d), b (d,); and one (a, b) for 3000 vectors (5 row
    blocks of BLOCK_BYTES), written into a buffer and in place."""
    rng = np.random.default_rng(7)
    d = 200
    a, b = unit(rng.standard_normal((3, d)).T).T, unit(rng.standard_normal(d))
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    x = rng.standard_normal((5, 1, d))
    y = APPLY[kind](x, a, b)
    T = MATRIX[kind](a, b)
    assert y.shape == (5, 3, d)
    expected = np.einsum("kij,nkj->nki", T, np.broadcast_to(x, (5, 3, d)))
    assert np.max(np.abs(y - expected)) <= 1e-13
    full = np.broadcast_to(x, (5, 3, d)).copy()
    APPLY[kind](full, a, b, out=full)  # in place, batched maps
    assert np.max(np.abs(full - expected)) <= 1e-13
    many = rng.standard_normal((3000, d))
    expected = many @ MATRIX[kind](a[0], b).T
    assert np.max(np.abs(APPLY[kind](many, a[0], b) - expected)) <= 1e-13
    out = np.empty_like(many)
    assert APPLY[kind](many, a[0], b, out=out) is out
    assert np.max(np.abs(out - expected)) <= 1e-13
    APPLY[kind](many, a[0], b, out=many)
    assert np.max(np.abs(many - expected)) <= 1e-13


# ------------------------------------------------------------------ fixtures and cases


S3_A = np.array([1.0, 2, 3, 4, 5]) / np.sqrt(55)
S3_B = np.array([9.0, 8, 7, 6, 5]) / np.sqrt(255)
FIXTURE = {  # the post's a = (1, ..., 5), b = (9, ..., 5) through its closed forms, 6 decimals
    "symmetric": [[-0.729316, 0.298672, 0.32666, 0.354648, 0.382636],
                  [0.298672, -0.670446, 0.360436, 0.391318, 0.4222],
                  [0.32666, 0.360436, -0.605788, 0.427988, 0.461764],
                  [0.354648, 0.391318, 0.427988, -0.535342, 0.501328],
                  [0.382636, 0.4222, 0.461764, 0.501328, -0.459108]],
    "rotation": [[0.881308, 0.005312, 0.129316, 0.25332, 0.377324],
                 [-0.163568, 0.940654, 0.044876, 0.149098, 0.25332],
                 [-0.208444, -0.124004, 0.960436, 0.044876, 0.129316],
                 [-0.25332, -0.188662, -0.124004, 0.940654, 0.005312],
                 [-0.298196, -0.25332, -0.208444, -0.163568, 0.881308]],
    "householder": [[0.070684, -0.501328, -0.07334, 0.354648, 0.782636],
                    [-0.501328, 0.729554, -0.039564, 0.191318, 0.4222],
                    [-0.07334, -0.039564, 0.994212, 0.027988, 0.061764],
                    [0.354648, 0.191318, 0.027988, 0.864658, -0.298672],
                    [0.782636, 0.4222, 0.061764, -0.298672, 0.340892]],
}


@pytest.mark.parametrize("kind", sorted(FIXTURE))
def test_the_posts_five_dimensional_example(kind):
    assert S3_A @ S3_B == pytest.approx(0.8021806287, abs=1e-10)
    T = MATRIX[kind](S3_A, S3_B)
    assert np.max(np.abs(T - np.array(FIXTURE[kind]))) <= 1e-6
    assert np.linalg.det(T) == pytest.approx(-1.0 if kind == "householder" else 1.0)


def test_closed_forms_with_the_posts_denominators():
    """Away from the singular points the stable forms equal the post's literal formulas."""
    a, b = S3_A, S3_B
    c, eye = a @ b, np.eye(5)
    literal = {
        "householder": eye - np.outer(a - b, a - b) / (1 - c),
        "rotation": eye + 2 * np.outer(b, a) - np.outer(a + b, a + b) / (1 + c),
        "symmetric": np.outer(a + b, a + b) / (1 + c) - eye,
    }
    for kind, T in literal.items():
        assert np.max(np.abs(MATRIX[kind](a, b) - T)) <= 1e-14
    assert np.array_equal(hh.stable_map_matrix(a, b), hh.symmetric_map_matrix(a, b))
    assert np.array_equal(hh.stable_map_matrix(a, -b), hh.householder_map_matrix(a, -b))


def test_two_dimensional_closed_forms():
    e1, e2 = np.eye(2)
    assert np.allclose(hh.rotation_map_matrix(e1, e2), [[0, -1], [1, 0]], atol=1e-15)
    assert np.allclose(hh.householder_map_matrix(e1, e2), [[0, 1], [1, 0]], atol=1e-15)
    assert np.allclose(hh.symmetric_map_matrix(e1, e2), [[0, 1], [1, 0]], atol=1e-15)


def test_documented_degenerate_choices():
    a = unit(np.array([0.5, -0.1, 0.8, 0.3]))  # smallest |a_j| at j = 1
    p = unit(np.eye(4)[1] - a[1] * a)
    eye = np.eye(4)
    assert np.allclose(hh.householder_map_matrix(a, a), eye - 2 * np.outer(p, p), atol=1e-15)
    assert np.allclose(hh.rotation_map_matrix(a, -a),
                       eye - 2 * np.outer(a, a) - 2 * np.outer(p, p), atol=1e-15)
    assert np.allclose(hh.symmetric_map_matrix(a, -a), 2 * np.outer(p, p) - eye, atol=1e-15)
    # the inputs where each closed form is well defined: b = a for two, b = -a for one
    assert np.allclose(hh.rotation_map_matrix(a, a), eye, atol=1e-15)
    assert np.allclose(hh.symmetric_map_matrix(a, a), 2 * np.outer(a, a) - eye, atol=1e-15)
    assert np.allclose(hh.householder_map_matrix(a, -a), eye - 2 * np.outer(a, a), atol=1e-15)


@pytest.mark.parametrize("kind, b",
                         [("householder", 1.0), ("rotation", -1.0), ("symmetric", -1.0)])
def test_dimension_one_without_such_a_map_raises(kind, b):
    with pytest.raises(ValueError, match="d = 1"):
        MATRIX[kind]([1.0], [b])
    with pytest.raises(ValueError, match="d = 1"):
        APPLY[kind]([2.0], [1.0], [b])


def test_dimension_one_maps_that_exist():
    assert hh.householder_map_matrix([1.0], [-1.0]).tolist() == [[-1.0]]
    assert hh.rotation_map_matrix([-1.0], [-1.0]).tolist() == [[1.0]]
    assert hh.symmetric_map_matrix([1.0], [1.0]).tolist() == [[1.0]]
    assert hh.stable_map_matrix([1.0], [-1.0]).tolist() == [[-1.0]]


def test_near_singular_accuracy_is_lost_as_stated():
    """The bound is not loose: the reflection at ||a - b|| ~ 1e-12 errs by far more than eps
    (so testing the bound instead of eps is necessary), while the stable map does not."""
    pair = make_pair("near_equal", 64, 3, 1e-12)
    error = np.linalg.norm(hh.householder_map(pair.a, pair.a, pair.b) - pair.b)
    assert 1e3 * EPS < error <= accuracy_bound("householder", pair)
    assert np.linalg.norm(hh.stable_map(pair.a, pair.a, pair.b) - pair.b) <= 8 * EPS * 8


# -------------------------------------------------------------------------------- VJPs


@pytest.mark.parametrize("kind", KINDS)
@given(pair=pairs(min_d=2, max_d=6, cases=("random", "near_equal", "near_opposite", "axis")),
       seed=st.integers(0, 2**32 - 1))
def test_vjp_matches_finite_differences(kind, pair, seed):
    if min(pair.difference, pair.sum) < 0.1 or abs(pair.a @ pair.b) < 1e-2:
        # central differences need a smooth neighbourhood (no branch switch); near the
        # singular point the third derivative grows like 1/distance^3 (see the next test)
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, pair.d))
    f = partial(APPLY[kind], rtol=1e-4)
    f_vjp = partial(VJP[kind], rtol=1e-4)
    assert_vjp(f, f_vjp, [x, pair.a, pair.b], rng=rng, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind, sign", [("householder", 1.0), ("rotation", -1.0),
                                        ("symmetric", -1.0), ("stable", 1.0)])
@pytest.mark.parametrize("distance", [1e-2, 1e-3])
def test_vjp_near_the_singular_point(kind, sign, distance):
    """b = sign * a + O(distance): gradients grow like 1/distance; a finite-difference step
    well below the distance (and a looser rtol for its truncation error) still checks them."""
    rng = np.random.default_rng(4)
    a = unit(rng.standard_normal(4))
    b = unit(sign * a + distance * unit(rng.standard_normal(4)))
    f, f_vjp = partial(APPLY[kind], rtol=1e-4), partial(VJP[kind], rtol=1e-4)
    assert_vjp(f, f_vjp, [rng.standard_normal((2, 4)), a, b], rng=rng, eps=1e-4 * distance,
              rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_vjp_broadcasting_sums_to_argument_shapes(kind):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 1, 4))
    a = unit(rng.standard_normal(4))
    b = rng.standard_normal((2, 4))
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    f, f_vjp = partial(APPLY[kind], rtol=1e-4), partial(VJP[kind], rtol=1e-4)
    assert_vjp(f, f_vjp, [x, a, b], rng=rng)


@pytest.mark.parametrize("kind, sign",
                         [("householder", 1.0), ("rotation", -1.0), ("symmetric", -1.0)])
def test_vjp_at_the_degenerate_point_is_that_of_the_fallback(kind, sign):
    """With b tied to sign * a the fallback is used at every perturbed point, so finite
    differences of x, a -> T(a, sign a) x check grad_a + sign * grad_b."""
    rng = np.random.default_rng(2)
    a, x = unit(rng.standard_normal(5)), rng.standard_normal((2, 5))
    f = lambda x, a: APPLY[kind](x, a, sign * a, rtol=1e-4)  # noqa: E731

    def f_vjp(g, x, a):
        grad_x, grad_a, grad_b = VJP[kind](g, x, a, sign * a, rtol=1e-4)
        return grad_x, grad_a + sign * grad_b

    assert_vjp(f, f_vjp, [x, a], rng=rng)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("kind", KINDS)
def test_bad_inputs_raise_naming_the_argument(kind):
    a, b = np.array([1.0, 0, 0]), np.array([0.0, 1, 0])
    with pytest.raises(ValueError, match="^a must be unit"):
        APPLY[kind](np.ones(3), 2 * a, b)
    with pytest.raises(ValueError, match="^b must be unit"):
        MATRIX[kind](a, b * (1 + 1e-8))
    with pytest.raises(ValueError, match="a and b must have the same last dimension"):
        MATRIX[kind](a, [1.0, 0])
    with pytest.raises(ValueError, match="x must have last dimension 3"):
        APPLY[kind](np.ones(2), a, b)
    with pytest.raises(ValueError, match="x must be finite"):
        APPLY[kind]([1.0, np.nan, 0], a, b)
    with pytest.raises(ValueError, match="x must be finite"):
        APPLY[kind](np.full((500, 3), np.inf), a, b)
    with pytest.raises(ValueError, match="x must be finite"):
        VJP[kind](np.ones(3), [1.0, np.inf, 0], a, b)
    with pytest.raises(ValueError, match="a must be finite"):
        APPLY[kind](np.ones(3), [np.nan, 0, 0], b)
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        APPLY[kind](np.ones((2, 3)), np.tile(a, (3, 1)), b)
    with pytest.raises(TypeError, match="^a must hold real numbers"):
        MATRIX[kind](["x", "y", "z"], b)
    with pytest.raises(ValueError, match="rtol must be positive"):
        MATRIX[kind](a, b, rtol=0.0)
    with pytest.raises(ValueError, match="^out must be"):
        APPLY[kind](np.ones((4, 3)), a, b, out=np.empty((3, 3)))
    with pytest.raises(TypeError, match="^out must be"):
        APPLY[kind](np.ones((4, 3)), a, b, out=np.empty((4, 3), np.float32))


def test_stable_map_takes_the_symmetric_branch_at_a_dot_b_zero():
    """The documented branch at a.b = 0 exactly (a = e1, b = e2 in 3-D) is T_sym = 2 w w^T - I,
    which negates e3, not T_ref (which fixes it); one rounding of 1/sqrt(2) in w allows 4 eps."""
    e1, e2, e3 = np.eye(3)
    assert np.max(np.abs(hh.stable_map(e3, e1, e2) - (-e3))) <= 4 * EPS
    assert np.max(np.abs(hh.stable_map_matrix(e1, e2) @ e3 - (-e3))) <= 4 * EPS
    grad_x, _, _ = hh.stable_map_vjp(e3, e3, e1, e2)
    assert np.max(np.abs(grad_x - (-e3))) <= 4 * EPS
    assert np.linalg.det(hh.stable_map_matrix(e1, e2)) == pytest.approx(1.0, abs=1e-12)
