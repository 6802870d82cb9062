"""Timing helpers shared by every benchmark: medians after a warm-up, floors, ratio tables.

A benchmark never prints a bare time: it prints ratios measured side by side in the same
run, against a *floor* (the cheapest NumPy operation over the same bytes) and against
the *peer* a user would otherwise call. Ratios travel between machines; seconds do not.
"""

from __future__ import annotations

import re
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


#: Every row printed in this run, for ``run.py --json``: dicts with the table's title, the
#: measurement, its ratio, its target and the verdict.
ROWS: list[dict] = []

_TARGET = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)")


def verdict(ratio: float, target: str) -> str:
    """``met`` or ``MISSED`` for a target such as ``"<= 1.5"`` or ``">= 3"``.

    A target that does not start with a comparison and a number gets ``n/a``; a NaN
    ratio (a measurement that could not be taken) is ``MISSED``.

    Examples
    --------
    >>> verdict(1.2, "<= 1.5"), verdict(2.0, ">= 3"), verdict(1.0, "about 1")
    ('met', 'MISSED', 'n/a')
    """
    match = _TARGET.match(target)
    if match is None:
        return "n/a"
    bound = float(match.group(2))
    met = {"<=": ratio <= bound, "<": ratio < bound, ">=": ratio >= bound,
           ">": ratio > bound}[match.group(1)]
    return "met" if met else "MISSED"


def print_table(title: str, rows: list[tuple[str, float, str]]) -> None:
    """Print ``(label, ratio, target)`` rows under ``title``, each with its verdict."""
    print(f"\n{title}")
    print(f"  {'measurement':<58} {'ratio':>9}  {'target':<10} verdict")
    for label, ratio, target in rows:
        result = verdict(ratio, target)
        print(f"  {label:<58} {ratio:>9.2f}  {target:<10} {result}")
        ROWS.append(dict(table=title, name=label, ratio=float(ratio), target=target,
                         verdict=result))
