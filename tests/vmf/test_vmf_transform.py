"""refimpl.vmf.sampling: transform on given noise, its argument checks, the VJP's cotangent
broadcasting, and reflection_normal; all deterministic (no statistics).

transform(noise, mu, kappa) = cos(theta) mu + sin(theta) nu with theta = F^{-1}(u),
u = noise[..., 0], and nu the unit tangent of the route: the normalised projection of
eps = noise[..., 1:] onto mu^perp, or H (0, eps_(2:d)/||.||) with H the reflection e_1 -> mu.
Rebuilt here with an explicit Householder matrix, an orthonormal basis of mu^perp (QR) and
w from refimpl.vmf.marginal (the Jakob closed form at d = 3 written out here).

Error model: the placement and the normalisations round each coordinate by a few u times
sqrt(d) (d-term dot products), w by a few u (the quantile is accurate to a few ulps of the
angle), and s = sqrt((1-w)(1+w)) rebuilt from w carries about u/s: tolerance
16 u (sqrt(d) + 1/s).
"""

from __future__ import annotations

import numpy as np
import pytest
from vmf_oracles import householder_matrix

from refimpl.householder import normalize
from refimpl.vmf import sampling as vs
from refimpl.vmf.marginal import marginal_quantile

U = np.finfo(np.float64).eps


def _expected(noise: np.ndarray, mu: np.ndarray, kappa: float, tangent: str):
    """transform rebuilt for one mu and rows of noise: (x, s)."""
    d = mu.size
    u, eps = noise[:, 0], noise[:, 1:]
    if d == 3 and kappa > 0:  # Jakob (2012): w = 1 + log(u + (1 - u) e^(-2 kappa)) / kappa
        w = 1.0 + np.log(u + (1.0 - u) * np.exp(-2.0 * kappa)) / kappa
    else:
        w = marginal_quantile(u, d, kappa)
    s = np.sqrt((1.0 - w) * (1.0 + w))
    if tangent == "projection":
        basis = np.linalg.qr(np.column_stack([mu, np.eye(d)]))[0][:, 1:d]
        r = (eps @ basis) @ basis.T
        nu = r / np.linalg.norm(r, axis=1, keepdims=True)
        return w[:, None] * mu + s[:, None] * nu, s
    v = eps[:, 1:] / np.linalg.norm(eps[:, 1:], axis=1, keepdims=True)
    return np.column_stack([w, s[:, None] * v]) @ householder_matrix(mu).T, s


def _noise(d: int, n: int, seed: int) -> np.ndarray:
    """draw_noise's layout, u kept inside [0.02, 0.98] so that s is not tiny."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(0.02, 0.98, n), rng.standard_normal((n, d))])


@pytest.mark.parametrize("tangent", vs.TANGENTS)
@pytest.mark.parametrize("kind", ["random", "e1", "-e1"])
@pytest.mark.parametrize("d", [2, 3, 5])
def test_transform_on_given_noise_against_the_formula(d, kind, tangent):
    mu = (normalize(np.random.default_rng(d).standard_normal(d)) if kind == "random"
          else np.eye(d)[0] * (1.0 if kind == "e1" else -1.0))
    noise = _noise(d, 24, d)
    for kappa in (0.0, 0.8, 6.0):
        x = vs.transform(noise, mu, kappa, tangent=tangent)
        expected, s = _expected(noise, mu, kappa, tangent)
        assert x.shape == (24, d)
        assert np.all(np.abs(x - expected).max(axis=1) <= 16 * U * (np.sqrt(d) + 1.0 / s))


def test_transform_broadcasts_noise_mu_and_kappa():
    """noise (4, 1, d+1), mu (3, d), kappa (3,) or a scalar: every output row is the formula
    for its own noise row, mu row and kappa."""
    d = 4
    mus = normalize(np.random.default_rng(0).standard_normal((3, d)))
    kappas = np.array([0.5, 2.0, 9.0])
    noise = _noise(d, 4, 1)
    x = vs.transform(noise[:, None, :], mus, kappas)
    assert x.shape == (4, 3, d)
    for j in range(3):
        expected, s = _expected(noise, mus[j], kappas[j], "householder")
        assert np.all(np.abs(x[:, j] - expected).max(axis=1) <= 16 * U * (np.sqrt(d) + 1 / s))
    # the batch of mu alone sets an axis (kappa a scalar)
    x = vs.transform(noise[:, None, :], mus, 2.0, tangent="projection")
    assert x.shape == (4, 3, d)
    for j in range(3):
        expected, s = _expected(noise, mus[j], 2.0, "projection")
        assert np.all(np.abs(x[:, j] - expected).max(axis=1) <= 16 * U * (np.sqrt(d) + 1 / s))


@pytest.mark.parametrize("tangent", vs.TANGENTS)
def test_probability_0_and_1_give_minus_mu_and_mu(tangent):
    """u = 0 and u = 1 are valid (noise[..., 0] in [0, 1]): theta = pi and 0, so x = -mu
    and mu, up to sin(pi) = 1.2e-16 and the placement's rounding (4 u sqrt(d))."""
    d = 5
    mu = normalize(np.random.default_rng(3).standard_normal(d))
    noise = _noise(d, 2, 4)
    noise[:, 0] = [0.0, 1.0]
    x = vs.transform(noise, mu, 3.0, tangent=tangent)
    np.testing.assert_allclose(x, [-mu, mu], rtol=0, atol=4 * U * np.sqrt(d))


