"""Householder maps applied to many vectors, and Householder products.

Prints, measured side by side in one run:
- reflection and rotation applied matrix-free to n = 100,000 vectors of d = 1000
  (800 MB), into a new array, into a reused ``out=`` buffer and in place, against the
  floor (one ``x @ v``, a single read of ``x``) and against the dense route (form the
  d x d matrix, then ``x @ T.T``; timed on 10,000 rows and scaled by 10, since a matrix
  product's time is linear in the number of rows). The dense route's ratio to the floor
  bounds what any route can reach against it (writing the result costs at least a read).
  A new 800 MB output pays the kernel's page faults (first touch of every page), which
  alone cost a few floors; ``out=`` removes them, and in place also saves reading the
  output lines before writing them;
- ``householder_product`` for m = n = k = 512 against ``scipy.linalg.lapack.dorgqr``
  (with a workspace large enough for LAPACK's blocked code), and its VJP.

The machine may be shared, so the two sides of each ratio are timed interleaved, several
times, and the ratio is of their fastest runs (the least disturbed by other load).
"""

import time

import numpy as np
from scipy.linalg import lapack

from _timing import print_table
from refimpl import householder as hh


def paired_ratio(fn, reference, *, repeat: int = 5, scale: float = 1.0) -> float:
    """``scale * min time(fn) / min time(reference)`` over ``repeat`` interleaved pairs."""
    fn(), reference()
    fn_times, reference_times = [], []
    for _ in range(repeat):
        for call, times in ((fn, fn_times), (reference, reference_times)):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return scale * min(fn_times) / min(reference_times)


def maps_rows() -> list[tuple[str, float, str]]:
    n, d, dense_rows = 100_000, 1000, 10_000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    a, b = hh.normalize(rng.standard_normal(d)), hh.normalize(rng.standard_normal(d))
    out = np.empty_like(x)
    floor = lambda: x @ a  # noqa: E731
    rows = []
    for name, apply, matrix in [
        ("reflection", lambda **kw: hh.reflect(x, a - b, **kw),
         lambda: hh.reflection_matrix(a - b)),
        ("rotation", lambda **kw: hh.rotation_map(x, a, b, **kw),
         lambda: hh.rotation_map_matrix(a, b)),
    ]:
        dense = lambda: x[:dense_rows] @ matrix().T  # noqa: E731
        rows += [
            (f"{name}, new output / floor (x @ v)", paired_ratio(apply, floor), "<= 3"),
            (f"{name}, out= buffer / floor (x @ v)",
             paired_ratio(lambda: apply(out=out), floor), "<= 3"),
            (f"{name}, in place (out=x) / floor (x @ v)",  # x stays bounded: T is orthogonal
             paired_ratio(lambda: apply(out=x), floor), "<= 3"),
            (f"dense {name} route / {name} (new output)",
             paired_ratio(dense, apply, repeat=3, scale=n // dense_rows), ">= 50"),
            (f"dense {name} route / floor (bounds the ratio above)",
             paired_ratio(dense, floor, repeat=3, scale=n // dense_rows), "(bound)"),
        ]
    return rows


def product_rows() -> list[tuple[str, float, str]]:
    size = 512
    rng = np.random.default_rng(1)
    V, tau = hh.householder_qr(rng.standard_normal((size, size)))
    ours = lambda: hh.householder_product(V, tau)  # noqa: E731
    return [
        (f"householder_product {size}^3 / dorgqr",
         paired_ratio(ours, lambda: lapack.dorgqr(V, tau, lwork=64 * size), repeat=7), "<= 3"),
        (f"householder_product {size}^3 / one {size}x{size} matmul",
         paired_ratio(ours, lambda: V @ V, repeat=7), "(floor)"),
        ("householder_product_vjp / householder_product",
         paired_ratio(lambda: hh.householder_product_vjp(V, V, tau), ours, repeat=3), "(info)"),
    ]


def main() -> None:
    print_table("Householder maps, n = 100,000 vectors, d = 1000", maps_rows())
    print_table("Householder products", product_rows())


if __name__ == "__main__":
    main()
