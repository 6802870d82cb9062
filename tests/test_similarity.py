"""Tests of refimpl.similarity: the RoFormer-Sim objectives and their VJPs.

Expected values come from closed forms (two-pair CoSENT, two-sentence distillation,
contrastive losses of orthogonal pairs) and from straightforward ports of the published
Keras formulas written here independently (``-1e12`` masks, plain log-sum-exp).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl import similarity as sim
from refimpl.gradcheck import check_vjp

seeds = st.integers(0, 2**32 - 1)
# per-vector rescaling factors from 1e-150 to 1e150 (adversarial magnitudes)
log_scales = st.lists(st.floats(-150, 150), min_size=1, max_size=8)


def random_vectors(seed: int, *shape: int) -> np.ndarray:
    """Gaussian vectors (never zero in practice)."""
    return np.random.default_rng(seed).standard_normal(shape)


def naive_unit(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True))


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
    check_vjp(sim.pair_features, sim.pair_features_vjp, [u, v], rng=seed)


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
    expected = [keras_masked_cross_entropy(z, y) for z, y in zip(logits, labels)]
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
    check_vjp(lambda u, v, w: sim.pair_classifier_loss(u, v, w, labels),
              lambda g, u, v, w: sim.pair_classifier_loss_vjp(g, u, v, w, labels),
              [u, v, weight], rng=seed)


@given(seeds)
def test_class_probabilities_vjp_gradcheck(seed):
    rng = np.random.default_rng(seed)
    u, v, weight = rng.standard_normal((3, 2)), rng.standard_normal((1, 2)), \
        rng.standard_normal((6, 5))
    nli = [True, False, True]
    check_vjp(lambda u, v, w: sim.pair_class_probabilities(u, v, w, nli),
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


# ------------------------------------------------------------------------- cosines


@given(seeds, st.integers(1, 6), st.integers(1, 5))
def test_cosine_matrix_is_a_symmetric_unit_diagonal_correlation(seed, n, d):
    x = random_vectors(seed, n, d)
    s = sim.cosine_similarity_matrix(x)
    np.testing.assert_allclose(s, naive_unit(x) @ naive_unit(x).T, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(s, s.T)
    np.testing.assert_allclose(np.diag(s), 1.0, atol=1e-15)
    assert np.all(np.abs(s) <= 1.0 + 1e-15)


@given(seeds, log_scales)
def test_cosines_ignore_the_length_of_every_vector(seed, logs):
    n = len(logs)
    x = random_vectors(seed, n, 3)
    scaled = x * 10.0 ** np.array(logs)[:, None]
    np.testing.assert_allclose(sim.cosine_similarity_matrix(scaled),
                               sim.cosine_similarity_matrix(x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(sim.pair_cosine(scaled, x[::-1]),
                               sim.pair_cosine(x, x[::-1]), rtol=0, atol=1e-15)


@given(seeds)
def test_cosine_vjps_gradcheck(seed):
    x = random_vectors(seed, 2, 4, 3)
    check_vjp(sim.cosine_similarity_matrix, sim.cosine_similarity_matrix_vjp, [x], rng=seed)
    check_vjp(sim.pair_cosine, sim.pair_cosine_vjp, [x, x[0] + random_vectors(seed, 4, 3)],
              rng=seed)


def test_zero_vectors_are_rejected_by_name():
    with pytest.raises(ValueError, match="x holds a zero vector at batch index \\(1,\\)"):
        sim.cosine_similarity_matrix([[1.0, 2.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="v holds a zero vector"):
        sim.pair_cosine([1.0], [0.0])
    with pytest.raises(ValueError, match="teacher holds a zero vector"):
        sim.cosine_distillation_loss([[0.0], [1.0]], [[1.0], [1.0]])
    with pytest.raises(ValueError, match="x must have at least 2"):
        sim.cosine_similarity_matrix([1.0, 2.0])


# ------------------------------------------------- the cosine losses, shared properties


def losses_of(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Every cosine loss on sentence vectors x (n rows, n even) and other vectors y."""
    n = x.shape[0]
    labels = np.arange(n // 2) % 3
    return {
        "distillation": float(sim.cosine_distillation_loss(y, x)),
        "contrastive": float(sim.in_batch_contrastive_loss(x)),
        "cosent": float(sim.cosent_loss(x[0::2], x[1::2], labels, scale=5.0)),
    }


@given(seeds, st.lists(st.floats(-150, 150), min_size=6, max_size=6))
def test_cosine_losses_ignore_the_length_of_every_sentence_vector(seed, logs):
    x, y = random_vectors(seed, 6, 4), random_vectors(seed + 1, 6, 5)
    scales = 10.0 ** np.array(logs)[:, None]
    before, after = losses_of(x, y), losses_of(x * scales, y * scales[::-1])
    for name in before:
        assert after[name] == pytest.approx(before[name], rel=1e-12, abs=1e-13), name


@given(seeds)
def test_cosine_losses_are_rotation_invariant(seed):
    x, y = random_vectors(seed, 6, 4), random_vectors(seed + 1, 6, 5)
    rotation = np.linalg.qr(random_vectors(seed + 2, 4, 4))[0]
    before, after = losses_of(x, y), losses_of(x @ rotation, y)
    for name in before:
        assert after[name] == pytest.approx(before[name], rel=1e-12, abs=1e-13), name


@given(seeds)
def test_cosine_loss_gradients_are_orthogonal_to_each_vector(seed):
    # scale invariance makes d/dt L(t x_i) = <grad_i, x_i> = 0 (Euler's theorem, degree 0)
    x, y = random_vectors(seed, 6, 4), random_vectors(seed + 1, 6, 4)
    labels = [0.0, 1.0, 2.0, 1.0, 0.5, 3.0]
    grads = [*sim.cosine_distillation_loss_vjp(1.0, y, x),
             sim.in_batch_contrastive_loss_vjp(1.0, x),
             *sim.cosent_loss_vjp(1.0, x, y, labels)]
    for grad, vectors in zip(grads, [y, x, x, x, y]):
        radial = np.sum(grad * vectors, axis=-1)
        assert np.max(np.abs(radial)) <= 1e-12 * max(1.0, np.max(np.abs(grad)))


# ------------------------------------------------------------------- distillation


@given(st.floats(0.0, np.pi), st.floats(0.0, np.pi), st.floats(0.1, 10.0))
def test_distillation_of_two_sentences_has_its_closed_form(alpha, beta, radius):
    # two rows at angle alpha (teacher) and beta (student): two off-diagonal entries
    teacher = [[1.0, 0.0], [np.cos(alpha), np.sin(alpha)]]
    student = radius * np.array([[0.0, 1.0, 0.0], [0.0, np.cos(beta), np.sin(beta)]])
    expected = 100.0 * 2 * (np.cos(alpha) - np.cos(beta)) ** 2 / 4
    assert sim.cosine_distillation_loss(teacher, student) == pytest.approx(
        expected, rel=1e-12, abs=1e-12)
    assert sim.cosine_distillation_loss(teacher, student, scale=1.0) == pytest.approx(
        expected / 100, rel=1e-12, abs=1e-14)


@given(seeds)
def test_distillation_vanishes_when_the_student_copies_the_teacher(seed):
    teacher = random_vectors(seed, 5, 3)
    rotation = np.linalg.qr(random_vectors(seed + 1, 3, 3))[0]
    student = 7.0 * teacher @ rotation
    assert sim.cosine_distillation_loss(teacher, student) <= 1e-26
    grads = sim.cosine_distillation_loss_vjp(1.0, teacher, student)
    assert max(np.max(np.abs(g)) for g in grads) < 1e-12


@given(seeds)
def test_distillation_vjp_gradcheck(seed):
    teacher, student = random_vectors(seed, 4, 5), random_vectors(seed + 1, 2, 4, 3)
    check_vjp(sim.cosine_distillation_loss, sim.cosine_distillation_loss_vjp,
              [teacher, student], rng=seed)


def test_distillation_rejects_mismatched_sentence_counts():
    with pytest.raises(ValueError, match="same number of sentences"):
        sim.cosine_distillation_loss(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="scale"):
        sim.cosine_distillation_loss(np.ones((3, 2)), np.ones((3, 2)), scale=-1.0)


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
    check_vjp(lambda x: sim.in_batch_contrastive_loss(x, scale=5.0),
              lambda g, x: sim.in_batch_contrastive_loss_vjp(g, x, scale=5.0), [x], rng=seed)
    check_vjp(sim.in_batch_contrastive_loss, sim.in_batch_contrastive_loss_vjp, [x[0]],
              rng=seed, rtol=1e-4)


@pytest.mark.parametrize("rows", [1, 3])
def test_contrastive_rejects_an_odd_batch(rows):
    with pytest.raises(ValueError, match="even number"):
        sim.in_batch_contrastive_loss(np.ones((rows, 2)))


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
    check_vjp(lambda u, v: sim.cosent_loss(u, v, labels, scale=4.0),
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