def test_bad_noise_is_rejected_with_the_reason():
    mu = np.array([0.0, 1.0, 0.0])
    good = _noise(3, 3, 5)
    for u in (1.0 + 1e-12, 1.5, -1e-300, -0.5):
        bad = good.copy()
        bad[1, 0] = u
        with pytest.raises(ValueError, match=r"noise\[\.\.\., 0\] must lie in \[0, 1\]"):
            vs.transform(bad, mu, 1.0)
    # Householder route: eps_(2:d) all zero in one row (eps_1 is not used there)
    bad = good.copy()
    bad[2, 2:] = 0.0
    with pytest.raises(ValueError, match="must not be all zeros"):
        vs.transform(bad, mu, 1.0)
    # projection route: the whole of eps zero in one row
    bad[2, 1] = 0.0
    with pytest.raises(ValueError, match="must not be all zeros"):
        vs.transform(bad, mu, 1.0, tangent="projection")
    # projection route: eps parallel to mu (here exactly: ||eps||^2 = <eps, mu>^2 = 4)
    parallel = good.copy()
    parallel[0, 1:] = [0.0, 2.0, 0.0]
    with pytest.raises(ValueError, match="must not be parallel to mu"):
        vs.transform(parallel, mu, 1.0, tangent="projection")


def test_valid_noise_edge_cases_are_accepted():
    """What is valid is not rejected: on the Householder route eps_1 alone may be zero and
    eps may be parallel to mu; on the projection route eps = e_1 (orthogonal to mu = e_2,
    with eps_(2:d) = 0) and a short eps (norm 0.5); a column of zeros across rows."""
    mu = np.array([0.0, 1.0, 0.0])
    noise = np.array([[0.3, 0.0, 2.0, 0.0],    # householder: eps parallel to mu, eps_1 = 0
                      [0.6, 1.0, 0.0, 0.0],    # projection: eps = e_1
                      [0.9, 0.3, 0.0, 0.4]])   # norm 0.5; column 2 of eps is zero in rows 1, 2
    x = vs.transform(noise[[0, 2]], mu, 2.0)
    expected, s = _expected(noise[[0, 2]], mu, 2.0, "householder")
    assert np.all(np.abs(x - expected).max(axis=1) <= 16 * U * (np.sqrt(3) + 1 / s))
    x = vs.transform(noise[1:], mu, 2.0, tangent="projection")
    expected, s = _expected(noise[1:], mu, 2.0, "projection")
    assert np.all(np.abs(x - expected).max(axis=1) <= 16 * U * (np.sqrt(3) + 1 / s))


def test_projection_of_noise_far_along_mu_is_orthogonal_to_rounding():
    """eps = 1e8 mu + r with ||r|| = 2: the first projection leaves a mu-component of
    ~1e8 u ||mu|| = 2e-8 (the "twice is enough" case, ||r||^2 < <eps, mu>^2), so
    <x, mu> = w holds to rounding only after the second projection; the tangent direction
    is r/||r|| up to the first subtraction's rounding (1e8 u / 2 relative)."""
    d = 6
    rng = np.random.default_rng(8)
    mu = normalize(rng.standard_normal(d))
    basis = np.linalg.qr(np.column_stack([mu, np.eye(d)]))[0][:, 1:d]
    tangents = normalize(rng.standard_normal((5, d - 1)) @ basis.T) * 2.0
    noise = np.column_stack([np.full(5, 0.5), 1e8 * mu + tangents])
    x = vs.transform(noise, mu, 3.0, tangent="projection")
    w = marginal_quantile(0.5, d, 3.0)
    s = np.sqrt((1.0 - w) * (1.0 + w))
    np.testing.assert_allclose(x @ mu, np.full(5, w), rtol=0, atol=8 * U * np.sqrt(d) / s)
    np.testing.assert_allclose((x - w * mu) / s, tangents / 2.0, rtol=0, atol=1e8 * U)


