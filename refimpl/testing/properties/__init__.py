"""Every mathematical property refimpl states, written once, as a function of the code under test.

A property is ``check(subject, case) -> PropertyResult``: the *subject* is the
implementation under test wrapped with what the property needs to know (its sizes, the
convention and precision it claims: :class:`rope.RopeSubject`, :class:`maps.MapSubject`,
...; the ``*_subject`` helpers wrap a PyTorch/JAX/NumPy function through
:mod:`refimpl.testing.adapters`), the *case* one input (:class:`Case`). The result
holds the measurement, its tolerance (the rule of :func:`tolerance`), the faults it
could name and the input, printed with shapes on failure.

The same functions are used three ways:

* as the body of a Hypothesis test over the strategies of
  :mod:`refimpl.testing.strategies` (``@given(rst.rope_cases(64))`` then
  ``rope.agreement(subject, case).assert_holds()``), which is how refimpl's own
  ``tests/properties/`` run them on refimpl;
* from the pytest plugin (:mod:`refimpl.testing.plugin`): ``pytest --refimpl-rope=...``
  or ``test_my_rope = rope_properties(my_rope, ...)`` in a test file;
* from ``python -m refimpl check``, whose rows call them on fixed cases.

:data:`KINDS` maps each kind to its properties; :func:`describe` prints them, so the
list in the README is generated from here (a doctest there compares the two).

Examples
--------
>>> import numpy as np
>>> from refimpl.testing.presets import hugging_face
>>> subject = rope.rope_subject(hugging_face(8), head_dim=8, expect=hugging_face(8))
>>> x = np.random.default_rng(0).standard_normal((3, 8))
>>> rope.agreement(subject, Case(x=x, positions=np.array([0.0, 5.0, 100.0]))).passed
True
"""

from __future__ import annotations

from refimpl.testing.properties import (
    attention,
    householder_product,
    maps,
    rope,
    rope_nd,
    vjp,
    vmf,
    widening,
)
from refimpl.testing.properties._core import (
    Case,
    Property,
    PropertyFailure,
    PropertyResult,
    eps,
    tolerance,
    worst,
)

#: Every kind of implementation the properties apply to, with its properties in order.
KINDS: dict[str, tuple[Property, ...]] = {
    "rope": rope.PROPERTIES,
    "rope_pair": rope.PAIR_PROPERTIES,
    "rope_nd": rope_nd.PROPERTIES,
    "maps": maps.PROPERTIES,
    "householder_product": householder_product.PROPERTIES,
    "vmf_sampler": vmf.SAMPLER_PROPERTIES,
    "vmf_log_normalizer": vmf.NORMALIZER_PROPERTIES,
    "vjp": vjp.PROPERTIES,
    "widening": widening.PROPERTIES,
    "attention": attention.PROPERTIES,
}

__all__ = ["KINDS", "describe", "Case", "Property", "PropertyFailure", "PropertyResult",
           "eps", "tolerance", "worst", "attention", "householder_product", "maps", "rope",
           "rope_nd", "vjp", "vmf", "widening"]


def describe(kind: str | None = None, *, compact: bool = False) -> str:
    """The table of properties (all kinds, or one): kind, name, statement, tolerance.

    ``compact=True`` gives one line per kind with the property names only.

    Examples
    --------
    >>> print(describe("rope_nd"))
    rope_nd
      relativity                    R(p)^T R(q) = R(q - p)
                                    tol: SAFETY eps(dtype) sqrt(D) (1 + omega_max |p|_1) / rotation
      commutation                   f(f(x, p), q) = f(f(x, q), p)
                                    tol: SAFETY eps(dtype) sqrt(D) (1 + omega_max |p|_1) / rotation
      invertibility_on_grid         p != q on the grid => R(p) != R(q)
                                    tol: separation > max(1e-6, rounding)
    >>> print(describe("maps", compact=True))
    maps: orthogonality, maps_a_to_b, determinant, complement
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    lines = []
    for name, properties in KINDS.items():
        if kind is not None and name != kind:
            continue
        if compact:
            lines.append(f"{name}: {', '.join(item.name for item in properties)}")
            continue
        lines.append(name)
        for item in properties:
            lines.append(f"  {item.name:<29} {item.statement}")
            lines.append(f"  {'':<29} tol: {item.tolerance}")
    return "\n".join(lines)
