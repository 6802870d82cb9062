"""Householder conformance: check a foreign ``householder_product`` or ``a -> b`` map.

Both checks run the properties of :mod:`refimpl.testing.properties` (each stated once
there) on a fixed set of cases and add what probing can tell on top.

:func:`check_householder_product` compares a function ``fn(V, tau) -> Q`` with LAPACK
``xORGQR`` semantics (``scipy.linalg.lapack.dorgqr``, as
:func:`refimpl.householder.householder_product` implements them): which entries of
``V`` it reads (only the strictly lower triangle of the first ``k`` columns), how it
uses ``tau`` (as given, zero meaning identity), and the values, on reflectors from a QR
factorisation (orthogonal ``Q``) and with arbitrary ``tau``. When the values disagree
it tries the usual mistakes (one ``tau`` negated, reflectors applied in reverse order,
the diagonal of ``V`` read instead of an implicit 1) and names the one that matches.

:func:`check_orthogonal_map` checks a map taking unit ``a`` to unit ``b`` (the
reflection, rotation or symmetric form of https://kexue.fm/archives/8453, or any
other): ``T a = b`` and ``T^T T = I`` on random pairs and on the adversarial ones
(nearly equal, nearly opposite, exactly equal or opposite, axis-aligned), with the
tolerance the best map of fixed determinant can reach,
``16 eps (sqrt(d) + 1 / min(|a - b|, |a + b|))``; it says which of refimpl's maps the
function matches and which determinant it has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl._validation import as_generator, check_choice
from refimpl.householder import (
    householder_map_matrix,
    householder_product,
    householder_qr,
    rotation_map_matrix,
    stable_map_matrix,
    symmetric_map_matrix,
)
from refimpl.testing.properties import Case, worst
from refimpl.testing.properties.householder_product import (
    agrees_with_xorgqr,
    orthonormal_columns,
    product_subject,
    reads_only_the_reflectors,
    zero_tau_is_identity,
)
from refimpl.testing.properties.maps import map_subject, maps_a_to_b, orthogonality
from refimpl.testing.report import Report, Row

__all__ = ["check_householder_product", "check_orthogonal_map"]

#: ``(m, n, k)`` shapes of the product cases: square, tall, fewer reflectors than columns.
PRODUCT_SHAPES = ((1, 1, 1), (4, 4, 4), (7, 4, 4), (7, 5, 2), (12, 8, 8), (40, 24, 24))


def _reflectors(V: np.ndarray, k: int) -> np.ndarray:
    """Columns ``y_i``: strictly lower part of ``V[:, i]``, 1 on the diagonal, 0 above."""
    Y = np.tril(V[:, :k], -1)
    Y[np.arange(k), np.arange(k)] = 1.0
    return Y


def _dense_product(Y: np.ndarray, tau: np.ndarray, n: int, reverse: bool = False) -> np.ndarray:
    """``H_1 ... H_k I[:, :n]`` (or ``H_k ... H_1`` when ``reverse``) by dense matrices."""
    m = Y.shape[0]
    Q = np.eye(m)
    order = range(len(tau)) if not reverse else reversed(range(len(tau)))
    for i in order:
        Q = Q @ (np.eye(m) - tau[i] * np.outer(Y[:, i], Y[:, i]))
    return Q[:, :n]


def _product_mistakes(V: np.ndarray, tau: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """What common wrong implementations return for ``(V, tau)``, with their names."""
    n = V.shape[1]
    Y = _reflectors(V, len(tau))
    mistakes = []
    for i in range(len(tau)):
        flipped = tau.copy()
        flipped[i] = -flipped[i]
        mistakes.append((f"tau[{i}] negated (sign error on one reflector coefficient)",
                         householder_product(V, flipped)))
    mistakes.append(("reflectors applied in reverse order (H_k ... H_1)",
                     _dense_product(Y, tau, n, reverse=True)))
    with_diagonal = np.tril(V[:, :len(tau)])
    mistakes.append(("diagonal of V read instead of the implicit 1",
                     _dense_product(with_diagonal, tau, n)))
    return mistakes


def _product_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(label, V, tau)``: QR reflectors and random ``tau`` for every shape."""
    cases = []
    for m, n, k in PRODUCT_SHAPES:
        V, tau = householder_qr(rng.standard_normal((m, n)))
        cases.append((f"QR reflectors {m}x{n}", V, tau[:k].copy()))
        cases.append((f"random tau {m}x{n}, k={k}", rng.standard_normal((m, n)),
                      rng.uniform(0.2, 1.8, size=k)))
    return cases


