"""Householder maps applied to many vectors, Householder products, and Q applied to a matrix.

Prints, measured side by side in one run:
- reflection and rotation applied matrix-free to n = 100,000 vectors of d = 1000
  (800 MB), into a new array, into a reused ``out=`` buffer and in place, against the
  floor (one ``x @ v``, a single read of ``x``) and against the dense route (form the
  d x d matrix, then ``x @ T.T``; timed on 10,000 rows and scaled by 10, since a matrix
  product's time is linear in the number of rows). Context rows give what any route
  must pay on this machine: writing a new 800 MB array (``np.empty`` + ``fill``: page
  faults and the kernel zeroing every page, then the write) and copying ``x`` into a
  new array (``np.copy``, and split between 2 threads: the same memory traffic as a map
  with a new output, no arithmetic); a map with a new output cannot beat the copy;
- ``householder_product`` for m = n = k = 512 against ``scipy.linalg.lapack.dorgqr``
  (with a workspace large enough for LAPACK's blocked code), its blocked VJP and the
  unblocked definition of the VJP against it;
- ``householder_apply`` (m = n = k = 512, X 512 x 512) against
  ``scipy.linalg.lapack.dormqr`` in all four side/transpose cases, and its VJP;
- with torch installed: ``householder_product`` and its backward against
  ``torch.linalg.householder_product`` with autograd, and ``householder_apply`` against
  ``torch.ormqr``.

The machine may be shared, so the two sides of each ratio are timed interleaved, several
times, and the ratio is of their fastest runs (the least disturbed by other load).
"""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _timing import interleaved_best, print_table, torch_ports
from scipy.linalg import lapack

from refimpl import householder as hh

SIZE = 512
CASES = [("left", False), ("left", True), ("right", False), ("right", True)]


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


def threaded_copy(x: np.ndarray, threads: int = 2) -> np.ndarray:
    """``np.copy(x)`` with the rows split between ``threads`` threads (NumPy releases the
    GIL while copying), so that the page faults of the new array are taken in parallel."""
    result = np.empty_like(x)
    bounds = np.linspace(0, len(x), threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: np.copyto(result[bounds[i]:bounds[i + 1]],
                                          x[bounds[i]:bounds[i + 1]]), range(threads)))
    return result


