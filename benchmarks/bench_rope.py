"""RoPE-1D: apply and apply_vjp against one elementwise multiply, and against a NumPy port of
Hugging Face's ``rotate_half`` code.

Shape (4, 16, 2048, 128) float64 (batch, heads, tokens, head dim) with the angles
(2048, 64) precomputed, as in issue 4. Targets: interleaved within 1.5x of the floor
(one multiply ``x * y -> out`` over the same shape), half within 3x, and at least 3x
faster than the concatenate-based port.
"""

import numpy as np

from _timing import floor_multiply, median_time, print_table
from refimpl.rope import angles, apply, apply_vjp, inv_freq

SHAPE = (4, 16, 2048, 128)


def hf_rotate_half(x):
    """transformers ``rotate_half``: ``[-x2, x1]`` by concatenation."""
    half = x.shape[-1] // 2
    return np.concatenate((-x[..., half:], x[..., :half]), axis=-1)


def hf_apply(x, cos, sin):
    """transformers ``apply_rotary_pos_emb`` for one tensor: ``x * cos + rotate_half(x) * sin``."""
    return x * cos + hf_rotate_half(x) * sin


def hf_apply_vjp(grad, cos, sin):
    """The backward a port would write: ``g * cos - rotate_half(g * sin)`` (input gradient only)."""
    return grad * cos - hf_rotate_half(grad * sin)


def main() -> None:
    rng = np.random.default_rng(0)
    x, grad = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    phi = angles(np.arange(SHAPE[2]), inv_freq(SHAPE[3]))
    doubled = np.concatenate([phi, phi], axis=-1)
    cos, sin = np.cos(doubled), np.sin(doubled)
    floor = floor_multiply(SHAPE)
    time = {}
    for layout in ("interleaved", "half"):
        time["apply", layout] = median_time(lambda: apply(x, phi, layout=layout), repeat=5)
        time["vjp", layout] = median_time(lambda: apply_vjp(grad, x, phi, layout=layout),
                                          repeat=5)
    port = median_time(lambda: hf_apply(x, cos, sin), repeat=5)
    port_vjp = median_time(lambda: hf_apply_vjp(grad, cos, sin), repeat=5)
    floor = min(floor, floor_multiply(SHAPE))  # measured twice: the quieter run counts
    print_table(f"RoPE-1D, x {SHAPE} float64, angles precomputed", [
        ("apply interleaved / one multiply", time["apply", "interleaved"] / floor, "<= 1.5"),
        ("apply_vjp interleaved (x and angles) / one multiply",
         time["vjp", "interleaved"] / floor, "<= 1.5"),
        ("apply half / one multiply", time["apply", "half"] / floor, "<= 3"),
        ("apply_vjp half (x and angles) / one multiply", time["vjp", "half"] / floor, "<= 3"),
        ("HF rotate_half port / apply half", port / time["apply", "half"], ">= 3"),
        ("HF rotate_half port / apply interleaved", port / time["apply", "interleaved"], ">= 3"),
        ("HF port backward (x only) / apply_vjp half (x and angles)",
         port_vjp / time["vjp", "half"], "(info)"),
    ])


if __name__ == "__main__":
    main()
