"""Forward + backward of a 2-layer reference Transformer against its matrix products alone.

Model: d_model 256, 4 heads of 64, d_ff 1024, vocabulary 1024, pre-LN, GELU, RoPE,
tied output; batch 4 x 512 tokens, causal mask. The floor is every matrix product the
forward and backward passes contain (projections, ``q k^T``, ``weights v``, the
output layer and their gradients), with the same shapes, timed alone. Everything else
(norms, softmax, GELU, RoPE, residuals, embedding scatter, validation) is the overhead
the ratio measures. A second row does the same for the forward pass alone. With torch
installed, the same model ported to torch (benchmarks/torch_ports.py, weights copied from
refimpl's params) is timed forward + backward with autograd, target <= 1.0.

A second table (rows of issue #20): the same for a grouped-query model (8 query heads of
32 over 2 key/value heads, RMSNorm, SwiGLU, no biases: a small Llama), whose attention
products group each key/value head's 4 query heads into one product; and KV-cache
decoding of 256 tokens one at a time (greedy ``generate``: a 1-token prompt, then 255
steps) against one causal forward over the same 256 tokens, for a batch of 4 sequences
and for one (where every step is a matrix-vector product, so the ratio is larger).
"""

import time

import numpy as np
from _timing import interleaved_best, print_table, torch_ports

from refimpl.masks import causal_mask
from refimpl.transformer import TransformerConfig, backward, forward, generate, init_params

BATCH, LENGTH = 4, 512
CONFIG = TransformerConfig(vocab_size=1024, d_model=256, n_heads=4, head_dim=64, d_ff=1024,
                           n_layers=2, norm_position="pre", activation="gelu",
                           positions="rope")


def matmul_operands(rng: np.random.Generator) -> tuple[list, list]:
    """``(forward, backward)`` lists of operand pairs, one per product the model computes."""
    c, rows = CONFIG, BATCH * LENGTH
    d, width, d_ff, vocab = c.d_model, c.n_heads * c.head_dim, c.d_ff, c.vocab_size
    heads = (BATCH, c.n_heads, LENGTH, c.head_dim)
    scores = (BATCH, c.n_heads, LENGTH, LENGTH)

    def pair(a, b):
        return rng.standard_normal(a), rng.standard_normal(b)

    dense = [(d, width)] * 3 + [(width, d), (d, d_ff), (d_ff, d)]
    fwd, bwd = [], []
    for _ in range(c.n_layers):
        for n_in, n_out in dense:
            fwd.append(pair((rows, n_in), (n_in, n_out)))          # x W
            bwd.append(pair((n_in, rows), (rows, n_out)))          # x^T g
            bwd.append(pair((rows, n_out), (n_out, n_in)))         # g W^T
        fwd.append(pair(heads, heads[:2] + (c.head_dim, LENGTH)))  # q k^T
        fwd.append(pair(scores, heads))                            # weights v
        bwd.append(pair(scores, heads))                            # weights^T g
        bwd.append(pair(heads, heads[:2] + (c.head_dim, LENGTH)))  # g v^T
        bwd.append(pair(scores, heads))                            # dS k
        bwd.append(pair(scores, heads))                            # dS^T q
    fwd.append(pair((rows, d), (d, vocab)))                        # h E^T
    bwd.append(pair((d, rows), (rows, vocab)))
    bwd.append(pair((rows, vocab), (vocab, d)))
    return fwd, bwd


def interleaved_ratio(model, floor, repeat: int = 5) -> float:
    """Median over ``repeat`` back-to-back pairs of ``time(model) / time(floor)``.

    Timing the two side by side, pair after pair, cancels most of the drift when other
    processes share the machine.
    """
    model(), floor()
    ratios = []
    for _ in range(repeat):
        start = time.perf_counter()
        floor()
        middle = time.perf_counter()
        model()
        ratios.append((time.perf_counter() - middle) / (middle - start))
    return float(np.median(ratios))


