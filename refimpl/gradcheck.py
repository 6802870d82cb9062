"""Finite-difference checks of hand-written vector-Jacobian products.

Every differentiable ``f`` in refimpl has a hand-written ``f_vjp(cotangent, *args)``
returning ``J_f(args)^T cotangent`` for each differentiable argument. This module checks
such a VJP against central differences of the scalar ``<cotangent, f(args)>``:

.. math::

    \\frac{\\partial}{\\partial x_j} \\langle c, f(x) \\rangle
    \\approx \\frac{\\langle c, f(x + h_j e_j) \\rangle
                   - \\langle c, f(x - h_j e_j) \\rangle}{2 h_j}

The truncation error of the central difference is ``O(h^2 |f'''|)`` and its rounding
error is ``O(u |f| / h)`` with ``u = 2^-52``; the two balance at ``h ~ u^(1/3) ~ 6e-6``.
We use ``h_j = eps * max(1, |x_j|)`` with ``eps = u^(1/3)``, which leaves an error of
about ``u^(2/3) ~ 4e-11`` relative to the function's scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl._validation import as_float_array, as_generator

#: Default relative step: the cube root of float64 machine epsilon (about 6.06e-6).
DEFAULT_EPS = float(np.finfo(np.float64).eps ** (1.0 / 3.0))

__all__ = ["numerical_vjp", "assert_vjp", "VJPReport", "DEFAULT_EPS"]


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _contract(outputs: tuple, cotangents: tuple) -> float:
    """The scalar ``sum_i <c_i, y_i>`` over every output array."""
    return float(sum(np.sum(np.asarray(c) * np.asarray(y, dtype=np.float64))
                     for c, y in zip(cotangents, outputs, strict=True)))


def _argument_list(args: Any) -> list:
    """``args`` as a list of ``f``'s arguments, or TypeError when one array was passed."""
    if isinstance(args, np.ndarray) or not isinstance(args, (list, tuple)):
        shape = getattr(args, "shape", None)
        received = f"{type(args).__name__}" + (f" of shape {shape}" if shape is not None else "")
        raise TypeError(f"args must be a list or tuple of f's arguments, got {received}; "
                        f"for a function of one array x write [x]")
    return list(args)


def _check_cotangents(cotangents: tuple, outputs: tuple) -> None:
    """ValueError unless each cotangent has the shape of its output of ``f``."""
    if len(cotangents) != len(outputs):
        raise ValueError(f"cotangent must have one array per output of f: f returned "
                         f"{len(outputs)}, got {len(cotangents)}")
    for k, (c, y) in enumerate(zip(cotangents, outputs, strict=True)):
        if c.shape != np.shape(y):
            raise ValueError(f"cotangent {k} must have the shape of f's output {k}, "
                             f"{np.shape(y)}, got {c.shape}")


def _resolve_argnums(argnums: int | Sequence[int] | None, count: int) -> tuple[int, ...]:
    if argnums is None:
        return tuple(range(count))
    argnums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    for index in argnums:
        if not 0 <= index < count:
            raise ValueError(f"argnums entry {index} is out of range for {count} argument(s)")
    return argnums


