"""The shared helpers of refimpl.householder (``_common.py``), tested through the public
functions that use them: the scaled norm (``normalize``), the input checks (zero vectors,
feature sizes, unit pairs, batch shapes), the documented fallback normal of the a -> b
maps on batches, the ``out`` buffer, the overflow check of the inner products, the row
blocks of the matrix-free kernel, and the compact-WY helpers of the Householder products
on batches of several blocks. Where a public function cannot reach a branch, the helper
is called directly and a comment says why."""

from __future__ import annotations

from functools import partial
from unittest import mock

import numpy as np
import pytest
from householder_cases import EPS, unit
from scipy.linalg import blas, lapack

from refimpl import householder as hh
from refimpl.gradcheck import assert_vjp
from refimpl.householder import _common
from refimpl.householder import apply as apply_module
from refimpl.householder import product as product_module

KINDS = ("householder", "rotation", "symmetric", "stable")
MATRIX = {kind: getattr(hh, f"{kind}_map_matrix") for kind in KINDS}
APPLY = {kind: getattr(hh, f"{kind}_map") for kind in KINDS}
VJP = {kind: getattr(hh, f"{kind}_map_vjp") for kind in KINDS}


def householder(v: np.ndarray) -> np.ndarray:
    """I - 2 u u^T with u = v / ||v||, written out with the test's own scaled norm."""
    u = unit(v)
    return np.eye(v.size) - 2.0 * np.outer(u, u)


# ------------------------------------------------------------------- norm, normalize


def test_normalize_rows_of_every_scale_in_a_batch():
    """One batch mixing ordinary, tiny (squares underflow), huge (squares overflow) and
    mixed-scale rows takes the scaled norm for all rows; each row must still come out as
    its own direction (compared with the test's scaled normalisation, a few eps)."""
    rng = np.random.default_rng(11)
    rows = [rng.standard_normal(5), 1e-300 * rng.standard_normal(5), 1e300 * rng.standard_normal(5),
            rng.standard_normal(5) * 10.0 ** rng.uniform(-300, 300, 5)]
    for x in (np.array(rows), np.array(rows).reshape(2, 2, 5), np.array(rows[:3])):
        y = hh.normalize(x)
        assert y.shape == x.shape
        expected = np.apply_along_axis(unit, -1, x)
        assert np.max(np.abs(y - expected)) <= 4 * EPS
    # an ordinary batch (plain sum of squares) as well, rows of different lengths
    x = rng.standard_normal((3, 4)) * np.array([[1.0], [7.0], [0.01]])
    assert np.max(np.abs(hh.normalize(x) - np.apply_along_axis(unit, -1, x))) <= 4 * EPS


def test_norm_of_zero_vectors_is_zero():
    """The documented "zero vectors give 0" of the helper: every public caller rejects
    zero vectors before taking a norm, so only a direct call reaches this branch (the
    scaled form must not divide 0 by 0 when a zero row shares a batch with a tiny one)."""
    assert _common.norm(np.zeros((2, 3))).tolist() == [[0.0], [0.0]]
    assert _common.norm(np.array([[0.0, 0.0], [3e-300, 4e-300]])).tolist() == [[0.0], [5e-300]]


# --------------------------------------------------------------------- input checks


def test_zero_vectors_and_empty_axes_are_reported_with_their_place():
    with pytest.raises(ValueError, match=r"batch index \(1,\)$"):
        hh.normalize([[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match=r"batch index \(0, 1\)$"):
        hh.reflection_matrix(np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]]))
    with pytest.raises(ValueError, match="^v must have a non-empty last axis"):
        hh.reflect(np.ones((2, 0)), np.ones((2, 0)))
    with pytest.raises(ValueError, match="^x must have a non-empty last axis"):
        hh.normalize(np.ones((3, 0)))
    with pytest.raises(ValueError, match="^x and v must have the same last dimension"):
        hh.reflect(np.ones((2, 3)), np.ones(4))
    with pytest.raises(ValueError, match="^x and v must have the same last dimension"):
        hh.reflect(np.ones(3), np.ones((3, 4)))