def check_householder_product(fn: Callable[..., Any], *, dtype: str = "float64",
                              framework: str | None = None, rng: Any = 0) -> Report:
    """Check ``fn(V, tau) -> Q`` against LAPACK ``xORGQR`` / ``torch.linalg.householder_product``.

    Runs the properties of :mod:`refimpl.testing.properties.householder_product` on
    reflectors from a QR factorisation and on random ``tau``, for every shape of
    ``PRODUCT_SHAPES``: agreement with LAPACK ``dorgqr`` (tolerance
    ``16 eps (m + k) max(1, max|Q|)``), orthonormal columns for reflections, the
    diagonal, upper triangle and trailing columns of ``V`` ignored (exactly), ``tau = 0``
    giving the identity columns (exactly). A value disagreement is explained, when
    possible, as one of the usual mistakes.

    Parameters
    ----------
    fn : callable
        ``fn(V, tau)`` with ``V`` of shape ``(m, n)``, ``tau`` of shape ``(k,)``.
    dtype : {"float64", "float32", "float16", "bfloat16"}
        Precision ``fn`` claims; sets ``eps`` in the tolerances.
    framework : {"numpy", "torch", "jax"}, optional
        Convert the inputs to this framework before calling ``fn``.
    rng : None, int or numpy.random.Generator

    Examples
    --------
    >>> check_householder_product(householder_product).passed
    True
    """
    subject = product_subject(fn, dtype=dtype, framework=framework)
    generator = as_generator(rng)
    cases = _product_cases(generator)
    agreement = [agrees_with_xorgqr(subject, Case(V=V, tau=tau)) for _, V, tau in cases]
    for (label, _, _), result in zip(cases, agreement, strict=True):
        if any("output shape" in fault for fault in result.faults):
            return Report("householder_product conformance", (Row(
                "output shape", 1.0, 0.0, f"{label}: {result.faults[0]}"),), {}, result.faults)
    faults: list[str] = []
    for (label, V, tau), result in zip(cases, agreement, strict=True):
        if not result.passed and not faults:
            found = subject(V, tau)
            for name, candidate in _product_mistakes(V, tau):
                if candidate.shape == found.shape and np.max(np.abs(found - candidate)) <= max(
                        result.tolerance * max(1.0, float(np.max(np.abs(candidate)))), 1e-300):
                    faults.append(f"{label}: matches {name}")
                    break
    value = worst(agreement)
    worst_label = cases[agreement.index(value)][0]
    qr = [(V, tau) for label, V, tau in cases if label.startswith("QR")]
    ortho = worst([orthonormal_columns(subject, Case(V=V, tau=tau)) for V, tau in qr])
    V = generator.standard_normal((6, 4))
    tau = generator.uniform(0.2, 1.8, size=4)
    noise = generator.standard_normal(V.shape)
    ignored = reads_only_the_reflectors(subject, Case(V=V, tau=tau, noise=noise))
    identity = zero_tau_is_identity(subject, Case(V=V, tau=tau))
    rows = (
        Row("agreement with LAPACK dorgqr", value.measured, value.tolerance,
            f"worst case: {worst_label}"),
        Row("orthonormal columns (reflections)", ortho.measured, ortho.tolerance, ortho.detail),
        Row("diagonal and upper triangle of V ignored", ignored.measured, ignored.tolerance,
            "changing V on and above the diagonal changed Q"),
        Row("tau = 0 gives the identity columns", identity.measured, identity.tolerance,
            "tau = 0 must give H_i = I"),
    )
    faults += [fault for fault in ignored.faults if fault not in faults]
    return Report("householder_product conformance", rows, {"cases": len(cases)},
                  tuple(faults))


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def unit_pairs(d: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Adversarial ``(kind, a, b)`` unit pairs in dimension ``d`` (see the module notes)."""
    a = _normalize(rng.standard_normal(d))
    pairs = [("random", a, _normalize(rng.standard_normal(d)))]
    for scale in (1e-4, 1e-8, 1e-12):
        pairs.append(("nearly equal", a, _normalize(a + scale * rng.standard_normal(d))))
        pairs.append(("nearly opposite", a, _normalize(-a + scale * rng.standard_normal(d))))
    pairs += [("equal", a, a.copy()), ("opposite", a, -a)]
    e = np.eye(d)
    pairs += [("axis-aligned", e[0], e[-1]), ("axis-aligned", e[0], e[0].copy())]
    if d > 1:
        pairs.append(("axis-aligned", e[0], -e[0]))
    return pairs


_REFERENCE_MAPS = (("Householder reflection I - 2uu^T, u = (a-b)/|a-b| (det -1)",
                    householder_map_matrix),
                   ("rotation in span(a, b) (det +1)", rotation_map_matrix),
                   ("symmetric form (a+b)(a+b)^T/(1+a.b) - I (det (-1)^(d-1))",
                    symmetric_map_matrix),
                   ("refimpl.householder.stable_map", stable_map_matrix))


def check_orthogonal_map(fn: Callable[..., Any], *, form: str = "apply",
                         dims: tuple[int, ...] = (2, 3, 5, 16), dtype: str = "float64",
                         framework: str | None = None, rng: Any = 0) -> Report:
    """Check a foreign orthogonal map taking unit ``a`` to unit ``b``.

    Runs the properties ``maps_a_to_b`` and ``orthogonality`` of
    :mod:`refimpl.testing.properties.maps` (for a map of unknown construction: singular
    at ``b = a`` or ``b = -a``) on the pairs of ``unit_pairs``, and says which of
    refimpl's maps the function matches and which determinant it has.

    Parameters
    ----------
    fn : callable
        ``form="apply"``: ``fn(x, a, b) -> T x`` for ``x`` of shape ``(d, d)`` (rows are
        vectors) and ``a``, ``b`` of shape ``(d,)``; ``form="matrix"``: ``fn(a, b) -> T``.
    form : {"apply", "matrix"}
    dims : tuple of int
        Dimensions tried.
    dtype, framework, rng
        As in :func:`check_householder_product`.

    Returns
    -------
    Report
        Rows for ``T a = b`` on random and on adversarial pairs, orthogonality
        (error / tolerance) and finiteness; ``identified`` names the matching refimpl
        map and the determinants.

    Examples
    --------
    >>> from refimpl.householder import stable_map
    >>> report = check_orthogonal_map(stable_map)
    >>> report.passed, report.identified["map"]
    (True, 'refimpl.householder.stable_map')
    """
    check_choice(form, "form", ("apply", "matrix"))
    subject = map_subject(fn, form=form, dtype=dtype, framework=framework)
    generator = as_generator(rng)
    worst_ratio: dict[str, tuple[float, str]] = {}
    matches = {name: True for name, _ in _REFERENCE_MAPS}
    determinants: set[int] = set()
    nonfinite = []
    for d in dims:
        for kind, a, b in unit_pairs(d, generator):
            case = Case(a=a, b=b)
            results = {f"T a = b ({'random' if kind == 'random' else 'adversarial'} pairs)":
                       maps_a_to_b(subject, case),
                       "orthogonality T^T T = I": orthogonality(subject, case)}
            if any(result.faults for result in results.values()):
                nonfinite.append(f"{kind} (d={d})")
                continue
            for row, result in results.items():
                ratio = result.measured / result.tolerance
                if ratio > worst_ratio.get(row, (-1.0, ""))[0]:
                    worst_ratio[row] = (float(ratio), f"{kind} pair, d={d}")
            if kind == "random":
                T = subject.matrix(a, b)
                determinants.add(int(np.round(np.linalg.det(T))))
                for name, builder in _REFERENCE_MAPS:
                    matches[name] &= bool(np.max(np.abs(T - builder(a, b))) <= 1e-6)
    rows = [Row(name, value, 1.0, f"error / tolerance; worst at {where}")
            for name, (value, where) in worst_ratio.items()]
    rows.append(Row("finite output of the right shape", float(len(nonfinite)), 0.0,
                    f"non-finite or misshapen at: {', '.join(nonfinite)}"))
    named = [name for name, ok in matches.items() if ok]
    orthogonal = worst_ratio.get("orthogonality T^T T = I", (0.0, ""))[0] <= 1.0
    identified = {"map": named[0] if named else ("another orthogonal map" if orthogonal
                                                 else "not an orthogonal map"),
                  "determinants (random pairs)": sorted(determinants)}
    return Report("orthogonal map a -> b conformance", tuple(rows), identified)
