"""householder_apply (LAPACK xORMQR semantics), its definition and its VJP."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import lapack

from refimpl import householder as hh
from refimpl.gradcheck import assert_vjp
from refimpl.householder import apply as apply_module

EPS = float(np.finfo(np.float64).eps)
CASES = [("left", False), ("left", True), ("right", False), ("right", True)]


@st.composite
def problems(draw, max_r=24):
    """V (r, c) with r >= 1 rows and any c >= 1 columns (wide or tall), k <= min(r, c)
    reflectors, X with p columns (left) or p rows (right), p != r allowed."""
    r = draw(st.integers(1, max_r))
    c = draw(st.integers(1, max_r))
    k = draw(st.integers(0, min(r, c)))
    p = draw(st.integers(1, max_r))
    side, transpose = draw(st.sampled_from(CASES))
    return r, c, k, p, side, transpose


def contraction_tau(V, k, rng):
    """tau_i = t_i 2 / ||y_i||^2 with t_i in {0, 1} or (0, 1): every H_i is symmetric with
    eigenvalues 1 and 1 - 2 t_i, so ||H_i||_2 = 1 and no product of them grows."""
    Y = (np.tril(V, -1) + np.eye(*V.shape))[:, :k]
    which = rng.integers(0, 3, k)
    t = np.where(which == 0, 0.0, np.where(which == 1, 1.0, rng.random(k)))
    return t * 2.0 / np.sum(Y * Y, axis=0)


def make(r, c, k, p, side, seed, batch=()):
    rng = np.random.default_rng(seed)
    V = rng.standard_normal(batch + (r, c))
    tau = contraction_tau(V.reshape(-1, r, c)[0], k, rng)
    X = rng.standard_normal(batch + ((r, p) if side == "left" else (p, r)))
    return V, tau, X, rng


def error_bound(r, p, k, X):
    """k factors of norm <= 1 applied to X: each application errs by at most
    (r + 2) eps (1 + tau ||y||^2) ||M||_F <= 3 (r + 2) eps ||X||_F, later factors do not
    amplify it, and the compact-WY blocks allow a few times more; we take
    16 k (r + 2) eps ||X||_F for the Frobenius norm of the difference of two methods."""
    return 16 * max(k, 1) * (r + 2) * EPS * max(np.linalg.norm(X), 1e-300)


def dormqr(V, tau, X, side, transpose):
    """scipy's LAPACK dormqr with a workspace large enough for its blocked code."""
    if len(tau) == 0:
        return X.copy()
    lwork = 64 * max(X.shape)
    result, _, info = lapack.dormqr(side[0].upper(), "T" if transpose else "N", V[:, :len(tau)],
                                    tau, X, lwork=lwork)
    assert info == 0
    return result


def full_q(V, tau):
    """Q = H_1 ... H_k, r x r, formed with householder_product on V padded to r x r."""
    r, c = V.shape[-2:]
    square = np.zeros(V.shape[:-2] + (r, r))
    square[..., :, :min(r, c)] = V[..., :, :min(r, c)]
    return hh.householder_product(square, tau)


def times_q(Q, X, side, transpose):
    Q = np.swapaxes(Q, -1, -2) if transpose else Q
    return Q @ X if side == "left" else X @ Q


# ---------------------------------------------------------------------------- values


@given(problem=problems(), seed=st.integers(0, 2**32 - 1), block=st.sampled_from([1, 2, 3, 32]))
def test_agrees_with_lapack_dormqr(problem, seed, block):
    """All four side/transpose cases, tall and wide V, non-square X; small block sizes
    exercise the compact-WY block edges."""
    r, c, k, p, side, transpose = problem
    V, tau, X, _ = make(r, c, k, p, side, seed)
    with mock.patch.object(apply_module, "BLOCK_SIZE", block):
        result = hh.householder_apply(V, tau, X, side=side, transpose=transpose)
    expected = dormqr(V, tau, X, side, transpose)
    assert result.shape == X.shape
    assert np.linalg.norm(result - expected) <= error_bound(r, p, k, X)


