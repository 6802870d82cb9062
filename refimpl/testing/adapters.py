"""Array adapters: call a PyTorch, JAX or NumPy function from NumPy, and back.

A conformance check feeds float64 NumPy arrays to a foreign function and reads its
output as NumPy. These helpers make that work whatever array type the function takes
and returns. Frameworks are detected by the *type* of the array (its module name), so
nothing is imported to recognise an array; converting NumPy data *into* a framework
imports it only when it is already loaded (``sys.modules``) or installed. refimpl never
requires PyTorch or JAX.

The pattern follows the Array API test suite's backend adapters
(``data-apis/array-api-tests``): the checks are written once against NumPy and the
adapter sits at the boundary.

Two more adapters reshape a framework's calling convention into the kit's
``fn(x, positions)`` on ``(rows, head_dim)`` inputs: :func:`rows_as_tensor` for functions
of ``(batch, heads, tokens, head_dim)`` tensors, and :func:`cos_sin_pair` for Hugging
Face's ``apply_rotary_pos_emb(q, k, cos, sin)`` driven by its rotary embedding module.
Both index and reshape with ``[None]`` and ``[0]`` only, which NumPy, PyTorch and JAX
arrays all support. An exception raised inside the function under test is re-raised as
:class:`ForeignError`, whose message shows the call the kit made.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from refimpl._validation import check_choice

#: Frameworks the adapters know, by the top-level module of their array types.
FRAMEWORKS = ("numpy", "torch", "jax")

#: How a RoPE function may take its input: the kit's ``(rows, D)``, or 4-D tensors.
TENSOR_LAYOUTS = ("rows", "BHTD", "BTHD")

__all__ = ["FRAMEWORKS", "TENSOR_LAYOUTS", "ForeignError", "framework_of", "to_numpy",
           "from_numpy", "as_numpy_function", "framework_available", "rows_as_tensor",
           "cos_sin_pair", "describe_call"]


class ForeignError(RuntimeError):
    """An exception raised inside the function under test, with the call the kit made.

    The original exception is chained (``__cause__``); the message names the function,
    the exception, the signature the kit used (argument types, shapes and dtypes) and,
    where a common mistake explains it, the fix.
    """


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
        return tensor.to(getattr(module, str(dtype))) if cast else tensor
    return module.numpy.asarray(array, dtype=dtype if cast else None)


def describe_call(call: str, args: Sequence[Any]) -> str:
    """``call`` with each argument's type, dtype and shape, e.g.
    ``fn(x: numpy.ndarray float64 (4, 8), positions: numpy.ndarray int64 (4,))``.

    Examples
    --------
    >>> describe_call("fn(x, n)", [np.zeros((2, 3)), 5])
    'fn(x: numpy.ndarray float64 (2, 3), n: int 5)'
    """
    head, _, rest = call.partition("(")
    names = [n.strip() for n in rest.rstrip(")").split(",")] if rest.strip(") ") else []
    names += [f"arg{i}" for i in range(len(names), len(args))]
    parts = []
    for name, value in zip(names, args, strict=False):
        kind = type(value)
        label = f"{kind.__module__.split('.')[0]}.{kind.__name__}" if kind.__module__ != \
            "builtins" else kind.__name__
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            dtype = str(value.dtype).removeprefix("torch.")
            parts.append(f"{name}: {label} {dtype} {tuple(value.shape)}")
        else:
            parts.append(f"{name}: {label} {value!r}"[:80])
    return f"{head}({', '.join(parts)})"


def _hint_for(error: Exception, target: str) -> str:
    """The fix for a foreign exception a common mistake explains, or ``""``."""
    text = str(error)
    if target == "numpy" and ("numpy.ndarray" in text or "'numpy." in text):
        return ("fn received NumPy arrays (the default); if it takes torch tensors or JAX "
                "arrays, pass framework='torch' or 'jax' (command line: --framework torch)")
    if isinstance(error, IndexError) or "index" in text.lower() and "out of" in text.lower():
        return ("if fn indexes a table of positions (e.g. GPT-J's embed_positions), pass a "
                "max_position below the table's length (command line: --max-position)")
    return ""


def _check_arity(fn: Callable[..., Any], arity: int | None, call: str, hint: str) -> None:
    """Raise ``TypeError`` naming the expected call when ``fn`` cannot take ``arity``
    positional arguments (functions without an inspectable signature pass)."""
    if arity is None:
        return
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*range(arity))
    except TypeError as error:
        name = getattr(fn, "__name__", "fn")
        role = call.partition("(")[0]
        raise TypeError(f"{role} must be callable as {call}, got {name}{signature} ({error}); "
                        f"{hint}") from None


def as_numpy_function(
    fn: Callable[..., Any], framework: str | None = None, dtype: str | None = None, *,
    call: str = "fn(...)", hint: str = "", name: str | None = None, arity: int | None = None,
) -> Callable[..., Any]:
    """Wrap ``fn`` so that it takes and returns float64 NumPy arrays.

    Array arguments are converted with :func:`from_numpy` to ``framework`` (``None``:
    pass NumPy arrays unchanged) and cast to ``dtype`` when given; results are converted
    back with :func:`to_numpy` whatever framework they come from. Non-array arguments
    (ints, strings) pass through.

    ``call`` names the calling convention (``"fn(x, positions)"``) for messages. With
    ``arity``, ``fn``'s signature is checked first: ``TypeError`` with ``hint`` when it
    cannot take that many positional arguments. Any exception raised inside ``fn`` is
    re-raised as :class:`ForeignError` with the call described by :func:`describe_call`.

    Examples
    --------
    >>> double = as_numpy_function(lambda x: 2 * x, dtype="float32")
    >>> double(np.array([0.1])).dtype
    dtype('float64')
    """
    target = "numpy" if framework is None else check_choice(framework, "framework", FRAMEWORKS)
    _check_arity(fn, arity, call, hint)
    label = name or getattr(fn, "__name__", "fn")

    def wrapped(*args: Any) -> Any:
        converted = [from_numpy(a, target, dtype) if isinstance(a, np.ndarray) else a
                     for a in args]
        try:
            out = fn(*converted)
        except ForeignError:
            raise
        except Exception as error:
            fix = _hint_for(error, target)
            raise ForeignError(f"{label} raised {type(error).__name__}: {error}\n  when called "
                               f"as {describe_call(call, converted)}"
                               + (f"\n  hint: {fix}" if fix else "")) from error
        return to_numpy(out)

    return wrapped


def _expand(x: Any, tensor_layout: str) -> Any:
    """``(rows, D)`` as one batch and one head: ``(1, 1, rows, D)`` or ``(1, rows, 1, D)``."""
    return x[None, None] if tensor_layout == "BHTD" else x[None, :, None]


def _squeeze(x: Any, tensor_layout: str) -> Any:
    """The inverse of :func:`_expand`."""
    return x[0, 0] if tensor_layout == "BHTD" else x[0, :, 0]


def rows_as_tensor(fn: Callable[..., Any], tensor_layout: str = "BHTD", *,
                   pair: bool = False) -> Callable[..., Any]:
    """Adapt a RoPE function of 4-D tensors to the kit's ``(rows, head_dim)`` form.

    ``fn(x, positions)`` (``pair``: ``fn(q, k, positions)``) takes ``x`` of shape
    ``(batch, heads, tokens, D)`` (``"BHTD"``) or ``(batch, tokens, heads, D)``
    (``"BTHD"``) and positions of shape ``(batch, tokens)`` (or ``(batch, tokens,
    n_axes)``). The returned function calls it with one batch and one head, the kit's rows
    becoming the tokens, and returns ``(rows, D)`` (or the pair).

    Examples
    --------
    >>> rows = rows_as_tensor(lambda x, p: x * (p[..., None] + 1), "BHTD")
    >>> rows(np.ones((2, 3)), np.array([0, 1])).tolist()
    [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    """
    layout = check_choice(tensor_layout, "tensor_layout", TENSOR_LAYOUTS[1:])

    def rows(*args: Any) -> Any:
        *xs, positions = args
        out = fn(*(_expand(x, layout) for x in xs), positions[None])
        if pair:
            return tuple(_squeeze(o, layout) for o in out)
        return _squeeze(out, layout)

    rows.__name__ = getattr(fn, "__name__", "fn")
    return rows


def cos_sin_pair(apply: Callable[..., Any], cos_sin: Callable[..., Any], *,
                 tensor_layout: str = "BHTD",
                 position_ids: Callable[[Any], Any] | None = None) -> Callable[..., Any]:
    """The kit's pair form ``fn(q, k, positions)`` from ``apply(q, k, cos, sin)``.

    This is Hugging Face's split: a rotary embedding module computes the tables,
    ``cos, sin = rotary_emb(x, position_ids)``, and ``apply_rotary_pos_emb(q, k, cos, sin)``
    rotates ``q`` and ``k`` of shape ``(batch, heads, tokens, D)``
    (``transformers/models/llama/modeling_llama.py``). The returned function takes the
    kit's ``(rows, D)`` queries and keys and ``(rows,)`` positions, calls ``cos_sin`` with
    the expanded query and ``position_ids(positions)`` (default ``positions[None]``, shape
    ``(1, rows)``; Qwen2-VL's M-RoPE wants ``positions.T[:, None]``, shape
    ``(3, 1, rows)``), then ``apply``, and returns ``(q_rot, k_rot)`` as ``(rows, D)``.
    Pass extra arguments of ``apply`` (``mrope_section``) with ``functools.partial``.

    Examples
    --------
    >>> def tables(x, ids):
    ...     angle = ids[..., None] * np.ones(2)
    ...     return np.cos(angle), np.sin(angle)
    >>> def apply(q, k, cos, sin):
    ...     turn = lambda t: np.concatenate([-t[..., 1:], t[..., :1]], axis=-1)
    ...     c, s = cos[:, None], sin[:, None]
    ...     return q * c + turn(q) * s, k * c + turn(k) * s
    >>> fn = cos_sin_pair(apply, tables)
    >>> q_rot, k_rot = fn(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([1]))
    >>> q_rot.round(3).tolist()
    [[0.54, 0.841]]
    """
    layout = check_choice(tensor_layout, "tensor_layout", TENSOR_LAYOUTS[1:])

    def pair(q: Any, k: Any, positions: Any) -> tuple[Any, Any]:
        q4, k4 = _expand(q, layout), _expand(k, layout)
        ids = positions[None] if position_ids is None else position_ids(positions)
        cos, sin = cos_sin(q4, ids)
        q_rot, k_rot = apply(q4, k4, cos, sin)
        return _squeeze(q_rot, layout), _squeeze(k_rot, layout)

    pair.__name__ = getattr(apply, "__name__", "apply")
    return pair
