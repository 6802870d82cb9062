"""The floors every benchmark divides by, and what a gradient check costs.

Prints: drawing N normals against one multiply over N values, and ``assert_vjp`` of a
softmax against a single forward call (the check makes 2 calls per input entry).
"""

import numpy as np
from _timing import floor_multiply, floor_normals, median_time, print_table

from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck.gradcheck import softmax, softmax_vjp


def main() -> None:
    n = 10**6
    multiply = floor_multiply((n,))
    x = np.random.default_rng(0).standard_normal((4, 16))
    forward = median_time(lambda: softmax(x))
    check = median_time(lambda: assert_vjp(softmax, softmax_vjp, [x], rng=0), repeat=3)
    print_table("floors and gradcheck cost", [
        (f"draw {n} normals / multiply {n} float64", floor_normals(n) / multiply,
         "(context: floor ratio)"),
        # 2 * 64 forward calls plus the VJP, the random direction and the comparison:
        # within twice the cost of those 128 calls
        ("assert_vjp(softmax, 64 inputs) / one forward", check / forward, "<= 256"),
    ])


if __name__ == "__main__":
    main()
