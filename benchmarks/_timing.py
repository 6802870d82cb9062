"""Timing helpers shared by every benchmark: medians after a warm-up, floors, ratio tables.

A benchmark never prints a bare time: it prints ratios measured side by side in the same
run, against a *floor* (the cheapest NumPy operation over the same bytes) and against
the *peer* a user would otherwise call (torch CPU float64 too, when it is installed:
:func:`torch_ports`). Ratios travel between machines; seconds do not. Every row has a
numeric target and a verdict, or says that it is context (:func:`verdict`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any

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


def blas_threads() -> int:
    """The number of threads NumPy's BLAS uses: threadpoolctl's answer when it is
    installed, else ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS``, else the CPUs this
    process may run on (OpenBLAS's default)."""
    try:
        from threadpoolctl import threadpool_info
        counts = [info["num_threads"] for info in threadpool_info()
                  if info.get("user_api") == "blas"]
        if counts:
            return int(counts[0])
    except ImportError:
        pass
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def interleaved_best(candidates: dict[str, Callable[[], object]], rounds: int = 7
                     ) -> dict[str, float]:
    """Best wall time of each candidate over ``rounds`` rounds, timed in turn each round.

    Timing the candidates in turn and keeping each one's fastest run makes their ratios
    robust to other processes on a shared machine (the fastest run is the least
    disturbed one; a median of back-to-back runs drifts with the load).
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


def torch_ports() -> Any:
    """The :mod:`torch_ports` module with torch's threads set to NumPy's BLAS count, or
    None when torch is not installed (the torch rows are then left out, with a note)."""
    try:
        import torch_ports as ports
    except ImportError:
        print("  (torch is not installed: no torch rows; install the interop extra)")
        return None
    threads = ports.match_numpy_threads()
    print(f"  (torch {ports.torch.__version__} CPU float64, {threads} intra-op threads = "
          f"NumPy's BLAS threads)")
    return ports


#: Every row printed in this run, for ``run.py --json``: dicts with the table's title, the
#: measurement, its ratio, its target and the verdict.
ROWS: list[dict] = []

_TARGET = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)")

#: Verdict of a row without a numeric target that is not marked as context: a mistake in
#: the benchmark (``run.py`` exits with status 1 when any row has it).
NO_TARGET = "NO TARGET"


def verdict(ratio: float, target: str) -> str:
    """``met`` or ``MISSED`` for a target such as ``"<= 1.5"`` or ``">= 3"``.

    A pure context row (a floor, a bound, a peer shown for scale) says so with a target
    starting ``"(context"`` and gets ``context``; any other target that does not start
    with a comparison and a number gets :data:`NO_TARGET`. A NaN ratio (a measurement
    that could not be taken) is ``MISSED``.

    Examples
    --------
    >>> verdict(1.2, "<= 1.5"), verdict(2.0, ">= 3"), verdict(61.9, "(context: bound)")
    ('met', 'MISSED', 'context')
    >>> verdict(1.0, "about 1")
    'NO TARGET'
    """
    if target.startswith("(context"):
        return "context"
    match = _TARGET.match(target)
    if match is None:
        return NO_TARGET
    bound = float(match.group(2))
    met = {"<=": ratio <= bound, "<": ratio < bound, ">=": ratio >= bound,
           ">": ratio > bound}[match.group(1)]
    return "met" if met else "MISSED"


def print_table(title: str, rows: list[tuple[str, float, str]]) -> None:
    """Print ``(label, ratio, target)`` rows under ``title``, each with its verdict."""
    print(f"\n{title}")
    print(f"  {'measurement':<62} {'ratio':>9}  {'target':<18} verdict")
    for label, ratio, target in rows:
        result = verdict(ratio, target)
        print(f"  {label:<62} {ratio:>9.2f}  {target:<18} {result}")
        ROWS.append(dict(table=title, name=label, ratio=float(ratio), target=target,
                         verdict=result))