GQA = TransformerConfig(vocab_size=1024, d_model=256, n_heads=8, n_kv_heads=2, head_dim=32,
                        d_ff=1024, n_layers=2, norm="rmsnorm", activation="swiglu",
                        rope_layout="half", bias=False, tie_output=False, causal=True)


def gqa_matmul_operands(rng: np.random.Generator) -> tuple[list, list]:
    """``(forward, backward)`` operand pairs of every product of the GQA model, in the
    grouped shapes the model uses (each key/value head's query heads stacked in rows)."""
    c, rows = GQA, BATCH * LENGTH
    d, width, kv = c.d_model, c.n_heads * c.head_dim, c.kv_heads * c.head_dim
    grouped = (BATCH, c.kv_heads, c.groups * LENGTH)

    def pair(a, b):
        return rng.standard_normal(a), rng.standard_normal(b)

    dense = [(d, width), (d, kv), (d, kv), (width, d), (d, c.d_ff), (d, c.d_ff), (c.d_ff, d)]
    fwd, bwd = [], []
    for _ in range(c.n_layers):
        for n_in, n_out in dense:
            fwd.append(pair((rows, n_in), (n_in, n_out)))
            bwd.append(pair((n_in, rows), (rows, n_out)))
            bwd.append(pair((rows, n_out), (n_out, n_in)))
        keys = (BATCH, c.kv_heads, LENGTH, c.head_dim)
        fwd.append(pair(grouped + (c.head_dim,), (BATCH, c.kv_heads, c.head_dim, LENGTH)))
        fwd.append(pair(grouped + (LENGTH,), keys))                     # weights v
        bwd.append(pair((BATCH, c.kv_heads, LENGTH, grouped[-1]), grouped + (c.head_dim,)))
        bwd.append(pair(grouped + (c.head_dim,), (BATCH, c.kv_heads, c.head_dim, LENGTH)))
        bwd.append(pair(grouped + (LENGTH,), keys))                     # dS k
        bwd.append(pair((BATCH, c.kv_heads, LENGTH, grouped[-1]), grouped + (c.head_dim,)))
    fwd.append(pair((rows, d), (d, c.vocab_size)))
    bwd.append(pair((d, rows), (rows, c.vocab_size)))
    bwd.append(pair((rows, c.vocab_size), (c.vocab_size, d)))
    return fwd, bwd


def decoding_ratio(params: dict, batch: int, repeat: int = 3) -> float:
    """Median of ``time(generate 256 tokens one at a time) / time(causal forward of 256)``."""
    tokens = np.random.default_rng(1).integers(0, GQA.vocab_size, (batch, 256))
    return interleaved_ratio(lambda: generate(params, GQA, tokens[:, :1], 255),
                             lambda: forward(params, GQA, tokens), repeat)


def decoding_floor_ratio(batch: int, repeat: int = 3) -> float:
    """``time(the decode's weight products alone) / time(causal forward of 256)``.

    The floor of token-by-token decoding: 255 steps, each multiplying ``batch`` rows by
    every weight matrix of the model (projections, SwiGLU, output layer), with nothing
    else (no attention over the cache, no norms). Each step reads all weights from memory
    for ``batch`` rows of work, where the causal forward reads them once for all
    ``256 batch`` rows; the ratio shows how much of the decoding target is physically in
    reach at this model size.
    """
    c, rng = GQA, np.random.default_rng(3)
    d, width, kv = c.d_model, c.n_heads * c.head_dim, c.kv_heads * c.head_dim
    shapes = [(d, width), (d, kv), (d, kv), (width, d), (d, c.d_ff), (d, c.d_ff), (c.d_ff, d)]
    weights = [rng.standard_normal(shape) for _ in range(c.n_layers) for shape in shapes]
    weights.append(rng.standard_normal((d, c.vocab_size)))
    rows = [rng.standard_normal((batch, w.shape[0])) for w in weights]
    params = init_params(c, rng)
    tokens = rng.integers(0, c.vocab_size, (batch, 256))

    def products():
        for _ in range(255):
            for x, w in zip(rows, weights, strict=True):
                x @ w

    return interleaved_ratio(products, lambda: forward(params, c, tokens), repeat)