@given(problem=problems(), seed=st.integers(0, 2**32 - 1))
def test_agrees_with_forming_q(problem, seed):
    r, c, k, p, side, transpose = problem
    V, tau, X, _ = make(r, c, k, p, side, seed)
    result = hh.householder_apply(V, tau, X, side=side, transpose=transpose)
    expected = times_q(full_q(V, tau), X, side, transpose)
    assert np.linalg.norm(result - expected) <= error_bound(r, p, k, X)


@given(problem=problems(), seed=st.integers(0, 2**32 - 1), block=st.sampled_from([1, 2, 3, 32]),
       batch=st.sampled_from([(), (2,)]))
def test_householder_apply_matches_its_definition(problem, seed, block, batch):
    r, c, k, p, side, transpose = problem
    V, tau, X, _ = make(r, c, k, p, side, seed, batch)
    with mock.patch.object(apply_module, "BLOCK_SIZE", block):
        result = hh.householder_apply(V, tau, X, side=side, transpose=transpose)
    definition = hh.householder_apply_definition(V, tau, X, side=side, transpose=transpose)
    assert result.shape == definition.shape == X.shape
    errors = np.linalg.norm(result - definition, axis=(-2, -1))
    assert np.all(errors <= error_bound(r, p, k, X))


@given(problem=problems(), seed=st.integers(0, 2**32 - 1))
def test_householder_apply_definition_agrees_with_dormqr(problem, seed):
    """The definition against an outside implementation of the same product."""
    r, c, k, p, side, transpose = problem
    V, tau, X, _ = make(r, c, k, p, side, seed)
    definition = hh.householder_apply_definition(V, tau, X, side=side, transpose=transpose)
    expected = dormqr(V, tau, X, side, transpose)
    assert np.linalg.norm(definition - expected) <= error_bound(r, p, k, X)


