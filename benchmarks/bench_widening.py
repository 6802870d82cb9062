"""Cost of function-preserving growth, against copying the bytes and against a forward pass.

Model: the reference Transformer of bench_transformer.py (2 layers, d_model 256, 4 heads
of 64, d_ff 1024, vocabulary 1024, pre-LN, GELU, RoPE, tied output), grown by 2.
Floor: one elementwise multiply writing as many float64 numbers as the grown model has
parameters (a move must at least write them). Peer: one forward pass of the *small*
model on 4 x 512 tokens (what a user pays anyway to check the growth). A last row
gives the grown model's forward pass against the small one's (information: the matrix
products grow about 4x, the 512 x 512 softmax of each head does not).
"""

import numpy as np
from _timing import floor_multiply, median_time, print_table

from refimpl.masks import causal_mask
from refimpl.transformer import TransformerConfig, forward, init_params, param_shapes
from refimpl.widening import (
    add_layers,
    duplicate_heads,
    grow_head_dim,
    split_ffn,
    widen,
    widen_hidden,
)

BATCH, LENGTH = 4, 512
CONFIG = TransformerConfig(vocab_size=1024, d_model=256, n_heads=4, head_dim=64, d_ff=1024,
                           n_layers=2, norm_position="pre", activation="gelu",
                           positions="rope")


def _count(shapes) -> int:
    if isinstance(shapes, dict):
        return sum(_count(value) for value in shapes.values())
    if isinstance(shapes, list):
        return sum(_count(value) for value in shapes)
    return int(np.prod(shapes))


def main() -> None:
    rng = np.random.default_rng(0)
    params = init_params(CONFIG, rng)
    tokens = rng.integers(0, CONFIG.vocab_size, (BATCH, LENGTH))
    mask = causal_mask(LENGTH)
    moves = {
        "widen_hidden x2 (Su, zero off-grid keys)": lambda: widen_hidden(params, CONFIG, 2),
        "widen_hidden x2 + noise 0.1": lambda: widen_hidden(params, CONFIG, 2, noise=0.1,
                                                             rng=1),
        "duplicate_heads x2": lambda: duplicate_heads(params, CONFIG, 2),
        "split_ffn 1024 -> 2048": lambda: split_ffn(params, CONFIG, 2048, rng=1),
        "grow_head_dim 64 -> 128": lambda: grow_head_dim(params, CONFIG, 128, rng=1),
        "add_layers 2 -> 4": lambda: add_layers(params, CONFIG, 4, rng=1),
        "widen(d 512, d_ff 4096, 3 layers, noise)":
            lambda: widen(params, CONFIG, d_model=512, d_ff=4096, n_layers=3, noise=0.1, rng=1),
    }
    small_forward = median_time(lambda: forward(params, CONFIG, tokens, mask), repeat=3)
    rows = []
    for label, move in moves.items():
        grown, grown_config = move()
        floor = floor_multiply((_count(param_shapes(grown_config)),))
        seconds = median_time(move, repeat=3)
        rows.append((f"{label}: / floor", seconds / floor, "(context)"))
        rows.append((f"{label}: / small forward", seconds / small_forward, "<= 1"))
    wide, wide_config = widen_hidden(params, CONFIG, 2)
    wide_forward = median_time(lambda: forward(wide, wide_config, tokens, mask), repeat=3)
    rows.append(("forward of the x2 model / forward of the small one",
                 wide_forward / small_forward, "(context)"))
    print_table("function-preserving growth (d 256, 4 heads of 64, d_ff 1024, 2 layers; "
                "forward on 4 x 512 tokens)", rows)


if __name__ == "__main__":
    main()
