"""Timing helpers shared by every benchmark: medians after a warm-up, floors, ratio tables.

A benchmark never prints a bare time: it prints ratios measured side by side in the same
run, against a *floor* (the cheapest NumPy operation over the same bytes) and against
the *peer* a user would otherwise call. Ratios travel between machines; seconds do not.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def median_time(fn: Callable[[], object], *, repeat: int = 7, warmup: int = 1,
                min_seconds: float = 0.02) -> float:
    """Median wall time of one call of ``fn`` over ``repeat`` runs, after ``warmup`` calls.

    Fast calls are looped so that each timed run lasts at least ``min_seconds``.
    """
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    inner = max(1, int(min_seconds / max(once, 1e-9)))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner)
    return float(np.median(samples))


def floor_multiply(shape: tuple[int, ...]) -> float:
    """Time of one elementwise float64 multiply ``x * y -> out`` over ``shape``."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    out = np.empty(shape)
    return median_time(lambda: np.multiply(x, y, out=out))


def floor_normals(count: int) -> float:
    """Time to draw ``count`` standard normals with NumPy's default generator."""
    rng = np.random.default_rng(0)
    return median_time(lambda: rng.standard_normal(count))


def print_table(title: str, rows: list[tuple[str, float, str]]) -> None:
    """Print ``(label, ratio, target)`` rows under ``title``."""
    print(f"\n{title}")
    print(f"  {'measurement':<58} {'ratio':>9}  target")
    for label, ratio, target in rows:
        print(f"  {label:<58} {ratio:>9.2f}  {target}")