@given(r=st.integers(1, 30), c=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       side=st.sampled_from(["left", "right"]))
def test_orthogonal_q_from_qr_round_trips(r, c, seed, side):
    """With (V, tau) from householder_qr, Q is orthogonal: Q^T (Q X) = X, norms are kept,
    and Q R reproduces A (left side, X = R padded to r rows)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((r, c))
    V, tau = hh.householder_qr(A)
    X = rng.standard_normal((r, 3) if side == "left" else (3, r))
    there = hh.householder_apply(V, tau, X, side=side)
    back = hh.householder_apply(V, tau, there, side=side, transpose=True)
    bound = error_bound(r, 3, len(tau), X)
    assert np.linalg.norm(back - X) <= bound
    assert abs(np.linalg.norm(there) - np.linalg.norm(X)) <= bound
    R = np.zeros((r, c))
    R[:min(r, c)] = np.triu(V[:min(r, c)])
    assert np.linalg.norm(hh.householder_apply(V, tau, R) - A) <= error_bound(
        r, c, len(tau), A)


def test_closed_forms():
    # one reflector y = (1, 2), tau = 0.4: Q = I - 0.4 y y^T = [[0.6, -0.8], [-0.8, -0.6]]
    Q = np.array([[0.6, -0.8], [-0.8, -0.6]])
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    for side, transpose in CASES:
        result = hh.householder_apply([[9.0], [2.0]], [0.4], X, side=side, transpose=transpose)
        assert np.allclose(result, times_q(Q, X, side, transpose), rtol=0, atol=1e-15)
    # non-orthogonal tau = 1 with y = e_0: Q = diag(0, 1), so Q X zeroes the first row
    assert hh.householder_apply([[5.0], [0.0]], [1.0], X).tolist() == [[0.0, 0.0], [3.0, 4.0]]
    # tau = 0 everywhere, or no reflector at all: Q = I, X comes back exactly
    V = np.random.default_rng(0).standard_normal((4, 3))
    X = np.random.default_rng(1).standard_normal((4, 5))
    assert np.array_equal(hh.householder_apply(V, np.zeros(3), X), X)
    assert np.array_equal(hh.householder_apply(V, np.zeros(0), X, transpose=True), X)


def test_only_the_strict_lower_triangle_of_the_first_k_columns_is_read():
    rng = np.random.default_rng(2)
    V, tau, X = rng.standard_normal((7, 5)), rng.uniform(0, 2, 3), rng.standard_normal((7, 2))
    W = V.copy()
    W[np.triu_indices(7, 0, 5)] = rng.standard_normal(len(np.triu_indices(7, 0, 5)[0]))
    W[:, 3:] = rng.standard_normal((7, 2))
    for side, transpose in CASES:
        Z = X if side == "left" else X.T
        assert np.array_equal(hh.householder_apply(V, tau, Z, side=side, transpose=transpose),
                              hh.householder_apply(W, tau, Z, side=side, transpose=transpose))


def test_batches_broadcast():
    rng = np.random.default_rng(3)
    V, tau = rng.standard_normal((2, 1, 6, 4)), rng.uniform(0, 2, (3, 4))
    X = rng.standard_normal((5, 6))
    result = hh.householder_apply(V, tau, X, side="right", transpose=True)
    assert result.shape == (2, 3, 5, 6)
    for i in range(2):
        for j in range(3):
            expected = dormqr(V[i, 0], tau[j], X, "right", True)
            assert np.linalg.norm(result[i, j] - expected) <= error_bound(6, 5, 4, X) * 8


def test_batch_dimensions_of_x_alone():
    """One (V, tau) for a stack of X (3, 6, 5): every case equals dormqr on each X[i],
    for the blocked form and the definition (error model of error_bound)."""
    rng = np.random.default_rng(11)
    V = rng.standard_normal((6, 4))
    tau = contraction_tau(V, 4, rng)
    X = rng.standard_normal((3, 6, 5))
    for side, transpose in CASES:
        Z = X if side == "left" else np.swapaxes(X, -1, -2).copy()
        for apply in (hh.householder_apply, hh.householder_apply_definition):
            result = apply(V, tau, Z, side=side, transpose=transpose)
            assert result.shape == Z.shape
            for i in range(3):
                expected = dormqr(V, tau, Z[i], side, transpose)
                assert np.linalg.norm(result[i] - expected) <= error_bound(6, 5, 4, Z[i])


def test_defaults_are_q_times_x_from_the_left():
    """Without side and transpose both forms compute Q X (dormqr's side="L", trans="N");
    three reflectors make Q non-symmetric, so Q^T X would differ. Error model: error_bound."""
    rng = np.random.default_rng(13)
    V, X = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    tau = contraction_tau(V, 3, rng)
    expected = dormqr(V, tau, X, "left", False)
    assert np.linalg.norm(expected - dormqr(V, tau, X, "left", True)) > 1e-3
    for apply in (hh.householder_apply, hh.householder_apply_definition):
        assert np.linalg.norm(apply(V, tau, X) - expected) <= error_bound(5, 2, 3, X)


def test_input_is_not_modified():
    rng = np.random.default_rng(4)
    V, tau, X = rng.standard_normal((5, 5)), rng.uniform(0, 2, 5), rng.standard_normal((5, 5))
    copies = V.copy(), tau.copy(), X.copy()
    for side, transpose in CASES:
        hh.householder_apply(V, tau, X, side=side, transpose=transpose)
        hh.householder_apply_vjp(X, V, tau, X, side=side, transpose=transpose)
    assert all(np.array_equal(a, b) for a, b in zip((V, tau, X), copies, strict=True))


# ---------------------------------------------------------------------------- VJP


@given(problem=problems(max_r=6), seed=st.integers(0, 2**32 - 1),
       block=st.sampled_from([1, 2, 32]), batch=st.sampled_from([(), (2,)]))
def test_vjp_matches_finite_differences(problem, seed, block, batch):
    """Any tau in [0, 2] (orthogonal or not), every side/transpose case, several blocks."""
    r, c, k, p, side, transpose = problem
    rng = np.random.default_rng(seed)
    V, tau = rng.standard_normal(batch + (r, c)), rng.uniform(0.0, 2.0, batch + (k,))
    X = rng.standard_normal(batch + ((r, p) if side == "left" else (p, r)))
    f = lambda V, tau, X: hh.householder_apply(V, tau, X, side=side, transpose=transpose)
    vjp = lambda g, V, tau, X: hh.householder_apply_vjp(g, V, tau, X, side=side,
                                                        transpose=transpose)
    with mock.patch.object(apply_module, "BLOCK_SIZE", block):
        assert_vjp(f, vjp, [V, tau, X], rng=rng)


@given(problem=problems(), seed=st.integers(0, 2**32 - 1), block=st.sampled_from([1, 3, 32]))
def test_vjp_agrees_with_the_product_vjp_through_q(problem, seed, block):
    """Through Q: <G, Q X> has gradient G X^T in Q (left), X^T G (right), transposed for
    Q^T; householder_product_vjp of that gradient, on V padded to r x r, gives the
    gradients in V and tau, and grad_X is Q^T G, Q G, G Q^T or G Q. Error model: as for
    the forward, with ||X||_F ||G||_F for the scale of the gradients."""
    r, c, k, p, side, transpose = problem
    V, tau, X, rng = make(r, c, k, p, side, seed)
    G = rng.standard_normal(X.shape)
    with mock.patch.object(apply_module, "BLOCK_SIZE", block):
        grad_V, grad_tau, grad_X = hh.householder_apply_vjp(G, V, tau, X, side=side,
                                                            transpose=transpose)
    grad_Q = G @ X.T if side == "left" else X.T @ G
    square = np.zeros((r, r))
    square[:, :min(r, c)] = V[:, :min(r, c)]
    expected_V, expected_tau = hh.householder_product_vjp(grad_Q.T if transpose else grad_Q,
                                                          square, tau)
    Q = full_q(V, tau)
    expected_X = times_q(Q, G, side, not transpose)
    scale = error_bound(r, p, k, X) * max(np.linalg.norm(G), 1.0) * (r + 1)
    assert grad_V.shape == V.shape and grad_tau.shape == tau.shape and grad_X.shape == X.shape
    assert np.linalg.norm(grad_V[:, :min(r, c)] - expected_V[:, :min(r, c)]) <= scale
    assert np.all(grad_V[:, min(r, c):] == 0)
    assert np.linalg.norm(grad_tau - expected_tau) <= scale
    assert np.linalg.norm(grad_X - expected_X) <= error_bound(r, p, k, G)


def test_vjp_closed_form_and_unread_entries():
    """y = (1, v), Q X = X - tau y (y^T X) for X = (x0, x1) one column, G = e_0:
    <G, Q X> = x0 - tau (x0 + v x1): d/dtau = -(x0 + v x1), d/dv = -tau x1, d/dX = Q^T e_0."""
    x0, x1, v, tau = 2.0, 7.0, 0.5, 0.3
    grad_V, grad_tau, grad_X = hh.householder_apply_vjp([[1.0], [0.0]], [[9.0, 4.0], [v, 8.0]],
                                                        [tau], [[x0], [x1]])
    assert grad_tau.tolist() == pytest.approx([-(x0 + v * x1)], abs=1e-15)
    assert grad_V.ravel().tolist() == pytest.approx([0.0, 0.0, -tau * x1, 0.0], abs=1e-15)
    assert grad_X.ravel().tolist() == pytest.approx([1 - tau, -tau * v], abs=1e-15)


def test_vjp_is_finite_where_a_factor_is_singular():
    """tau_i ||y_i||^2 = 1 makes H_i singular; nothing is inverted, so the gradient is finite."""
    rng = np.random.default_rng(6)
    V = rng.standard_normal((5, 3))
    Y = np.tril(V, -1) + np.eye(5, 3)
    tau = 1.0 / np.sum(Y * Y, axis=0)
    X = rng.standard_normal((5, 2))
    grads = hh.householder_apply_vjp(np.ones((5, 2)), V, tau, X)
    assert all(np.all(np.isfinite(g)) for g in grads)
    with mock.patch.object(apply_module, "BLOCK_SIZE", 1):
        assert_vjp(hh.householder_apply, hh.householder_apply_vjp, [V, tau, X], rng=rng)


def test_vjp_broadcast_dimensions_are_summed():
    rng = np.random.default_rng(7)
    V, tau, X = rng.standard_normal((4, 3)), rng.uniform(0, 2, (2, 3)), rng.standard_normal((4, 2))
    f = lambda V, tau, X: hh.householder_apply(V, tau, X, side="left", transpose=True)
    vjp = lambda g, V, tau, X: hh.householder_apply_vjp(g, V, tau, X, side="left",
                                                        transpose=True)
    assert_vjp(f, vjp, [V, tau, X], rng=rng)
    grad_V, grad_tau, grad_X = vjp(rng.standard_normal((2, 4, 2)), V, tau, X)
    assert (grad_V.shape, grad_tau.shape, grad_X.shape) == (V.shape, tau.shape, X.shape)
    assert np.all(np.triu(grad_V) == 0) and np.any(grad_V != 0)


# ---------------------------------------------------------------------------- errors


def test_errors_name_the_argument():
    V, tau, X = np.ones((4, 2)), np.ones(2), np.ones((4, 3))
    with pytest.raises(ValueError, match="^side must be one of 'left', 'right', got 'L'"):
        hh.householder_apply(V, tau, X, side="L")
    with pytest.raises(TypeError, match="^transpose must be True or False, got 'T'"):
        hh.householder_apply(V, tau, X, transpose="T")
    with pytest.raises(ValueError, match=r"^X must have 4 rows \(side='left'"):
        hh.householder_apply(V, tau, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"^X must have 4 columns \(side='right'"):
        hh.householder_apply(V, tau, X, side="right")
    with pytest.raises(ValueError, match=r"^tau must hold at most min\(r, c\) = 2"):
        hh.householder_apply(V, np.ones(3), X)
    with pytest.raises(ValueError, match="^V must have at least 2 dimension"):
        hh.householder_apply(np.ones(4), tau, X)
    with pytest.raises(ValueError, match="^X must have at least 2 dimension"):
        hh.householder_apply(V, tau, np.ones(4))
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        hh.householder_apply(np.ones((2, 4, 2)), np.ones((3, 2)), X)
    with pytest.raises(ValueError, match="^X must be finite"):
        hh.householder_apply(V, tau, np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="^tau must be finite"):
        hh.householder_apply(V, [np.inf, 1.0], X)
    with pytest.raises(ValueError, match="^grad must have the output.s shape"):
        hh.householder_apply_vjp(np.ones((4, 2)), V, tau, X)
    big, many = np.full((200, 200), 10.0), np.ones(200)  # factors of norm ~2e4
    with pytest.raises(ValueError, match="^V and tau give a result too large for float64"):
        hh.householder_apply(big, many, np.ones((200, 1)))
    with pytest.raises(ValueError, match="^V and tau give a result too large for float64"):
        hh.householder_apply_definition(big, many, np.ones((200, 1)))
    with pytest.raises(ValueError, match="^V and tau give (a result|gradients) too large"):
        hh.householder_apply_vjp(np.ones((200, 1)), big, many, np.ones((200, 1)))
