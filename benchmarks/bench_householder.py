"""Householder maps applied to many vectors, and Householder products.

Prints, measured side by side in one run:
- reflection and rotation applied matrix-free to n = 100,000 vectors of d = 1000
  (800 MB), into a new array, into a reused ``out=`` buffer and in place, against the
  floor (one ``x @ v``, a single read of ``x``) and against the dense route (form the
  d x d matrix, then ``x @ T.T``; timed on 10,000 rows and scaled by 10, since a matrix
  product's time is linear in the number of rows). The dense route's ratio to the floor
  bounds what any route can reach against it (writing the result costs at least a read);
- ``householder_product`` for m = n = k = 512 against ``scipy.linalg.lapack.dorgqr``
  (with a workspace large enough for LAPACK's blocked code), and its VJP.
"""

import numpy as np
from scipy.linalg import lapack

from _timing import median_time, print_table
from refimpl import householder as hh


def maps_rows() -> list[tuple[str, float, str]]:
    n, d, dense_rows = 100_000, 1000, 10_000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    a, b = hh.normalize(rng.standard_normal(d)), hh.normalize(rng.standard_normal(d))
    out = np.empty_like(x)
    floor = median_time(lambda: x @ a, repeat=5)
    rows = []
    for name, apply, matrix in [
        ("reflection", lambda **kw: hh.reflect(x, a - b, **kw),
         lambda: hh.reflection_matrix(a - b)),
        ("rotation", lambda **kw: hh.rotation_map(x, a, b, **kw),
         lambda: hh.rotation_map_matrix(a, b)),
    ]:
        fresh = median_time(apply, repeat=5)
        reused = median_time(lambda: apply(out=out), repeat=5)
        in_place = median_time(lambda: apply(out=x), repeat=5)  # x stays bounded: T is orthogonal
        dense = median_time(lambda: x[:dense_rows] @ matrix().T, repeat=3) * (n // dense_rows)
        rows += [
            (f"{name}, new output / floor (x @ v)", fresh / floor, "<= 3"),
            (f"{name}, out= buffer / floor (x @ v)", reused / floor, "<= 3"),
            (f"{name}, in place (out=x) / floor (x @ v)", in_place / floor, "<= 3"),
            (f"dense {name} route / {name} (new output)", dense / fresh, ">= 50"),
            (f"dense {name} route / floor (bounds the ratio above)",
             dense / floor, "(bound)"),
        ]
    return rows


def product_rows() -> list[tuple[str, float, str]]:
    size = 512
    rng = np.random.default_rng(1)
    V, tau = hh.householder_qr(rng.standard_normal((size, size)))
    ours = median_time(lambda: hh.householder_product(V, tau), repeat=5)
    lapack_time = median_time(lambda: lapack.dorgqr(V, tau, lwork=64 * size), repeat=5)
    matmul = median_time(lambda: V @ V, repeat=5)
    vjp = median_time(lambda: hh.householder_product_vjp(V, V, tau), repeat=3)
    return [
        (f"householder_product {size}^3 / dorgqr", ours / lapack_time, "<= 3"),
        (f"householder_product {size}^3 / one {size}x{size} matmul", ours / matmul, "(floor)"),
        (f"householder_product_vjp / householder_product", vjp / ours, "(info)"),
    ]


def main() -> None:
    print_table("Householder maps, n = 100,000 vectors, d = 1000", maps_rows())
    print_table("Householder products", product_rows())


if __name__ == "__main__":
    main()
