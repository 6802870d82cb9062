"""Conformance reports: what a check measured, row by row, with a readable text form.

Every conformance check in :mod:`refimpl.testing` returns a :class:`Report`. A report
holds rows (one measured property each: value, tolerance, pass/fail, a sentence saying
what it means), what the check identified about the foreign function (its layout, base,
rotary dimension, ...), the faults it could name, and optionally an error curve (the
worst error as a function of a parameter such as the position). ``str(report)`` is the
text a user reads; ``report.passed`` is what a test asserts.
"""

from __future__ import annotations

import importlib
import os
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

    def plot(self, path: str | os.PathLike[str] | None = None, *, ax: Any = None,
             label: str | None = None) -> Any:
        """Draw the error curve on a log scale and save it as a PNG (needs matplotlib).

        The worst error at each value of the swept parameter (``curve.errors`` against
        ``curve.values``) is drawn with markers, and the tolerance at each value
        (``curve.tolerances``, unless none is finite and positive) as a dashed line of
        the same colour, on a logarithmic error axis; the title is the report's title.
        A parameter spanning two or more decades (the positions 0, 1, 2, 4, ... of
        :func:`refimpl.testing.check_rope`) gets a logarithmic axis too, symmetric-log
        when it includes 0. An error that is exactly 0 has no place on a log axis: it is
        left out of the drawing but kept in the line's data.

        matplotlib is imported here, only when this method is called: it is not a
        dependency of refimpl. A new figure is drawn on matplotlib's Agg canvas without
        going through pyplot, so the session's backend is left alone and no window opens.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Where to write the PNG. Without it nothing is written (the figure is still
            returned).
        ax : matplotlib.axes.Axes, optional
            Draw into these axes instead of a new figure, e.g. to put the curves of
            several reports on one plot; ``path`` then saves the figure the axes belong
            to.
        label : str, optional
            Legend text of the error line (default ``"max error"``); the tolerance line
            is labelled ``label + ": tolerance"``.

        Returns
        -------
        matplotlib.figure.Figure
            The figure drawn on. The lines added to the axes (``ax.lines``) are the
            error line, then the tolerance line; their data are the curve's exactly.

        Raises
        ------
        ValueError
            The report has no curve (the message names the report).
        ImportError
            matplotlib is not installed (``pip install matplotlib``, or refimpl's
            ``docs`` extra).

        Examples
        --------
        >>> import pytest
        >>> _ = pytest.importorskip("matplotlib")
        >>> report = Report("demo", (), curve=Curve("position", (0.0, 1.0, 2.0),
        ...                                         (0.0, 1e-16, 2e-16), (3e-15,) * 3))
        >>> figure = report.plot()
        >>> [list(map(float, line.get_ydata())) for line in figure.axes[0].lines]
        [[0.0, 1e-16, 2e-16], [3e-15, 3e-15, 3e-15]]
        """
        curve = self.curve
        if curve is None:
            raise ValueError(f"{self.title!r} has no error curve to plot: only a check that "
                             f"sweeps a parameter measures one (check_rope and "
                             f"check_rope_pair, by position, when they find a reference "
                             f"convention to compare with)")
        try:
            importlib.import_module("matplotlib")  # first: None in sys.modules stops here
            figures = importlib.import_module("matplotlib.figure")
            agg = importlib.import_module("matplotlib.backends.backend_agg")
        except ImportError as error:
            raise ImportError(f"Report.plot ({self.title!r}) needs matplotlib, which refimpl "
                              f"does not depend on: pip install matplotlib (or pip install "
                              f"'refimpl[docs]')") from error
        if ax is None:
            figure = figures.Figure(figsize=(6.4, 3.8), layout="constrained")
            agg.FigureCanvasAgg(figure)
            ax = figure.add_subplot()
        else:
            figure = ax.figure
        name = "max error" if label is None else label
        (line,) = ax.plot(curve.values, curve.errors, marker="o", markersize=4, label=name)
        tolerances = np.asarray(curve.tolerances, dtype=np.float64)
        if tolerances.size and np.any(np.isfinite(tolerances) & (tolerances > 0)):
            ax.plot(curve.values, curve.tolerances, linestyle="--", linewidth=1,
                    color=line.get_color(), label=f"{name}: tolerance")
        ax.set_yscale("log", nonpositive="mask")
        values = np.asarray(curve.values, dtype=np.float64)
        positive = values[values > 0]
        if positive.size and values.min() >= 0 and positive.max() >= 100 * positive.min():
            if values.min() == 0:
                ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.5)
            else:
                ax.set_xscale("log")
        ax.set_xlabel(curve.parameter)
        ax.set_ylabel("max error (relative)")
        ax.set_title(self.title)
        ax.legend()
        if path is not None:
            figure.savefig(os.fspath(path), format="png", metadata={"Software": None})
        return figure

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
