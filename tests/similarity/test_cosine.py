"""Tests of refimpl.similarity.cosine, and the properties every cosine loss shares.

Cosines are compared with a plain normalisation; the losses built on them (distillation,
contrastive, CoSENT) must ignore the length of every sentence vector and any rotation,
so their gradients are orthogonal to each vector.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from similarity_cases import log_scales, naive_unit, random_vectors, seeds

from refimpl import similarity as sim
from refimpl.gradcheck import assert_vjp

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
    # each cosine errs by ~(d + 2) u (two normalisations and a d-term dot product), and
    # the two sides are computed from different inputs: 4 (d + 2) eps apart at most
    tolerance = 4 * (3 + 2) * np.finfo(float).eps
    np.testing.assert_allclose(sim.cosine_similarity_matrix(scaled),
                               sim.cosine_similarity_matrix(x), rtol=0, atol=tolerance)
    np.testing.assert_allclose(sim.pair_cosine(scaled, x[::-1]),
                               sim.pair_cosine(x, x[::-1]), rtol=0, atol=tolerance)


@given(seeds)
def test_cosine_vjps_gradcheck(seed):
    x = random_vectors(seed, 2, 4, 3)
    assert_vjp(sim.cosine_similarity_matrix, sim.cosine_similarity_matrix_vjp, [x], rng=seed)
    assert_vjp(sim.pair_cosine, sim.pair_cosine_vjp, [x, x[0] + random_vectors(seed, 4, 3)],
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
    for grad, vectors in zip(grads, [y, x, x, x, y], strict=True):
        radial = np.sum(grad * vectors, axis=-1)
        assert np.max(np.abs(radial)) <= 1e-12 * max(1.0, np.max(np.abs(grad)))
