"""householder_product (LAPACK xORGQR semantics), its VJP, and householder_qr (xGEQRF)."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import lapack

from refimpl import householder as hh
from refimpl.gradcheck import assert_vjp
from refimpl.householder import product as product_module

EPS = float(np.finfo(np.float64).eps)


@st.composite
def shapes(draw, max_m=40):
    """(m, n, k) with m >= n >= k >= 0 (k = 0 allowed when n > 0)."""
    m = draw(st.integers(1, max_m))
    n = draw(st.integers(1, m))
    k = draw(st.integers(0, n))
    return m, n, k


def reflectors(V, k):
    """The y_i of the definition, built independently: tril(V, -1) + I, first k columns."""
    m, n = V.shape[-2:]
    return (np.tril(V, -1) + np.eye(m, n))[..., :, :k]


def loop_product(V, tau):
    """The definition, one reflector at a time: H_1 H_2 ... H_k applied to I[:, :n]."""
    m, n = V.shape
    Y, Q = reflectors(V, len(tau)), np.eye(m, n)
    for i in reversed(range(len(tau))):
        Q = Q - tau[i] * np.outer(Y[:, i], Y[:, i] @ Q)
    return Q


def orthogonal_tau(V, k):
    """tau_i = 2 / ||y_i||^2, which makes every H_i an orthogonal reflection."""
    return 2.0 / np.sum(reflectors(V, k) ** 2, axis=-2)


@given(shape=shapes(), seed=st.integers(0, 2**32 - 1), block=st.sampled_from([1, 2, 3, 32]))
def test_agrees_with_lapack_dorgqr(shape, seed, block):
    """Non-orthogonal contraction tau; small block sizes exercise the compact-WY block edges."""
    m, n, k = shape
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((m, n))
    tau = contraction_tau(V, k, rng)
    with mock.patch.object(product_module, "BLOCK_SIZE", block):
        Q = hh.householder_product(V, tau)
    expected = lapack.dorgqr(V, tau)[0] if k else np.eye(m, n)
    # Error model: every partial product has norm <= 1 (contraction_tau), so each of the k
    # updates rounds its m-term inner products and the subtraction at ~(m + 2) eps, in a
    # different order on each route (blocked, LAPACK, the loop): 4 (m + k) eps in all.
    # (Arbitrary tau grow the intermediates up to 1e24 x max|Q|, where two routes' round-off
    # can no longer be compared against any fixed scale.)
    tolerance = 4 * (m + k) * EPS
    assert np.max(np.abs(Q - expected)) <= tolerance
    assert np.max(np.abs(Q - loop_product(V, tau))) <= tolerance


@given(shape=shapes(), seed=st.integers(0, 2**32 - 1))
def test_orthonormal_columns(shape, seed):
    m, n, k = shape
    V = np.random.default_rng(seed).standard_normal((m, n))
    Q = hh.householder_product(V, orthogonal_tau(V, k))
    assert np.max(np.abs(Q.T @ Q - np.eye(n))) <= 1e-14 * max(1, m) ** 0.5 * 4


def test_large_blocked_case_against_dorgqr():
    rng = np.random.default_rng(5)
    V, tau = rng.standard_normal((150, 120)), None
    tau = orthogonal_tau(V, 100)
    assert np.max(np.abs(hh.householder_product(V, tau) - lapack.dorgqr(V, tau)[0])) <= 1e-13


def test_only_the_strict_lower_triangle_of_the_first_k_columns_is_read():
    rng = np.random.default_rng(1)
    V, tau = rng.standard_normal((7, 5)), rng.uniform(0, 2, 3)
    W = V.copy()
    W[np.triu_indices(7, 0, 5)] = rng.standard_normal(len(np.triu_indices(7, 0, 5)[0]))
    W[:, 3:] = rng.standard_normal((7, 2))
    assert np.array_equal(hh.householder_product(V, tau), hh.householder_product(W, tau))


def test_zero_tau_gives_the_identity_columns_and_closed_form():
    V = np.random.default_rng(2).standard_normal((5, 3))
    assert np.array_equal(hh.householder_product(V, np.zeros(3)), np.eye(5, 3))
    # one reflector y = (1, 2), tau = 0.4 (= 2/||y||^2): H = I - 0.4 y y^T
    Q = hh.householder_product([[9.0, 9.0], [2.0, 9.0]], [0.4])
    assert np.allclose(Q, [[0.6, -0.8], [-0.8, -0.6]], rtol=0, atol=1e-15)


def test_batches_broadcast():
    rng = np.random.default_rng(3)
    V, tau = rng.standard_normal((2, 1, 6, 4)), rng.uniform(0, 2, (3, 4))
    Q = hh.householder_product(V, tau)
    assert Q.shape == (2, 3, 6, 4)
    for i in range(2):
        for j in range(3):
            assert np.allclose(Q[i, j], lapack.dorgqr(V[i, 0], tau[j])[0], atol=1e-14)


def test_batch_of_tau_longer_than_the_columns():
    """tau (5, 2) for one V (4, 2): five products, each that of dorgqr (the batch size 5
    exceeds n = 2, so only tau's last axis may be held against n). Error model as in
    test_agrees_with_lapack_dorgqr: 4 (m + k) eps."""
    rng = np.random.default_rng(12)
    V = rng.standard_normal((4, 2))
    tau = np.stack([contraction_tau(V, 2, rng) for _ in range(5)])
    for product in (hh.householder_product, hh.householder_product_definition):
        Q = product(V, tau)
        assert Q.shape == (5, 4, 2)
        for i in range(5):
            assert np.max(np.abs(Q[i] - lapack.dorgqr(V, tau[i])[0])) <= 4 * (4 + 2) * EPS


def contraction_tau(V, k, rng):
    """tau_i = t_i 2 / ||y_i||^2 with t_i = 0 (H_i = I), 1 (orthogonal) or in (0, 1)
    (not orthogonal): every H_i is symmetric with eigenvalues 1 and 1 - 2 t_i, so
    ||H_i||_2 = 1 and no product of them grows."""
    which = rng.integers(0, 3, k)
    t = np.where(which == 0, 0.0, np.where(which == 1, 1.0, rng.random(k)))
    return t * orthogonal_tau(V, k)


def product_error_bound(m, n, k):
    """Error model for a product of k factors of norm 1 applied to I[:, :n]: applying
    H_i = I - tau_i y y^T to M errs by at most (m + 2) eps (1 + tau_i ||y||^2) ||M||_F <=
    3 (m + 2) eps sqrt(n), and the later factors do not amplify it; the compact-WY blocks
    (products with Y, T and Y^T) allow a few times more. We take 16 k (m + 2) eps sqrt(n)
    for the Frobenius norm of the difference of two such computations."""
    return 16 * max(k, 1) * (m + 2) * np.finfo(np.float64).eps * np.sqrt(n)


@given(shape=shapes(), seed=st.integers(0, 2**32 - 1), block=st.sampled_from([1, 2, 3, 32]),
       batch=st.sampled_from([(), (2,)]))
def test_householder_product_matches_its_definition(shape, seed, block, batch):
    """The compact-WY blocks (small block sizes exercise the block edges) against one
    reflector at a time; V batched, tau shared."""
    m, n, k = shape
    rng = np.random.default_rng(seed)
    V = rng.standard_normal(batch + (m, n))
    tau = contraction_tau(V.reshape(-1, m, n)[0], k, rng)
    with mock.patch.object(product_module, "BLOCK_SIZE", block):
        Q = hh.householder_product(V, tau)
    definition = hh.householder_product_definition(V, tau)
    assert definition.shape == Q.shape == batch + (m, n)
    error = np.linalg.norm(Q - definition, axis=(-2, -1))
    assert np.all(error <= product_error_bound(m, n, k))


@given(shape=shapes(), seed=st.integers(0, 2**32 - 1))
def test_householder_product_definition_agrees_with_lapack_dorgqr(shape, seed):
    """The definition against an outside implementation of the same product."""
    m, n, k = shape
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((m, n))
    tau = contraction_tau(V, k, rng)
    expected = lapack.dorgqr(V, tau)[0] if k else np.eye(m, n)
    error = np.linalg.norm(hh.householder_product_definition(V, tau) - expected)
    assert error <= product_error_bound(m, n, k)


def test_householder_product_definition_closed_form_and_errors():
    # one reflector y = (1, 2), tau = 0.4 (= 2/||y||^2): H = I - 0.4 y y^T
    Q = hh.householder_product_definition([[9.0, 9.0], [2.0, 9.0]], [0.4])
    assert np.allclose(Q, [[0.6, -0.8], [-0.8, -0.6]], rtol=0, atol=1e-15)
    assert np.array_equal(hh.householder_product_definition(np.ones((5, 3)), np.zeros(0)),
                          np.eye(5, 3))
    with pytest.raises(ValueError, match="^tau must hold at most n = 2"):
        hh.householder_product_definition(np.ones((4, 2)), np.ones(3))
    big, tau = np.full((200, 200), 10.0), np.ones(200)  # factors of norm ~2e4
    with pytest.raises(ValueError, match="^V and tau give the product too large for float64"):
        hh.householder_product_definition(big, tau)


# ---------------------------------------------------------------------------- QR


@given(m=st.integers(1, 30), n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       style=st.sampled_from(["random", "zero column", "triangular", "tiny", "negative"]))
def test_householder_qr_matches_dgeqrf(m, n, seed, style):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    if style == "zero column":
        A[:, rng.integers(n)] = 0.0
    elif style == "triangular":  # nothing below the diagonal: every tau is 0
        A = np.triu(A)
    elif style == "tiny":
        A *= 1e-200
    elif style == "negative":  # triangular with alpha < 0: dlarfg keeps tau = 0, R_ii < 0
        A = -np.abs(np.triu(A))
    V, tau = hh.householder_qr(A)
    qr, expected_tau, _, _ = lapack.dgeqrf(A)
    scale = np.abs(A).max() if A.size and np.abs(A).max() > 0 else 1.0
    assert np.max(np.abs(V - qr)) <= 1e-13 * max(scale, np.abs(qr).max())
    assert np.max(np.abs(tau - expected_tau)) <= 1e-13


@given(m=st.integers(1, 30), n=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_qr_then_product_is_the_q_of_numpy(m, n, seed):
    """householder_product(householder_qr(A)) = numpy's Q up to column signs, and Q R = A."""
    A = np.random.default_rng(seed).standard_normal((m, n))
    V, tau = hh.householder_qr(A)
    k = min(m, n)
    Q = hh.householder_product(V[:, :k], tau)
    R = np.triu(V[:k])
    expected, _ = np.linalg.qr(A)
    signs = np.sign(np.sum(Q * expected, axis=0))
    assert np.all(np.abs(signs) == 1)
    assert np.max(np.abs(Q * signs - expected)) <= 1e-13
    assert np.max(np.abs(Q @ R - A)) <= 1e-13 * max(1, np.abs(A).max())


def test_qr_batched_and_closed_form():
    A = np.random.default_rng(4).standard_normal((3, 5, 4))
    V, tau = hh.householder_qr(A)
    for i in range(3):
        assert np.allclose(V[i], lapack.dgeqrf(A[i])[0], atol=1e-14)
    # [[3], [4]]: beta = -5, tau = (beta - alpha)/beta = 1.6, v = 4/(3 + 5) = 0.5
    V, tau = hh.householder_qr([[3.0], [4.0]])
    assert np.allclose(V, [[-5.0], [0.5]], rtol=0, atol=1e-15)
    assert np.allclose(tau, [1.6], rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------- VJP

VJPS = [hh.householder_product_vjp, hh.householder_product_vjp_definition]


@given(shape=shapes(max_m=7), seed=st.integers(0, 2**32 - 1), batch=st.sampled_from([(), (2,)]),
       block=st.sampled_from([1, 2, 3, 32]))
def test_product_vjp_matches_finite_differences(shape, seed, batch, block):
    """The blocked VJP (block sizes below k exercise several blocks and their edges)."""
    m, n, k = shape
    rng = np.random.default_rng(seed)
    V, tau = rng.standard_normal(batch + (m, n)), rng.uniform(0.0, 2.0, batch + (k,))
    with mock.patch.object(product_module, "BLOCK_SIZE", block):
        assert_vjp(hh.householder_product, hh.householder_product_vjp, [V, tau], rng=rng)


@given(shape=shapes(max_m=7), seed=st.integers(0, 2**32 - 1), batch=st.sampled_from([(), (2,)]))
def test_product_vjp_definition_matches_finite_differences(shape, seed, batch):
    m, n, k = shape
    rng = np.random.default_rng(seed)
    V, tau = rng.standard_normal(batch + (m, n)), rng.uniform(0.0, 2.0, batch + (k,))
    assert_vjp(hh.householder_product, hh.householder_product_vjp_definition, [V, tau], rng=rng)


@given(shape=shapes(), seed=st.integers(0, 2**32 - 1), block=st.sampled_from([1, 2, 3, 5, 32]),
       batch=st.sampled_from([(), (2,)]))
def test_product_vjp_matches_its_definition(shape, seed, block, batch):
    """Compact-WY blocks against one reflector at a time, on factors of norm <= 1. Error
    model: both are sums of k terms, each a product of factors of norm 1 applied to G,
    so they differ by at most product_error_bound(m, n, k) ||G||_F (Frobenius norm)."""
    m, n, k = shape
    rng = np.random.default_rng(seed)
    V, G = rng.standard_normal(batch + (m, n)), rng.standard_normal(batch + (m, n))
    tau = contraction_tau(V.reshape(-1, m, n)[0], k, rng)
    with mock.patch.object(product_module, "BLOCK_SIZE", block):
        grad_V, grad_tau = hh.householder_product_vjp(G, V, tau)
    expected_V, expected_tau = hh.householder_product_vjp_definition(G, V, tau)
    assert grad_V.shape == V.shape and grad_tau.shape == tau.shape
    bound = product_error_bound(m, n, k) * np.linalg.norm(G)
    assert np.linalg.norm(grad_V - expected_V) <= bound
    assert np.linalg.norm(grad_tau - expected_tau) <= bound


def test_product_vjp_closed_form():
    """One reflector y = (1, v), Q = I - tau y y^T on 2 x 1: Q = (1 - tau, -tau v), so
    <G, Q> = g0 (1 - tau) - g1 tau v: d/dtau = -(g0 + g1 v), d/dv = -g1 tau."""
    g0, g1, v, tau = 2.0, 3.0, 0.5, 0.7
    for vjp in VJPS:
        grad_V, grad_tau = vjp([[g0], [g1]], [[9.0], [v]], [tau])
        assert grad_tau.tolist() == pytest.approx([-(g0 + g1 * v)], abs=1e-15)
        assert grad_V.ravel().tolist() == pytest.approx([0.0, -g1 * tau], abs=1e-15)


@pytest.mark.parametrize("vjp", VJPS)
def test_product_vjp_is_finite_where_pytorchs_divides_by_zero(vjp):
    """tau_i ||y_i||^2 = 1 makes H_i singular (torch's backward returns NaN there)."""
    rng = np.random.default_rng(6)
    V = rng.standard_normal((5, 3))
    tau = 1.0 / np.sum(reflectors(V, 3) ** 2, axis=0)
    grad_V, grad_tau = vjp(np.ones((5, 3)), V, tau)
    assert np.all(np.isfinite(grad_V)) and np.all(np.isfinite(grad_tau))
    with mock.patch.object(product_module, "BLOCK_SIZE", 1):
        assert_vjp(hh.householder_product, vjp, [V, tau], rng=rng)


@pytest.mark.parametrize("vjp", VJPS)
def test_product_vjp_broadcast_and_unread_entries(vjp):
    rng = np.random.default_rng(7)
    V, tau = rng.standard_normal((4, 3)), rng.uniform(0, 2, (2, 2))
    with mock.patch.object(product_module, "BLOCK_SIZE", 1):
        assert_vjp(hh.householder_product, vjp, [V, tau], rng=rng)
    grad_V, grad_tau = vjp(rng.standard_normal((2, 4, 3)), V, tau)
    assert grad_V.shape == V.shape and grad_tau.shape == tau.shape
    assert np.all(np.triu(grad_V) == 0) and np.all(grad_V[:, 2:] == 0)
    assert np.any(grad_V != 0)


def test_product_vjp_large_blocked_case_against_definition():
    """m = 150, n = 120, k = 100: four blocks of 32 with a short last one."""
    rng = np.random.default_rng(8)
    V, G = rng.standard_normal((150, 120)), rng.standard_normal((150, 120))
    tau = orthogonal_tau(V, 100)
    grad_V, grad_tau = hh.householder_product_vjp(G, V, tau)
    expected_V, expected_tau = hh.householder_product_vjp_definition(G, V, tau)
    bound = product_error_bound(150, 120, 100) * np.linalg.norm(G)
    assert np.linalg.norm(grad_V - expected_V) <= bound
    assert np.linalg.norm(grad_tau - expected_tau) <= bound


# ---------------------------------------------------------------------------- errors


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="^V must have at least as many rows"):
        hh.householder_product(np.ones((2, 3)), np.ones(1))
    with pytest.raises(ValueError, match="^tau must hold at most n = 2"):
        hh.householder_product(np.ones((4, 2)), np.ones(3))
    with pytest.raises(ValueError, match="^V must have at least 2 dimensions"):
        hh.householder_product(np.ones(4), np.ones(1))
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        hh.householder_product(np.ones((2, 4, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="^tau must be finite"):
        hh.householder_product(np.ones((4, 2)), [np.nan])
    with pytest.raises(ValueError, match="^V must be finite"):
        hh.householder_product_vjp(np.ones((4, 2)), np.full((4, 2), np.inf), [1.0])
    with pytest.raises(ValueError, match="^grad must have the output.s shape"):
        hh.householder_product_vjp(np.ones((3, 2)), np.ones((4, 2)), [1.0])
    big, tau = np.full((200, 200), 10.0), np.ones(200)  # factors of norm ~2e4: no float64 result
    with pytest.raises(ValueError, match="^V and tau give the product too large for float64"):
        hh.householder_product(big, tau)
    for vjp in VJPS:
        with pytest.raises(ValueError, match="^V and tau give gradients too large for float64"):
            vjp(np.ones((200, 200)), big, tau)
        with pytest.raises(ValueError, match="^grad must have the output.s shape"):
            vjp(np.ones((3, 2)), np.ones((4, 2)), [1.0])
    with pytest.raises(ValueError, match="^A must have at least 2 dimensions"):
        hh.householder_qr([1.0, 2.0])
    with pytest.raises(TypeError, match="^A must hold real numbers"):
        hh.householder_qr([["a"]])
    with pytest.raises(ValueError, match="^A must be finite"):
        hh.householder_qr([[np.inf]])
