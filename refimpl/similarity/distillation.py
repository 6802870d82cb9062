"""Cosine-matrix distillation: pull a student's cosine matrix towards a teacher's.

RoFormer-Sim learns the retrieval behaviour of a teacher encoder by matching, over a
batch of ``n`` sentences, the student's ``n x n`` matrix of cosines to the teacher's
with a squared error weighted by ``lambda = 100`` (https://kexue.fm/archives/8454;
``TotalLoss.compute_loss_of_similarity`` in ``train/stage2.py`` of
https://github.com/ZhuiyiTechnology/roformer-sim at commit e03d7d2). The post
https://kexue.fm/archives/8541 distils the supervised Sentence-BERT model back into
RoFormer-Sim the same way.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_scalar, broadcast_batch
from refimpl.similarity._common import (
    cosine_matrix_backward,
    cosine_matrix_of_units,
    sentence_vectors,
    unit_vectors,
)

__all__ = ["cosine_distillation_loss", "cosine_distillation_loss_vjp"]


def _distillation_inputs(
    teacher: ArrayLike, student: ArrayLike, scale: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Validated teacher and student vectors of the same ``n`` sentences, and ``scale``."""
    scale = as_scalar(scale, "scale", positive=True)
    teacher = sentence_vectors(teacher, "teacher", minimum_ndim=2)
    student = sentence_vectors(student, "student", minimum_ndim=2)
    if teacher.shape[-2] != student.shape[-2]:
        raise ValueError(f"teacher and student must hold the same number of sentences "
                         f"(axis -2), got shapes {teacher.shape} and {student.shape}")
    broadcast_batch(teacher=teacher.shape[:-2], student=student.shape[:-2])
    return teacher, student, scale


def cosine_distillation_loss(
    teacher: ArrayLike, student: ArrayLike, scale: float = 100.0
) -> np.ndarray:
    """Mean squared difference of the teacher's and the student's cosine matrices.

    .. math::

        L = \\frac{\\lambda}{n^2} \\sum_{i=1}^n \\sum_{j=1}^n
            \\big(\\cos(t_i, t_j) - \\cos(s_i, s_j)\\big)^2, \\qquad \\lambda = 100

    The recipe of kexue.fm/archives/8454 and ``train/stage2.py``, which distils a
    teacher's retrieval behaviour into RoFormer-Sim (kexue 8541 §"distillation"). The
    mean runs over all ``n^2`` entries, diagonal included (it contributes zero).

    Parameters
    ----------
    teacher : array_like, shape (..., n, d_t)
        Teacher sentence vectors (the published script treats them as constants; the
        VJP returns their gradient anyway).
    student : array_like, shape (..., n, d_s)
        Student sentence vectors of the same ``n`` sentences; ``d_s`` may differ.
    scale : float
        ``lambda``, the loss weight (100 in the post).

    Returns
    -------
    ndarray, shape (...)

    Examples
    --------
    Orthogonal teacher vectors against parallel student vectors: two off-diagonal
    entries each off by 1, so ``L = 100 * 2 / 4``:

    >>> float(cosine_distillation_loss([[1.0, 0.0], [0.0, 1.0]], [[1.0], [2.0]]))
    50.0
    """
    teacher, student, scale = _distillation_inputs(teacher, student, scale)
    # one side's unit vectors at a time: their memory is reused for the other side's
    gap = (cosine_matrix_of_units(unit_vectors(teacher)[0])
           - cosine_matrix_of_units(unit_vectors(student)[0]))
    return scale * np.mean(gap * gap, axis=(-2, -1))


def cosine_distillation_loss_vjp(
    grad: ArrayLike, teacher: ArrayLike, student: ArrayLike, scale: float = 100.0
) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`cosine_distillation_loss` in ``teacher`` and ``student``.

    .. math:: \\bar S_t = -\\bar S_s = \\frac{2 \\lambda g}{n^2} (S_t - S_s)

    then :func:`~refimpl.similarity.cosine_similarity_matrix_vjp` for each side.

    Examples
    --------
    The student's cosine 1/sqrt(2) should drop to the teacher's 0:

    >>> _, grad_student = cosine_distillation_loss_vjp(1.0, [[1.0, 0.0], [0.0, 1.0]],
    ...                                                [[1.0, 0.0], [1.0, 1.0]])
    >>> grad_student.round(6)
    array([[  0.,  50.],
           [ 25., -25.]])
    """
    teacher, student, scale = _distillation_inputs(teacher, student, scale)
    teacher_direction, student_direction = unit_vectors(teacher), unit_vectors(student)
    gap = (cosine_matrix_of_units(teacher_direction[0])
           - cosine_matrix_of_units(student_direction[0]))
    n = gap.shape[-1]
    g = cotangent(grad, gap.shape[:-2])
    grad_gap = (2.0 * scale / n**2) * g[..., None, None] * gap
    grad_teacher = sum_to_shape(grad_gap, teacher.shape[:-2] + (n, n))
    grad_student = sum_to_shape(-grad_gap, student.shape[:-2] + (n, n))
    return (cosine_matrix_backward(grad_teacher, *teacher_direction),
            cosine_matrix_backward(grad_student, *student_direction))