def test_unit_pairs_broadcast_and_are_renormalised():
    """A 1-D a against a batch of b (and the reverse) gives one matrix per row; a and b
    are divided by their norms, so a within a loose rtol acts as a / ||a||. Expected
    matrices are the reflections of the definitions written out here; error model: two
    normalisations and a rank-one update, a few eps times sqrt(d), doubled for the
    rotation's product."""
    rng = np.random.default_rng(5)
    a, b = unit(rng.standard_normal(3)), np.apply_along_axis(unit, -1, rng.standard_normal((2, 3)))
    for i in range(2):
        expected = {"householder": householder(a - b[i]),
                    "rotation": householder(a + b[i]) @ householder(a),
                    "symmetric": -householder(a + b[i])}
        for kind, T in expected.items():
            assert MATRIX[kind](a, b).shape == (2, 3, 3)
            assert np.max(np.abs(MATRIX[kind](a, b)[i] - T)) <= 16 * EPS
            assert np.max(np.abs(MATRIX[kind](b, a)[i] - MATRIX[kind](b[i], a))) <= 16 * EPS
            # renormalisation: 1.5 a and 0.75 b (rtol 0.6) give the map of a and b
            scaled = MATRIX[kind](1.5 * a, 0.75 * b, rtol=0.6)[i]
            assert np.max(np.abs(scaled - T)) <= 16 * EPS
    with pytest.raises(ValueError, match=r"^shapes do not broadcast: a \(2,\), b \(4,\)"):
        MATRIX["stable"](np.tile(a, (2, 1)), np.tile(b[0], (4, 1)))
    with pytest.raises(ValueError, match=r"^shapes do not broadcast: a \(2,\), b \(4,\)"):
        MATRIX["rotation"](np.tile(a, (2, 1)), np.tile(b[0], (4, 1)))


def test_shape_errors_of_x_come_before_its_values_are_looked_at():
    """x is checked for NaN and inf only where it is used (no extra pass over x): a wrong
    last dimension or batch shape is reported even when x also holds NaN."""
    a, b = np.eye(3)[0], np.eye(3)[1]
    for kind in KINDS:
        with pytest.raises(ValueError, match="^x must have last dimension 3"):
            APPLY[kind]([np.nan, 1.0], a, b)
        with pytest.raises(ValueError, match="^shapes do not broadcast"):
            APPLY[kind](np.full((2, 3), np.nan), np.tile(a, (3, 1)), b)
        # x against b alone (a is shared): the batch shapes of all three are checked
        message = r"^shapes do not broadcast: x \(2,\), a \(\), b \(4,\)"
        with pytest.raises(ValueError, match=message):
            APPLY[kind](np.ones((2, 3)), a, np.tile(b, (4, 1)))
        with pytest.raises(ValueError, match=message):
            VJP[kind](np.ones((2, 3)), np.ones((2, 3)), a, np.tile(b, (4, 1)))


# ---------------------------------------------------- the fallback normal on batches


def documented_fallback(kind: str, a: np.ndarray) -> np.ndarray:
    """The docstrings' maps at b = a (reflection) or b = -a (the others), from
    p = e_j - a_j a with j the first index of the smallest |a_j|."""
    j = int(np.argmin(np.abs(a)))
    p = unit(np.eye(a.size)[j] - a[j] * a)
    eye = np.eye(a.size)
    return {"householder": eye - 2 * np.outer(p, p),
            "rotation": eye - 2 * np.outer(a, a) - 2 * np.outer(p, p),
            "symmetric": 2 * np.outer(p, p) - eye}[kind]


