"""Properties of an orthogonal map ``T`` taking unit ``a`` to unit ``b``.

The maps of Su, "An orthogonal matrix that maps one unit vector to another" (2021,
https://kexue.fm/archives/8453): a reflection (det -1), the rotation in span(a, b)
(det +1), the symmetric form (det ``(-1)^(d-1)``), or any other. Whatever the map,
``T^T T = I`` and ``T a = b``; its determinant and its action on the complement of
span(a, b) are what distinguish them, and are checked when the subject states them.

Error model: a map built from the normal ``a - b`` (a reflection swapping a and b) or
``a + b`` (rotation, symmetric form) loses ``eps / |a -+ b|`` of accuracy near its
singular point, on top of the ``eps sqrt(d)`` of its inner products: the size factor
of ``T a = b`` is ``sqrt(d) + 1 / distance``, where ``distance`` is ``|a - b|``,
``|a + b|``, their minimum (``singular="both"``, the default for a map of unknown
construction) or absent (``singular="none"``, e.g. refimpl's ``stable_map``). At the
exact singular point a correct map uses a fallback and is exact, so the term is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl._validation import check_choice
from refimpl.testing.properties._core import (
    Case,
    Property,
    PropertyResult,
    numpy_callable,
    tolerance,
)

__all__ = ["MapSubject", "map_subject", "sign_rule", "SIGN_RULES", "orthogonality",
           "maps_a_to_b", "determinant", "complement", "PROPERTIES"]

#: A rule giving the expected determinant (or complement sign) of the map for ``(a, b)``.
SignRule = Callable[[np.ndarray, np.ndarray], float]

#: Named rules: the three maps of the post and refimpl's branching ``stable_map``.
SIGN_RULES: dict[str, SignRule] = {
    "+1": lambda a, b: 1.0,
    "-1": lambda a, b: -1.0,
    "(-1)^(d-1)": lambda a, b: (-1.0) ** (a.size - 1),
    "stable": lambda a, b: (-1.0) ** (a.size - 1) if a @ b >= 0 else -1.0,
    "stable-complement": lambda a, b: -1.0 if a @ b >= 0 else 1.0,
}

SINGULAR = ("both", "a-b", "a+b", "none")


def sign_rule(rule: str | float | SignRule | None) -> SignRule | None:
    """A sign rule from a name of :data:`SIGN_RULES`, a number or a callable (None: none)."""
    if rule is None or callable(rule):
        return rule
    if isinstance(rule, str):
        return SIGN_RULES[check_choice(rule, "sign rule", tuple(SIGN_RULES))]
    value = float(rule)
    return lambda a, b: value


@dataclass(frozen=True, eq=False)
class MapSubject:
    """An orthogonal map ``fn`` (NumPy in and out) and what it claims.

    ``form="apply"``: ``fn(x, a, b) -> T x`` with ``x`` of shape ``(rows, d)``;
    ``form="matrix"``: ``fn(a, b) -> T``. ``determinant`` and ``complement`` give the
    expected determinant and the sign ``s`` of ``T z = s z`` for ``z`` orthogonal to a
    and b (None: not checked). ``singular`` names the map's singular point (module
    notes).
    """

    fn: Callable[..., Any]
    form: str = "apply"
    determinant: SignRule | None = None
    complement: SignRule | None = None
    singular: str = "both"
    dtype: str = "float64"
    name: str = "fn"

    def matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The dense ``T`` for one pair; an exception or a bad shape gives NaN entries."""
        with np.errstate(all="ignore"):
            try:
                if self.form == "matrix":
                    T = np.asarray(self.fn(a, b), dtype=np.float64)
                else:
                    T = np.asarray(self.fn(np.eye(a.size), a, b), dtype=np.float64).T
            except Exception:  # the foreign function failed on this pair: reported as NaN
                return np.full((a.size, a.size), np.nan)
        return T if T.shape == (a.size, a.size) else np.full((a.size, a.size), np.nan)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Distance to the singular point (inf when the map has none)."""
        minus, plus = float(np.linalg.norm(a - b)), float(np.linalg.norm(a + b))
        return {"both": min(minus, plus), "a-b": minus, "a+b": plus}.get(self.singular, np.inf)


def map_subject(fn: Callable[..., Any], *, form: str = "apply",
                determinant: str | float | SignRule | None = None,
                complement: str | float | SignRule | None = None, singular: str = "both",
                dtype: str = "float64", framework: str | None = None) -> MapSubject:
    """Wrap a foreign map as a :class:`MapSubject` (rules by name, number or callable).

    Examples
    --------
    >>> from refimpl.householder import rotation_map
    >>> subject = map_subject(rotation_map, determinant="+1", complement="+1",
    ...                       singular="a+b")
    >>> a, b = np.eye(3)[0], np.eye(3)[1]
    >>> determinant(subject, Case(a=a, b=b)).passed
    True
    """
    return MapSubject(numpy_callable(fn, framework, dtype),
                      check_choice(form, "form", ("apply", "matrix")),
                      sign_rule(determinant), sign_rule(complement),
                      check_choice(singular, "singular", SINGULAR), dtype,
                      getattr(fn, "__name__", "fn"))


def _conditioning(subject: MapSubject, a: np.ndarray, b: np.ndarray) -> float:
    """``sqrt(d) + 1/distance`` (0 for the second term at the exact singular point)."""
    distance = subject.distance(a, b)
    near = 1.0 / distance if 0.0 < distance < np.inf else 0.0
    return float(np.sqrt(a.size)) + near


def _finite(T: np.ndarray) -> tuple[str, ...]:
    if np.all(np.isfinite(T)):
        return ()
    return ("non-finite or misshapen output (a normal (a - b)/|a - b| without a branch for "
            "b = a, or (a + b)/|a + b| for b = -a?)",)


def orthogonality(subject: MapSubject, case: Case) -> PropertyResult:
    """``T^T T = I`` (fields ``a, b``).

    Measured: ``max |T^T T - I|``. Tolerance: ``SAFETY eps sqrt(d)`` (each entry an inner
    product of two columns). An epsilon-regularised normal ``(a - b)/(|a - b| + 1e-5)``
    fails it.
    """
    T = subject.matrix(case.a, case.b)
    error = float(np.max(np.abs(T.T @ T - np.eye(case.a.size))))
    return PropertyResult("maps.orthogonality", error,
                          tolerance(subject.dtype, float(np.sqrt(case.a.size))),
                          "max |T^T T - I|", _finite(T), case)


def maps_a_to_b(subject: MapSubject, case: Case) -> PropertyResult:
    """``T a = b`` (fields ``a, b``).

    Measured: ``|T a - b|``. Tolerance: ``SAFETY eps (sqrt(d) + 1/distance)`` (module notes).
    """
    T = subject.matrix(case.a, case.b)
    error = float(np.linalg.norm(T @ case.a - case.b))
    return PropertyResult("maps.maps_a_to_b", error,
                          tolerance(subject.dtype, _conditioning(subject, case.a, case.b)),
                          f"|T a - b| (singular point: {subject.singular})", _finite(T), case)


def determinant(subject: MapSubject, case: Case) -> PropertyResult:
    """``det T`` is the claimed sign (fields ``a, b``; needs ``subject.determinant``).

    Measured: ``|det T - expected|``. Tolerance: ``SAFETY eps d`` (LU of an orthogonal
    matrix: ``d`` pivots, each rounded).
    """
    if subject.determinant is None:
        raise ValueError("determinant needs subject.determinant, a sign rule; got None")
    T = subject.matrix(case.a, case.b)
    expected = subject.determinant(case.a, case.b)
    found = float(np.linalg.det(T)) if np.all(np.isfinite(T)) else np.nan
    faults = () if not np.isfinite(found) or abs(found - expected) < 0.5 else (
        f"determinant {found:+.0f}, expected {expected:+.0f}: a reflection where a rotation "
        f"was claimed, or the reverse",)
    return PropertyResult("maps.determinant", abs(found - expected),
                          tolerance(subject.dtype, case.a.size),
                          f"|det T - ({expected:+.0f})|", faults + _finite(T), case)


def _complement(a: np.ndarray, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The rows of ``z`` projected onto span(a, b)^perp, through an orthonormal basis of
    ``R^d`` whose first columns span a and b (QR of ``[a, b, z^T]``); empty when d <= 2."""
    basis, _ = np.linalg.qr(np.column_stack([a, b, z.T]), mode="complete")
    rank = 1 if not np.any(a != b) or not np.any(a != -b) else 2
    rest = basis[:, rank:]
    return (z @ rest) @ rest.T if rest.shape[1] else np.zeros((0, a.size))


