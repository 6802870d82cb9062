"""Tests of refimpl.similarity.distillation: the cosine-matrix distillation loss and its VJP.

Expected values come from the closed form of two sentences.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from similarity_cases import random_vectors, seeds

from refimpl import similarity as sim
from refimpl.gradcheck import assert_vjp

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
    assert_vjp(sim.cosine_distillation_loss, sim.cosine_distillation_loss_vjp,
              [teacher, student], rng=seed)


def test_distillation_rejects_mismatched_sentence_counts():
    with pytest.raises(ValueError, match="same number of sentences"):
        sim.cosine_distillation_loss(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="scale"):
        sim.cosine_distillation_loss(np.ones((3, 2)), np.ones((3, 2)), scale=-1.0)
