"""Training objectives of RoFormer-Sim: sentence-pair classification, distillation, ranking.

A sentence encoder maps each sentence to a vector; retrieval compares two vectors by
their cosine. The posts behind RoFormer-Sim train that encoder with four objectives,
all implemented here with a hand-written VJP in the sentence vectors (and the head
weights, where there is a head):

* the Sentence-BERT classifier (kexue.fm/archives/8541): the pair ``(u, v)`` becomes
  ``[u, v, |u - v|]``, one shared bias-free head gives 5 logits, columns 0-1 serve the
  binary "similar or not" task and columns 2-4 the NLI task (contradiction,
  entailment, neutral); each example's softmax runs over its own task's columns only;
* cosine-matrix distillation (kexue.fm/archives/8454, ``train/stage2.py``): the
  student's cosine matrix is pulled towards the teacher's, ``lambda = 100``;
* the in-batch contrastive loss (``train/stage1.py``): rows ``2i`` and ``2i + 1`` are
  paraphrases of each other; every row must pick its partner out of the batch by
  cosine scaled by 20, itself excluded;
* CoSENT (kexue.fm/archives/8847): a ranking loss that asks every pair with a higher
  label to have a higher cosine, ``lambda = 20``.

Masks are exact: where the published Keras code subtracts ``1e12`` from a logit, this
module leaves that logit out of the softmax, which gives the same numbers (``exp`` of
``-1e12`` is zero in every float format) without the large constant.

Cosines are computed from unit vectors (normalised like
:func:`refimpl.householder.normalize`: where the sum of squares would leave the float64
range, the norm divides by the largest entry before squaring), so a vector's magnitude,
from tiny to huge, does not change its cosines; a zero vector has no direction and
raises ``ValueError``.

Each public function validates its inputs once and normalises each vector once; the
private functions below (``_unit_vectors``, ``_pair_cosine_backward``, ...) take
validated arrays and do no checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import (
    as_float_array,
    as_scalar,
    broadcast_batch,
    check_last_axis,
    check_ndim,
)

__all__ = [
    "BINARY_CLASSES",
    "NLI_CLASSES",
    "pair_features",
    "pair_features_vjp",
    "pair_class_probabilities",
    "pair_class_probabilities_vjp",
    "pair_classifier_loss",
    "pair_classifier_loss_vjp",
    "pair_cosine",
    "pair_cosine_vjp",
    "cosine_similarity_matrix",
    "cosine_similarity_matrix_vjp",
    "cosine_distillation_loss",
    "cosine_distillation_loss_vjp",
    "in_batch_contrastive_loss",
    "in_batch_contrastive_loss_vjp",
    "cosent_loss",
    "cosent_loss_vjp",
]

#: Head columns of the binary task: 0 = not similar, 1 = similar.
BINARY_CLASSES = (0, 1)
#: Head columns of the NLI task: 2 = contradiction, 3 = entailment, 4 = neutral.
NLI_CLASSES = (2, 3, 4)
_NUM_CLASSES = 5
_NLI_COLUMNS = np.isin(np.arange(_NUM_CLASSES), NLI_CLASSES)


# ----------------------------------------------------------------------------- helpers


def _sentence_vectors(value: Any, name: str, minimum_ndim: int = 1) -> np.ndarray:
    """Float64 sentence vectors (feature axis last) with no zero vector among them."""
    vectors = as_float_array(value, name)
    check_ndim(vectors, name, minimum_ndim)
    if vectors.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last (feature) axis, got shape "
                         f"{vectors.shape}")
    zero = ~np.any(vectors != 0, axis=-1)
    if np.any(zero):
        index = tuple(int(i) for i in np.argwhere(zero)[0])
        raise ValueError(f"{name} holds a zero vector at batch index {index}; its cosine "
                         "with anything is undefined")
    return vectors


def _unit_vectors(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x / ||x||`` and ``||x||`` (last axis kept) of validated non-zero finite vectors.

    The plain sum of squares is exact to rounding while it lies well inside the float64
    range; otherwise every norm is recomputed after dividing by ``max |x_i|`` (non-zero
    here), so tiny or huge entries neither underflow nor overflow. The same norm as
    :func:`refimpl.householder.normalize`.
    """
    with np.errstate(over="ignore"):  # an overflowed square sends us to the scaled form
        squares = np.einsum("...i,...i->...", x, x)[..., None]
    if np.all((squares > 1e-280) & (squares < 1e280)):
        norm = np.sqrt(squares)
    else:
        largest = np.max(np.abs(x), axis=-1, keepdims=True)
        norm = largest * np.sqrt(np.sum(np.square(x / largest), axis=-1, keepdims=True))
    return x / norm, norm