def maps_rows() -> list[tuple[str, float, str]]:
    n, d, dense_rows = 100_000, 1000, 10_000
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    a, b = hh.normalize(rng.standard_normal(d)), hh.normalize(rng.standard_normal(d))
    out = np.empty_like(x)
    floor = lambda: x @ a  # noqa: E731
    rows = [
        ("write a new 800 MB array (np.empty + fill) / floor (x @ v)",
         paired_ratio(lambda: np.empty_like(x).fill(1.0), floor), "(context: first touch)"),
        ("copy x into a new array (np.copy) / floor (x @ v)",
         paired_ratio(lambda: np.copy(x), floor), "(context: new-output bound)"),
        ("copy x into a new array, 2 threads / floor (x @ v)",
         paired_ratio(lambda: threaded_copy(x), floor), "(context: new-output bound)"),
    ]
    for name, apply, matrix in [
        ("reflection", lambda **kw: hh.reflect(x, a - b, **kw),
         lambda: hh.reflection_matrix(a - b)),
        ("rotation", lambda **kw: hh.rotation_map(x, a, b, **kw),
         lambda: hh.rotation_map_matrix(a, b)),
    ]:
        dense = lambda matrix=matrix: x[:dense_rows] @ matrix().T  # noqa: E731
        with_out = lambda apply=apply: apply(out=out)  # noqa: E731
        in_place = lambda apply=apply: apply(out=x)  # noqa: E731
        rows += [
            (f"{name}, new output / floor (x @ v)", paired_ratio(apply, floor), "<= 4"),
            (f"{name}, new output / np.copy(x) (same memory traffic)",
             paired_ratio(apply, lambda: np.copy(x)), "<= 1.5"),
            (f"{name}, out= buffer / floor (x @ v)",
             paired_ratio(with_out, floor), "<= 3"),
            (f"{name}, in place (out=x) / floor (x @ v)",  # x stays bounded: T is orthogonal
             paired_ratio(in_place, floor), "<= 3"),
            # the dense route costs ~60 floors, so a map within 4 floors beats it >= 15x
            (f"dense {name} route / {name} (new output)",
             paired_ratio(dense, apply, repeat=3, scale=n // dense_rows), ">= 15"),
            (f"dense {name} route / floor (bounds the ratio above)",
             paired_ratio(dense, floor, repeat=3, scale=n // dense_rows), "(context: bound)"),
        ]
    return rows


def product_rows(V, tau, G) -> list[tuple[str, float, str]]:
    best = interleaved_best({
        "ours": lambda: hh.householder_product(V, tau),
        "dorgqr": lambda: lapack.dorgqr(V, tau, lwork=64 * SIZE),
        "matmul": lambda: V @ V,
        "vjp": lambda: hh.householder_product_vjp(G, V, tau),
    })
    definition = interleaved_best({"ours": lambda: hh.householder_product(V, tau),
                                   "vjp": lambda: hh.householder_product_vjp_definition(
                                       G, V, tau)}, rounds=2)
    return [
        (f"householder_product {SIZE}^3 / dorgqr", best["ours"] / best["dorgqr"], "<= 3"),
        (f"householder_product {SIZE}^3 / one {SIZE}x{SIZE} matmul",
         best["ours"] / best["matmul"], "(context: floor)"),
        ("householder_product_vjp (blocked) / householder_product",
         best["vjp"] / best["ours"], "<= 4"),
        ("householder_product_vjp_definition / householder_product",
         definition["vjp"] / definition["ours"], "(context: before)"),
    ]


def apply_rows(V, tau, X) -> list[tuple[str, float, str]]:
    rows = []
    for side, transpose in CASES:
        best = interleaved_best({
            "ours": lambda side=side, transpose=transpose: hh.householder_apply(
                V, tau, X, side=side, transpose=transpose),
            "dormqr": lambda side=side, transpose=transpose: lapack.dormqr(
                side[0].upper(), "T" if transpose else "N", V, tau, X, lwork=64 * SIZE),
        })
        label = f"householder_apply side={side}, transpose={transpose} / dormqr"
        rows.append((label, best["ours"] / best["dormqr"], "<= 1.5"))
    best = interleaved_best({"ours": lambda: hh.householder_apply(V, tau, X),
                             "vjp": lambda: hh.householder_apply_vjp(X, V, tau, X)}, rounds=5)
    # flops: the forward 2 m^3; the VJP's apply for grad_X 2 m^3, the block passes 4/3 m^3,
    # A^T R and A [Pl T] 4 m^3, the L sweep 4 m^3: about 5.7 forwards
    rows.append(("householder_apply_vjp / householder_apply (left)", best["vjp"] / best["ours"],
                 "<= 7"))
    return rows


def torch_rows(ports, V, tau, G, X) -> list[tuple[str, float, str]]:
    torch = ports.torch
    tV, ttau = ports.tensor(V, True), ports.tensor(tau, True)
    tG, tX = ports.tensor(G), ports.tensor(X)

    def torch_step():
        tV.grad = ttau.grad = None
        torch.linalg.householder_product(tV, ttau).backward(tG)

    with torch.no_grad():
        best = interleaved_best({
            "ours": lambda: hh.householder_product(V, tau),
            "torch": lambda: torch.linalg.householder_product(tV, ttau),
            "apply": lambda: hh.householder_apply(V, tau, X),
            "ormqr": lambda: torch.ormqr(tV, ttau, tX),
        })
    steps = interleaved_best({
        "ours": lambda: (hh.householder_product(V, tau), hh.householder_product_vjp(G, V, tau)),
        "torch": torch_step}, rounds=5)
    return [
        ("householder_product / torch.linalg.householder_product", best["ours"] / best["torch"],
         "<= 1.0"),
        ("householder_product + its VJP / torch forward + backward",
         steps["ours"] / steps["torch"], "<= 1.0"),
        ("householder_apply (left) / torch.ormqr", best["apply"] / best["ormqr"], "<= 1.0"),
    ]


def main() -> None:
    print_table("Householder maps, n = 100,000 vectors, d = 1000", maps_rows())
    rng = np.random.default_rng(1)
    V, tau = hh.householder_qr(rng.standard_normal((SIZE, SIZE)))
    G, X = rng.standard_normal((SIZE, SIZE)), rng.standard_normal((SIZE, SIZE))
    print_table(f"Householder products, m = n = k = {SIZE}", product_rows(V, tau, G))
    print_table(f"Q applied without forming it (xORMQR), m = k = {SIZE}, X {SIZE} x {SIZE}",
                apply_rows(V, tau, X))
    ports = torch_ports()
    if ports is not None:
        print_table(f"Householder against torch CPU float64, m = n = k = {SIZE}",
                    torch_rows(ports, V, tau, G, X))


if __name__ == "__main__":
    main()