def numerical_vjp(
    f: Callable[..., Any],
    args: Sequence[Any],
    cotangent: Any,
    argnums: int | Sequence[int] | None = None,
    eps: float | None = None,
) -> tuple[np.ndarray, ...]:
    """Central-difference estimate of ``J_f(args)^T cotangent`` for each argument in ``argnums``.

    Parameters
    ----------
    f : callable
        ``f(*args)`` returns an array or a tuple of arrays.
    args : sequence
        The point of evaluation. Arguments listed in ``argnums`` are converted to float64.
    cotangent : array or tuple of arrays
        Same structure and shapes as ``f(*args)``.
    argnums : int or sequence of int, optional
        Which arguments to differentiate (default: all).
    eps : float, optional
        Relative step; entry ``j`` moves by ``eps * max(1, |x_j|)``. Default
        :data:`DEFAULT_EPS`.

    Returns
    -------
    tuple of arrays, one per entry of ``argnums``, each shaped like its argument.

    Examples
    --------
    >>> g, = numerical_vjp(np.sin, [np.array([0.0, 1.0])], np.ones(2))
    >>> np.allclose(g, np.cos([0.0, 1.0]))
    True
    """
    args = _argument_list(args)
    argnums = _resolve_argnums(argnums, len(args))
    eps = DEFAULT_EPS if eps is None else float(eps)
    cotangents = tuple(np.asarray(c, dtype=np.float64) for c in _as_tuple(cotangent))
    _check_cotangents(cotangents, _as_tuple(f(*args)))
    gradients = []
    for index in argnums:
        point = as_float_array(args[index], f"args[{index}]").copy()
        gradient = np.zeros_like(point)
        flat_point, flat_gradient = point.reshape(-1), gradient.reshape(-1)
        for j in range(flat_point.size):
            original = flat_point[j]
            step = eps * max(1.0, abs(original))
            values = []
            for sign in (1.0, -1.0):
                flat_point[j] = original + sign * step
                args[index] = point
                values.append(_contract(_as_tuple(f(*args)), cotangents))
            flat_point[j] = original
            flat_gradient[j] = (values[0] - values[1]) / (2.0 * step)
        args[index] = point
        gradients.append(gradient)
    return tuple(gradients)


@dataclass(frozen=True)
class VJPReport:
    """Agreement of an analytic VJP with finite differences, per checked argument."""

    argnums: tuple[int, ...]
    max_abs_error: tuple[float, ...]
    max_rel_error: tuple[float, ...]

    @property
    def worst_abs_error(self) -> float:
        """The largest absolute error over all checked arguments."""
        return max(self.max_abs_error, default=0.0)

    def __str__(self) -> str:
        rows = [f"  arg {i}: max abs error {a:.3e}, max rel error {r:.3e}"
                for i, a, r in zip(self.argnums, self.max_abs_error, self.max_rel_error,
                                   strict=True)]
        return "VJP agrees with central differences\n" + "\n".join(rows)