def batch_with_degenerate_rows(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Four rows of d = 5: two at the degenerate point with the smallest |a_j| at
    different j, two ordinary (no ties in |a_j|, so j is locally constant)."""
    a = np.array([[0.5, -0.1, 0.8, 0.3, 0.6], [0.4, 0.7, -0.5, 0.6, 0.05],
                  [0.2, 0.4, 0.1, -0.7, 0.5], [0.3, 0.35, 0.25, 0.2, 0.8]])
    a = np.apply_along_axis(unit, -1, a)
    b = np.apply_along_axis(unit, -1, np.array([[0.1, 0.2, 0.3, 0.4, 0.5]] * 4))
    sign = 1.0 if kind == "householder" else -1.0
    b[0], b[1] = sign * a[0], sign * a[1]
    return a, b


@pytest.mark.parametrize("kind", ["householder", "rotation", "symmetric"])
def test_fallback_rows_in_a_batch(kind):
    """Each degenerate row of a batch gets its own documented fallback, the other rows
    their ordinary map, in the dense and the matrix-free forms (error: a few eps, the
    normals have length >= sqrt(1 - 1/d))."""
    a, b = batch_with_degenerate_rows(kind)
    ordinary = {"householder": lambda a, b: householder(a - b),
                "rotation": lambda a, b: householder(a + b) @ householder(a),
                "symmetric": lambda a, b: -householder(a + b)}[kind]
    expected = np.array([documented_fallback(kind, a[0]), documented_fallback(kind, a[1]),
                         ordinary(a[2], b[2]), ordinary(a[3], b[3])])
    T = MATRIX[kind](a, b)
    assert np.max(np.abs(T - expected)) <= 16 * EPS
    # the same rows as a (2, 2) batch
    T = MATRIX[kind](a.reshape(2, 2, 5), b.reshape(2, 2, 5))
    assert np.max(np.abs(T - expected.reshape(2, 2, 5, 5))) <= 16 * EPS
    x = np.random.default_rng(1).standard_normal((3, 1, 5))
    y = APPLY[kind](x, a, b)
    assert y.shape == (3, 4, 5)
    assert np.max(np.abs(y - np.einsum("kij,nj->nki", expected, x[:, 0]))) <= 32 * EPS * 3


@pytest.mark.parametrize("kind, sign",
                         [("householder", 1.0), ("rotation", -1.0), ("symmetric", -1.0)])
def test_fallback_gradient_rows_in_a_batch(kind, sign):
    """With b tied to sign * a for a batch of a (smallest |a_j| at different j), finite
    differences of x, a -> T(a, sign a) x check grad_a + sign * grad_b row by row."""
    a, _ = batch_with_degenerate_rows(kind)
    x = np.random.default_rng(2).standard_normal((2, 1, 5))
    f = lambda x, a: APPLY[kind](x, a, sign * a, rtol=1e-4)  # noqa: E731

    def f_vjp(g, x, a):
        grad_x, grad_a, grad_b = VJP[kind](g, x, a, sign * a, rtol=1e-4)
        return grad_x, grad_a + sign * grad_b

    assert_vjp(f, f_vjp, [x, a], rng=3)


def test_fallback_needs_two_dimensions_in_batches_too():
    """d = 1 raises with the degenerate input named; a batch of one row in d = 3 does not."""
    with pytest.raises(ValueError, match=r"^householder_map is undefined at b = a when d = 1"):
        hh.householder_map_matrix([[1.0], [-1.0]], [[1.0], [-1.0]])
    with pytest.raises(ValueError, match=r"^rotation_map is undefined at b = -a when d = 1"):
        hh.rotation_map([2.0], [[1.0], [1.0]], [[-1.0], [-1.0]])
    with pytest.raises(ValueError, match=r"^symmetric_map is undefined at b = -a when d = 1"):
        hh.symmetric_map_matrix([-1.0], [1.0])
    a = unit(np.array([[0.5, -0.1, 0.8]]))
    T = hh.householder_map_matrix(a, a)
    assert T.shape == (1, 3, 3)
    assert np.max(np.abs(T[0] - documented_fallback("householder", a[0]))) <= 16 * EPS


def test_stable_map_with_a_branch_per_row_in_3d_batches():
    """The stable map's sign is an array when a and b are batched: rows with a.b >= 0 use
    -H_{a+b}, the others H_{a-b} (written out here), for batches of x and of (a, b) of
    different ranks. Error: the d-term inner products and the normalisations, 16 eps."""
    rng = np.random.default_rng(8)
    a = np.apply_along_axis(unit, -1, rng.standard_normal((2, 3, 4)))
    b = np.apply_along_axis(unit, -1, rng.standard_normal((2, 3, 4)))
    b[0, 0] *= -np.sign(a[0, 0] @ b[0, 0])  # both branches occur: one obtuse, one acute row
    b[1, 2] *= np.sign(a[1, 2] @ b[1, 2])
    T = np.array([[householder(a[i, j] - b[i, j]) if a[i, j] @ b[i, j] < 0
                   else -householder(a[i, j] + b[i, j]) for j in range(3)] for i in range(2)])
    x = rng.standard_normal((5, 1, 1, 4))  # against a (2, 3) batch of maps
    y = hh.stable_map(x, a, b)
    assert y.shape == (5, 2, 3, 4)
    assert np.max(np.abs(y - np.einsum("kmij,nj->nkmi", T, x[:, 0, 0]))) <= 16 * EPS * 3
    z = rng.standard_normal((2, 3, 4))  # x (2, 3, d) against the maps of row 1 only
    y = hh.stable_map(z, a[1], b[1])
    assert y.shape == (2, 3, 4)
    assert np.max(np.abs(y - np.einsum("mij,nmj->nmi", T[1], z))) <= 16 * EPS * 3
    assert np.max(np.abs(hh.stable_map_matrix(a, b) - T)) <= 16 * EPS


# ------------------------------------------------ out buffers and overflowing products


def test_out_buffers_are_checked():
    x, v = np.ones((4, 3)), np.array([1.0, 2.0, 2.0])
    with pytest.raises(TypeError, match="^out must be a float64 numpy array"):
        hh.reflect(x, v, out=[[0.0] * 3] * 4)
    with pytest.raises(ValueError, match="^out must be a writeable C-contiguous array"):
        hh.reflect(x, v, out=np.empty((3, 4)).T)  # right shape, Fortran order
    read_only = np.empty((4, 3))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="^out must be a writeable C-contiguous array"):
        hh.stable_map(x, np.eye(3)[0], np.eye(3)[1], out=read_only)
    out = np.empty((4, 3))
    assert hh.reflect(x, v, out=out) is out
    assert np.max(np.abs(out - x @ householder(v).T)) <= 8 * EPS


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 1, 3)])
def test_inner_products_that_overflow_are_reported(shape):
    """Finite x whose inner product with the unit normal exceeds float64 (1.5e308 * sqrt 3
    and 1.5e308 * sqrt 2 > 1.8e308), in the one-vector and the row-block paths, for a
    reflection and a map (normal (e1 + e2) / sqrt 2 for a = e1, b = -e2)."""
    x = np.full(shape, 1.5e308)
    with pytest.raises(ValueError, match="^x is too large: its inner products overflow"):
        hh.reflect(x, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="^x is too large: its inner products overflow"):
        hh.householder_map(x, np.eye(3)[0], -np.eye(3)[1])



@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 1, 3)])
@pytest.mark.parametrize("map_name", ["householder_map", "rotation_map", "symmetric_map"])
def test_results_that_overflow_are_reported(shape, map_name):
    """Finite inner products but a result beyond float64: the maps are orthogonal, so
    ||T x|| = ||x|| = 1.5e308 sqrt 3 > 1.8e308 and some entry of T x must exceed the
    largest float. (It returned inf with a RuntimeWarning.) The normals here (a = e1,
    b = (1, 1, 1)/sqrt 3) keep the inner products below 1.5e308 * 1.6, finite."""
    x = np.full(shape, 1.5e308)
    b = np.ones(3) / np.sqrt(3.0)
    with pytest.raises(ValueError, match="^x is too large"):
        getattr(hh, map_name)(x, np.eye(3)[0], b)


def test_large_but_representable_results_are_returned():
    """||x|| = 1e307 sqrt 3 < 1.8e308: the result is finite and is the map of x / 1e307
    scaled back (scaling by a power-free factor commutes with the linear map up to one
    rounding per entry, relative to ||x||)."""
    x = np.full((4, 3), 1e307)
    b = np.ones(3) / np.sqrt(3.0)
    big = hh.householder_map(x, np.eye(3)[0], b)
    small = hh.householder_map(x / 1e307, np.eye(3)[0], b)
    assert np.all(np.isfinite(big))
    assert np.max(np.abs(big / 1e307 - small)) <= 16 * EPS * np.sqrt(3.0)


# ------------------------------------------------------- row blocks of the kernel


class DgemmSpy:
    """Stands in for scipy.linalg.blas inside _common: records the shape of every
    ``dgemm`` output and whether it was written into the caller's buffer."""

    def __init__(self):
        self.calls = []

    def dgemm(self, *args, **kwargs):
        result = blas.dgemm(*args, **kwargs)
        self.calls.append((kwargs["c"].shape, np.may_share_memory(result, kwargs["c"])))
        return result


@pytest.mark.parametrize("d, n", [(300, 1000), (7, 5), (70_000, 3), (140_000, 2)])
@pytest.mark.parametrize("kind", ["reflect", "rotation"])
def test_many_vectors_go_in_row_blocks_of_block_bytes(d, n, kind):
    """The documented kernel: one map for many vectors is applied in blocks of
    BLOCK_BYTES of x (at least one row), one BLAS matrix product per block, written into
    the result in place. The block count is computed here from BLOCK_BYTES; the values
    are compared with the dense map (error: the d-term inner products, ~d eps)."""
    rng = np.random.default_rng(d)
    x = rng.standard_normal((n, d))
    a, b = unit(rng.standard_normal(d)), unit(rng.standard_normal(d))
    rows = max(1, hh.BLOCK_BYTES // (8 * d))
    spy = DgemmSpy()
    with mock.patch.object(_common, "blas", spy):
        if kind == "reflect":
            y = hh.reflect(x, a)
        else:
            y = hh.rotation_map(x, a, b)
    sizes = [min(rows, n - start) for start in range(0, n, rows)]
    assert spy.calls == [((d, size), True) for size in sizes]
    if d <= 300:
        T = householder(a) if kind == "reflect" else householder(a + b) @ householder(a)
        assert np.max(np.abs(y - x @ T.T)) <= 4 * d * EPS * np.abs(x).max()
    else:  # a check of the values without the d x d matrix: H_a x = x - 2 a (a.x)
        if kind == "reflect":
            expected = x - 2.0 * np.outer(x @ a, a)
        else:
            w = unit(a + b)
            r = x - 2.0 * np.outer(x @ a, a)
            expected = r - 2.0 * np.outer(r @ w, w)
        assert np.max(np.abs(y - expected)) <= 4 * np.sqrt(d) * EPS * np.abs(x).max() * 8


def test_one_map_for_a_batch_of_vectors_in_place():
    """x (2, 3, d) with one map: rows of all batch entries in blocks, out = x allowed."""
    rng = np.random.default_rng(9)
    x, v = rng.standard_normal((2, 3, 6)), rng.standard_normal(6)
    expected = x @ householder(v).T
    for kind in ("householder", "stable"):
        a, b = unit(v), unit(rng.standard_normal(6))
        T = householder(a - b) if kind == "householder" or a @ b < 0 else -householder(a + b)
        y = x.copy()
        assert APPLY[kind](y, a, b, out=y) is y
        assert np.max(np.abs(y - x @ T.T)) <= 32 * EPS * np.abs(x).max()
    y = x.copy()
    hh.reflect(y, v, out=y)
    assert np.max(np.abs(y - expected)) <= 32 * EPS * np.abs(x).max()


# ---------------------------------------------- compact-WY helpers on batched blocks


def reference_product(V, tau):
    """scipy's LAPACK dorgqr per batch entry (k = len(tau) reflectors, n columns)."""
    return np.array([lapack.dorgqr(Vi, ti)[0] for Vi, ti in zip(V, tau, strict=True)])


@pytest.mark.parametrize("block", [2, 3])
def test_batched_products_of_several_blocks_against_dorgqr(block):
    """A batch of 2 with 7 reflectors in blocks of 2 or 3 (the upper triangle of V holds
    unrelated numbers, never read): T of each block (dlarft), the trailing updates and
    the reflector vectors on 3-D arrays, against LAPACK dorgqr per entry. Orthogonal
    tau = 2 / ||y||^2, so every partial product has norm 1 and each of the k updates errs
    by ~(m + 2) eps per entry: bound 4 k (m + 2) eps."""
    rng = np.random.default_rng(block)
    V = rng.standard_normal((2, 9, 7))
    Y = np.tril(V, -1) + np.eye(9, 7)
    tau = 2.0 / np.sum(Y * Y, axis=-2)
    with mock.patch.object(product_module, "BLOCK_SIZE", block):
        Q = hh.householder_product(V, tau)
    assert Q.shape == (2, 9, 7)
    assert np.max(np.abs(Q - reference_product(V, tau))) <= 4 * 7 * 11 * EPS


@pytest.mark.parametrize("side, transpose",
                         [("left", False), ("left", True), ("right", False), ("right", True)])
def test_batched_apply_and_gradients_of_several_blocks(side, transpose):
    """householder_apply and its VJP on a batch of 2, 5 reflectors in blocks of 2 (three
    blocks), against LAPACK dormqr per entry and against central differences."""
    rng = np.random.default_rng(10 + 2 * transpose + (side == "left"))
    V, tau = hh.householder_qr(rng.standard_normal((2, 6, 5)))
    X = rng.standard_normal((2, 6, 2) if side == "left" else (2, 2, 6))
    with mock.patch.object(apply_module, "BLOCK_SIZE", 2):
        R = hh.householder_apply(V, tau, X, side=side, transpose=transpose)
        f = partial(hh.householder_apply, side=side, transpose=transpose)
        f_vjp = partial(hh.householder_apply_vjp, side=side, transpose=transpose)
        assert_vjp(f, f_vjp, [V, tau, X], rng=rng)
    expected = np.array([lapack.dormqr(side[0].upper(), "T" if transpose else "N",
                                       V[i], tau[i], X[i], lwork=6 * 64)[0] for i in range(2)])
    # orthogonal Q: each of the 5 reflector applications errs by ~(6 + 2) eps ||X||
    assert np.max(np.abs(R - expected)) <= 4 * 5 * 8 * EPS * np.abs(X).max()


def test_batched_product_gradients_of_several_blocks():
    """householder_product_vjp on a batch of 2 with 5 reflectors in blocks of 2 (three
    blocks), against central differences (tau in (0, 2): a non-orthogonal product)."""
    rng = np.random.default_rng(22)
    V, tau = rng.standard_normal((2, 6, 5)) / 3.0, rng.uniform(0.0, 2.0, (2, 5))
    with mock.patch.object(product_module, "BLOCK_SIZE", 2):
        assert_vjp(hh.householder_product, hh.householder_product_vjp, [V, tau], rng=rng)


def test_products_that_leave_float64_are_reported():
    """A non-orthogonal factor (tau = 1e300, y = (1, 1e10)) gives Q entries of about
    1e310 in one batch entry: the product and the application raise instead of
    returning inf; the orthogonal batch entry alone is fine."""
    V = np.array([[[0.0], [1e10]], [[0.0], [1.0]]])
    tau = np.array([[1e300], [1.0]])
    with pytest.raises(ValueError, match="^V and tau give the product too large for float64"):
        hh.householder_product(V, tau)
    with pytest.raises(ValueError, match="^V and tau give a result too large for float64"):
        hh.householder_apply(V, tau, np.ones((2, 2, 1)))
    assert hh.householder_product(V[1], tau[1]).tolist() == [[0.0], [-1.0]]
