"""Backward-pass conformance: check a foreign gradient against refimpl's VJP.

A framework's backward (a custom ``torch.autograd.Function``, a ``jax.custom_vjp``, a
hand-written kernel) is checked twice: against the hand-written VJP of refimpl's
reference function, on the same arguments and the same random cotangent, and, when no
reference is given, against central differences of the foreign forward
(:func:`refimpl.gradcheck.numerical_vjp`). A disagreement is named when the foreign
gradient is the reference times a constant (a sign error is the constant -1).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from refimpl._validation import as_float_array, as_generator, check_choice
from refimpl.gradcheck import numerical_vjp
from refimpl.testing.adapters import as_numpy_function
from refimpl.testing.report import Report, Row
from refimpl.testing.rope import EPSILON, SAFETY

__all__ = ["check_vjp"]


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _scale_fault(index: int, found: np.ndarray, expected: np.ndarray, tol: float) -> str | None:
    """Name ``found = c * expected`` for a constant ``c`` (sign error when c = -1)."""
    norm = float(np.sum(expected * expected))
    if norm == 0.0:
        return None
    c = float(np.sum(found * expected)) / norm
    if np.max(np.abs(found - c * expected)) > tol:
        return None
    if abs(c + 1.0) < 1e-6:
        return f"gradient of argument {index} has the wrong sign (it is -1 x the reference)"
    return f"gradient of argument {index} is {c:.6g} x the reference"


def check_vjp(
    fn: Callable,
    fn_vjp: Callable,
    args: Sequence[Any],
    *,
    reference: tuple[Callable, Callable] | None = None,
    argnums: Sequence[int] | None = None,
    form: str = "vjp",
    dtype: str = "float64",
    framework: str | None = None,
    rng: Any = 0,
) -> Report:
    """Check a foreign backward ``fn_vjp`` (and forward ``fn``) at ``args``.

    Parameters
    ----------
    fn : callable
        Foreign forward, ``fn(*args)`` returns an array.
    fn_vjp : callable
        ``form="vjp"``: ``fn_vjp(cotangent, *args)`` returns the gradient of each
        argument in ``argnums`` (tuple in order, or one array); ``form="grad"``:
        ``fn_vjp(*args)`` returns the gradients of ``sum(fn(*args))`` (the cotangent is
        then all ones).
    args : sequence of array_like
        Point of evaluation.
    reference : (f, f_vjp), optional
        refimpl's forward and hand-written VJP of the same function (with the same
        argument order); e.g. ``(refimpl.rope.apply, refimpl.rope.apply_vjp)`` wrapped
        in ``functools.partial`` for keyword options. Without it, the foreign gradient
        is compared with central differences of ``fn``.
    argnums : sequence of int, optional
        Differentiated arguments (default: all).
    form : {"vjp", "grad"}
    dtype : {"float64", "float32", "float16", "bfloat16"}
        Precision the foreign code claims. Tolerances: ``16 eps max(1, max|g|)`` against
        a reference; against finite differences the error of the difference quotient,
        ``eps^(2/3)``, is added.
    framework : {"numpy", "torch", "jax"}, optional
        Convert inputs to this framework before calling the foreign functions.
    rng : None, int or numpy.random.Generator
        Source of the random cotangent.

    Returns
    -------
    Report
        A row for the forward value (with a reference) and one per differentiated
        argument; faults name sign errors and constant factors.

    Examples
    --------
    >>> report = check_vjp(np.sin, lambda g, x: -g * np.cos(x), [np.array([0.3, 1.0])],
    ...                    reference=(np.sin, lambda g, x: g * np.cos(x)))
    >>> report.passed, report.faults
    (False, ('gradient of argument 0 has the wrong sign (it is -1 x the reference)',))
    """
    check_choice(form, "form", ("vjp", "grad"))
    eps = EPSILON[check_choice(dtype, "dtype", tuple(EPSILON))]
    cast = None if dtype == "float64" else "float32"
    forward, backward = (as_numpy_function(fn, framework, cast),
                         as_numpy_function(fn_vjp, framework, cast))
    args = [as_float_array(a, f"args[{i}]") for i, a in enumerate(args)]
    argnums = tuple(range(len(args))) if argnums is None else tuple(argnums)
    output = forward(*args)
    generator = as_generator(rng)
    cotangent = (np.ones_like(output) if form == "grad"
                 else generator.standard_normal(np.shape(output)))
    found = _as_tuple(backward(*args) if form == "grad" else backward(cotangent, *args))
    rows, faults = [], []
    if len(found) != len(argnums):
        return Report("VJP conformance", (Row(
            "number of gradients returned", float(abs(len(found) - len(argnums))), 0.0,
            f"got {len(found)}, expected one per argument in argnums={argnums}"),))
    if reference is not None:
        expected_out = np.asarray(reference[0](*args), dtype=np.float64)
        scale = max(1.0, float(np.max(np.abs(expected_out), initial=0.0)))
        rows.append(Row("forward agrees with the reference",
                        float(np.max(np.abs(output - expected_out), initial=0.0)),
                        SAFETY * eps * scale, "fn(*args) differs from the reference forward"))
        expected = _as_tuple(reference[1](cotangent, *args))
        slack = 0.0
    else:
        expected = numerical_vjp(forward, args, cotangent, argnums=argnums,
                                 eps=eps ** (1.0 / 3.0))
        slack = eps ** (2.0 / 3.0)
    for index, g, e in zip(argnums, found, expected):
        g, e = np.asarray(g, dtype=np.float64), np.asarray(e, dtype=np.float64)
        if g.shape != e.shape:
            rows.append(Row(f"gradient of argument {index}", float("inf"), 0.0,
                            f"shape {g.shape}, expected {e.shape}"))
            continue
        scale = max(1.0, float(np.max(np.abs(e), initial=0.0)))
        tol = (SAFETY * eps + 100 * slack) * scale
        error = float(np.max(np.abs(g - e), initial=0.0))
        rows.append(Row(f"gradient of argument {index}", error, tol,
                        "disagrees with the " + ("reference VJP" if reference
                                                 else "central differences of fn")))
        if error > tol:
            fault = _scale_fault(index, g, e, tol)
            if fault:
                faults.append(fault)
    return Report("VJP conformance", tuple(rows), {"cotangent": "ones" if form == "grad"
                                                   else "standard normal"}, tuple(faults))
