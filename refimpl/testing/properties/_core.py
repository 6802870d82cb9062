"""What every property shares: its result, its input case, its record, its tolerance rule.

A property is a function ``check(subject, case) -> PropertyResult``: ``subject`` bundles
the implementation under test with what the property needs to know about it (its
feature size, the convention it claims, the precision it computes in), ``case`` is one
input (a :class:`Case` of named arrays, drawn by a strategy of
:mod:`refimpl.testing.strategies` or built by hand). The result says what was
measured, against which tolerance, and carries the input, so that a failure prints the
arrays with their shapes.

Tolerances follow one rule, :func:`tolerance`: ``SAFETY * eps(dtype) * size``, where
``eps`` is the machine epsilon of the precision the implementation claims and ``size``
is a factor stated with each property (the number of roundings an entry goes through,
or a condition number). ``SAFETY`` and the ``eps`` table are those of the conformance
kit (:mod:`refimpl.testing.rope`), so a property and a kit check of the same fact
agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refimpl._validation import check_choice
from refimpl.testing.adapters import as_numpy_function
from refimpl.testing.rope import EPSILON, SAFETY

__all__ = ["Case", "PropertyResult", "PropertyFailure", "Property", "tolerance", "eps",
           "numpy_callable", "worst", "format_array"]


def eps(dtype: str) -> float:
    """Machine epsilon of a precision name (``"float64"``, ``"float32"``, ...)."""
    return EPSILON[check_choice(dtype, "dtype", tuple(EPSILON))]


def tolerance(dtype: str, size: float) -> float:
    """The tolerance rule of every property: ``SAFETY * eps(dtype) * size``.

    ``size`` is the documented size factor of the property (e.g. ``1 + |angle|`` for a
    rotation whose angle is rounded, ``sqrt(m k)`` for a product of ``k`` reflectors).

    Examples
    --------
    >>> tolerance("float64", 1.0) == 16 * 2.0**-52
    True
    """
    return float(SAFETY * eps(dtype) * size)


def numpy_callable(fn: Callable[..., Any], framework: str | None, dtype: str
                   ) -> Callable[..., Any]:
    """``fn`` taking and returning float64 NumPy arrays, inputs cast to the claimed dtype.

    Array arguments are converted to ``framework`` (None: left as NumPy) and cast to
    ``dtype`` unless it is float64; NumPy has no bfloat16, so a NumPy function claiming
    bfloat16 receives float32 (the kit's rule in :func:`refimpl.testing.check_rope`).
    """
    if dtype == "float64":
        cast = None
    elif dtype == "bfloat16" and framework in (None, "numpy"):
        cast = "float32"
    else:
        cast = dtype
    return as_numpy_function(fn, framework, cast)


def format_array(value: Any, *, threshold: int = 24) -> str:
    """An array as ``shape (2, 3) float64: [[...]]``, abbreviated beyond ``threshold``."""
    if isinstance(value, np.ndarray):
        body = np.array2string(value, precision=6, threshold=threshold, edgeitems=2,
                               max_line_width=88)
        return f"shape {value.shape} {value.dtype}: {body}"
    return repr(value)


class Case:
    """One input of a property: named arrays (and scalars), printed with their shapes.

    Fields are read as attributes (``case.x``); ``repr`` prints every array with its
    shape, which is what a Hypothesis falsifying example shows.

    Examples
    --------
    >>> case = Case(x=np.zeros((2, 4)), positions=np.array([0.0, 3.0]))
    >>> case.x.shape, sorted(case.fields)
    ((2, 4), ['positions', 'x'])
    """

    def __init__(self, **fields: Any) -> None:
        self.fields: dict[str, Any] = fields

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(f"this case has no field {name!r}; fields: "
                                 f"{sorted(self.__dict__.get('fields', {}))}") from None

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.fields.items())

    def __repr__(self) -> str:
        lines = [f"    {name}={format_array(value)}," for name, value in self.fields.items()]
        return "Case(\n" + "\n".join(line.replace("\n", "\n      ") for line in lines) + "\n)"


@dataclass(frozen=True)
class PropertyResult:
    """The outcome of one property on one case: passes when ``measured <= tolerance``.

    ``measured`` and ``tolerance`` are in the units ``detail`` states (an error, an error
    relative to a scale, a count, ``-log10 p`` of a test). NaN never passes. ``faults``
    name the likely cause of a failure where it can be identified; ``case`` is the
    input, printed on failure.
    """

    name: str
    measured: float
    tolerance: float
    detail: str = ""
    faults: tuple[str, ...] = ()
    case: Case | None = field(default=None, compare=False)

    @property
    def passed(self) -> bool:
        """True when the measured value is within tolerance."""
        return bool(self.measured <= self.tolerance)

    def with_faults(self, faults: tuple[str, ...]) -> PropertyResult:
        """The same result with ``faults`` added (duplicates dropped)."""
        extra = tuple(f for f in faults if f not in self.faults)
        return PropertyResult(self.name, self.measured, self.tolerance, self.detail,
                              self.faults + extra, self.case)

    def assert_holds(self) -> None:
        """Raise :class:`PropertyFailure` (an ``AssertionError``) with the text when failed."""
        if not self.passed:
            raise PropertyFailure(self)

    def __str__(self) -> str:
        return self.text()

    def text(self, *, show_case: bool = True) -> str:
        """The readable form: verdict, measurement, detail, faults, and (on failure) the
        input arrays with their shapes unless ``show_case`` is false."""
        verdict = "holds" if self.passed else "FAILS"
        lines = [f"property {self.name} {verdict}: measured {self.measured:.3e}, "
                 f"tolerance {self.tolerance:.3e}"]
        if self.detail:
            lines.append(f"  {self.detail}")
        lines += [f"  fault: {fault}" for fault in self.faults]
        if show_case and self.case is not None and not self.passed:
            lines.append("  input:")
            lines += [f"    {name} = {format_array(value)}".replace("\n", "\n      ")
                      for name, value in self.case]
        return "\n".join(lines)


class PropertyFailure(AssertionError):
    """A failed property; ``result`` holds the measurement, the faults and the input.

    ``show_case=False`` leaves the input out of the message (Hypothesis prints it).
    """

    def __init__(self, result: PropertyResult, *, show_case: bool = True) -> None:
        super().__init__("\n" + result.text(show_case=show_case))
        self.result = result
        self.show_case = show_case


def always(subject: Any) -> bool:
    """The default applicability of a property: it applies to every subject."""
    return True


@dataclass(frozen=True)
class Property:
    """One stated property: its kind, name, statement, tolerance and check function.

    ``check(subject, case)`` returns a :class:`PropertyResult`; ``applies(subject)``
    says whether the property is meaningful for that subject (e.g. the group law needs
    a magnitude of 1); ``strategy`` names the function of
    :mod:`refimpl.testing.strategies` that draws its cases, ``strategy(subject)``;
    ``diagnose(subject)``, when given, names faults by probing the implementation
    (slower; the plugin calls it once, after a failure); ``grid(subject)``, when given,
    is a fixed list of cases run instead of a Hypothesis strategy (statistical tests
    at a stated false-alarm rate need a fixed number of cases).
    """

    kind: str
    name: str
    statement: str
    tolerance: str
    check: Callable[[Any, Case], PropertyResult]
    strategy: str
    applies: Callable[[Any], bool] = always
    diagnose: Callable[[Any], tuple[str, ...]] | None = None
    grid: Callable[[Any], list[Case]] | None = None

    @property
    def id(self) -> str:
        """``kind.name``, e.g. ``rope.relative_position_invariance``."""
        return f"{self.kind}.{self.name}"

    def __call__(self, subject: Any, case: Case) -> PropertyResult:
        return self.check(subject, case)


def worst(results: list[PropertyResult]) -> PropertyResult:
    """The result with the largest ``measured / tolerance`` (NaN counts as worst)."""
    if not results:
        raise ValueError("worst needs at least one result, got an empty list")

    def excess(result: PropertyResult) -> float:
        if np.isnan(result.measured):
            return np.inf
        if result.tolerance > 0:
            return result.measured / result.tolerance
        return np.inf if result.measured > 0 else result.measured - 1.0

    return max(results, key=excess)


PropertyFailure.__module__ = "refimpl.testing.properties"  # its public home, as printed