def complement(subject: MapSubject, case: Case) -> PropertyResult:
    """``T z = s z`` for ``z`` orthogonal to span(a, b), ``s`` the claimed sign (fields
    ``a, b, z``; ``z`` rows are projected onto the complement here; needs
    ``subject.complement``).

    Not applicable (reported as 0) where the map uses its fallback, i.e. at its exact
    singular point, whose fallback plane is any one orthogonal to ``a``. Measured:
    ``max |T z - s z|`` relative to ``max |z|``. Tolerance: ``SAFETY eps (sqrt(d) +
    1/distance)``.
    """
    if subject.complement is None:
        raise ValueError("complement needs subject.complement, a sign rule; got None")
    a, b = case.a, case.b
    z = _complement(a, b, case.z)
    scale = float(np.max(np.linalg.norm(z, axis=-1), initial=0.0))
    if scale == 0.0 or subject.distance(a, b) == 0.0:
        return PropertyResult("maps.complement", 0.0, 0.0,
                              "not applicable: no complement, or the exact singular point")
    T = subject.matrix(a, b)
    sign = subject.complement(a, b)
    error = float(np.max(np.abs(z @ T.T - sign * z))) / scale
    return PropertyResult("maps.complement", error,
                          tolerance(subject.dtype, _conditioning(subject, a, b)),
                          f"max |T z - ({sign:+.0f}) z| / max|z| on span(a, b)^perp",
                          _finite(T), Case(a=a, b=b, z=z))


def diagnose(subject: MapSubject) -> tuple[str, ...]:
    """Which of refimpl's maps the function matches, by :func:`check_orthogonal_map`."""
    from refimpl.testing.householder import check_orthogonal_map

    report = check_orthogonal_map(subject.fn, form=subject.form, dtype=subject.dtype)
    found = report.identified
    return (f"identified as {found['map']}; determinants on random pairs "
            f"{found['determinants (random pairs)']}",)


_TOL_MAP = "SAFETY eps(dtype) (sqrt(d) + 1/distance to the singular point)"

#: The properties of an ``a -> b`` map, in the order the plugin runs them.
PROPERTIES = (
    Property("maps", "orthogonality", "T^T T = I", "SAFETY eps(dtype) sqrt(d)", orthogonality,
             "map_cases", diagnose=diagnose),
    Property("maps", "maps_a_to_b", "T a = b", _TOL_MAP, maps_a_to_b, "map_cases",
             diagnose=diagnose),
    Property("maps", "determinant", "det T = the claimed sign", "SAFETY eps(dtype) d",
             determinant, "map_cases", lambda s: s.determinant is not None, diagnose),
    Property("maps", "complement", "T z = s z on span(a, b)^perp", _TOL_MAP, complement,
             "map_cases", lambda s: s.complement is not None, diagnose),
)
