"""Training objectives of RoFormer-Sim: sentence-pair classification, distillation, ranking.

A sentence encoder maps each sentence to a vector; retrieval compares two vectors by
their cosine (:mod:`~refimpl.similarity.cosine`). The posts behind RoFormer-Sim train
that encoder with four objectives, each with a hand-written VJP in the sentence vectors
(and the head weights, where there is a head):

* :mod:`~refimpl.similarity.classifier`, the Sentence-BERT classifier
  (https://kexue.fm/archives/8541): the pair ``(u, v)`` becomes ``[u, v, |u - v|]``,
  one shared bias-free head gives 5 logits, columns 0-1 serve the binary "similar or
  not" task and columns 2-4 the NLI task; each example's softmax runs over its own
  task's columns only;
* :mod:`~refimpl.similarity.distillation` (https://kexue.fm/archives/8454): the
  student's cosine matrix is pulled towards the teacher's, ``lambda = 100``;
* :mod:`~refimpl.similarity.contrastive`, the in-batch contrastive loss: rows ``2i`` and
  ``2i + 1`` are paraphrases of each other; every row must pick its partner out of the
  batch by cosine scaled by 20, itself excluded;
* :mod:`~refimpl.similarity.cosent`, CoSENT (https://kexue.fm/archives/8847): a ranking
  loss that asks every pair with a higher label to have a higher cosine, ``lambda = 20``.

The published code is the Keras scripts ``train/stage1.py``, ``train/stage2.py`` and
``train/supervised.py`` of https://github.com/ZhuiyiTechnology/roformer-sim. Masks are
exact: where those scripts subtract ``1e12`` from a logit, this package leaves that
logit out of the softmax. Cosines are computed from unit vectors, so a vector's
magnitude, from tiny to huge, does not change them; a zero vector raises ``ValueError``.
Each public function validates its inputs once and normalises each vector once.
"""

from refimpl.similarity.classifier import (
    BINARY_CLASSES,
    NLI_CLASSES,
    pair_class_probabilities,
    pair_class_probabilities_vjp,
    pair_classifier_loss,
    pair_classifier_loss_vjp,
    pair_features,
    pair_features_vjp,
)
from refimpl.similarity.contrastive import in_batch_contrastive_loss, in_batch_contrastive_loss_vjp
from refimpl.similarity.cosent import cosent_loss, cosent_loss_vjp
from refimpl.similarity.cosine import (
    cosine_similarity_matrix,
    cosine_similarity_matrix_vjp,
    pair_cosine,
    pair_cosine_vjp,
)
from refimpl.similarity.distillation import cosine_distillation_loss, cosine_distillation_loss_vjp

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
