"""RoFormer-Sim objectives: loss + VJP against the matrix products they cannot avoid.

Shapes follow the published scripts: 96 sentence vectors of size 768 (stage 1/2), 96
pairs for the Sentence-BERT head and for CoSENT. Floors:

* cosine-matrix losses: one ``(n, d) @ (d, n)`` product per cosine matrix forward, and
  one ``(n, n) @ (n, d)`` product per matrix backward;
* the classifier: the ``(n, 3d) @ (3d, 5)`` head product plus one multiply over the
  ``(n, 3d)`` features (forward); the backward needs the two transposed products too;
* CoSENT: one multiply over the ``(n, d)`` pair vectors.

The peer is a plain NumPy port of the published Keras formula (``-1e12`` masks, no
input checks), forward only.
"""

import numpy as np
from _timing import floor_multiply, median_time, print_table

from refimpl import similarity as sim

N, D = 96, 768


def _unit(x):
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True))


def contrastive_port(x, scale=20.0):
    n = x.shape[0]
    unit = _unit(x)
    logits = scale * (unit @ unit.T - np.eye(n) * 1e12)
    peak = logits.max(axis=1, keepdims=True)
    log_normalizer = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
    partner = np.arange(n) ^ 1
    return np.mean(log_normalizer - logits[np.arange(n), partner])


def distillation_port(teacher, student, scale=100.0):
    t, s = _unit(teacher), _unit(student)
    return scale * np.mean((t @ t.T - s @ s.T) ** 2)


def cosine_rows(rng):
    x, teacher = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    matmul = median_time(lambda: x @ x.T)
    back = median_time(lambda: (x @ x.T) @ x)  # (n, n) @ (n, d), with its input formed
    contrastive = median_time(lambda: sim.in_batch_contrastive_loss(x))
    contrastive_both = median_time(lambda: (sim.in_batch_contrastive_loss(x),
                                            sim.in_batch_contrastive_loss_vjp(1.0, x)))
    distill = median_time(lambda: sim.cosine_distillation_loss(teacher, x))
    distill_both = median_time(lambda: (sim.cosine_distillation_loss(teacher, x),
                                        sim.cosine_distillation_loss_vjp(1.0, teacher, x)))
    port_c = median_time(lambda: contrastive_port(x))
    port_d = median_time(lambda: distillation_port(teacher, x))
    return [
        (f"contrastive forward / one x x^T ({N}x{D})", contrastive / matmul, "< 3"),
        ("contrastive forward + VJP / (x x^T + (x x^T) x)", contrastive_both / (matmul + back),
         "< 4"),
        ("contrastive forward / plain Keras-formula port", contrastive / port_c, "< 1.5"),
        ("distillation forward / two x x^T", distill / (2 * matmul), "< 3"),
        ("distillation forward + VJP / 2 (x x^T + (x x^T) x)",
         distill_both / (2 * (matmul + back)), "< 4"),
        ("distillation forward / plain Keras-formula port", distill / port_d, "< 1.5"),
    ]


def classifier_rows(rng):
    u, v = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    weight = rng.standard_normal((3 * D, 5))
    labels = np.arange(N) % 5
    features = np.concatenate([u, v, np.abs(u - v)], axis=-1)
    grad_logits = rng.standard_normal((N, 5))
    head = median_time(lambda: features @ weight)
    head_back = median_time(lambda: (features.T @ grad_logits, grad_logits @ weight.T))
    floor = floor_multiply((N, 3 * D)) + head
    forward = median_time(lambda: sim.pair_classifier_loss(u, v, weight, labels))
    both = median_time(lambda: (sim.pair_classifier_loss(u, v, weight, labels),
                                sim.pair_classifier_loss_vjp(np.ones(N), u, v, weight, labels)))
    return [
        (f"classifier forward / (features multiply + head product), {N} pairs",
         forward / floor, "< 6"),
        ("classifier forward + VJP / (forward floor + two backward products)",
         both / (floor + head_back), "< 8"),
    ]


def cosent_rows(rng):
    u, v = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    labels = rng.integers(0, 5, N).astype(float)
    floor = floor_multiply((N, D))
    forward = median_time(lambda: sim.cosent_loss(u, v, labels))
    both = median_time(lambda: (sim.cosent_loss(u, v, labels),
                                sim.cosent_loss_vjp(1.0, u, v, labels)))
    return [
        (f"CoSENT forward / one multiply over ({N}, {D})", forward / floor, "< 30"),
        ("CoSENT forward + VJP / one multiply over the same", both / floor, "< 60"),
    ]


def main() -> None:
    rng = np.random.default_rng(0)
    print_table("RoFormer-Sim objectives (ratios; lower is better)",
                cosine_rows(rng) + classifier_rows(rng) + cosent_rows(rng))


if __name__ == "__main__":
    main()
