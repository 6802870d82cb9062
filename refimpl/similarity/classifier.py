"""The Sentence-BERT pair classifier of RoFormer-Sim: ``[u, v, |u - v|]`` and one masked head.

A pair of sentence vectors ``(u, v)`` becomes ``[u, v, |u - v|]``; one shared bias-free
head gives 5 logits, columns 0-1 serve the binary "similar or not" task and columns 2-4
the NLI task (contradiction, entailment, neutral); each example's softmax runs over its
own task's columns only. This is the supervised objective of RoFormer-Sim-FT
(https://kexue.fm/archives/8541; script ``train/supervised.py`` of
https://github.com/ZhuiyiTechnology/roformer-sim at commit 9621de7), built on the
Sentence-BERT classifier (N. Reimers and I. Gurevych, "Sentence-BERT: Sentence
Embeddings using Siamese BERT-Networks", 2019, arXiv:1908.10084).

The mask is exact: where the published Keras code subtracts ``1e12`` from the other
task's logits, this module leaves them out of the softmax, which gives the same numbers
(``exp`` of ``-1e12`` is zero in every float format) without the large constant.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_float_array, broadcast_batch, check_last_axis
from refimpl.similarity._common import masked_cross_entropy

__all__ = [
    "BINARY_CLASSES",
    "NLI_CLASSES",
    "pair_features",
    "pair_features_vjp",
    "pair_class_probabilities",
    "pair_class_probabilities_vjp",
    "pair_classifier_loss",
    "pair_classifier_loss_vjp",
]

#: Head columns of the binary task: 0 = not similar, 1 = similar.
BINARY_CLASSES = (0, 1)
#: Head columns of the NLI task: 2 = contradiction, 3 = entailment, 4 = neutral.
NLI_CLASSES = (2, 3, 4)
_NUM_CLASSES = 5
_NLI_COLUMNS = np.isin(np.arange(_NUM_CLASSES), NLI_CLASSES)


def _pair(u: ArrayLike, v: ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    """Validated sentence vectors of one size ``d`` with broadcasting batches, and ``d``."""
    u = as_float_array(u, "u")
    v = as_float_array(v, "v")
    d = check_last_axis(u, "u")
    check_last_axis(v, "v", size=d)
    broadcast_batch(u=u.shape[:-1], v=v.shape[:-1])
    return u, v, d


def pair_features(u: ArrayLike, v: ArrayLike) -> np.ndarray:
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


def pair_features_vjp(
    grad: ArrayLike, u: ArrayLike, v: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
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


def _head_weight(weight: ArrayLike, d: int) -> np.ndarray:
    """The head as a float64 ``(3d, 5)`` array, or ``ValueError`` naming its shape."""
    weight = as_float_array(weight, "weight")
    if weight.shape != (3 * d, _NUM_CLASSES):
        hint = ("; torch.nn.Linear stores (out, in): pass its weight.T"
                if weight.shape == (_NUM_CLASSES, 3 * d) else "")
        raise ValueError(f"weight must have shape (3d, 5) = ({3 * d}, 5) for sentence "
                         f"vectors of size d={d}, got shape {weight.shape}{hint}")
    return weight


def _task_flags(nli: ArrayLike) -> np.ndarray:
    """``nli`` as a boolean array: True marks an NLI example, False a binary one."""
    flags = as_float_array(nli, "nli")
    if not np.all((flags == 0) | (flags == 1)):
        raise ValueError(f"nli must hold booleans (True for an NLI example), got values "
                         f"{np.unique(flags)[:5]}")
    return flags.astype(bool)


def _check_overflow(values: np.ndarray, what: str) -> None:
    """Raise ``ValueError`` if ``values`` (named ``what``) left the float64 range."""
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} overflowed: the inputs are beyond the float64 range; "
                         "rescale them")


def _logits(
    u: np.ndarray, v: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The features ``[u, v, |u - v|]`` and the logits ``features @ weight``."""
    features = _features(u, v)
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        logits = features @ weight
    _check_overflow(logits, "the head's logits [u, v, |u - v|] W")
    return features, logits


def _logits_vjp(
    grad_logits: np.ndarray, u: np.ndarray, v: np.ndarray, weight: np.ndarray,
    features: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back through ``logits = [u, v, |u - v|] W``."""
    grad_weight = features.reshape(-1, features.shape[-1]).T \
        @ grad_logits.reshape(-1, _NUM_CLASSES)
    grad_u, grad_v = _features_vjp(grad_logits @ weight.T, u, v)
    return grad_u, grad_v, grad_weight


def _classifier_inputs(
    u: ArrayLike, v: ArrayLike, weight: ArrayLike, flags: np.ndarray
) -> tuple[np.ndarray, tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]:
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


def _masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the ``allowed`` entries of the last axis (exact zeros elsewhere).

    Every row must allow at least one entry.
    """
    shifted = np.where(allowed, logits, -np.inf)
    weights = np.exp(shifted - np.max(shifted, axis=-1, keepdims=True))  # exp(-inf) = 0
    return weights / np.sum(weights, axis=-1, keepdims=True)



def pair_class_probabilities(
    u: ArrayLike, v: ArrayLike, weight: ArrayLike, nli: ArrayLike
) -> np.ndarray:
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
    grad: ArrayLike, u: ArrayLike, v: ArrayLike, weight: ArrayLike, nli: ArrayLike
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


def _class_labels(labels: ArrayLike, nli: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
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


def _classifier_forward(
    u: ArrayLike, v: ArrayLike, weight: ArrayLike, labels: ArrayLike, nli: ArrayLike | None
) -> tuple[np.ndarray, tuple[int, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray,
           np.ndarray, np.ndarray]:
    """Everything the loss and its VJP share: inputs, features, probabilities, loss."""
    ids, flags = _class_labels(labels, nli)
    u_batch, u_shape, v, weight, allowed = _classifier_inputs(u, v, weight, flags)
    ids = np.broadcast_to(ids, allowed.shape[:-1])
    features, logits = _logits(u_batch, v, weight)
    one_hot = np.arange(_NUM_CLASSES) == ids[..., None]
    probabilities, loss = masked_cross_entropy(logits, allowed, one_hot)
    return u_batch, u_shape, v, weight, one_hot, features, probabilities, loss


def pair_classifier_loss(
    u: ArrayLike, v: ArrayLike, weight: ArrayLike, labels: ArrayLike,
    nli: ArrayLike | None = None,
) -> np.ndarray:
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
    grad: ArrayLike, u: ArrayLike, v: ArrayLike, weight: ArrayLike, labels: ArrayLike,
    nli: ArrayLike | None = None,
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

