"""Properties of an attention kernel ``fn(q, k, v, mask) -> out`` and its backward.

Softmax attention ``o_i = sum_j w_ij v_j``, ``w_i = softmax_j(q_i.k_j / sqrt(d))`` over the
keys the boolean mask allows (``mask[i, j]`` true: query i may attend to key j, the
convention of :mod:`refimpl.masks` and of ``torch.nn.functional.
scaled_dot_product_attention``'s boolean ``attn_mask``; Vaswani et al., "Attention Is All
You Need", 2017, arXiv:1706.03762). The properties: values agree with a reference
(refimpl's :func:`refimpl.attention.scaled_dot_product_attention`), keys a query may
not attend to do not influence it, a query with no allowed key outputs zeros (refimpl's
convention; PyTorch returns NaN there, so that property is only run when the subject
claims it), and the backward is the VJP of the forward.

Error model: a logit ``s = q.k/sqrt(d)`` is rounded to ``eps |s|`` (plus the ``sqrt(d)``
of its sum), the softmax turns that into a relative error of ``eps (1 + max|s|)`` of the
weights, and the weighted sum of ``n_k`` values adds ``eps sqrt(n_k)``: the size factor
is ``2 + 2 max|s| + sqrt(n_k)``, times ``max(1, max|v|)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl.attention import scaled_dot_product_attention, scaled_dot_product_attention_vjp
from refimpl.testing.properties._core import (
    Case,
    Property,
    PropertyResult,
    numpy_callable,
    tolerance,
)
from refimpl.testing.vjp import check_vjp

__all__ = ["AttentionSubject", "attention_subject", "values", "masked_keys_ignored",
           "fully_masked_rows_are_zero", "backward", "PROPERTIES"]


def _reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return scaled_dot_product_attention(q, k, v, mask)


def _reference_vjp(g: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray,
                   mask: np.ndarray) -> tuple[np.ndarray | None, ...]:
    return scaled_dot_product_attention_vjp(g, q, k, v, mask)[:3]


@dataclass(frozen=True, eq=False)
class AttentionSubject:
    """An attention kernel ``fn(q, k, v, mask)`` (NumPy in and out) and what it claims.

    ``fn_vjp(grad, q, k, v, mask) -> (dq, dk, dv)`` is its backward (optional, with the
    raw framework function ``fn_raw`` kept for :func:`refimpl.testing.check_vjp`);
    ``reference`` / ``reference_vjp`` are what they are compared with (refimpl's by
    default; ``reference_vjp=None`` compares the backward with central differences);
    ``fully_masked="zeros"`` claims refimpl's convention for queries with no key.
    """

    fn: Callable[..., Any]
    fn_vjp: Callable[..., Any] | None = None
    fn_raw: Callable[..., Any] | None = None
    reference: Callable[..., Any] = _reference
    reference_vjp: Callable[..., Any] | None = _reference_vjp
    fully_masked: str | None = None
    dtype: str = "float64"
    framework: str | None = None
    name: str = "fn"

    def __call__(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray
                 ) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(self.fn(q, k, v, mask), dtype=np.float64)


def attention_subject(fn: Callable[..., Any], fn_vjp: Callable[..., Any] | None = None, *,
                      fully_masked: str | None = None, dtype: str = "float64",
                      framework: str | None = None) -> AttentionSubject:
    """Wrap a foreign kernel (and backward) as an :class:`AttentionSubject`."""
    if fully_masked not in (None, "zeros"):
        raise ValueError(f"fully_masked must be None or 'zeros', got {fully_masked!r}")
    return AttentionSubject(numpy_callable(fn, framework, dtype), fn_vjp, fn,
                            fully_masked=fully_masked, dtype=dtype, framework=framework,
                            name=getattr(fn, "__name__", "fn"))


def _size(case: Case) -> float:
    logits = case.q @ np.swapaxes(case.k, -1, -2) / np.sqrt(case.q.shape[-1])
    return 2.0 + 2.0 * float(np.max(np.abs(logits), initial=0.0)) + np.sqrt(case.k.shape[-2])


def _scale(v: np.ndarray) -> float:
    return max(1.0, float(np.max(np.abs(v), initial=0.0)))


def _attending(mask: np.ndarray) -> np.ndarray:
    """Rows (queries) with at least one allowed key."""
    return np.any(mask, axis=-1)


def values(subject: AttentionSubject, case: Case) -> PropertyResult:
    """``fn(q, k, v, mask) = reference`` on every query with an allowed key (fields ``q,
    k, v, mask``).

    Measured: ``max |fn - reference| / max(1, max|v|)``. Tolerance: ``SAFETY eps (2 +
    2 max|s| + sqrt(n_k))`` (module notes).
    """
    found = subject(case.q, case.k, case.v, case.mask)
    expected = np.asarray(subject.reference(case.q, case.k, case.v, case.mask))
    rows = _attending(case.mask)
    if found.shape != expected.shape:
        return PropertyResult("attention.values", np.inf, 0.0,
                              f"output shape {found.shape}, expected {expected.shape}", (), case)
    error = float(np.max(np.abs(found - expected)[rows], initial=0.0)) / _scale(case.v)
    faults: tuple[str, ...] = ()
    if error > 1e-6:
        unscaled = np.asarray(subject.reference(case.q * np.sqrt(case.q.shape[-1]), case.k,
                                                case.v, case.mask))
        if np.max(np.abs(found - unscaled)[rows], initial=0.0) <= 1e-6 * _scale(case.v):
            faults = ("logits are not divided by sqrt(d)",)
    return PropertyResult("attention.values", error,
                          tolerance(subject.dtype, _size(case)),
                          "max |fn - reference| / max(1, max|v|) over queries with a key",
                          faults, case)


def masked_keys_ignored(subject: AttentionSubject, case: Case) -> PropertyResult:
    """Changing keys and values that a query may not attend to leaves its output unchanged
    (fields ``q, k, v, mask, k_noise, v_noise``: key ``j`` changes when ``changed[j]``).

    Compared rows: queries with an allowed key that may attend to no changed key; under a
    causal mask with the later keys changed, the earlier queries. Measured: the change
    relative to ``max(1, max|v|)``. Tolerance: ``SAFETY eps`` (masked weights are exactly
    0; a kernel may still round a row differently once).
    """
    changed = case.changed
    k2 = np.where(changed[:, None], case.k + case.k_noise, case.k)
    v2 = np.where(changed[:, None], case.v + case.v_noise, case.v)
    rows = _attending(case.mask) & ~np.any(case.mask & changed[None, :], axis=-1)
    before = subject(case.q, case.k, case.v, case.mask)
    after = subject(case.q, k2, v2, case.mask)
    difference = np.abs(after - before)[rows] if before.shape == after.shape else np.inf
    error = float(np.max(difference, initial=0.0)) / _scale(np.concatenate([case.v, v2]))
    faults = () if error <= 1e-6 else ("masked keys leak into the output: the mask is "
                                       "inverted (True = masked out?) or not applied",)
    return PropertyResult("attention.masked_keys_ignored", error, tolerance(subject.dtype, 1.0),
                          f"change of the {int(rows.sum())} queries that see no changed key",
                          faults, case)


def fully_masked_rows_are_zero(subject: AttentionSubject, case: Case) -> PropertyResult:
    """A query with no allowed key outputs exactly zeros (fields ``q, k, v, mask``; the
    mask of query 0 is cleared here).

    Measured: ``max |fn(...)[i]|`` over such queries, NaN counting as a failure.
    Tolerance: 0.
    """
    mask = case.mask.copy()
    mask[0] = False
    out = subject(case.q, case.k, case.v, mask)
    empty = np.abs(out[~_attending(mask)])
    error = float(np.max(np.where(np.isfinite(empty), empty, np.inf), initial=0.0))
    faults = () if np.all(np.isfinite(empty)) else (
        "a query with no allowed key gives NaN (softmax of all -inf; PyTorch's convention)",)
    return PropertyResult("attention.fully_masked_rows_are_zero", error, 0.0,
                          "max |output| of queries with no allowed key", faults,
                          Case(q=case.q, k=case.k, v=case.v, mask=mask))


def backward(subject: AttentionSubject, case: Case) -> PropertyResult:
    """``fn_vjp`` is the VJP of the kernel in ``q, k, v`` (fields ``q, k, v, mask``),
    checked by :func:`refimpl.testing.check_vjp` against ``reference_vjp``, or against
    central differences when it is None. Queries with no allowed key are given a mask of
    all keys here, so both conventions for them are accepted."""
    fn_vjp = subject.fn_vjp
    if fn_vjp is None:
        raise ValueError("backward needs subject.fn_vjp; got None")
    mask = case.mask | ~_attending(case.mask)[:, None]
    forward = subject.fn_raw or subject.fn
    reference_fn, reference_vjp = subject.reference, subject.reference_vjp
    reference = None if reference_vjp is None else (
        lambda q, k, v: reference_fn(q, k, v, mask),
        lambda g, q, k, v: reference_vjp(g, q, k, v, mask))
    report = check_vjp(lambda q, k, v: forward(q, k, v, mask),
                       lambda g, q, k, v: fn_vjp(g, q, k, v, mask),
                       [case.q, case.k, case.v], reference=reference, dtype=subject.dtype,
                       framework=subject.framework, rng=0)
    rows = sorted(report.rows, key=lambda row: row.measured / row.tolerance
                  if row.tolerance > 0 else np.inf)
    return PropertyResult("attention.backward", rows[-1].measured, rows[-1].tolerance,
                          f"{rows[-1].name}: {rows[-1].detail}", report.faults,
                          Case(q=case.q, k=case.k, v=case.v, mask=mask))


#: The properties of an attention kernel, in the order the plugin runs them.
PROPERTIES = (
    Property("attention", "values", "fn(q, k, v, mask) = softmax attention",
             "SAFETY eps(dtype) (2 + 2 max|s| + sqrt(n_k)) max(1, |v|)", values,
             "attention_cases"),
    Property("attention", "masked_keys_ignored", "keys a query may not see do not move it",
             "SAFETY eps(dtype) max(1, |v|)", masked_keys_ignored, "attention_cases"),
    Property("attention", "fully_masked_rows_are_zero", "no allowed key => zeros", "exact",
             fully_masked_rows_are_zero, "attention_cases",
             lambda s: s.fully_masked == "zeros"),
    Property("attention", "backward", "fn_vjp = VJP of the kernel (q, k, v)",
             "check_vjp's rule for dtype", backward, "attention_cases",
             lambda s: s.fn_vjp is not None),
)
