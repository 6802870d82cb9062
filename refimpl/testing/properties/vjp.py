"""Properties of a foreign backward pass: it is the vector-Jacobian product of its forward.

A VJP ``fn_vjp(g, *args)`` returns ``J_fn(args)^T g`` for each differentiated argument.
Two statements, both through the kit's :func:`refimpl.testing.check_vjp` (which owns the
tolerance rule and the naming of sign errors and constant factors):

* against a reference: refimpl's forward and hand-written VJP of the same function, on
  the same arguments and the same random cotangent (the forward is compared too);
* against central differences of the foreign forward
  (:func:`refimpl.gradcheck.numerical_vjp`), when there is no reference.

:data:`VJP_REFERENCES` names refimpl functions a foreign backward can be checked
against from the command line (``--refimpl-vjp-of``), with the arguments to draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl import attention, householder, rope
from refimpl.testing.properties._core import Case, Property, PropertyResult
from refimpl.testing.report import Report
from refimpl.testing.vjp import check_vjp

__all__ = ["VjpSubject", "vjp_subject", "VJP_REFERENCES", "case_arguments",
           "against_reference", "against_finite_differences", "PROPERTIES"]


def _rope_apply(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    # partial rotary stated explicitly: the angles cover the first 2 P features
    return rope.apply(x, angles, rotary_dim=2 * angles.shape[-1])


def _rope_apply_vjp(g: np.ndarray, x: np.ndarray, angles: np.ndarray
                    ) -> tuple[np.ndarray | None, ...]:
    return rope.apply_vjp(g, x, angles, rotary_dim=2 * angles.shape[-1])[:2]


def _stable_map(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``stable_map`` with its unit-norm check relaxed to 1e-4: differences move a and b."""
    return householder.stable_map(x, a, b, rtol=1e-4)


def _stable_map_vjp(g: np.ndarray, x: np.ndarray, a: np.ndarray, b: np.ndarray
                    ) -> tuple[np.ndarray, ...]:
    return householder.stable_map_vjp(g, x, a, b, rtol=1e-4)


def _sdpa(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    return attention.scaled_dot_product_attention(q, k, v)


def _sdpa_vjp(g: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray
              ) -> tuple[np.ndarray | None, ...]:
    return attention.scaled_dot_product_attention_vjp(g, q, k, v)[:3]


#: ``name: (forward, vjp)``: refimpl references for ``--refimpl-vjp-of``;
#: :func:`refimpl.testing.strategies.vjp_arguments` draws their arguments.
VJP_REFERENCES: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "rope.apply": (_rope_apply, _rope_apply_vjp),
    "householder.householder_product": (householder.householder_product,
                                        householder.householder_product_vjp),
    "householder.stable_map": (_stable_map, _stable_map_vjp),
    "attention.scaled_dot_product_attention": (_sdpa, _sdpa_vjp),
}


@dataclass(frozen=True, eq=False)
class VjpSubject:
    """A foreign forward ``fn`` and backward ``fn_vjp`` (any framework), and a reference.

    ``form``, ``argnums``, ``dtype`` and ``framework`` are those of
    :func:`refimpl.testing.check_vjp`; ``reference`` is ``(f, f_vjp)`` of refimpl.
    """

    fn: Callable[..., Any]
    fn_vjp: Callable[..., Any]
    reference: tuple[Callable[..., Any], Callable[..., Any]] | None = None
    argnums: tuple[int, ...] | None = None
    form: str = "vjp"
    dtype: str = "float64"
    framework: str | None = None
    name: str = "fn_vjp"


def vjp_subject(fn: Callable[..., Any], fn_vjp: Callable[..., Any], *,
                reference: str | tuple[Callable[..., Any], Callable[..., Any]] | None = None,
                argnums: Sequence[int] | None = None, form: str = "vjp",
                dtype: str = "float64", framework: str | None = None) -> VjpSubject:
    """A :class:`VjpSubject`; ``reference`` may name an entry of :data:`VJP_REFERENCES`."""
    if isinstance(reference, str):
        if reference not in VJP_REFERENCES:
            raise ValueError(f"reference={reference!r} is not one of {sorted(VJP_REFERENCES)}")
        reference = VJP_REFERENCES[reference]
    return VjpSubject(fn, fn_vjp, reference, None if argnums is None else tuple(argnums),
                      form, dtype, framework, getattr(fn_vjp, "__name__", "fn_vjp"))


def case_arguments(case: Case) -> list[Any]:
    """The arguments ``arg0, arg1, ...`` of a case, in order."""
    names = sorted((name for name, _ in case if name.startswith("arg")),
                   key=lambda name: int(name[3:]))
    return [case.fields[name] for name in names]


def _result(name: str, report: Report, case: Case) -> PropertyResult:
    """The worst row of a kit report (largest measured / tolerance) as a property result."""
    rows = sorted(report.rows, key=lambda row: row.measured / row.tolerance
                  if row.tolerance > 0 else np.inf)
    row = rows[-1]
    return PropertyResult(name, row.measured, row.tolerance, f"{row.name}: {row.detail}",
                          report.faults, case)


def against_reference(subject: VjpSubject, case: Case) -> PropertyResult:
    """``fn_vjp = f_vjp`` of the reference, and ``fn = f`` (fields ``arg0, arg1, ...``).

    Tolerance: that of :func:`refimpl.testing.check_vjp` for ``subject.dtype``.
    """
    if subject.reference is None:
        raise ValueError("against_reference needs subject.reference, (f, f_vjp); got None")
    report = check_vjp(subject.fn, subject.fn_vjp, case_arguments(case),
                       reference=subject.reference, argnums=subject.argnums, form=subject.form,
                       dtype=subject.dtype, framework=subject.framework, rng=0)
    return _result("vjp.against_reference", report, case)


def against_finite_differences(subject: VjpSubject, case: Case) -> PropertyResult:
    """``fn_vjp`` = central differences of ``fn`` (fields ``arg0, arg1, ...``).

    Tolerance: that of :func:`refimpl.testing.check_vjp` (finite-difference error added).
    """
    report = check_vjp(subject.fn, subject.fn_vjp, case_arguments(case), reference=None,
                       argnums=subject.argnums, form=subject.form, dtype=subject.dtype,
                       framework=subject.framework, rng=0)
    return _result("vjp.against_finite_differences", report, case)


#: The properties of a backward pass, in the order the plugin runs them.
PROPERTIES = (
    Property("vjp", "against_reference", "fn_vjp(g, *args) = reference VJP; fn = reference",
             "check_vjp's rule for dtype", against_reference, "vjp_arguments",
             lambda s: s.reference is not None),
    Property("vjp", "against_finite_differences",
             "fn_vjp(g, *args) = central differences of <g, fn(*args)>",
             "check_vjp's rule + finite-difference error", against_finite_differences,
             "vjp_arguments"),
)
