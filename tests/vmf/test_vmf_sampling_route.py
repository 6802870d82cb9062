"""refimpl.vmf.sampling: sample() follows the route of its module notes on the random stream.

The module notes fix the order in which one call consumes the Generator: first ``w`` (by the
chosen method), then the tangent noise (Gaussians ``eps ~ N(0, I_d)``, or at d <= 3 on the
Householder route one uniform per draw: a sign at d = 2, an angle ``2 pi r`` at d = 3), then
the placement ``x = w mu + sqrt(1 - w^2) nu``. These tests rebuild every step from the same
seed with independent linear algebra (an explicit Householder matrix, an orthonormal basis
of mu^perp from QR) or the textbook formula for ``w`` and compare: deterministic checks, no
statistics (so nothing here counts against the Bonferroni budget of vmf_stats).

Error model of the rebuilt draws: the reflection and the normalisations round each
coordinate by a few ``u`` times ``sqrt(d)`` (d-term dot products); ``s = sqrt((1-w)(1+w))``
rebuilt from the rounded ``w`` differs from the sampler's complement form by about
``u / s`` (``ds/dw = -w/s``). Measured worst: 1.04 u (sqrt(d) + 1/s); tolerance 8 times that.
"""

from __future__ import annotations

import numpy as np
import pytest
from vmf_oracles import householder_matrix

from refimpl.householder import normalize
from refimpl.vmf import sampling as vs

U = np.finfo(np.float64).eps


