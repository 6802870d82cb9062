"""The in-batch contrastive loss of SimBERT and RoFormer-Sim: find your paraphrase.

A batch holds paraphrase pairs as consecutive rows ``2i, 2i + 1``. Each row's logits are
its cosines with every other row, scaled by ``lambda = 20``; the loss is the softmax
cross-entropy of picking its partner, the row itself left out. This is the similarity
half of the stage-1 objective of RoFormer-Sim (https://kexue.fm/archives/8454;
``TotalLoss.compute_loss_of_similarity`` in ``train/stage1.py`` of
https://github.com/ZhuiyiTechnology/roformer-sim at commit 03c3578), inherited from
SimBERT (https://kexue.fm/archives/7427).

The diagonal is left out of the softmax exactly, where the published Keras code
subtracts ``1e12`` from it: the same numbers (``exp`` of ``-1e12`` is zero in every
float format) without the large constant.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import cotangent
from refimpl._validation import as_scalar
from refimpl.similarity._common import (
    Direction,
    cosine_matrix_backward,
    cosine_matrix_of_units,
    masked_cross_entropy,
    sentence_vectors,
    unit_vectors,
)

__all__ = ["in_batch_contrastive_loss", "in_batch_contrastive_loss_vjp"]


def _contrastive_forward(
    x: ArrayLike, scale: float
) -> tuple[Direction, float, np.ndarray, np.ndarray, np.ndarray]:
    """``(unit, norm)`` of ``x``, partner targets, the masked row softmax, the row losses."""
    scale = as_scalar(scale, "scale", positive=True)
    x = sentence_vectors(x, "x", minimum_ndim=2)
    n = x.shape[-2]
    if n < 2 or n % 2:
        raise ValueError(f"x must hold an even number n >= 2 of sentences (rows 2i and "
                         f"2i+1 are partners), got n={n} in shape {x.shape}")
    direction = unit_vectors(x)
    logits = scale * cosine_matrix_of_units(direction[0])
    targets = np.arange(n) == (np.arange(n) ^ 1)[:, None]  # row i's partner is i xor 1
    probabilities, row_losses = masked_cross_entropy(logits, ~np.eye(n, dtype=bool), targets)
    return direction, scale, targets, probabilities, row_losses


def in_batch_contrastive_loss(x: ArrayLike, scale: float = 20.0) -> np.ndarray:
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


def in_batch_contrastive_loss_vjp(
    grad: ArrayLike, x: ArrayLike, scale: float = 20.0
) -> np.ndarray:
    """VJP of :func:`in_batch_contrastive_loss` in ``x``.

    .. math:: \\bar S = \\frac{\\lambda g}{n} (P - Y)

    where ``P`` is the row-softmax (zero diagonal) and ``Y`` the partner one-hot; then
    :func:`~refimpl.similarity.cosine_similarity_matrix_vjp`.

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
    return cosine_matrix_backward(grad_cosines, *direction)

