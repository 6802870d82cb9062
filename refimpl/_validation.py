"""Input checks shared by every module.

Each public function of refimpl turns its array-like arguments into float64 NumPy
arrays and checks them here, so that bad input fails early with a message that names
the argument, says what was expected, and shows what was received ::

    ValueError: rotary dimension must be even, got head_dim=7

``ValueError`` means a wrong value, shape or dimension; ``TypeError`` means a wrong
kind of object (a string, a dict, a complex array where reals are needed).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

#: Default relative tolerance on ``| ||x|| - 1 |`` for arguments that must be unit vectors.
UNIT_NORM_RTOL = 1e-10


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_float_array(value: Any, name: str, *, allow_nonfinite: bool = False) -> np.ndarray:
    """Convert an array-like to a float64 array, or raise naming ``name``.

    Accepts lists, scalars, NumPy arrays and objects with ``__array__`` holding
    booleans, integers or reals. Complex, string and object data raise ``TypeError``;
    NaN or inf raise ``ValueError`` unless ``allow_nonfinite`` is true.

    Examples
    --------
    >>> as_float_array([1, 2], "x")
    array([1., 2.])
    """
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists, tensors that require grad, bfloat16 tensors
        raise TypeError(f"{name} must be array-like, got {describe(value)} ({error})"
                        f"{framework_hint(value)}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got {describe(value)} (dtype {array.dtype})"
            f"{framework_hint(value)}"
        )
    array = array.astype(np.float64, copy=False)
    if not allow_nonfinite:
        check_finite(array, name)
    return array


def framework_hint(value: Any) -> str:
    """``"; <the fix>"`` when ``value`` is (or holds) a PyTorch tensor or a JAX array,
    else ``""``. The framework is recognised by the module of the value's type; nothing is
    imported.

    Examples
    --------
    >>> framework_hint([1.0])
    ''
    """
    first = value[0] if isinstance(value, (list, tuple)) and value else value
    root = type(first).__module__.split(".")[0]
    if root == "torch":
        return ("; refimpl computes in NumPy float64: pass x.detach().cpu().double().numpy() "
                "or refimpl.testing.to_numpy(x) (it converts tensors, lists and tuples of them)")
    if root in ("jax", "jaxlib"):
        return ("; refimpl computes in NumPy float64: pass numpy.asarray(x, dtype=float) or "
                "refimpl.testing.to_numpy(x)")
    return ""


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if ``array`` holds NaN or inf."""
    if not np.all(np.isfinite(array)):
        bad = np.asarray(array)[~np.isfinite(array)].ravel()[0]
        raise ValueError(f"{name} must be finite, got a value {bad} in {describe(array)}")


def check_ndim(array: np.ndarray, name: str, minimum: int) -> None:
    """Raise ``ValueError`` unless ``array`` has at least ``minimum`` dimensions."""
    if array.ndim < minimum:
        raise ValueError(
            f"{name} must have at least {minimum} dimension(s), got shape {array.shape}"
        )


def check_last_axis(
    array: np.ndarray, name: str, *, size: int | None = None, even: bool = False
) -> int:
    """Check the feature (last) axis of ``array`` and return its length.

    ``size`` demands an exact length; ``even`` demands an even one (rotation pairs).
    """
    check_ndim(array, name, 1)
    length = array.shape[-1]
    if size is not None and length != size:
        raise ValueError(f"{name} must have last dimension {size}, got shape {array.shape}")
    if even and length % 2:
        raise ValueError(f"{name} must have an even last dimension, got {length}")
    return length


def check_unit_norm(array: np.ndarray, name: str, rtol: float = UNIT_NORM_RTOL) -> None:
    """Raise ``ValueError`` unless every vector along the last axis has norm 1.

    The test is ``| ||x|| - 1 | <= rtol`` (default ``1e-10``): loose enough for
    vectors normalised in float64, tight enough that a float32 vector or a forgotten
    normalisation is caught. Use :func:`refimpl.householder.normalize` for other inputs.
    """
    check_ndim(array, name, 1)
    norms = np.linalg.norm(array, axis=-1)
    worst = np.max(np.abs(norms - 1.0)) if norms.size else 0.0
    if worst > rtol:
        raise ValueError(
            f"{name} must be unit vectors along the last axis (tolerance {rtol:g}), "
            f"got a norm that differs from 1 by {worst:.3g}"
        )


def as_scalar(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    greater_than: float | None = None,
) -> float:
    """Convert a real scalar to ``float`` and check its sign, or raise naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    if isinstance(value, np.ndarray):
        if value.shape != () or value.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real scalar, got {describe(value)}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {name}={number}")
    if positive and number <= 0:
        raise ValueError(f"{name} must be positive, got {name}={number}")
    if nonnegative and number < 0:
        raise ValueError(f"{name} must be non-negative, got {name}={number}")
    if greater_than is not None and number <= greater_than:
        raise ValueError(f"{name} must be greater than {greater_than}, got {name}={number}")
    return number


def as_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Convert an integral value to ``int`` (rejecting 2.5 and True), checking a minimum."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        number = int(float(value))
    else:
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {name}={number}")
    return number


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``; return it."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def broadcast_batch(**shapes: tuple[int, ...]) -> tuple[int, ...]:
    """Broadcast the named shapes by NumPy's rules, or raise naming every argument.

    Examples
    --------
    >>> broadcast_batch(x=(4, 1), mu=(3,))
    (4, 3)
    """
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shapes do not broadcast: {listed}") from None


def as_generator(rng: Any) -> np.random.Generator:
    """Turn ``None``, an int seed or a ``Generator`` into a ``numpy.random.Generator``.

    Legacy ``RandomState`` objects and other types raise ``TypeError``: refimpl never
    touches global random state.
    """
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        if isinstance(rng, (bool, np.bool_)):
            raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {rng!r}")
        seed = rng if rng is None or isinstance(rng, np.random.SeedSequence) else int(rng)
        return np.random.default_rng(seed)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {describe(rng)}")