@pytest.mark.parametrize("tangent", vs.TANGENTS)
def test_transform_vjp_broadcasts_the_cotangent(tangent):
    """grad of shape (d,) (or a scalar) broadcasts over the batch: the same VJP as the
    explicit broadcast array. The same numbers enter the same formulas, but a broadcast
    (zero-stride) cotangent may take another summation order in the final reductions over
    the batch (n = 6 terms), so allow 8 n eps relative to the sum of magnitudes."""
    d, n = 4, 6
    noise = _noise(d, n, 9)
    mu = normalize(np.random.default_rng(2).standard_normal(d))
    g = np.random.default_rng(4).standard_normal(d)
    full = vs.transform_vjp(np.broadcast_to(g, (n, d)).copy(), noise, mu, 2.0, tangent=tangent)
    def close(a, b):
        return np.all(np.abs(np.asarray(a) - b) <= 8 * n * U * (1.0 + np.abs(b)))

    for grad in (g, g[None, :]):
        got = vs.transform_vjp(grad, noise, mu, 2.0, tangent=tangent)
        assert close(got[0], full[0]) and close(got[1], full[1])
    scalar = vs.transform_vjp(1.5, noise, mu, 2.0, tangent=tangent)
    ones = vs.transform_vjp(np.full((n, d), 1.5), noise, mu, 2.0, tangent=tangent)
    assert close(scalar[0], ones[0]) and close(scalar[1], ones[1])


# --- reflection_normal ---------------------------------------------------------------------

def test_reflection_normal_at_e1_is_e2_and_flagged():
    """mu = e_1 exactly: the normal would be 0; it is replaced by e_2 and flagged."""
    for d in (2, 3, 6):
        normal, is_e1 = vs.reflection_normal(np.eye(d)[0])
        assert np.array_equal(normal, np.eye(d)[1]) and bool(is_e1)
    normal, is_e1 = vs.reflection_normal(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert is_e1.tolist() == [True, False]
    assert np.array_equal(normal, [[0.0, 1.0, 0.0], [1.0, -1.0, 0.0]])


def test_reflection_normal_first_entry_without_cancellation():
    """mu = (cos t, sin t v), v a unit vector: 1 - mu_1 = 2 sin^2(t/2) exactly. Near e_1
    (t = 1e-9, mu_1 rounds to 1) the naive 1 - mu_1 is 0; the entry must keep its
    relative accuracy (a few u: tail2 and the division). For mu_1 <= 0 the entry is
    1 - mu_1 (no cancellation), e.g. 1.6 at mu = (-0.6, 0.8)."""
    v = normalize(np.array([1.0, -2.0, 0.5]))
    for t in (1e-9, 1e-4, 0.3, 1.2, np.pi / 2, 2.0, 3.1):
        mu = np.concatenate([[np.cos(t)], np.sin(t) * v])
        normal, is_e1 = vs.reflection_normal(mu)
        expected = 2.0 * np.sin(t / 2) ** 2
        # rounded cos t, sin t: for mu_1 > 0 the entry tail2 / (1 + mu_1) is within a few u
        # relative of 2 sin^2(t/2); for mu_1 <= 0, 1 - mu_1 >= 1 is within 2 u
        assert abs(normal[0] - expected) <= 8 * U * expected
        assert np.array_equal(normal[1:], -mu[1:]) and not bool(is_e1)
    normal, _ = vs.reflection_normal(np.array([-0.6, 0.8]))
    np.testing.assert_allclose(normal, [1.6, -0.8], rtol=2 * U)
    normal, _ = vs.reflection_normal(-np.eye(3)[0])
    assert np.array_equal(normal, [2.0, 0.0, 0.0])


@pytest.mark.parametrize("tangent", vs.TANGENTS)
def test_transform_vjp_with_one_mu_per_row(tangent):
    """mu of shape (3, d), d = 5: grad_mu has mu's shape and row j is the VJP of row j
    alone (the same per-row formulas; tolerance 64 u times the gradient's scale)."""
    d = 5
    mus = normalize(np.random.default_rng(6).standard_normal((3, d)))
    noise = _noise(d, 3, 7)
    g = np.random.default_rng(8).standard_normal((3, d))
    grad_mu, grad_kappa = vs.transform_vjp(g, noise, mus, 2.0, tangent=tangent)
    assert grad_mu.shape == (3, d) and np.shape(grad_kappa) == ()
    rows = [vs.transform_vjp(g[j], noise[j], mus[j], 2.0, tangent=tangent) for j in range(3)]
    scale = np.abs(grad_mu).max()
    np.testing.assert_allclose(grad_mu, [r[0] for r in rows], rtol=0, atol=64 * U * scale)
    np.testing.assert_allclose(grad_kappa, sum(r[1] for r in rows), rtol=1e-12)
