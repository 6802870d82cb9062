"""Array adapters: call a PyTorch, JAX or NumPy function from NumPy, and back.

A conformance check feeds float64 NumPy arrays to a foreign function and reads its
output as NumPy. These helpers make that work whatever array type the function takes
and returns. Frameworks are detected by the *type* of the array (its module name), so
nothing is imported to recognise an array; converting NumPy data *into* a framework
imports it only when it is already loaded (``sys.modules``) or installed. refimpl never
requires PyTorch or JAX.

The pattern follows the Array API test suite's backend adapters: the checks are written
once against NumPy and the adapter sits at the boundary.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any, Callable

import numpy as np

from refimpl._validation import check_choice

#: Frameworks the adapters know, by the top-level module of their array types.
FRAMEWORKS = ("numpy", "torch", "jax")

__all__ = ["FRAMEWORKS", "framework_of", "to_numpy", "from_numpy", "as_numpy_function",
           "framework_available"]


def framework_of(value: Any) -> str:
    """Which framework an array belongs to: ``"torch"``, ``"jax"`` or ``"numpy"``.

    Decided from the module that defines the value's type (``torch.Tensor`` lives in
    ``torch``, JAX arrays in ``jax`` or ``jaxlib``); anything else, including lists and
    scalars, counts as NumPy. Nothing is imported.

    Examples
    --------
    >>> framework_of(np.zeros(3)), framework_of([1.0, 2.0])
    ('numpy', 'numpy')
    """
    root = type(value).__module__.split(".")[0]
    if root == "torch":
        return "torch"
    if root in ("jax", "jaxlib"):
        return "jax"
    return "numpy"


def framework_available(framework: str) -> bool:
    """True when ``framework`` is loaded already or importable (without importing it)."""
    check_choice(framework, "framework", FRAMEWORKS)
    return framework in sys.modules or importlib.util.find_spec(framework) is not None


def _module(framework: str) -> Any:
    """The framework's module: from ``sys.modules`` if loaded, else imported if installed."""
    if framework in sys.modules:
        return sys.modules[framework]
    if importlib.util.find_spec(framework) is None:
        raise ModuleNotFoundError(f"framework={framework!r} is not installed")
    return importlib.import_module(framework)


def to_numpy(value: Any) -> Any:
    """Convert a framework array, or a tuple/list of them, to float64 NumPy arrays.

    PyTorch tensors go through ``.detach().cpu().double().numpy()`` (so tensors that
    require grad, live on a GPU or hold bfloat16, which ``.numpy()`` refuses, work); JAX
    and NumPy arrays through ``numpy.asarray``.
    Tuples and lists are converted element by element and keep their type.

    Examples
    --------
    >>> to_numpy(np.float32([1.5, 2.0])).dtype
    dtype('float64')
    """
    if isinstance(value, (tuple, list)):
        return type(value)(to_numpy(item) for item in value)
    if framework_of(value) == "torch":
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def from_numpy(array: Any, framework: str = "numpy", dtype: str | None = None) -> Any:
    """Convert a NumPy array to ``framework``'s array type, optionally casting to ``dtype``.

    ``dtype`` is a name such as ``"float32"`` or ``"bfloat16"`` understood by the
    framework, which does the cast (default: keep float64; integer arrays keep their
    integer type).

    Examples
    --------
    >>> from_numpy(np.arange(3.0), "numpy", "float32")
    array([0., 1., 2.], dtype=float32)
    """
    check_choice(framework, "framework", FRAMEWORKS)
    array = np.asarray(array)
    cast = dtype is not None and array.dtype.kind == "f"
    if framework == "numpy":
        return array.astype(dtype) if cast else array
    module = _module(framework)  # cast inside the framework: NumPy has no bfloat16
    if framework == "torch":
        tensor = module.from_numpy(np.ascontiguousarray(array))
        return tensor.to(getattr(module, dtype)) if cast else tensor
    return module.numpy.asarray(array, dtype=dtype if cast else None)


def as_numpy_function(
    fn: Callable[..., Any], framework: str | None = None, dtype: str | None = None
) -> Callable[..., Any]:
    """Wrap ``fn`` so that it takes and returns float64 NumPy arrays.

    Array arguments are converted with :func:`from_numpy` to ``framework`` (``None``:
    pass NumPy arrays unchanged) and cast to ``dtype`` when given; results are converted
    back with :func:`to_numpy` whatever framework they come from. Non-array arguments
    (ints, strings) pass through.

    Examples
    --------
    >>> double = as_numpy_function(lambda x: 2 * x, dtype="float32")
    >>> double(np.array([0.1])).dtype
    dtype('float64')
    """
    target = "numpy" if framework is None else check_choice(framework, "framework", FRAMEWORKS)

    def wrapped(*args: Any) -> Any:
        converted = [from_numpy(a, target, dtype) if isinstance(a, np.ndarray) else a
                     for a in args]
        return to_numpy(fn(*converted))

    return wrapped