def _unit_vectors_vjp(grad_unit: np.ndarray, unit: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Chain a gradient in ``x / ||x||`` back to ``x``: ``(g - x_hat <x_hat, g>) / ||x||``."""
    return (grad_unit - unit * np.einsum("...i,...i->...", unit, grad_unit)[..., None]) / norm




def _masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the ``allowed`` entries of the last axis (exact zeros elsewhere).

    Every row must allow at least one entry.
    """
    shifted = np.where(allowed, logits, -np.inf)
    weights = np.exp(shifted - np.max(shifted, axis=-1, keepdims=True))  # exp(-inf) = 0
    return weights / np.sum(weights, axis=-1, keepdims=True)


def _masked_cross_entropy(
    logits: np.ndarray, allowed: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over the ``allowed`` entries and ``-log p[target]``, accurate when tiny.

    ``-log p_t = log(1 + sum_{j != t} exp(z_j - z_t))``: when the target holds the
    largest logit every term is at most 1 and ``log1p`` keeps a loss of ``1e-9`` to
    full relative precision (``logsumexp(z) - z_t`` would lose half the digits);
    otherwise the loss exceeds ``max(z) - z_t > 0`` and the usual form is exact enough.
    ``target`` is a boolean one-hot array shaped like ``logits``.
    """
    shifted = np.where(allowed, logits, -np.inf)
    peak = np.max(shifted, axis=-1, keepdims=True)
    weights = np.exp(shifted - peak)
    target_weight = np.sum(np.where(target, weights, 0.0), axis=-1)
    others = np.sum(np.where(target, 0.0, weights), axis=-1)
    total = target_weight + others
    gap = peak[..., 0] - np.sum(np.where(target, logits, 0.0), axis=-1)
    loss = np.where(gap <= 0, np.log1p(others), gap + np.log(total))
    return weights / total[..., None], loss



# ------------------------------------------------------------ the Sentence-BERT classifier


def _pair(u: Any, v: Any) -> tuple[np.ndarray, np.ndarray, int]:
    u = as_float_array(u, "u")
    v = as_float_array(v, "v")
    d = check_last_axis(u, "u")
    check_last_axis(v, "v", size=d)
    broadcast_batch(u=u.shape[:-1], v=v.shape[:-1])
    return u, v, d


def pair_features(u: Any, v: Any) -> np.ndarray:
    """The Sentence-BERT pair representation ``[u, v, |u - v|]``.

    .. math:: f(u, v) = [\\, u ;\\ v ;\\ |u - v| \\,] \\in \\mathbb{R}^{3d}

    Parameters
    ----------
    u, v : array_like, shape (..., d)
        Sentence vectors of the two sides of each pair; batch shapes broadcast.

    Returns
    -------
    ndarray, shape (..., 3d)

    Notes
    -----
    ``|u - v|`` is the only block that measures closeness (it vanishes iff
    ``u = v``); ``u`` and ``v`` alone act like topic detectors (kexue 8541; Reimers &
    Gurevych 2019, Sentence-BERT). The VJP uses ``sign(0) = 0`` at the kink.

    Examples
    --------
    >>> pair_features([1.0, 2.0], [3.0, 0.0])
    array([1., 2., 3., 0., 2., 2.])
    """
    u, v, _ = _pair(u, v)
    return _features(u, v)


def _features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``[u, v, |u - v|]`` of validated vectors; raises if ``|u - v|`` overflows."""
    u, v = np.broadcast_arrays(u, v)
    with np.errstate(over="ignore"):  # checked below
        features = np.concatenate([u, v, np.abs(u - v)], axis=-1)
    _check_overflow(features, "|u - v|")
    return features


def pair_features_vjp(grad: Any, u: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`pair_features` in ``u`` and ``v``.

    .. math:: \\bar u = g_1 + \\operatorname{sign}(u - v) \\odot g_3, \\qquad
              \\bar v = g_2 - \\operatorname{sign}(u - v) \\odot g_3

    where ``g = [g_1; g_2; g_3]`` is the cotangent split in thirds.

    Examples
    --------
    >>> pair_features_vjp(np.ones(6), [1.0, 2.0], [3.0, 0.0])
    (array([0., 2.]), array([2., 0.]))
    """
    u, v, d = _pair(u, v)
    shape = np.broadcast_shapes(u.shape, v.shape)
    return _features_vjp(cotangent(grad, shape[:-1] + (3 * d,)), u, v)


def _features_vjp(g: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Back through ``[u, v, |u - v|]`` (validated ``u``, ``v`` and cotangent ``g``)."""
    d = u.shape[-1]
    sign = np.sign(u - v)
    grad_u = g[..., :d] + sign * g[..., 2 * d:]
    grad_v = g[..., d:2 * d] - sign * g[..., 2 * d:]
    return sum_to_shape(grad_u, u.shape), sum_to_shape(grad_v, v.shape)


def _head_weight(weight: Any, d: int) -> np.ndarray:
    weight = as_float_array(weight, "weight")
    if weight.shape != (3 * d, _NUM_CLASSES):
        raise ValueError(f"weight must have shape (3d, 5) = ({3 * d}, 5) for sentence "
                         f"vectors of size d={d}, got shape {weight.shape}")
    return weight


def _task_flags(nli: Any) -> np.ndarray:
    """``nli`` as a boolean array: True marks an NLI example, False a binary one."""
    flags = as_float_array(nli, "nli")
    if not np.all((flags == 0) | (flags == 1)):
        raise ValueError(f"nli must hold booleans (True for an NLI example), got values "
                         f"{np.unique(flags)[:5]}")
    return flags.astype(bool)


def _check_overflow(values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} overflowed: the inputs are beyond the float64 range; "
                         "rescale them")


def _logits(u, v, weight) -> tuple[np.ndarray, np.ndarray]:
    features = _features(u, v)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        logits = features @ weight
    _check_overflow(logits, "the head's logits [u, v, |u - v|] W")
    return features, logits


def _logits_vjp(grad_logits, u, v, weight, features) -> tuple[np.ndarray, ...]:
    """Back through ``logits = [u, v, |u - v|] W``."""
    grad_weight = features.reshape(-1, features.shape[-1]).T \
        @ grad_logits.reshape(-1, _NUM_CLASSES)
    grad_u, grad_v = _features_vjp(grad_logits @ weight.T, u, v)
    return grad_u, grad_v, grad_weight


def _classifier_inputs(u, v, weight, flags):
    """Validated inputs, with ``u`` broadcast to the full batch (the shape of ``flags`` too).

    ``flags`` are the validated task flags (:func:`_task_flags`); also returns the shape
    of ``u`` before broadcasting, which its gradient must have.
    """
    u, v, d = _pair(u, v)
    weight = _head_weight(weight, d)
    batch = broadcast_batch(u=u.shape[:-1], v=v.shape[:-1], nli=flags.shape)
    allowed = np.where(flags[..., None], _NLI_COLUMNS, ~_NLI_COLUMNS)
    return (np.broadcast_to(u, batch + (d,)), u.shape, v, weight,
            np.broadcast_to(allowed, batch + (_NUM_CLASSES,)))


def pair_class_probabilities(u: Any, v: Any, weight: Any, nli: Any) -> np.ndarray:
    """Class probabilities of the shared 5-logit head, softmaxed within each task.

    .. math::

        z = [u ; v ; |u - v|]\\, W, \\qquad
        p_c = \\frac{[c \\in T]\\, e^{z_c}}{\\sum_{c' \\in T} e^{z_{c'}}}

    with ``T = {0, 1}`` (:data:`BINARY_CLASSES`) for a binary example and
    ``T = {2, 3, 4}`` (:data:`NLI_CLASSES`) for an NLI example.

    Parameters
    ----------
    u, v : array_like, shape (..., d)
        Sentence vectors of the pairs.
    weight : array_like, shape (3d, 5)
        The head, bias-free as in ``train/supervised.py`` (``Dense(5, use_bias=False)``).
    nli : array_like of bool, shape (...)
        True where the example belongs to the NLI task; broadcasts with the batch.

    Returns
    -------
    ndarray, shape (..., 5)
        Exactly zero on the other task's columns; the task's columns sum to one.

    Examples
    --------
    >>> p = pair_class_probabilities([1.0], [0.0], np.ones((3, 5)), nli=[False, True])
    >>> p.round(4)
    array([[0.5   , 0.5   , 0.    , 0.    , 0.    ],
           [0.    , 0.    , 0.3333, 0.3333, 0.3333]])
    """
    u, _, v, weight, allowed = _classifier_inputs(u, v, weight, _task_flags(nli))
    return _masked_softmax(_logits(u, v, weight)[1], allowed)


def pair_class_probabilities_vjp(
    grad: Any, u: Any, v: Any, weight: Any, nli: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of :func:`pair_class_probabilities` in ``u``, ``v`` and ``weight``.

    Through the masked softmax, ``z_bar = p * (g - <g, p>)``, which is zero on the
    other task's columns; then back through the head and :func:`pair_features`.

    Examples
    --------
    >>> gu, gv, gw = pair_class_probabilities_vjp(np.eye(5)[:1], [1.0], [0.0], np.ones((3, 5)),
    ...                                           nli=[False])
    >>> bool(gw[:, 2:].any())  # an NLI column never receives gradient from a binary example
    False
    """
    u_batch, u_shape, v, weight, allowed = _classifier_inputs(u, v, weight, _task_flags(nli))
    features, logits = _logits(u_batch, v, weight)
    probabilities = _masked_softmax(logits, allowed)
    g = cotangent(grad, probabilities.shape)
    grad_logits = probabilities * (g - np.sum(g * probabilities, axis=-1, keepdims=True))
    grad_u, grad_v, grad_weight = _logits_vjp(grad_logits, u_batch, v, weight, features)
    return sum_to_shape(grad_u, u_shape), grad_v, grad_weight


def _class_labels(labels: Any, nli: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer class ids in 0..4, and the task flags (inferred from them when ``nli`` is None)."""
    values = as_float_array(labels, "labels")
    valid = (values == np.round(values)) & (values >= 0) & (values < _NUM_CLASSES)
    if not np.all(valid):
        raise ValueError(f"labels must be class ids in 0..4 (binary 0, 1; NLI 2, 3, 4), "
                         f"got {values[~valid][0]}")
    ids = values.astype(np.int64)
    if nli is None:
        return ids, ids >= 2
    flags = _task_flags(nli)
    shape = broadcast_batch(labels=ids.shape, nli=flags.shape)
    ids, flags = np.broadcast_to(ids, shape), np.broadcast_to(flags, shape)
    wrong = _NLI_COLUMNS[ids] != flags
    if np.any(wrong):
        index = tuple(int(i) for i in np.argwhere(wrong)[0])
        task = "an NLI" if flags[index] else "a binary"
        raise ValueError(f"labels must lie in their task's classes (binary 0, 1; NLI 2, 3, 4), "
                         f"got label {ids[index]} for {task} example at index {index}")
    return ids, flags


def _classifier_forward(u, v, weight, labels, nli):
    """Everything the loss and its VJP share: inputs, features, probabilities, loss."""
    ids, flags = _class_labels(labels, nli)
    u_batch, u_shape, v, weight, allowed = _classifier_inputs(u, v, weight, flags)
    ids = np.broadcast_to(ids, allowed.shape[:-1])
    features, logits = _logits(u_batch, v, weight)
    one_hot = np.arange(_NUM_CLASSES) == ids[..., None]
    probabilities, loss = _masked_cross_entropy(logits, allowed, one_hot)
    return u_batch, u_shape, v, weight, one_hot, features, probabilities, loss


def pair_classifier_loss(u: Any, v: Any, weight: Any, labels: Any, nli: Any = None) -> np.ndarray:
    """Per-pair cross-entropy of the task-masked 5-logit Sentence-BERT head.

    .. math::

        \\ell = \\log \\sum_{c \\in T} e^{z_c} - z_y, \\qquad
        z = [u ; v ; |u - v|]\\, W

    where ``T`` is the example's task (see :func:`pair_class_probabilities`).

    Parameters
    ----------
    u, v : array_like, shape (..., d)
        Sentence vectors of the pairs.
    weight : array_like, shape (3d, 5)
        The shared bias-free head.
    labels : array_like of int, shape (...)
        Class ids in the convention of ``train/supervised.py``: 0, 1 for the binary
        task (not similar, similar; STS-B is thresholded at 2.5 before this), 2, 3, 4
        for NLI (contradiction, entailment, neutral).
    nli : array_like of bool, shape (...), optional
        Task of each example. By default it is read off the label (``label >= 2``), as
        the published code does; when given, each label must lie in its task's classes.

    Returns
    -------
    ndarray, shape (...)
        One cross-entropy per pair (in nats). The published script duplicates each
        pair's features onto both rows of the pair and averages over rows, which equals
        the mean of these values.

    Raises
    ------
    ValueError
        For labels outside 0..4, labels outside their task's classes, a head of the
        wrong shape.

    Examples
    --------
    A binary pair whose two binary logits are equal costs ``log 2``:

    >>> float(pair_classifier_loss([1.0], [0.0], np.ones((3, 5)), labels=1).round(6))
    0.693147
    """
    return _classifier_forward(u, v, weight, labels, nli)[-1]


def pair_classifier_loss_vjp(
    grad: Any, u: Any, v: Any, weight: Any, labels: Any, nli: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of :func:`pair_classifier_loss` in ``u``, ``v`` and ``weight``.

    .. math:: \\bar z = g\\, (p - e_y), \\qquad \\bar W = f^\\top \\bar z, \\qquad
              \\bar f = \\bar z W^\\top

    then :func:`pair_features_vjp`. ``p`` is zero off the task, so a binary example
    sends no gradient into the NLI columns of ``W`` and vice versa.

    Examples
    --------
    >>> gu, gv, gw = pair_classifier_loss_vjp(1.0, [1.0], [0.0], np.ones((3, 5)), labels=1)
    >>> gw[:, 1]
    array([-0.5,  0. , -0.5])
    """
    u_batch, u_shape, v, weight, one_hot, features, probabilities, loss = _classifier_forward(
        u, v, weight, labels, nli)
    g = cotangent(grad, loss.shape)
    grad_logits = g[..., None] * (probabilities - one_hot)
    grad_u, grad_v, grad_weight = _logits_vjp(grad_logits, u_batch, v, weight, features)
    return sum_to_shape(grad_u, u_shape), grad_v, grad_weight


# ------------------------------------------------------------------------------ cosines


def pair_cosine(u: Any, v: Any) -> np.ndarray:
    """Cosine of each pair, ``<u, v> / (||u|| ||v||)``.

    Parameters
    ----------
    u, v : array_like, shape (..., d)
        Non-zero sentence vectors; batch shapes broadcast.

    Returns
    -------
    ndarray, shape (...)

    Examples
    --------
    >>> float(pair_cosine([1.0, 0.0], [1.0, 1.0]).round(6))
    0.707107
    """
    u, v = _cosine_pair(u, v)
    return _pair_cosine(_unit_vectors(u), _unit_vectors(v))


def _cosine_pair(u: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated non-zero sentence vectors of the same size with broadcasting batches."""
    u = _sentence_vectors(u, "u")
    v = _sentence_vectors(v, "v")
    check_last_axis(v, "v", size=u.shape[-1])
    broadcast_batch(u=u.shape[:-1], v=v.shape[:-1])
    return u, v


def _pair_cosine(u_direction, v_direction) -> np.ndarray:
    """Cosines from the ``(unit, norm)`` pairs of :func:`_unit_vectors`."""
    return np.sum(u_direction[0] * v_direction[0], axis=-1)


def _pair_cosine_backward(g: np.ndarray, u_direction, v_direction):
    """Gradients in ``u`` and ``v`` of the cosines, from their cotangent ``g``.

    ``g`` has the broadcast batch shape; the unit vectors' Jacobian is the same for
    every broadcast copy of a vector, so the copies are summed first.
    """
    (unit_u, norm_u), (unit_v, norm_v) = u_direction, v_direction
    g = g[..., None]
    grad_u = _unit_vectors_vjp(sum_to_shape(g * unit_v, unit_u.shape), unit_u, norm_u)
    grad_v = _unit_vectors_vjp(sum_to_shape(g * unit_u, unit_v.shape), unit_v, norm_v)
    return grad_u, grad_v


def pair_cosine_vjp(grad: Any, u: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`pair_cosine` in ``u`` and ``v``.

    .. math:: \\bar u = \\frac{g}{\\|u\\|} (\\hat v - \\cos(u, v)\\, \\hat u)

    and symmetrically for ``v``. The gradient is orthogonal to ``u`` (the cosine does
    not see the length of ``u``).

    Examples
    --------
    >>> pair_cosine_vjp(1.0, [2.0, 0.0], [0.0, 1.0])
    (array([0. , 0.5]), array([1., 0.]))
    """
    u, v = _cosine_pair(u, v)
    g = cotangent(grad, np.broadcast_shapes(u.shape, v.shape)[:-1])
    return _pair_cosine_backward(g, _unit_vectors(u), _unit_vectors(v))


def cosine_similarity_matrix(x: Any) -> np.ndarray:
    """The matrix of cosines between all rows, ``S_ij = cos(x_i, x_j)``.

    .. math:: S = \\hat X \\hat X^\\top, \\qquad \\hat x_i = x_i / \\|x_i\\|

    Parameters
    ----------
    x : array_like, shape (..., n, d)
        ``n`` non-zero sentence vectors per batch entry.

    Returns
    -------
    ndarray, shape (..., n, n)
        Symmetric, with ones on the diagonal (to rounding).

    Examples
    --------
    >>> cosine_similarity_matrix([[1.0, 0.0], [3.0, 3.0]]).round(4)
    array([[1.    , 0.7071],
           [0.7071, 1.    ]])
    """
    unit, _ = _unit_vectors(_sentence_vectors(x, "x", minimum_ndim=2))
    return _cosine_matrix(unit)


def _cosine_matrix(unit: np.ndarray) -> np.ndarray:
    """``U U^T`` for rows of unit vectors ``U``."""
    return unit @ np.swapaxes(unit, -1, -2)


def _cosine_matrix_backward(g: np.ndarray, unit: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Gradient in ``x`` of ``U U^T`` (``U`` the unit rows of ``x``) from its cotangent ``g``."""
    return _unit_vectors_vjp((g + np.swapaxes(g, -1, -2)) @ unit, unit, norm)


def cosine_similarity_matrix_vjp(grad: Any, x: Any) -> np.ndarray:
    """VJP of :func:`cosine_similarity_matrix`.

    .. math:: \\bar{\\hat X} = (G + G^\\top) \\hat X, \\qquad
              \\bar x_i = \\frac{\\bar{\\hat x}_i - \\hat x_i \\langle \\hat x_i,
              \\bar{\\hat x}_i \\rangle}{\\|x_i\\|}

    Examples
    --------
    >>> cosine_similarity_matrix_vjp([[0.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]])
    array([[0. , 1. ],
           [0.5, 0. ]])
    """
    x = _sentence_vectors(x, "x", minimum_ndim=2)
    g = cotangent(grad, x.shape[:-1] + (x.shape[-2],))
    return _cosine_matrix_backward(g, *_unit_vectors(x))


def _distillation_inputs(teacher, student, scale):
    scale = as_scalar(scale, "scale", positive=True)
    teacher = _sentence_vectors(teacher, "teacher", minimum_ndim=2)
    student = _sentence_vectors(student, "student", minimum_ndim=2)
    if teacher.shape[-2] != student.shape[-2]:
        raise ValueError(f"teacher and student must hold the same number of sentences "
                         f"(axis -2), got shapes {teacher.shape} and {student.shape}")
    broadcast_batch(teacher=teacher.shape[:-2], student=student.shape[:-2])
    return teacher, student, scale


def cosine_distillation_loss(teacher: Any, student: Any, scale: float = 100.0) -> np.ndarray:
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
    gap = _cosine_matrix(_unit_vectors(teacher)[0]) - _cosine_matrix(_unit_vectors(student)[0])
    return scale * np.mean(gap * gap, axis=(-2, -1))


def cosine_distillation_loss_vjp(
    grad: Any, teacher: Any, student: Any, scale: float = 100.0
) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`cosine_distillation_loss` in ``teacher`` and ``student``.

    .. math:: \\bar S_t = -\\bar S_s = \\frac{2 \\lambda g}{n^2} (S_t - S_s)

    then :func:`cosine_similarity_matrix_vjp` for each side.

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
    teacher_direction, student_direction = _unit_vectors(teacher), _unit_vectors(student)
    gap = _cosine_matrix(teacher_direction[0]) - _cosine_matrix(student_direction[0])
    n = gap.shape[-1]
    g = cotangent(grad, gap.shape[:-2])
    grad_gap = (2.0 * scale / n**2) * g[..., None, None] * gap
    grad_teacher = sum_to_shape(grad_gap, teacher.shape[:-2] + (n, n))
    grad_student = sum_to_shape(-grad_gap, student.shape[:-2] + (n, n))
    return (_cosine_matrix_backward(grad_teacher, *teacher_direction),
            _cosine_matrix_backward(grad_student, *student_direction))


def _contrastive_forward(x, scale):
    """``(unit, norm)`` of ``x``, partner targets, the masked row softmax, the row losses."""
    scale = as_scalar(scale, "scale", positive=True)
    x = _sentence_vectors(x, "x", minimum_ndim=2)
    n = x.shape[-2]
    if n < 2 or n % 2:
        raise ValueError(f"x must hold an even number n >= 2 of sentences (rows 2i and "
                         f"2i+1 are partners), got n={n} in shape {x.shape}")
    direction = _unit_vectors(x)
    logits = scale * _cosine_matrix(direction[0])
    targets = np.arange(n) == (np.arange(n) ^ 1)[:, None]  # row i's partner is i xor 1
    probabilities, row_losses = _masked_cross_entropy(logits, ~np.eye(n, dtype=bool), targets)
    return direction, scale, targets, probabilities, row_losses


def in_batch_contrastive_loss(x: Any, scale: float = 20.0) -> np.ndarray:
    """SimBERT / RoFormer-Sim in-batch contrastive loss (``train/stage1.py``).

    Rows ``2i`` and ``2i + 1`` are two sentences of one paraphrase pair. Each row ``i``
    must pick its partner ``p(i) = i xor 1`` among the other rows:

    .. math::

        L = \\frac{1}{n} \\sum_{i=1}^n \\Big( \\log \\sum_{j \\ne i}
            e^{\\lambda \\cos(x_i, x_j)} - \\lambda \\cos(x_i, x_{p(i)}) \\Big),
            \\qquad \\lambda = 20

    The diagonal is left out of the softmax exactly (the script subtracts ``1e12``).

    Parameters
    ----------
    x : array_like, shape (..., n, d)
        Sentence vectors; ``n`` must be even and at least 2.
    scale : float
        ``lambda``, the inverse temperature (20 in the post).

    Returns
    -------
    ndarray, shape (...)
        The mean over the ``n`` rows. (The script hands Keras the vector of row losses
        added to the scalar seq2seq loss; differentiating that vector's sum gives ``n``
        times the gradient of seq2seq + this mean, the same direction.)

    Examples
    --------
    With two pairs of orthogonal directions, each row sees its partner at cosine 1 and
    two others at cosine 0, so ``L = log(1 + 2 exp(-20))``:

    >>> x = [[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]]
    >>> bool(np.isclose(in_batch_contrastive_loss(x), np.log1p(2 * np.exp(-20)), rtol=1e-12))
    True
    """
    return np.mean(_contrastive_forward(x, scale)[-1], axis=-1)


def in_batch_contrastive_loss_vjp(grad: Any, x: Any, scale: float = 20.0) -> np.ndarray:
    """VJP of :func:`in_batch_contrastive_loss` in ``x``.

    .. math:: \\bar S = \\frac{\\lambda g}{n} (P - Y)

    where ``P`` is the row-softmax (zero diagonal) and ``Y`` the partner one-hot; then
    :func:`cosine_similarity_matrix_vjp`.

    Examples
    --------
    >>> x = [[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]]
    >>> bool(np.abs(in_batch_contrastive_loss_vjp(1.0, x)).max() < 1e-6)
    True
    """
    direction, scale, targets, probabilities, row_losses = _contrastive_forward(x, scale)
    n = targets.shape[-1]
    g = cotangent(grad, row_losses.shape[:-1])
    grad_cosines = (scale / n) * g[..., None, None] * (probabilities - targets)
    return _cosine_matrix_backward(grad_cosines, *direction)


def _cosent_forward(u, v, labels, scale):
    """Both sides' ``(unit, norm)``, the softmax weights of the ranked terms, the loss."""
    scale = as_scalar(scale, "scale", positive=True)
    u, v = _cosine_pair(u, v)
    u_direction, v_direction = _unit_vectors(u), _unit_vectors(v)
    cosines = _pair_cosine(u_direction, v_direction)
    if cosines.ndim < 1:
        raise ValueError(f"u and v must hold a batch of n pairs (shape (..., n, d)), got "
                         f"shapes {u.shape} and {v.shape}")
    labels = as_float_array(labels, "labels")
    check_ndim(labels, "labels", 1)
    batch = broadcast_batch(pairs=cosines.shape, labels=labels.shape)
    cosines, labels = np.broadcast_to(cosines, batch), np.broadcast_to(labels, batch)
    # term (i, j) is present when pair i is labelled more similar than pair j
    ranked = labels[..., :, None] > labels[..., None, :]
    margins = scale * (cosines[..., None, :] - cosines[..., :, None])
    exponents = np.where(ranked, margins, -np.inf)
    peak = np.maximum(np.max(exponents, axis=(-2, -1)), 0.0)[..., None, None]
    terms = np.exp(exponents - peak)  # zero where not ranked
    peak, ranked_sum = peak[..., 0, 0], np.sum(terms, axis=(-2, -1))
    total = np.exp(-peak) + ranked_sum
    # log1p keeps the relative accuracy of a tiny loss (all terms far below exp(0) = 1)
    loss = np.where(peak > 0, peak + np.log(total), np.log1p(ranked_sum))
    return u_direction, v_direction, scale, terms / total[..., None, None], loss


def cosent_loss(u: Any, v: Any, labels: Any, scale: float = 20.0) -> np.ndarray:
    """CoSENT: a ranking loss on pair cosines (kexue.fm/archives/8847).

    With ``c_i = cos(u_i, v_i)`` and label ``y_i`` (binary, NLI-derived or graded; only
    the order matters),

    .. math::

        L = \\log\\Big(1 + \\sum_{(i, j):\\, y_i > y_j}
            e^{\\lambda (c_j - c_i)}\\Big), \\qquad \\lambda = 20

    computed as a log-sum-exp over ``{0} U {lambda (c_j - c_i)}`` so that it does not
    overflow, and with ``log1p`` when every term is below 1 so that a tiny loss keeps
    its relative accuracy. Pairs with equal labels are not compared; with fewer
    than two distinct labels the loss is exactly 0.

    Parameters
    ----------
    u, v : array_like, shape (..., n, d)
        Sentence vectors of ``n`` pairs per batch entry.
    labels : array_like, shape (..., n)
        Real-valued similarity labels; broadcasts with the batch.
    scale : float
        ``lambda`` (20 in the post).

    Returns
    -------
    ndarray, shape (...)

    Examples
    --------
    Two pairs, the first labelled more similar, with cosines 1/sqrt(2) and 0:

    >>> loss = cosent_loss([[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 1.0]], [1, 0])
    >>> bool(np.isclose(loss, np.log1p(np.exp(-20 / np.sqrt(2))), rtol=1e-12))
    True
    """
    return _cosent_forward(u, v, labels, scale)[-1]


def cosent_loss_vjp(
    grad: Any, u: Any, v: Any, labels: Any, scale: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """VJP of :func:`cosent_loss` in ``u`` and ``v`` (labels are not differentiable).

    With ``w_ij`` the softmax weight of term ``(i, j)`` in the log-sum-exp,

    .. math:: \\bar c_k = \\lambda g \\Big( \\sum_i w_{ik} - \\sum_j w_{kj} \\Big)

    then :func:`pair_cosine_vjp`. When every ranked pair is already ordered by a wide
    margin, every ``w_ij`` is below ``exp(-lambda * margin)`` and the gradient vanishes.

    Examples
    --------
    >>> grad_u, grad_v = cosent_loss_vjp(1.0, [[1.0, 0.0], [1.0, 0.0]],
    ...                                  [[1.0, 0.0], [-1.0, 0.0]], [1, 0])
    >>> bool(np.abs(grad_u).max() < 1e-16)
    True
    """
    u_direction, v_direction, scale, weights, loss = _cosent_forward(u, v, labels, scale)
    g = cotangent(grad, loss.shape)[..., None]
    grad_cosines = scale * g * (np.sum(weights, axis=-2) - np.sum(weights, axis=-1))
    cosine_shape = np.broadcast_shapes(u_direction[0].shape, v_direction[0].shape)[:-1]
    return _pair_cosine_backward(sum_to_shape(grad_cosines, cosine_shape),
                                 u_direction, v_direction)
