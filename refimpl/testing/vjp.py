"""Backward-pass conformance: check a foreign gradient against refimpl's VJP.

A framework's backward (a custom ``torch.autograd.Function``, a ``jax.custom_vjp``, a
hand-written kernel) is checked twice: against the hand-written VJP of refimpl's
reference function, on the same arguments and the same random cotangent, and, when no
reference is given, against central differences of the foreign forward
(:func:`refimpl.gradcheck.numerical_vjp`). A disagreement is named when the foreign
gradient is the reference times a constant (a sign error is the constant -1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from refimpl._validation import as_float_array, as_generator, check_choice, describe
from refimpl.gradcheck import numerical_vjp
from refimpl.testing._tolerance import SAFETY, epsilon, sum_tolerance
from refimpl.testing.adapters import as_numpy_function
from refimpl.testing.report import Report, Row

__all__ = ["check_vjp", "VJP_CALL_HINT"]

#: The calling conventions of :func:`check_vjp`, for messages.
VJP_CALL_HINT = ("check_vjp(fn, fn_vjp, args) calls fn(*args) and fn_vjp(cotangent, *args) "
                 "(form='grad': fn_vjp(*args), the gradient of sum(fn(*args))); args is a "
                 "list with one array per argument, e.g. [x] for fn(x); for torch autograd "
                 "write fn_vjp with torch.autograd.grad and pass framework='torch'")


def _as_tuple(value: Any) -> tuple[Any, ...]:
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


def _sensitivity(reference: Callable[..., Any], values: list[np.ndarray], eps: float,
                 rng: np.random.Generator, trials: int = 3) -> list[np.ndarray]:
    """How far ``reference(*values)`` moves when every input is perturbed by ``eps``
    relative: the largest change of each output over ``trials`` random perturbations.

    A backward-stable implementation returns the exact result of inputs perturbed by
    about ``eps`` relative, so it may differ from the exact result by this much, however
    ill-conditioned the problem is at these inputs (e.g. Householder products with
    ``tau`` far from ``2 / |v|^2``, whose entries grow like the product of the reflectors'
    norms).
    """
    base = [np.asarray(e, dtype=np.float64) for e in _as_tuple(reference(*values))]
    change = [np.zeros_like(e) for e in base]
    for _ in range(trials):
        moved = [v * (1.0 + eps * rng.uniform(-1.0, 1.0, np.shape(v))) for v in values]
        for i, e in enumerate(_as_tuple(reference(*moved))):
            change[i] = np.maximum(change[i], np.abs(np.asarray(e, dtype=np.float64) - base[i]))
    return change


def _arguments(args: Any) -> list[np.ndarray]:
    """``args`` as a list of float64 arrays, or ``TypeError`` when it is not a sequence."""
    if isinstance(args, np.ndarray) or not isinstance(args, (list, tuple)):
        raise TypeError(f"args must be a list or tuple with one array per argument of fn, "
                        f"got {describe(args)}; {VJP_CALL_HINT}")
    return [as_float_array(a, f"args[{i}]") for i, a in enumerate(args)]


def _cast(dtype: str, framework: str | None) -> str | None:
    """Cast inputs to the claimed dtype (NumPy has no bfloat16 nor float16 VJPs: float32)."""
    if dtype == "float64":
        return None
    return dtype if framework in ("torch", "jax") else "float32"


def check_vjp(
    fn: Callable[..., Any],
    fn_vjp: Callable[..., Any],
    args: Sequence[Any],
    *,
    reference: tuple[Callable[..., Any], Callable[..., Any]] | None = None,
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
    args : list or tuple of array_like
        Point of evaluation, one entry per argument of ``fn`` (``[x]`` for ``fn(x)``).
    reference : (f, f_vjp), optional
        refimpl's forward and hand-written VJP of the same function (with the same
        argument order); e.g. ``(refimpl.rope.apply, refimpl.rope.apply_vjp)`` wrapped
        in ``functools.partial`` for keyword options. Its VJP may return one gradient per
        argument of ``fn`` (refimpl's fixed arity) or one per entry of ``argnums``.
        Without it, the foreign gradient is compared with central differences of ``fn``.
    argnums : sequence of int, optional
        Differentiated arguments (default: all).
    form : {"vjp", "grad"}
    dtype : {"float64", "float32", "float16", "bfloat16"}
        Precision the foreign code claims; inputs are cast to it.
    framework : {"numpy", "torch", "jax"}, optional
        Convert inputs to this framework before calling the foreign functions.
    rng : None, int or numpy.random.Generator
        Source of the random cotangent.

    Returns
    -------
    Report
        A row for the forward value (with a reference) and one per differentiated
        argument; faults name sign errors and constant factors.

    Notes
    -----
    Tolerances (:mod:`refimpl.testing._tolerance`): each gradient entry is a sum of
    ``n`` products of the cotangent with the Jacobian, ``n`` the size of ``fn``'s output,
    so it may be off by ``SAFETY eps sqrt(n) max(1, max|g|)`` (16 eps sqrt(28) = 85 eps
    for a (7, 4) Householder product); the forward by ``SAFETY eps sqrt(n) max(1,
    max|f|)``. Against a reference, the conditioning of the problem at ``args`` is added:
    ``SAFETY Delta``, ``Delta`` the change of the reference's gradient (or output) when the
    arguments and the cotangent are perturbed by ``eps`` relative (:func:`_sensitivity`),
    which is what a backward-stable implementation may be off by. Against central
    differences with step ``h = eps^(1/3)`` the truncation and cancellation error of the
    difference quotient, ``100 eps^(2/3)`` times the scale, is added instead.

    Examples
    --------
    >>> report = check_vjp(np.sin, lambda g, x: -g * np.cos(x), [np.array([0.3, 1.0])],
    ...                    reference=(np.sin, lambda g, x: g * np.cos(x)))
    >>> report.passed, report.faults
    (False, ('gradient of argument 0 has the wrong sign (it is -1 x the reference)',))
    """
    check_choice(form, "form", ("vjp", "grad"))
    eps = epsilon(dtype)
    values = _arguments(args)
    cast = _cast(dtype, framework)
    call = "fn(" + ", ".join(f"args[{i}]" for i in range(len(values))) + ")"
    backward_call = ("fn_vjp(cotangent, " if form == "vjp" else "fn_vjp(") + call[3:]
    forward = as_numpy_function(fn, framework, cast, call=call, hint=VJP_CALL_HINT,
                                arity=len(values))
    backward = as_numpy_function(fn_vjp, framework, cast, call=backward_call,
                                 hint=VJP_CALL_HINT, name=getattr(fn_vjp, "__name__", "fn_vjp"),
                                 arity=len(values) + (form == "vjp"))
    argnums = tuple(range(len(values))) if argnums is None else tuple(argnums)
    output = forward(*values)
    terms = int(np.size(output))
    generator = as_generator(rng)
    cotangent = (np.ones_like(output) if form == "grad"
                 else generator.standard_normal(np.shape(output)))
    found = _as_tuple(backward(*values) if form == "grad" else backward(cotangent, *values))
    rows, faults = [], []
    if len(found) != len(argnums):
        return Report("VJP conformance", (Row(
            "number of gradients returned", float(abs(len(found) - len(argnums))), 0.0,
            f"got {len(found)}, expected one per argument in argnums={argnums}"),))
    conditioning: list[Any] = [0.0] * len(argnums)
    if reference is not None:
        expected_out = np.asarray(reference[0](*values), dtype=np.float64)
        scale = max(1.0, float(np.max(np.abs(expected_out), initial=0.0)))
        moved = float(np.max(_sensitivity(reference[0], values, eps, generator)[0], initial=0.0))
        rows.append(Row("forward agrees with the reference",
                        float(np.max(np.abs(output - expected_out), initial=0.0)),
                        sum_tolerance(eps, terms) * scale + SAFETY * moved,
                        "fn(*args) differs from the reference forward"))
        expected = _as_tuple(reference[1](cotangent, *values))
        conditioning = _sensitivity(reference[1], [cotangent, *values], eps, generator)
        if len(expected) == len(values) != len(argnums):  # refimpl's fixed arity
            expected = tuple(expected[i] for i in argnums)
            conditioning = [conditioning[i] for i in argnums]
        slack = 0.0
    else:
        expected = numerical_vjp(forward, values, cotangent, argnums=argnums,
                                 eps=eps ** (1.0 / 3.0))
        slack = 100 * eps ** (2.0 / 3.0)
    for index, g, e, moved_by in zip(argnums, found, expected, conditioning, strict=False):
        g, e = np.asarray(g, dtype=np.float64), np.asarray(e, dtype=np.float64)
        if g.shape != e.shape:
            rows.append(Row(f"gradient of argument {index}", float("inf"), 0.0,
                            f"shape {g.shape}, expected {e.shape}"))
            continue
        scale = max(1.0, float(np.max(np.abs(e), initial=0.0)))
        tol = (sum_tolerance(eps, terms) + slack) * scale + \
            SAFETY * float(np.max(moved_by, initial=0.0))
        error = float(np.max(np.abs(g - e), initial=0.0))
        rows.append(Row(f"gradient of argument {index}", error, tol,
                        "disagrees with the " + ("reference VJP" if reference
                                                 else "central differences of fn")))
        if error > tol:
            fault = _scale_fault(index, g, e, tol)
            if fault:
                faults.append(fault)
    return Report("VJP conformance", tuple(rows),
                  {"cotangent": "ones" if form == "grad" else "standard normal",
                   "claimed precision": dtype, "output size (sum length)": terms},
                  tuple(faults))
