"""Tests of refimpl.similarity.contrastive: the in-batch contrastive loss and its VJP.

Expected values come from closed forms (orthogonal and parallel pairs) and from a
straightforward port of the published Keras formula written here independently
(``-1e12`` on the diagonal, plain log-softmax).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from similarity_cases import naive_unit, random_vectors, seeds

from refimpl import similarity as sim
from refimpl.gradcheck import assert_vjp

# ------------------------------------------------------------ in-batch contrastive


def keras_contrastive(x: np.ndarray, scale: float = 20.0) -> float:
    """The published stage-1 similarity loss, ported plainly."""
    n = x.shape[0]
    logits = scale * (naive_unit(x) @ naive_unit(x).T - np.eye(n) * 1e12)
    partner = np.arange(n) + 1 - np.arange(n) % 2 * 2
    peak = logits.max(axis=1, keepdims=True)
    log_softmax = logits - peak - np.log(np.exp(logits - peak).sum(axis=1, keepdims=True))
    return float(-np.mean(log_softmax[np.arange(n), partner]))


@given(seeds, st.integers(1, 5), st.integers(1, 6))
def test_contrastive_matches_the_published_port(seed, pairs, d):
    x = random_vectors(seed, 2 * pairs, d)
    assert sim.in_batch_contrastive_loss(x) == pytest.approx(keras_contrastive(x), rel=1e-12)


def test_contrastive_closed_forms():
    # one pair: each row's only candidate is its partner, so the loss is exactly 0
    assert sim.in_batch_contrastive_loss([[1.0, 0.0], [0.3, 2.0]]) == 0.0
    np.testing.assert_array_equal(
        sim.in_batch_contrastive_loss_vjp(1.0, [[1.0, 0.0], [0.3, 2.0]]), 0.0)
    # all rows parallel: every candidate has the same logit, loss log(n - 1)
    assert sim.in_batch_contrastive_loss(np.ones((6, 2))) == pytest.approx(np.log(5), rel=1e-14)
    # partner at cosine 1/2, the other pair's rows at cosine 0 and -1/2 ... (see below)
    x = [[1.0, 0.0], [0.5, np.sqrt(0.75)], [0.0, 1.0], [0.0, 1.0]]
    # row 0: partner cos 1/2, others cos 0, 0 -> log(e^10 + 2) - 10
    # row 1: partner cos 1/2, others sqrt(.75), sqrt(.75)
    # rows 2, 3: partner cos 1, others 0 and sqrt(.75)
    c = np.sqrt(0.75)
    expected = np.mean([np.log(np.exp(10) + 2) - 10,
                        np.log(np.exp(10) + 2 * np.exp(20 * c)) - 10,
                        np.log(np.exp(20) + 1 + np.exp(20 * c)) - 20,
                        np.log(np.exp(20) + 1 + np.exp(20 * c)) - 20])
    assert sim.in_batch_contrastive_loss(x) == pytest.approx(expected, rel=1e-13)
    # two orthogonal pairs: log(1 + 2 exp(-20)) ~ 4e-9, to full relative precision
    x = [[1.0, 0.0], [2.0, 0.0], [0.0, 0.5], [0.0, 3.0]]
    assert sim.in_batch_contrastive_loss(x) == pytest.approx(np.log1p(2 * np.exp(-20.0)),
                                                             rel=1e-14)


@given(seeds)
def test_contrastive_is_invariant_to_reordering_pairs_and_partners(seed):
    x = random_vectors(seed, 8, 3)
    order = np.array([5, 4, 0, 1, 7, 6, 2, 3])  # pairs permuted, two of them flipped
    assert sim.in_batch_contrastive_loss(x[order]) == pytest.approx(
        sim.in_batch_contrastive_loss(x), rel=1e-13)


@given(seeds)
def test_contrastive_vjp_gradcheck(seed):
    x = random_vectors(seed, 3, 4, 3)
    assert_vjp(lambda x: sim.in_batch_contrastive_loss(x, scale=5.0),
              lambda g, x: sim.in_batch_contrastive_loss_vjp(g, x, scale=5.0), [x], rng=seed)
    assert_vjp(sim.in_batch_contrastive_loss, sim.in_batch_contrastive_loss_vjp, [x[0]],
              rng=seed, rtol=1e-4)


@pytest.mark.parametrize("rows", [1, 3])
def test_contrastive_rejects_an_odd_batch(rows):
    with pytest.raises(ValueError, match="even number"):
        sim.in_batch_contrastive_loss(np.ones((rows, 2)))