def _analytic_gradients(f_vjp: Callable[..., Any], cotangents: tuple[np.ndarray, ...],
                        args: list[Any], argnums: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Call the VJP and check the structure of what it returns."""
    cotangent = cotangents[0] if len(cotangents) == 1 else cotangents
    result = f_vjp(cotangent, *args)
    grads = (result,) if isinstance(result, np.ndarray) or np.isscalar(result) else tuple(result)
    if len(grads) == len(args) != len(argnums):
        # a fixed-arity VJP (one entry per argument, None for one not differentiated)
        grads = tuple(grads[index] for index in argnums)
    if len(grads) != len(argnums):
        raise AssertionError(
            f"f_vjp returned {len(grads)} gradient(s), expected {len(argnums)} "
            f"(one per argument in argnums={argnums}) or {len(args)} (one per argument)")
    if any(grad is None for grad in grads):
        missing = [index for index, grad in zip(argnums, grads, strict=True)
                   if grad is None]
        raise AssertionError(f"f_vjp returned None for checked argument(s) {missing}")
    checked = []
    for index, grad in zip(argnums, grads, strict=True):
        grad = np.asarray(grad, dtype=np.float64)
        expected = np.shape(args[index])
        if grad.shape != expected:
            raise AssertionError(f"gradient of argument {index} has shape {grad.shape}, "
                                 f"expected the argument's shape {expected}")
        if not np.all(np.isfinite(grad)):
            raise AssertionError(f"gradient of argument {index} is not finite")
        checked.append(grad)
    return tuple(checked)


def assert_vjp(
    f: Callable[..., Any],
    f_vjp: Callable[..., Any],
    args: Sequence[Any],
    *,
    argnums: int | Sequence[int] | None = None,
    rng: Any = None,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    eps: float | None = None,
) -> VJPReport:
    """Check ``f_vjp(cotangent, *args)`` against central differences of ``f(*args)``.

    A standard-normal cotangent ``c`` is drawn with ``rng``; the analytic gradient
    ``a`` and the numerical one ``n`` of every argument in ``argnums`` must satisfy,
    entry by entry,

    .. math:: |a - n| \\le \\mathrm{atol} \\cdot \\max(1, \\max|n|) + \\mathrm{rtol} \\cdot |n|

    where the max runs over that argument's entries. The scaled ``atol`` absorbs the
    difference quotient's error (about ``4e-11`` of the scale, see the module notes);
    the ``rtol`` term catches a sign flip or factor even on a small entry.

    Parameters
    ----------
    f : callable
        ``f(*args)`` returns an array or a tuple of arrays (float64).
    f_vjp : callable
        ``f_vjp(cotangent, *args)`` returns the gradient of each argument in ``argnums``
        (a tuple in argument order, or a single array when there is one), or one entry
        per argument, as refimpl's fixed-arity VJPs do; then the entries in ``argnums``
        are checked and the others (e.g. ``None`` for an option not given) ignored.
    args : sequence
        Point of evaluation. Non-differentiable arguments (integers, options) may be
        left out of ``argnums``.
    argnums : int or sequence of int, optional
        Arguments to check (default: all).
    rng : None, int or numpy.random.Generator
        Source of the random cotangent.
    rtol, atol, eps : float
        Tolerances as above; ``eps`` is the relative finite-difference step.

    Returns
    -------
    VJPReport
        Maximum absolute and relative error per argument.

    Raises
    ------
    AssertionError
        If the VJP returns the wrong number of gradients, a wrong shape, a non-finite
        value, or disagrees; the message names the argument and the worst entry
        (index, analytic value, numerical value).
    ValueError
        If ``f`` returns non-finite values or the arguments are non-finite.

    Examples
    --------
    >>> report = assert_vjp(np.sin, lambda c, x: c * np.cos(x), [np.array([0.5, 2.0])], rng=0)
    >>> report.worst_abs_error < 1e-9
    True
    """
    args = _argument_list(args)
    argnums = _resolve_argnums(argnums, len(args))
    for index in argnums:
        args[index] = as_float_array(args[index], f"args[{index}]")
    outputs = tuple(np.asarray(y, dtype=np.float64) for y in _as_tuple(f(*args)))
    for k, y in enumerate(outputs):
        if not np.all(np.isfinite(y)):
            raise ValueError(f"f returned non-finite values in output {k}; cannot check its VJP")
    generator = as_generator(rng)
    cotangents = tuple(generator.standard_normal(y.shape) for y in outputs)
    analytic = _analytic_gradients(f_vjp, cotangents, args, argnums)
    numeric = numerical_vjp(f, args, cotangents, argnums=argnums, eps=eps)
    abs_errors, rel_errors = [], []
    for index, a, n in zip(argnums, analytic, numeric, strict=True):
        error = np.abs(a - n)
        scale = max(1.0, float(np.max(np.abs(n), initial=0.0)))
        bound = atol * scale + rtol * np.abs(n)
        if np.any(error > bound):
            worst = np.unravel_index(np.argmax(error - bound), error.shape)
            raise AssertionError(
                f"VJP of argument {index} disagrees with finite differences at index "
                f"{tuple(int(i) for i in worst)}: analytic {a[worst]:.10g}, numeric "
                f"{n[worst]:.10g} (abs error {error[worst]:.3g}, allowed {bound[worst]:.3g})")
        abs_errors.append(float(np.max(error, initial=0.0)))
        rel_errors.append(float(np.max(error / np.maximum(np.abs(n), atol * scale), initial=0.0)))
    return VJPReport(argnums, tuple(abs_errors), tuple(rel_errors))
