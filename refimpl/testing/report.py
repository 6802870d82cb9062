"""Conformance reports: what a check measured, row by row, with a readable text form.

Every conformance check in :mod:`refimpl.testing` returns a :class:`Report`. A report
holds rows (one measured property each: value, tolerance, pass/fail, a sentence saying
what it means), what the check identified about the foreign function (its layout, base,
rotary dimension, ...), the faults it could name, and optionally an error curve (the
worst error as a function of a parameter such as the position). ``str(report)`` is the
text a user reads; ``report.passed`` is what a test asserts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Row:
    """One measured property: ``measured <= tolerance`` passes (NaN never passes)."""

    name: str
    measured: float
    tolerance: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        """True when the measured value is within tolerance."""
        return bool(self.measured <= self.tolerance)


@dataclass(frozen=True)
class Curve:
    """The worst error at each value of a swept parameter (e.g. the position)."""

    parameter: str
    values: tuple[float, ...]
    errors: tuple[float, ...]
    tolerances: tuple[float, ...]

    def lines(self) -> list[str]:
        """One text line per point, with a bar on a log scale and the verdict."""
        out = [f"  {self.parameter:>12}  {'max error':>10}  {'tolerance':>10}"]
        for value, error, tol in zip(self.values, self.errors, self.tolerances, strict=True):
            bar = "#" * int(np.clip(np.log10(max(error, 1e-17)) + 17, 0, 17))
            flag = "" if error <= tol else "  <-- exceeds"
            out.append(f"  {value:>12.6g}  {error:>10.2e}  {tol:>10.1e}  {bar:<17}{flag}")
        return out


@dataclass(frozen=True)
class Report:
    """The outcome of one conformance check.

    Attributes
    ----------
    title : str
        What was checked, e.g. ``"RoPE conformance of my_rope"``.
    rows : tuple of Row
        The measured properties; the report passes when all of them pass.
    identified : dict
        Conventions found by probing (``{"layout": "half", "base": 10000.0, ...}``).
    faults : tuple of str
        Named faults, each a sentence (``"positions off by one: ..."``); empty when none.
    curve : Curve or None
        Error as a function of a swept parameter, when the check measures one.
    """

    title: str
    rows: tuple[Row, ...]
    identified: dict[str, Any] = field(default_factory=dict)
    faults: tuple[str, ...] = ()
    curve: Curve | None = None

    @property
    def passed(self) -> bool:
        """True when every row passed and no fault was named."""
        return all(row.passed for row in self.rows) and not self.faults

    def row(self, name: str) -> Row:
        """The row called ``name`` (KeyError if absent)."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row named {name!r}; rows: {[r.name for r in self.rows]}")

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` carrying the full text when the check failed."""
        if not self.passed:
            raise AssertionError("\n" + str(self))

    def __str__(self) -> str:
        lines = [f"{self.title}: {'PASS' if self.passed else 'FAIL'}"]
        if self.identified:
            lines.append("identified:")
            lines += [f"  {key:<22} {_show(value)}" for key, value in self.identified.items()]
        lines.append(f"  {'property':<40} {'measured':>10} {'tolerance':>10}  result")
        for row in self.rows:
            lines.append(f"  {row.name:<40} {row.measured:>10.3e} {row.tolerance:>10.1e}  "
                         f"{'pass' if row.passed else 'FAIL'}")
            if row.detail and not row.passed:
                lines.append(f"      {row.detail}")
        if self.curve is not None:
            lines.append(f"error against the reference by {self.curve.parameter}:")
            lines += self.curve.lines()
        if self.faults:
            lines.append("faults:")
            lines += [f"  - {fault}" for fault in self.faults]
        return "\n".join(lines)


def _show(value: Any) -> str:
    """Compact text for an identified value (arrays are abbreviated)."""
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=6, threshold=8, max_line_width=70)
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)