def gqa_rows() -> None:
    rng = np.random.default_rng(2)
    params = init_params(GQA, rng)
    tokens = rng.integers(0, GQA.vocab_size, (BATCH, LENGTH))
    grad_logits = rng.standard_normal((BATCH, LENGTH, GQA.vocab_size))

    def model_step():
        _, cache = forward(params, GQA, tokens)
        backward(params, GQA, cache, grad_logits)

    fwd, bwd = gqa_matmul_operands(rng)
    step = interleaved_ratio(model_step, lambda: [a @ b for a, b in fwd + bwd])
    print_table("GQA model (2 layers, d 256, 8 query / 2 kv heads of 32, SwiGLU d_ff 1024, "
                "4 x 512 tokens) and KV-cache decoding", [
                    ("GQA forward + backward / its matrix products alone", step, "<= 2"),
                    ("decode 256 tokens one at a time / causal forward (batch 4)",
                     decoding_ratio(params, 4), "<= 1.5"),
                    ("decode 256 tokens one at a time / causal forward (batch 1)",
                     decoding_ratio(params, 1), "(context: every step a matrix-vector product)"),
                    ("floor: the decode's weight products alone / causal forward (batch 4)",
                     decoding_floor_ratio(4), "(context: the target's physical reach)"),
                ])


def main() -> None:
    rng = np.random.default_rng(0)
    params = init_params(CONFIG, rng)
    tokens = rng.integers(0, CONFIG.vocab_size, (BATCH, LENGTH))
    mask = causal_mask(LENGTH)
    grad_logits = rng.standard_normal((BATCH, LENGTH, CONFIG.vocab_size))

    def model_step():
        _, cache = forward(params, CONFIG, tokens, mask)
        backward(params, CONFIG, cache, grad_logits)

    fwd, bwd = matmul_operands(rng)
    step = interleaved_ratio(model_step, lambda: [a @ b for a, b in fwd + bwd])
    forward_only = interleaved_ratio(lambda: forward(params, CONFIG, tokens, mask),
                                     lambda: [a @ b for a, b in fwd])
    print_table("reference Transformer (2 layers, d 256, 4 heads, d_ff 1024, 4 x 512 tokens)", [
        ("forward + backward / its matrix products alone", step, "<= 2"),
        ("forward / its matrix products alone", forward_only, "(context)"),
    ])
    gqa_rows()
    ports = torch_ports()
    if ports is not None:
        print_table("reference Transformer against the torch port (benchmarks/torch_ports.py)",
                    torch_rows(ports, params, tokens, mask, grad_logits, model_step))


def torch_rows(ports, params, tokens, mask, grad_logits, model_step):
    """Forward + backward of the same model in torch (weights copied from ``params``,
    ``scaled_dot_product_attention`` with ``is_causal``, autograd), CPU float64."""
    tparams = ports.gpt_params(params)
    ttokens, tgrad = ports.torch.tensor(tokens), ports.tensor(grad_logits)

    def torch_step():
        ports.clear_grads(tparams)
        ports.gpt_forward(tparams, CONFIG, ttokens).backward(tgrad)

    def torch_forward():
        with ports.torch.no_grad():
            ports.gpt_forward(tparams, CONFIG, ttokens)

    best = interleaved_best({"step": model_step, "torch step": torch_step,
                             "forward": lambda: forward(params, CONFIG, tokens, mask),
                             "torch forward": torch_forward}, rounds=5)
    return [("forward + backward / torch forward + backward (autograd)",
             best["step"] / best["torch step"], "<= 1.0"),
            ("forward / torch forward", best["forward"] / best["torch forward"], "<= 1.0")]


if __name__ == "__main__":
    main()
