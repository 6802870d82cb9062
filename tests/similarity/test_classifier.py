"""Tests of refimpl.similarity.classifier: the Sentence-BERT pair classifier and its VJPs.

Expected values come from closed forms (a softplus of the logit gap) and from a
straightforward port of the published Keras ``special_crossentropy`` written here
independently (``-1e12`` masks, plain log-sum-exp).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from similarity_cases import random_vectors, seeds

from refimpl import similarity as sim
from refimpl.gradcheck import assert_vjp


def keras_masked_cross_entropy(logits: np.ndarray, label: int) -> float:
    """The published special_crossentropy: subtract 1e12 off the task, then plain CE."""
    mask = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    shifted = logits - (mask if label < 1.5 else 1.0 - mask) * 1e12
    peak = shifted.max()
    return float(peak + np.log(np.sum(np.exp(shifted - peak))) - shifted[label])


# ------------------------------------------------------------------- pair features


@given(seeds, st.integers(1, 6))
def test_pair_features_blocks_and_swap(seed, d):
    u, v = random_vectors(seed, 3, d), random_vectors(seed + 1, 3, d)
    v[0] = u[0]  # an exact tie, where |u - v| has its kink
    features = sim.pair_features(u, v)
    np.testing.assert_array_equal(features, np.concatenate([u, v, np.abs(u - v)], -1))
    swapped = sim.pair_features(v, u)
    np.testing.assert_array_equal(swapped[..., 2 * d:], features[..., 2 * d:])
    np.testing.assert_array_equal(features[0, 2 * d:], 0.0)


@given(seeds)
def test_pair_features_vjp_gradcheck(seed):
    u, v = random_vectors(seed, 2, 3, 4), random_vectors(seed + 1, 3, 4)
    assert_vjp(sim.pair_features, sim.pair_features_vjp, [u, v], rng=seed)


def test_pair_features_vjp_at_the_kink_uses_sign_zero():
    g = np.arange(1.0, 7.0)
    grad_u, grad_v = sim.pair_features_vjp(g, [2.0, 5.0], [2.0, 5.0])
    np.testing.assert_array_equal(grad_u, [1.0, 2.0])
    np.testing.assert_array_equal(grad_v, [3.0, 4.0])


# ------------------------------------------------------------- task-masked classifier


@given(seeds, st.integers(1, 5), st.floats(0.01, 300.0))
def test_task_masking_puts_no_probability_on_the_other_task(seed, d, weight_scale):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((6, d)), rng.standard_normal((6, d))
    weight = weight_scale * rng.standard_normal((3 * d, 5))
    weight[:, 2:] += weight_scale * 50  # NLI logits dwarf the binary ones
    nli = np.array([False, True, False, True, True, False])
    p = sim.pair_class_probabilities(u, v, weight, nli)
    assert np.all(p[~nli][:, 2:] == 0.0) and np.all(p[nli][:, :2] == 0.0)
    assert np.all(p >= 0.0) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=0, atol=1e-15)


@given(seeds, st.integers(1, 4))
def test_classifier_loss_matches_the_published_minus_1e12_port(seed, d):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((5, d)), rng.standard_normal((5, d))
    weight = rng.standard_normal((3 * d, 5))
    labels = np.array([0, 1, 2, 3, 4])
    loss = sim.pair_classifier_loss(u, v, weight, labels)
    logits = np.concatenate([u, v, np.abs(u - v)], -1) @ weight
    expected = [keras_masked_cross_entropy(z, y) for z, y in zip(logits, labels, strict=True)]
    np.testing.assert_allclose(loss, expected, rtol=1e-12, atol=1e-13)
    p = sim.pair_class_probabilities(u, v, weight, labels >= 2)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(5), labels]), rtol=1e-12, atol=1e-14)


def test_binary_loss_is_softplus_of_the_logit_gap():
    # u = [1, 0], v = [0, 2]: features [1, 0, 0, 2, 1, 2]; only columns 0, 1 matter
    weight = np.zeros((6, 5))
    weight[:, 0] = [1.0, 0, 0, 0, 0, 0]  # z_0 = 1
    weight[:, 1] = [0, 0, 0, 1.0, 0, 1.0]  # z_1 = 2 + 2 = 4
    weight[:, 2:] = 1e3  # NLI logits are huge but masked away
    loss = sim.pair_classifier_loss([1.0, 0.0], [0.0, 2.0], weight, labels=0)
    assert loss == pytest.approx(np.log1p(np.exp(3.0)), rel=1e-14)


@pytest.mark.parametrize("gap", [0.0, 1.0, 30.0, 700.0])
def test_confident_classifier_loss_keeps_its_relative_accuracy(gap):
    # binary logits (0, gap), label 1: loss log(1 + exp(-gap)) down to ~1e-304
    weight = np.zeros((3, 5))
    weight[0, 1] = gap  # features [1, 0, 1] for u = 1, v = 0
    loss = sim.pair_classifier_loss([1.0], [0.0], weight, labels=1)
    assert loss == pytest.approx(np.log1p(np.exp(-gap)), rel=1e-14)
    assert loss > 0.0 or gap > 745


@given(seeds)
def test_classifier_gradient_never_reaches_the_other_tasks_columns(seed):
    rng = np.random.default_rng(seed)
    u, v, weight = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), \
        rng.standard_normal((9, 5))
    _, _, grad_binary = sim.pair_classifier_loss_vjp(np.ones(4), u, v, weight, [0, 1, 1, 0])
    _, _, grad_nli = sim.pair_classifier_loss_vjp(np.ones(4), u, v, weight, [2, 3, 4, 2])
    assert np.all(grad_binary[:, 2:] == 0.0) and np.any(grad_binary[:, :2] != 0.0)
    assert np.all(grad_nli[:, :2] == 0.0) and np.any(grad_nli[:, 2:] != 0.0)


def test_explicit_task_flags_agree_with_the_inferred_ones():
    rng = np.random.default_rng(3)
    u, v, weight = rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), \
        rng.standard_normal((6, 5))
    labels = [1, 4, 0, 2]
    np.testing.assert_array_equal(
        sim.pair_classifier_loss(u, v, weight, labels),
        sim.pair_classifier_loss(u, v, weight, labels, nli=[False, True, False, True]))


@given(seeds)
def test_classifier_loss_vjp_gradcheck(seed):
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4))  # v broadcasts
    weight = rng.standard_normal((12, 5))
    labels = np.array([[0, 3, 1], [4, 2, 1]])
    assert_vjp(lambda u, v, w: sim.pair_classifier_loss(u, v, w, labels),
              lambda g, u, v, w: sim.pair_classifier_loss_vjp(g, u, v, w, labels),
              [u, v, weight], rng=seed)


@given(seeds)
def test_class_probabilities_vjp_gradcheck(seed):
    rng = np.random.default_rng(seed)
    u, v, weight = rng.standard_normal((3, 2)), rng.standard_normal((1, 2)), \
        rng.standard_normal((6, 5))
    nli = [True, False, True]
    assert_vjp(lambda u, v, w: sim.pair_class_probabilities(u, v, w, nli),
              lambda g, u, v, w: sim.pair_class_probabilities_vjp(g, u, v, w, nli),
              [u, v, weight], rng=seed)


@pytest.mark.parametrize("labels, nli, match", [
    ([5], None, "labels"), ([-1], None, "labels"), ([1.5], None, "labels"),
    ([3], [False], "labels must lie in their task"),
    ([1], [True], "labels must lie in their task"),
    ([1], [2], "nli"),
])
def test_classifier_rejects_bad_labels(labels, nli, match):
    with pytest.raises(ValueError, match=match):
        sim.pair_classifier_loss([[1.0, 2.0]], [[0.0, 1.0]], np.ones((6, 5)), labels, nli)


def test_classifier_rejects_bad_shapes():
    with pytest.raises(ValueError, match="weight"):
        sim.pair_classifier_loss([1.0, 2.0], [0.0, 1.0], np.ones((6, 3)), 0)
    with pytest.raises(ValueError, match="v must have last dimension 2"):
        sim.pair_classifier_loss([1.0, 2.0], [0.0, 1.0, 3.0], np.ones((6, 5)), 0)
    with pytest.raises(ValueError, match="^grad must have the output.s shape"):
        sim.pair_classifier_loss_vjp(np.ones(2), [1.0, 2.0], [0.0, 1.0], np.ones((6, 5)), 0)
    with pytest.raises(TypeError, match="labels"):
        sim.pair_classifier_loss([1.0, 2.0], [0.0, 1.0], np.ones((6, 5)), "entailment")


def test_classifier_overflow_raises_instead_of_returning_inf():
    with pytest.raises(ValueError, match=r"\|u - v\| overflowed"):
        sim.pair_features([1e308], [-1e308])
    with pytest.raises(ValueError, match="logits .* overflowed"):
        sim.pair_classifier_loss([1e200, 0.0], [0.0, 1.0], np.full((6, 5), 1e200), 0)
