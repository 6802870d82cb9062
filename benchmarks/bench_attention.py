"""Softmax attention forward and backward against its matrix products and against torch.

q, k, v of shape (4, 16, 512, 64) float64 (batch, heads, tokens, head dim), causal mask.
The floor is the attention's matrix products alone (``q k^T`` and ``weights v`` forward;
``weights^T g``, ``g v^T``, ``dS k`` and ``dS^T q`` backward), timed on arrays of the
same shapes; the rest (the scale, the mask, the softmax and its backward, validation) is
the overhead the ratio measures. With torch installed: ``scaled_dot_product_attention``
and ``scaled_dot_product_attention_vjp`` against ``torch.nn.functional.
scaled_dot_product_attention(is_causal=True)`` with autograd, target <= 1.0.
"""

import numpy as np
from _timing import interleaved_best, print_table, torch_ports

from refimpl.attention import scaled_dot_product_attention, scaled_dot_product_attention_vjp
from refimpl.masks import causal_mask

SHAPE = (4, 16, 512, 64)


def torch_candidates(ports, q, k, v, grad) -> dict:
    """torch's sdpa forward, and forward + backward with autograd, on copies of q k v."""
    torch = ports.torch
    tq, tk, tv = (ports.tensor(a, True) for a in (q, k, v))
    tgrad = ports.tensor(grad)
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def torch_step():
        tq.grad = tk.grad = tv.grad = None
        sdpa(tq, tk, tv, is_causal=True).backward(tgrad)

    def torch_forward():
        with torch.no_grad():
            sdpa(tq, tk, tv, is_causal=True)

    return {"torch forward": torch_forward, "torch step": torch_step}


def main() -> None:
    rng = np.random.default_rng(0)
    q, k, v, grad = (rng.standard_normal(SHAPE) for _ in range(4))
    mask = causal_mask(SHAPE[2])
    scores = rng.standard_normal(SHAPE[:2] + (SHAPE[2], SHAPE[2]))
    k_t = np.swapaxes(k, -1, -2)
    candidates = {
        "forward": lambda: scaled_dot_product_attention(q, k, v, mask),
        "step": lambda: (scaled_dot_product_attention(q, k, v, mask),
                         scaled_dot_product_attention_vjp(grad, q, k, v, mask)),
        "forward products": lambda: (q @ k_t, scores @ v),
        "step products": lambda: (q @ k_t, scores @ v, np.swapaxes(scores, -1, -2) @ grad,
                                  grad @ np.swapaxes(v, -1, -2), scores @ k,
                                  np.swapaxes(scores, -1, -2) @ q, q @ k_t),
    }
    ports = torch_ports()
    if ports is not None:
        candidates.update(torch_candidates(ports, q, k, v, grad))
    best = interleaved_best(candidates, rounds=5)
    print_table(f"softmax attention, q k v {SHAPE}, causal", [
        ("forward / its two matrix products alone", best["forward"] / best["forward products"],
         "<= 3"),
        ("forward + VJP / their matrix products alone (the VJP recomputes q k^T)",
         best["step"] / best["step products"], "<= 3"),
    ])
    if ports is not None:
        print_table(f"softmax attention against torch CPU float64, {SHAPE}, causal", [
            ("scaled_dot_product_attention / torch sdpa",
             best["forward"] / best["torch forward"], "<= 1.0"),
            ("forward + VJP / torch sdpa forward + backward (autograd)",
             best["step"] / best["torch step"], "<= 1.0"),
        ])


if __name__ == "__main__":
    main()
