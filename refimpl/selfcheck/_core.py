"""The self-check table: named quick property checks, run with a fixed seed.

Rows that check a mathematical property call the statement of
:mod:`refimpl.testing.properties` on refimpl's own code (:func:`from_properties` turns
the results into a row); the others check fixtures and closed forms.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from refimpl.testing.properties import PropertyResult


@dataclass(frozen=True)
class CheckResult:
    """What one check found: cases tried and the worst error against its tolerance.

    ``unit`` says what the error measures, printed in the table's units column:
    ``abs`` / ``rel`` (absolute / relative error), ``ratio`` (error over its documented
    bound; passes at <= 1), ``count`` (number of failing cases; passes at 0),
    ``fraction`` (failing fraction), ``KS sqrt(n)`` (Kolmogorov-Smirnov statistic
    times sqrt(n), against its critical value), ``half-digits`` (error in halves of
    the last printed digit of a published table).
    """

    cases: int
    worst_error: float
    tolerance: float
    detail: str = ""
    unit: str = "abs"

    @property
    def passed(self) -> bool:
        """True when the worst error is within tolerance (NaN never passes)."""
        return bool(self.worst_error <= self.tolerance)


@dataclass(frozen=True)
class Check:
    """A named property check; ``run(rng)`` returns a :class:`CheckResult`."""

    name: str
    run: Callable[[np.random.Generator], CheckResult]


def run_checks(checks: Iterable[Check], *, seed: int = 0, out: TextIO | None = None) -> bool:
    """Run every check with ``numpy.random.default_rng(seed)`` and print one row each.

    A check that raises counts as a failure and its exception is shown. Rows go to
    ``out`` (default: the current ``sys.stdout``). Returns True when every check passed.
    """
    out = sys.stdout if out is None else out
    header = (f"{'check':<48} {'cases':>7} {'worst error':>12} {'tolerance':>10} "
              f"{'units':<11} result")
    print(header, file=out)
    print("-" * len(header), file=out)
    all_passed = True
    for check in checks:
        start = time.perf_counter()
        try:
            result = check.run(np.random.default_rng(seed))
        except Exception as error:  # a crashing check is a failing check
            result = CheckResult(0, float("nan"), 0.0, f"{type(error).__name__}: {error}")
        seconds = time.perf_counter() - start
        verdict = "pass" if result.passed else "FAIL"
        all_passed &= result.passed
        print(f"{check.name:<48} {result.cases:>7} {result.worst_error:>12.3e} "
              f"{result.tolerance:>10.1e} {result.unit:<11} {verdict}  ({seconds:.2f}s)",
              file=out)
        if result.detail and not result.passed:
            print(f"    {result.detail}", file=out)
    return all_passed


def from_properties(results: Sequence[PropertyResult], detail: str = "") -> CheckResult:
    """A table row from results of :mod:`refimpl.testing.properties` on fixed cases.

    The row's error is the worst ``measured / tolerance`` (unit ``ratio``, passes at
    ``<= 1``; an exact property that measured anything counts as infinite); on failure
    the detail is the first line of the worst result and its faults.
    """
    if not results:
        raise ValueError("from_properties needs at least one result, got none")
    ratios = [_ratio(result) for result in results]
    worst = int(np.argmax(ratios))
    if not results[worst].passed:
        detail = "; ".join([str(results[worst]).splitlines()[0], *results[worst].faults])
    return CheckResult(len(results), ratios[worst], 1.0, detail, unit="ratio")


def _ratio(result: PropertyResult) -> float:
    if np.isnan(result.measured):
        return float("inf")
    if result.tolerance > 0:
        return float(result.measured / result.tolerance)
    return float("inf") if result.measured > 0 else 0.0
