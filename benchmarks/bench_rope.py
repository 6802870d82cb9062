"""RoPE-1D: apply and apply_vjp against one elementwise multiply, and against a NumPy port of
Hugging Face's ``rotate_half`` code.

Shape (4, 16, 2048, 128) float64 (batch, heads, tokens, head dim) with the angles
(2048, 64) precomputed, as in issue 4. Targets: apply interleaved within 1.5x of the
floor (one multiply ``x * y -> out`` over the same shape), half within 3x, and at least
3x faster than the concatenate-based port; apply_vjp within 2.5x (interleaved) and 3.5x
(half), issue #21. With torch installed, apply and apply + apply_vjp against the torch
ports (HF ``rotate_half`` and the interleaved ``rotate_every_two`` forms) with autograd,
target <= 1.0.
"""

import time

import numpy as np
from _timing import interleaved_best, print_table, torch_ports

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
         best["port vjp"] / best["vjp half"], "(context: x only)"),
        ("one fresh multiply x * y / one multiply into out", best["fresh"] / floor,
         "(context: allocating)"),
        ("apply interleaved / one fresh multiply (both allocate)",
         best["apply interleaved"] / best["fresh"], "(context)"),
        ("apply_vjp interleaved / one fresh multiply (both allocate)",
         best["vjp interleaved"] / best["fresh"], "(context)"),
    ])
    ports = torch_ports()
    if ports is not None:
        print_table(f"RoPE-1D against torch CPU float64, x {SHAPE}",
                    torch_rows(ports, x, grad, phi))


def torch_rows(ports, x, grad, phi) -> list[tuple[str, float, str]]:
    """refimpl against the torch ports (cos and sin computed from the angles inside, as
    refimpl does); forward + backward against torch autograd in x and the angles."""
    torch = ports.torch
    tx, tphi, tgrad = ports.tensor(x, True), ports.tensor(phi, True), ports.tensor(grad)
    candidates = {}
    for layout in ("half", "interleaved"):
        def torch_step(rotate=ports.ROPE[layout]):
            tx.grad = tphi.grad = None
            rotate(tx, tphi).backward(tgrad)

        def torch_forward(rotate=ports.ROPE[layout]):
            with torch.no_grad():
                rotate(tx, tphi)

        candidates[f"apply {layout}"] = lambda layout=layout: apply(x, phi, layout=layout)
        candidates[f"torch {layout}"] = torch_forward
        candidates[f"step {layout}"] = lambda layout=layout: (
            apply(x, phi, layout=layout), apply_vjp(grad, x, phi, layout=layout))
        candidates[f"torch step {layout}"] = torch_step
    best = interleaved_best(candidates, rounds=5)
    rows = []
    for layout, port in (("half", "HF rotate_half"), ("interleaved", "rotate_every_two")):
        rows += [(f"apply {layout} / torch {port}", best[f"apply {layout}"]
                  / best[f"torch {layout}"], "<= 1.0"),
                 (f"apply + apply_vjp {layout} / torch forward + backward (x, angles)",
                  best[f"step {layout}"] / best[f"torch step {layout}"], "<= 1.0")]
    return rows


if __name__ == "__main__":
    main()
