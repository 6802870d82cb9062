"""2-D RoPE on a ViT-sized input: the rotation after the angles, and the angles themselves.

x has shape (8, 12, 1025, 64): batch 8, 12 heads, a 32 x 32 patch grid plus CLS, head
dimension 64. Issue 5's targets: ``apply`` with 2-D angles within 1.5x of the same-shape
1-D ``apply``, and building the 2-D angles (grid, CLS, ``positions @ F``) at most 0.5x
of that ``apply``. Also shown, without targets: RoPE-Mixed (one F per head), a change of
basis, the floor (one multiply over x) and the generator form ``expm(sum p_k A_k)`` with
a dense product, which is what a straightforward port of the theory would run.
"""

import numpy as np
import scipy.stats
from _timing import floor_multiply, median_time, print_table

from refimpl.rope import angles, apply, inv_freq
from refimpl.rope.generators import generators, rotation_from_generators
from refimpl.rope.grids import index_grid, with_prefix_tokens
from refimpl.rope.nd import axial_frequencies, mixed_frequencies, nd_angles

SHAPE = (8, 12, 32 * 32 + 1, 64)


def paired_ratio(numerator, denominator, rounds: int = 3) -> float:
    """Median over rounds of time(numerator) / time(denominator), timed back to back so
    that load from other processes on a shared machine hits both sides alike."""
    ratios = [median_time(numerator, repeat=3) / median_time(denominator, repeat=3)
              for _ in range(rounds)]
    return float(np.median(ratios))


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE)
    F = axial_frequencies(64, 2)
    build = lambda: nd_angles(with_prefix_tokens(index_grid((32, 32))), F)
    phi_2d, phi_1d = build(), angles(np.arange(SHAPE[2]), inv_freq(64))
    phi_mixed = nd_angles(with_prefix_tokens(index_grid((32, 32), axis_order="xy")),
                          mixed_frequencies(64, 12, rng=rng)[:, None])
    basis = scipy.stats.ortho_group.rvs(64, random_state=1)
    A = generators(F)
    positions = with_prefix_tokens(index_grid((32, 32)))

    apply_1d, apply_2d = lambda: apply(x, phi_1d), lambda: apply(x, phi_2d)
    floor = floor_multiply(SHAPE)
    dense = lambda: np.einsum("tij,bhtj->bhti", rotation_from_generators(positions, A), x)
    print_table(f"2-D RoPE, x {SHAPE}, 32x32 grid + CLS", [
        ("apply(2-D angles) / apply(1-D angles)", paired_ratio(apply_2d, apply_1d), "<= 1.5"),
        ("build angles (grid, CLS, p @ F) / apply(2-D)", paired_ratio(build, apply_2d), "<= 0.5"),
        ("apply(2-D angles) / one multiply over x", median_time(apply_2d) / floor,
         "(context: floor)"),
        ("apply(RoPE-Mixed, F per head) / apply(1-D)",
         paired_ratio(lambda: apply(x, phi_mixed), apply_1d), "(context)"),
        ("apply(2-D, basis=Q) / apply(1-D)",
         paired_ratio(lambda: apply(x, phi_2d, basis=basis), apply_1d, rounds=1), "(context)"),
        ("expm(sum p_k A_k) @ x (generator form) / apply(2-D)",
         paired_ratio(dense, apply_2d, rounds=1), "(context: peer)"),
    ])


if __name__ == "__main__":
    main()
