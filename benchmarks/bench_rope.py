"""RoPE-1D: apply and apply_vjp against one elementwise multiply, and against a NumPy port of
Hugging Face's ``rotate_half`` code.

Shape (4, 16, 2048, 128) float64 (batch, heads, tokens, head dim) with the angles
(2048, 64) precomputed, as in issue 4. Targets: apply interleaved within 1.5x of the
floor (one multiply ``x * y -> out`` over the same shape), half within 3x, and at least
3x faster than the concatenate-based port; apply_vjp within 2.5x (interleaved) and 3.5x
(half), issue #21.
"""

import time

import numpy as np

from _timing import print_table
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


def interleaved_minima(candidates: dict, rounds: int = 9) -> dict:
    """Best wall time of each candidate over ``rounds`` rounds, timed in turn each round.

    Timing the floor and the candidates in turn, and keeping each one's best run, makes
    the ratios robust to other processes on a shared machine (a median of back-to-back
    runs drifts with their load).
    """
    best = {name: float("inf") for name in candidates}
    for fn in candidates.values():
        fn()  # warm-up: page in the inputs, settle the allocator
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    rng = np.random.default_rng(0)
    x, grad = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    phi = angles(np.arange(SHAPE[2]), inv_freq(SHAPE[3]))
    doubled = np.concatenate([phi, phi], axis=-1)
    cos, sin = np.cos(doubled), np.sin(doubled)
    out = np.empty(SHAPE)
    best = interleaved_minima({
        "floor": lambda: np.multiply(x, grad, out=out),
        "fresh": lambda: x * grad,
        "apply interleaved": lambda: apply(x, phi),
        "vjp interleaved": lambda: apply_vjp(grad, x, phi),
        "apply half": lambda: apply(x, phi, layout="half"),
        "vjp half": lambda: apply_vjp(grad, x, phi, layout="half"),
        "port": lambda: hf_apply(x, cos, sin),
        "port vjp": lambda: hf_apply_vjp(grad, cos, sin),
    })
    floor = best["floor"]
    print_table(f"RoPE-1D, x {SHAPE} float64, angles precomputed (best of 9, in turn)", [
        ("apply interleaved / one multiply", best["apply interleaved"] / floor, "<= 1.5"),
        ("apply_vjp interleaved (x and angles) / one multiply",
         best["vjp interleaved"] / floor, "<= 2.5"),
        ("apply half / one multiply", best["apply half"] / floor, "<= 3"),
        ("apply_vjp half (x and angles) / one multiply", best["vjp half"] / floor, "<= 3.5"),
        ("HF rotate_half port / apply half", best["port"] / best["apply half"], ">= 3"),
        ("HF rotate_half port / apply interleaved", best["port"] / best["apply interleaved"],
         ">= 3"),
        ("HF port backward (x only) / apply_vjp half (x and angles)",
         best["port vjp"] / best["vjp half"], "(info)"),
        ("one fresh multiply x * y / one multiply into out", best["fresh"] / floor,
         "(info: allocating)"),
        ("apply interleaved / one fresh multiply (both allocate)",
         best["apply interleaved"] / best["fresh"], "(info)"),
        ("apply_vjp interleaved / one fresh multiply (both allocate)",
         best["vjp interleaved"] / best["fresh"], "(info)"),
    ])


if __name__ == "__main__":
    main()
