"""Tests of refimpl.similarity.cosent: the CoSENT ranking loss and its VJP.

Expected values come from the two-pair closed form (a softplus) and from a
straightforward port of the published formula written here independently (``-1e12``
masks, a 0 prepended, plain log-sum-exp).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from similarity_cases import naive_unit, seeds

from refimpl import similarity as sim
from refimpl.gradcheck import assert_vjp

# ------------------------------------------------------------------------- CoSENT


def cosent_port(cosines: np.ndarray, labels: np.ndarray, scale: float = 20.0) -> float:
    """The 8847 formula, plainly: masked pairwise differences, a 0 prepended, logsumexp."""
    differences = scale * (cosines[:, None] - cosines[None, :])  # lambda (c_i - c_j)
    differences = differences - (labels[:, None] >= labels[None, :]) * 1e12  # keep y_i < y_j
    terms = np.concatenate([[0.0], differences.ravel()])
    peak = terms.max()
    return float(peak + np.log(np.sum(np.exp(terms - peak))))


@given(st.floats(0.0, np.pi), st.floats(0.0, np.pi), st.floats(1.0, 50.0))
def test_cosent_two_pairs_is_a_softplus(alpha, beta, scale):
    u = [[1.0, 0.0], [0.0, 2.0]]
    v = [[np.cos(alpha), np.sin(alpha)], [-np.sin(beta), np.cos(beta)]]  # cosines cos a, cos b
    expected = np.logaddexp(0.0, scale * (np.cos(beta) - np.cos(alpha)))
    assert sim.cosent_loss(u, v, [2.0, 1.0], scale=scale) == pytest.approx(expected, rel=1e-12)
    assert sim.cosent_loss(u, v, [1.0, 2.0], scale=scale) == pytest.approx(
        np.logaddexp(0.0, scale * (np.cos(alpha) - np.cos(beta))), rel=1e-12)


@given(seeds, st.integers(2, 8))
def test_cosent_matches_the_published_port(seed, n):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    labels = rng.integers(0, 3, n).astype(float)
    cosines = np.sum(naive_unit(u) * naive_unit(v), axis=-1)
    assert sim.cosent_loss(u, v, labels) == pytest.approx(cosent_port(cosines, labels),
                                                           rel=1e-12, abs=1e-15)


@given(seeds)
def test_cosent_depends_only_on_the_order_of_the_labels(seed):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    labels = rng.standard_normal(5)
    assert sim.cosent_loss(u, v, np.exp(3 * labels) - 2) == pytest.approx(
        sim.cosent_loss(u, v, labels), rel=1e-14)


def test_cosent_has_zero_loss_and_gradient_without_ranked_pairs():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    assert sim.cosent_loss(u, v, np.ones(4)) == 0.0
    for grad in sim.cosent_loss_vjp(1.0, u, v, np.ones(4)):
        np.testing.assert_array_equal(grad, 0.0)


@given(seeds, st.floats(1.5, 2.0))
def test_cosent_gradient_vanishes_when_the_order_holds_by_a_wide_margin(seed, margin):
    # three "similar" pairs at cosine +margin/2, three "dissimilar" at -margin/2: the nine
    # ranked terms weigh exp(-20 margin) <= exp(-30) ~ 1e-13 each, so the loss is below
    # 9 exp(-20 margin) and each cosine's gradient below 20 * 3 exp(-20 margin) (unit
    # vectors: |d cos / d u| <= 1). A loss that forgot the ordering (e.g. squared cosine
    # regression) would have O(1) gradients here.
    rng = np.random.default_rng(seed)
    u = naive_unit(rng.standard_normal((6, 4)))
    labels = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    targets = np.where(labels == 1, margin / 2, -margin / 2)[:, None]
    side = rng.standard_normal((6, 4))
    side = naive_unit(side - u * np.sum(side * u, axis=-1, keepdims=True))
    v = targets * u + np.sqrt(1.0 - targets**2) * side  # cos(u_i, v_i) = targets_i
    weight = np.exp(-20 * margin)
    assert 0.0 < sim.cosent_loss(u, v, labels) <= 9 * weight * (1 + 1e-9)
    for grad in sim.cosent_loss_vjp(1.0, u, v, labels):
        assert np.max(np.abs(grad)) <= 60 * weight * (1 + 1e-9)


def test_cosent_does_not_overflow_on_a_badly_violated_order():
    u = [[1.0, 0.0], [1.0, 0.0]]
    v = [[-1.0, 0.0], [1.0, 0.0]]  # cosines -1 and +1, against labels 1 > 0
    loss = sim.cosent_loss(u, v, [1.0, 0.0], scale=1e4)
    assert loss == pytest.approx(2e4, rel=1e-15)
    grads = sim.cosent_loss_vjp(1.0, u, v, [1.0, 0.0], scale=1e4)
    assert all(np.all(np.isfinite(g)) for g in grads)


@given(seeds)
def test_cosent_vjp_gradcheck(seed):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((2, 5, 3)), rng.standard_normal((5, 3))
    labels = np.array([0.0, 1.0, 2.0, 2.0, 0.5])
    assert_vjp(lambda u, v: sim.cosent_loss(u, v, labels, scale=4.0),
              lambda g, u, v: sim.cosent_loss_vjp(g, u, v, labels, scale=4.0),
              [u, v], rng=seed)


def test_cosent_rejects_bad_input():
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        sim.cosent_loss(np.ones((3, 2)), np.ones((3, 2)), [1.0, 0.0])
    with pytest.raises(ValueError, match="batch of n pairs"):
        sim.cosent_loss([1.0, 2.0], [2.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="labels must be finite"):
        sim.cosent_loss(np.ones((2, 2)), np.ones((2, 2)), [1.0, np.nan])
    with pytest.raises(ValueError, match="scale"):
        sim.cosent_loss(np.ones((2, 2)), np.ones((2, 2)), [1.0, 0.0], scale=0.0)
