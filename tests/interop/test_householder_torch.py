"""refimpl.householder against PyTorch: householder_product and its backward against
torch.linalg.householder_product with autograd, householder_apply and its VJP against
torch.ormqr with autograd (all four side/transpose cases, tall and wide V, non-square X).

Error model: k factors of norm <= 1 applied to an r x p matrix differ between two
implementations by at most about k (r + 2) eps ||X||_F (see
tests/householder/test_householder_apply.py); gradients by the same times ||G||_F."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refimpl import householder as hh  # noqa: E402

EPS = float(np.finfo(np.float64).eps)
CASES = [("left", False), ("left", True), ("right", False), ("right", True)]


def t(array, requires_grad=False):
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=requires_grad)


def bound(r, k, *norms):
    return 16 * max(k, 1) * (r + 2) * EPS * float(np.prod([max(n, 1.0) for n in norms]))


@pytest.mark.parametrize("m, n, k", [(6, 4, 3), (40, 40, 40), (100, 70, 70), (130, 65, 33)])
def test_householder_product_and_backward_match_torch(m, n, k):
    """Reflectors from a QR (orthogonal factors: torch's backward divides by
    tau_i ||y_i||^2 - 1, which is -1 there, so it is well conditioned)."""
    rng = np.random.default_rng(m + n + k)
    V, tau = hh.householder_qr(rng.standard_normal((m, n)))
    tau = tau[:k]
    G = rng.standard_normal((m, n))
    tV, ttau = t(V, True), t(tau, True)
    Q = torch.linalg.householder_product(tV, ttau)
    assert np.linalg.norm(Q.detach().numpy() - hh.householder_product(V, tau)) <= bound(m, k)
    Q.backward(t(G))
    grad_V, grad_tau = hh.householder_product_vjp(G, V, tau)
    scale = bound(m, k, np.linalg.norm(G)) * m
    # torch differentiates every entry it reads: the strictly lower part of V[:, :k]
    lower = np.tril(np.ones((m, n)), -1) * (np.arange(n) < k)
    assert np.linalg.norm(tV.grad.numpy() * lower - grad_V) <= scale
    assert np.linalg.norm(ttau.grad.numpy() - grad_tau) <= scale


@pytest.mark.parametrize("side, transpose", CASES)
@pytest.mark.parametrize("r, c, p", [(7, 4, 3), (40, 40, 9), (70, 100, 45), (65, 33, 80)])
def test_householder_apply_and_vjp_match_torch_ormqr(side, transpose, r, c, p):
    rng = np.random.default_rng(r * c + p)
    V, tau = hh.householder_qr(rng.standard_normal((r, c)))
    k = len(tau)
    X = rng.standard_normal((r, p) if side == "left" else (p, r))
    G = rng.standard_normal(X.shape)
    tV, ttau, tX = t(V[:, :k], True), t(tau, True), t(X, True)
    result = torch.ormqr(tV, ttau, tX, left=side == "left", transpose=transpose)
    ours = hh.householder_apply(V, tau, X, side=side, transpose=transpose)
    assert np.linalg.norm(result.detach().numpy() - ours) <= bound(r, k, np.linalg.norm(X))
    result.backward(t(G))
    grad_V, grad_tau, grad_X = hh.householder_apply_vjp(G, V, tau, X, side=side,
                                                        transpose=transpose)
    scale = bound(r, k, np.linalg.norm(X), np.linalg.norm(G)) * r
    lower = np.tril(np.ones((r, k)), -1)
    assert np.linalg.norm(tV.grad.numpy() * lower - grad_V[:, :k]) <= scale
    assert np.all(grad_V[:, k:] == 0)
    assert np.linalg.norm(ttau.grad.numpy() - grad_tau) <= scale
    assert np.linalg.norm(tX.grad.numpy() - grad_X) <= bound(r, k, np.linalg.norm(G))


def test_householder_qr_matches_torch_geqrf():
    A = np.random.default_rng(9).standard_normal((30, 20))
    V, tau = hh.householder_qr(A)
    tV, ttau = torch.geqrf(t(A))
    assert np.max(np.abs(tV.numpy() - V)) <= 1e-13 * np.abs(V).max()
    assert np.max(np.abs(ttau.numpy() - tau)) <= 1e-13
