"""Name the faults of a foreign RoPE: every disagreement between what probing found and an
expected convention, each as one sentence.

A fault is named whenever the evidence allows, independently of the others, so that an
interleaved function with the wrong base is reported as both a wrong layout and a wrong
base. The thresholds are those of :mod:`refimpl.testing.rope_identify`: they follow the
claimed precision (an honest bfloat16 function reads its magnitude to ``2^-8`` and its
frequencies to ``2^-8 / p``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl.testing._tolerance import ROUNDOFF, SAFETY
from refimpl.testing.presets import RopeConvention
from refimpl.testing.report import Curve
from refimpl.testing.rope_identify import (
    GEOMETRIC_FLOOR,
    NOT_PAIRWISE,
    RopeIdentity,
    axis_labels,
    geometric_fit,
    pair_angles,
    plain,
    probe_matrices,
    wrap,
)

__all__ = ["structural_faults", "frequency_faults", "precision_fault", "curve_faults",
           "table_rounding_fault",
           "BATCH_DEPENDENT", "STATEFUL", "XPOS_SPREAD"]

#: The fault named when a row's output depends on the other rows of the call.
BATCH_DEPENDENT = ("batch dependence: the output for a row changes when other rows (at larger "
                   "positions) are in the same call; the angles depend on the batch, e.g. on "
                   "the sequence length or the largest position (Hugging Face dynamic NTK, "
                   "lucidrains xPos centred at seq_len // 2, timm ref_feat_shape rescaling)")

#: The fault named when identical calls give different outputs.
STATEFUL = ("state: the same call gives a different output after a larger call; fn remembers "
            "earlier calls (e.g. a cached, grown sequence length)")

SHAPES = {"interleaved": "(2k, 2k+1)", "half": "(k, k+P)"}

#: A magnitude spread above this is a varying scale (xPos-like), not the rounding of the
#: cos/sin tables: rounding to bfloat16, the coarsest precision named, moves the magnitude
#: by at most ``2 u = 2^-7``; twice that is the threshold.
XPOS_SPREAD = 4 * ROUNDOFF["bfloat16"]


def _expected_pairs(expected: RopeConvention) -> tuple[tuple[int, int], ...]:
    """The feature pairs of ``expected`` in layout order: ``(s+2k, s+2k+1)`` or ``(s+k, s+k+P)``."""
    s, half = expected.rotary_start, expected.frequencies.shape[1]
    if expected.layout == "interleaved":
        return tuple((s + 2 * k, s + 2 * k + 1) for k in range(half))
    return tuple((s + k, s + k + half) for k in range(half))


def _rotating_pairs_match(found: RopeIdentity, expected: RopeConvention) -> bool:
    """True when ``expected`` has pairs of zero frequency on every axis and the pairs found
    are exactly its other pairs, in order.

    A pair of zero frequency is the identity, so probing cannot tell it from a feature
    outside the rotary block: Hugging Face's ``proportional`` schedule zero-pads ``inv_freq``
    to the head dimension, and a function that rotates the first ``2 P`` of ``(k, k + H/2)``
    pairs is then found as ``P`` pairs of no standard layout.
    """
    still = np.all(expected.frequencies == 0, axis=0)
    if not np.any(still) or np.all(still):
        return False
    moving = tuple(pair for pair, zero in zip(_expected_pairs(expected), still, strict=True)
                   if not zero)
    return tuple(found.pairs) == moving


def _rotating_part(expected: RopeConvention) -> np.ndarray:
    """``expected.frequencies`` without its pairs of zero frequency on every axis."""
    return expected.frequencies[:, ~np.all(expected.frequencies == 0, axis=0)]


def structural_faults(found: RopeIdentity, expected: RopeConvention) -> list[str]:
    """Disagreements of layout, rotary block, direction, offset and magnitude.

    Pairs of zero frequency in ``expected`` are not looked for (see ``_rotating_pairs_match``).
    """
    if found.layout == "not pairwise":
        return [NOT_PAIRWISE]
    faults = [] if _rotating_pairs_match(found, expected) else _block_faults(found, expected)
    if found.frequencies.size and np.all(np.sum(found.frequencies, axis=0) < 0):
        faults.append("rotation direction reversed: angles are -p omega (sign of sin flipped "
                      "or pairs swapped)")
    if found.frequencies.shape[0] == expected.n_axes:
        shift = np.asarray(found.offset) - np.asarray(expected.position_offset)
        if found.frequencies.size and np.any(np.abs(shift) > found.offset_tolerance):
            faults.append(f"positions off by {plain(shift)}: the angle at position p is that "
                          f"of p + {plain(shift)} in the expected convention")
    return faults + _magnitude_faults(found, expected)


def _block_faults(found: RopeIdentity, expected: RopeConvention) -> list[str]:
    """A wrong layout, rotary width or rotary block."""
    faults = []
    if found.layout != expected.layout:
        faults.append(f"wrong layout: expected {expected.layout} pairs "
                      f"{SHAPES.get(expected.layout, '')}, found {found.layout} pairs "
                      f"{SHAPES.get(found.layout, str(list(found.pairs)[:4]))}")
    if found.rotary_dim != expected.rotary_dim:
        faults.append(f"rotary dim: expected {expected.rotary_dim}, found {found.rotary_dim}")
    elif found.rotary_start != expected.rotary_start:
        faults.append(f"partial rotary on the wrong block: expected features "
                      f"[{expected.rotary_start}, {expected.rotary_start + expected.rotary_dim}),"
                      f" found [{found.rotary_start}, {found.rotary_start + found.rotary_dim})")
    return faults


def _magnitude_faults(found: RopeIdentity, expected: RopeConvention) -> list[str]:
    """xPos expected but absent, a magnitude that varies, or a wrong constant magnitude."""
    tolerance = found.magnitude_tolerance
    if expected.xpos_scale_base is not None:
        if found.magnitude_spread <= tolerance:
            return ["xPos: expected a magnitude that changes with the position, found a "
                    "constant one"]
        return []
    if found.magnitude_spread > max(tolerance, XPOS_SPREAD):
        return [f"magnitude changes with the position (by {found.magnitude_spread:.2g} "
                f"relative; xPos-like), expected a constant {expected.magnitude:.10g}"]
    if found.magnitude_spread <= tolerance and \
            abs(found.magnitude - expected.magnitude) > max(1e-6, tolerance) * expected.magnitude:
        return [f"magnitude (attention factor on cos and sin): expected "
                f"{expected.magnitude:.10g}, found {found.magnitude:.10g}"]
    return []


def frequency_faults(found: RopeIdentity, expected: RopeConvention) -> list[str]:
    """Disagreements of the frequencies with ``expected``, pair by pair in layout order.

    Frequency ``k`` passes within ``max(1e-9, SAFETY sigma_k)`` relative, ``sigma_k`` the
    precision probing reads it to (:func:`refimpl.testing._tolerance.frequency_uncertainty`).
    Pairs are compared even when the layouts differ (pair ``k`` is ``(2k, 2k+1)`` or
    ``(k, k+P)``, in frequency order either way); when the rotary widths differ, the bases
    of the two geometric series are compared.
    """
    if found.layout in ("not pairwise", "none"):
        return []
    measured, reference = np.abs(found.frequencies), np.abs(expected.frequencies)
    if _rotating_pairs_match(found, expected):
        reference = np.abs(_rotating_part(expected))
    if measured.shape[0] != reference.shape[0]:
        return [f"frequencies: expected {reference.shape[0]} position axes, found "
                f"{measured.shape[0]}"]
    if measured.shape != reference.shape:
        return _base_of_other_width(found, expected)
    if expected.n_axes > 1 and axis_labels(measured) != axis_labels(reference):
        return [f"axis assignment of pairs (M-RoPE sections / axial split): expected "
                f"[{axis_labels(reference)}], found [{axis_labels(measured)}]"]
    sigma = found.uncertainty if found.uncertainty is not None else np.zeros(measured.shape)
    allowed = np.maximum(1e-9, SAFETY * sigma)
    relative = np.where(reference > 0, np.abs(measured - reference)
                        / np.maximum(reference, 1e-300), np.abs(measured))
    if np.all(relative <= allowed):
        return []
    for description, alternative in expected.alternatives:
        alt = np.atleast_2d(alternative)
        if np.all(np.abs(measured - alt) / np.maximum(alt, 1e-300) <= np.maximum(1e-6, allowed)):
            return [f"frequencies match {description}, not the expected schedule"]
    named = _base_and_scale(found, expected, float(np.min(sigma)))
    if named:
        return named
    return [_rounding_or_schedule(measured, reference, relative, allowed)]


def _base_and_scale(found: RopeIdentity, expected: RopeConvention,
                    best_sigma: float) -> list[str]:
    """Name a wrong base or position scale when both series are geometric."""
    if expected.n_axes != 1 or found.base is None or found.scale is None:
        return []
    base, scale, misfit = geometric_fit(np.abs(expected.frequencies[0]))
    if misfit > 1.0:
        return []
    rtol = max(GEOMETRIC_FLOOR, SAFETY * best_sigma)
    faults = []
    if abs(found.base - base) > rtol * base:
        faults.append(f"wrong base: expected {base:.10g}, found {found.base:.10g}")
    if abs(found.scale - scale) > rtol * scale:
        faults.append(f"position scale (linear interpolation factor): expected "
                      f"{scale:.10g}, found {found.scale:.10g}")
    return faults


def _base_of_other_width(found: RopeIdentity, expected: RopeConvention) -> list[str]:
    """With different rotary widths, compare the bases of the two geometric series."""
    if expected.n_axes != 1 or found.base is None:
        return []
    base, _, misfit = geometric_fit(np.abs(expected.frequencies[0]))
    if misfit <= 1.0 and abs(found.base - base) > GEOMETRIC_FLOOR * base:
        return [f"wrong base: expected {base:.10g}, found {found.base:.10g} (over its own "
                f"rotary dim {found.rotary_dim})"]
    return []


def _rounding_or_schedule(measured: np.ndarray, reference: np.ndarray, relative: np.ndarray,
                          allowed: np.ndarray) -> str:
    """Describe the worst frequency disagreement: a rounding, or another schedule."""
    excess = np.where(relative > allowed, relative, 0.0)
    worst = np.unravel_index(np.argmax(excess), reference.shape)
    error = float(np.max(excess))
    rounding = [name for name, u in ROUNDOFF.items() if error <= 4 * u]
    kind = (f"rounded frequencies (inv_freq stored in {rounding[0]}?)" if rounding
            else "a different frequency schedule")
    return (f"frequencies differ from expected by up to {error:.2e} relative (axis "
            f"{worst[0]}, pair {worst[1]}: expected {reference[worst]:.10g}, found "
            f"{measured[worst]:.10g}): {kind}")


def precision_fault(fn: Callable[..., Any], found: RopeIdentity, reference: RopeConvention,
                    curve: Curve) -> str | None:
    """Name a loss of angle precision, measured directly on the foreign angles.

    At positions ``p = 1, 2, 4, ...`` (on every axis) the foreign angle of each pair is
    read from its rotation matrix and compared with the reference angle. Rounding the
    position, the frequency and their product each cost up to ``u |angle|``, so the
    largest relative angle error (over angles of at least 1 radian) lies between ``u``
    and ``3u`` for the precision the angles were computed in; the nearest in log scale
    among float32, float16 and bfloat16 is named. Returns None when the curve passes,
    the error does not grow with the position, or the relative error is not that of a
    rounding (above 5%).
    """
    if (found.layout, found.rotary_dim, found.rotary_start) != (
            reference.layout, reference.rotary_dim, reference.rotary_start):
        return None
    errors = np.array(curve.errors)
    finite = errors[np.isfinite(errors)]
    if np.all(errors <= np.array(curve.tolerances)) or finite.size < 3 \
            or finite[-1] <= 10 * finite[1]:
        return None
    grid = np.array(curve.values[1:])[:, None] * np.ones(reference.n_axes)
    phase, _ = pair_angles(probe_matrices(fn, found.head_dim, grid), found.pairs)
    expected = reference.angles(grid[:, 0] if reference.n_axes == 1 else grid)
    large = np.abs(expected) >= 1.0
    if not large.any():
        return None
    ratio = np.abs(wrap(phase - expected))[large] / np.abs(expected[large])
    relative = float(np.max(ratio[np.isfinite(ratio)], initial=0.0))
    if not 1e-9 < relative < 0.05:
        return None
    name = min(ROUNDOFF, key=lambda k: abs(np.log(relative / (2 * ROUNDOFF[k]))))
    return (f"angles lose precision linearly with position (relative angle error "
            f"{relative:.1e}, unit roundoff of {name} {ROUNDOFF[name]:.1e}): consistent "
            f"with angles computed in {name}")


def table_rounding_fault(found: RopeIdentity) -> str | None:
    """Name a magnitude that wobbles by more than the claimed precision allows but less
    than :data:`XPOS_SPREAD`: cos and sin rounded to a coarser precision than claimed
    (each rounding moves ``cos^2 + sin^2`` by up to ``2u``, so the spread lies within
    ``[u/4, 2u]`` for a unit roundoff ``u``; the coarsest such precision is named)."""
    spread = found.magnitude_spread
    if not found.magnitude_tolerance < spread <= XPOS_SPREAD:
        return None
    name = next((k for k, u in reversed(ROUNDOFF.items()) if spread >= u / 4), "float32")
    return (f"magnitude varies by {spread:.2g} relative: cos/sin tables rounded to a coarser "
            f"precision than claimed (consistent with {name})")


def curve_faults(fn: Callable[..., Any], found: RopeIdentity, reference: RopeConvention,
                 curve: Curve, faults: list[str]) -> list[str]:
    """Faults read from the curve: non-finite output, and (when nothing but rounded
    frequencies was found) a loss of angle precision."""
    named = []
    broken = [p for p, e in zip(curve.values, curve.errors, strict=True) if not np.isfinite(e)]
    if broken:
        named.append(f"non-finite output from position {broken[0]:g} on (float16 positions "
                     f"overflow above 65504?)")
    tables = table_rounding_fault(found)
    if tables and reference.xpos_scale_base is None:
        named.append(tables)
    precision = precision_fault(fn, found, reference, curve)
    if precision and all("rounded frequencies" in f for f in faults):
        named.append(precision)
    return named