def _tangent_basis(mu: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning mu^perp (QR of [mu, I]): projects without cancellation."""
    d = mu.size
    return np.linalg.qr(np.column_stack([mu, np.eye(d)]))[0][:, 1:d]


def _rebuilt(mu, kappa, n, seed, method, tangent):
    """The documented route on a fresh Generator of ``seed``: (x, s)."""
    d = mu.size
    rng = np.random.default_rng(seed)
    w = vs.sample_marginal(d, kappa, size=n, rng=rng, method=method)  # step 2 consumes first
    s = np.sqrt((1.0 - w) * (1.0 + w))
    if tangent == "projection":
        basis = _tangent_basis(mu)
        r = (rng.standard_normal((n, d)) @ basis) @ basis.T
        return w[:, None] * mu + s[:, None] * (r / np.linalg.norm(r, axis=1, keepdims=True)), s
    if d == 2:  # a random sign: -s below 1/2
        v = np.where(rng.random(n) < 0.5, -1.0, 1.0)[:, None]
    elif d == 3:  # an angle phi = 2 pi r
        phi = 2.0 * np.pi * rng.random(n)
        v = np.column_stack([np.cos(phi), np.sin(phi)])
    else:  # the normalised Gaussian tail eps_(2:d)
        v = rng.standard_normal((n, d))[:, 1:]
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
    y = np.column_stack([w, s[:, None] * v])
    return y @ householder_matrix(mu).T, s


def _mu_of(kind: str, d: int) -> np.ndarray:
    if kind == "random":
        return normalize(np.random.default_rng(d).standard_normal(d))
    return np.eye(d)[0] * (1.0 if kind == "e1" else -1.0)


@pytest.mark.parametrize("tangent", vs.TANGENTS)
@pytest.mark.parametrize("kind", ["random", "e1", "-e1"])
@pytest.mark.parametrize("d", [2, 3, 4, 7])
def test_sample_is_the_documented_route_on_the_same_stream(d, kind, tangent):
    """Every tangent route, both low-dimensional shortcuts and the e_1 identity, with
    default method and kappa; a batch of mu rows (broadcast path) gives the same rows."""
    mu, n, seed = _mu_of(kind, d), 64, 10 + d
    for kappa in (0.0, 0.7, 3.0):
        x = vs.sample(mu, kappa, size=n, rng=seed, tangent=tangent)
        expected, s = _rebuilt(mu, kappa, n, seed, "auto", tangent)
        tolerance = 8 * U * (np.sqrt(d) + 1.0 / s)
        assert np.all(np.abs(x - expected).max(axis=1) <= tolerance)
    # the same mu as a batch of one row: the per-row (einsum) path of the placement
    rows = vs.sample(mu[None, :], 3.0, size=n, rng=seed, tangent=tangent)[:, 0]
    expected, s = _rebuilt(mu, 3.0, n, seed, "auto", tangent)
    assert np.all(np.abs(rows - expected).max(axis=1) <= 8 * U * (np.sqrt(d) + 1.0 / s))


@pytest.mark.parametrize("method", ["wood", "inverse"])
@pytest.mark.parametrize("d", [2, 3, 6])
def test_every_method_feeds_the_same_placement(d, method):
    """The placement does not depend on how w was drawn (method-independent step 4)."""
    mu, n = _mu_of("random", d), 32
    for tangent in vs.TANGENTS:
        x = vs.sample(mu, 2.0, size=n, rng=3, method=method, tangent=tangent)
        expected, s = _rebuilt(mu, 2.0, n, 3, method, tangent)
        assert np.all(np.abs(x - expected).max(axis=1) <= 8 * U * (np.sqrt(d) + 1.0 / s))


@pytest.mark.parametrize("d", [2, 3, 4, 5, 9])
def test_auto_is_exact_at_d_2_and_3_and_wood_above(d):
    """The module notes: "auto" is "exact" at d = 2, 3 and "wood" otherwise (same seed,
    same draws, bitwise)."""
    chosen = "exact" if d <= 3 else "wood"
    for kappa in (0.5, 1.0, 40.0):
        auto = vs.sample_marginal(d, kappa, size=200, rng=d, method="auto")
        assert np.array_equal(auto, vs.sample_marginal(d, kappa, size=200, rng=d, method=chosen))


def test_exact_d2_is_the_cosine_of_a_von_mises_angle():
    """d = 2, "exact": w = cos(theta) with theta from NumPy's von Mises sampler on the same
    stream; the sampler forms 1 - w = 2 sin^2(theta/2), so |dw| <= 4 u."""
    for kappa in (0.0, 0.3, 5.0, 1e3):
        theta = np.random.default_rng(7).vonmises(0.0, kappa, size=500)
        w = vs.sample_marginal(2, kappa, size=500, rng=7, method="exact")
        np.testing.assert_allclose(w, np.cos(theta), rtol=0, atol=4 * U)


def _truncated_exponential(kappa: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``1 - w ~ Exp(kappa)`` truncated to [0, 2] by rejection: redraw (per entry, in index
    order) every value above 2 until none is left."""
    gap = rng.standard_exponential(n) / kappa
    while np.any(gap > 2.0):
        bad = np.flatnonzero(gap > 2.0)
        gap[bad] = rng.standard_exponential(bad.size) / np.broadcast_to(kappa, gap.shape)[bad]
    return gap


@pytest.mark.parametrize("kappa", [1.0, 1.2, 30.0])
def test_exact_d3_from_kappa_1_is_a_truncated_exponential(kappa):
    """d = 3, kappa >= 1 (the boundary 1.0 included): 1 - w is Exp(kappa) truncated to
    [0, 2] by redrawing, on the same stream. At kappa = 1.2, P(E/kappa > 2) = 0.09, so the
    4000 draws include first, second and third rounds of redraws (some of them in (1, 2]).
    w = 1 - gap is one rounding: |dw| <= u."""
    n = 4000
    gap = _truncated_exponential(np.float64(kappa), n, np.random.default_rng(13))
    w = vs.sample_marginal(3, kappa, size=n, rng=13, method="exact")
    np.testing.assert_allclose(w, 1.0 - gap, rtol=0, atol=U)


def test_exact_d3_truncated_exponential_per_column():
    """One kappa per column (every kappa >= 1): the redraws use each entry's own rate."""
    kappa = np.array([1.0, 1.3, 4.0])
    n = 900
    gap = _truncated_exponential(np.tile(kappa, n // 3), n, np.random.default_rng(5))
    w = vs.sample_marginal(3, kappa, size=n // 3, rng=5, method="exact")
    np.testing.assert_allclose(w.ravel(), 1.0 - gap, rtol=0, atol=U)


@pytest.mark.parametrize("kappa", [0.0, 0.05, 0.3, 0.999])
def test_exact_d3_below_kappa_1_is_jakobs_inverse_cdf(kappa):
    """d = 3, kappa < 1: w = 1 + log(xi + (1 - xi) e^(-2 kappa)) / kappa (Jakob 2012) with
    xi = 1 - r, r = rng.random() (kappa = 0: w = 1 - 2r, uniform). The textbook form
    rounds q = xi + (1 - xi) e^(-2 kappa) in [e^-2, 1] by ~3u relative, i.e. log q by
    ~3u absolute, which 1/kappa amplifies: |dw| <= 8 u (1 + 1/kappa)."""
    r = np.random.default_rng(17).random(3000)
    xi = 1.0 - r
    if kappa == 0.0:
        expected, tolerance = 1.0 - 2.0 * r, 4 * U
    else:
        expected = 1.0 + np.log(xi + (1.0 - xi) * np.exp(-2.0 * kappa)) / kappa
        tolerance = 8 * U * (1.0 + 1.0 / kappa)
    w = vs.sample_marginal(3, kappa, size=3000, rng=17, method="exact")
    np.testing.assert_allclose(w, expected, rtol=0, atol=tolerance)


def test_a_single_kappa_and_one_kappa_per_draw_give_the_same_draws():
    """kappa of shape () and the same value repeated per batch entry consume the stream
    alike; every draw agrees to rounding (one path keeps kappa a scalar)."""
    for d, method in [(2, "exact"), (3, "exact"), (6, "wood"), (6, "inverse")]:
        one = vs.sample_marginal(d, 2.5, size=(40, 3), rng=1, method=method)
        per_entry = vs.sample_marginal(d, np.full(3, 2.5), size=40, rng=1, method=method)
        np.testing.assert_allclose(one, per_entry, rtol=0, atol=4 * U)


def test_table_argument_is_checked():
    """A table must be an InverseCdfTable built for the same d and kappa."""
    mu = _mu_of("random", 6)
    with pytest.raises(TypeError, match="table must be an InverseCdfTable"):
        vs.sample(mu, 2.0, size=3, rng=0, method="table", table="a table")
    with pytest.raises(ValueError, match="table was built for d=8"):
        vs.sample(mu, 2.0, size=3, rng=0, method="table", table=vs.inverse_cdf_table(8, 2.0))
    table = vs.inverse_cdf_table(6, 2.0)
    x = vs.sample(mu, 2.0, size=3, rng=0, method="table", table=table)
    assert np.array_equal(x, vs.sample(mu, 2.0, size=3, rng=0, method="table"))
