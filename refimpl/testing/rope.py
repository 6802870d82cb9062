"""RoPE conformance: identify a foreign rotary embedding by probing it, then check it.

A RoPE implementation is a linear map of ``x`` for each position, so feeding it the
identity matrix at a position ``p`` reads off its ``D x D`` rotation ``M(p)`` column by
column. From a handful of such probes :func:`identify_rope` recovers everything that
distinguishes the conventions of research note rope_anchors.md:

* the **pairs**: which two features each rotation mixes, hence the layout
  (interleaved ``(2k, 2k+1)``, half ``(k, k+P)``, or other), the rotary dimension and
  the block it occupies (partial rotary);
* the **frequencies** ``F[a, k]`` of each position axis ``a`` and pair ``k``, read from
  the angle ``atan2(M[second, first], M[first, first])`` at positions ``1, 2, 4, ...,
  1024`` with phase unwrapping (this assumes ``|omega| < pi``, half a turn per step);
  for 1-D a fit of ``log omega_k`` against ``k`` gives the base and the position scale;
* the **position offset** (angles at position 0, e.g. Llama-4 vision's 1-based
  positions, or an off-by-one bug) and the **magnitude** (Hugging Face's attention
  factor multiplies cos and sin).

:func:`check_rope` then checks relative-position invariance and orthogonality, compares
the function with a reference convention (an expected preset from
:mod:`refimpl.testing.presets`, or the one identified) over positions ``0, 1, 2, 4, ...``
and reports the worst error at each position: float32 angles show up as a curve that
grows linearly with the position. Each disagreement with an expected preset becomes a
named fault: wrong layout, rotary width or block, reversed rotation, position offset,
magnitude (constant or xPos-like), base, position scale, a known misreading of the
schedule (YaRN's ``truncate``), M-RoPE sections or axis order, rounded frequencies,
non-finite output, and angles computed in float32, float16 or bfloat16 (named from the
relative error of the foreign angles, read off its rotation matrices).
:func:`check_rope_pair` does the same for ``fn(q, k, positions)`` and also checks the
scores of the pair, which covers xPos (queries and keys scaled oppositely).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from refimpl._validation import as_generator, as_int, check_choice
from refimpl.testing.adapters import as_numpy_function
from refimpl.testing.presets import RopeConvention
from refimpl.testing.report import Curve, Report, Row

#: Machine epsilon (spacing of floats at 1) of the precisions a foreign function may claim.
EPSILON = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}

#: Unit roundoff ``u = eps / 2`` of the precisions angles are commonly computed in.
ROUNDOFF = {"float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}

#: Safety factor on ``eps`` in every tolerance: a few roundings per output entry.
SAFETY = 16.0

#: Positions at which frequencies are read, by phase unwrapping from 1 upwards.
PROBE_POSITIONS = tuple(2**j for j in range(11))

#: The fault named when features mix beyond pairs.
NOT_PAIRWISE = ("not a pairwise rotation: some input features reach more than two output "
                "features (a permuted output, e.g. DeepSeek's interleaved-in / half-out order, "
                "or a change of basis)")

__all__ = ["EPSILON", "RopeIdentity", "identify_rope", "check_rope", "check_rope_pair"]


@dataclass(frozen=True, eq=False)
class RopeIdentity:
    """What probing found about a RoPE function (see :func:`identify_rope`).

    ``pairs[k] = (first, second)`` are the features pair ``k`` mixes, in layout order;
    ``frequencies`` has shape ``(n_axes, P)`` (signed: negative means the rotation runs
    backwards); ``offset`` is the position the function treats as the origin shift
    (angles at position 0 are ``offset @ frequencies``); ``base`` and ``scale`` are set
    when the 1-D frequencies are one geometric series ``omega_k = base^(-2k/R) / scale``.
    """

    head_dim: int
    pairs: tuple[tuple[int, int], ...]
    layout: str
    rotary_start: int
    frequencies: np.ndarray
    offset: np.ndarray
    magnitude: float
    magnitude_spread: float
    base: float | None = None
    scale: float | None = None

    @property
    def rotary_dim(self) -> int:
        """Number of rotated features, ``2 P``."""
        return 2 * len(self.pairs)

    def summary(self) -> dict[str, Any]:
        """The identified conventions as a dict for a report."""
        if self.layout == "not pairwise":
            return {"layout": "not pairwise (features mix beyond pairs)",
                    "strongest links": list(self.pairs)[:8]}
        info: dict[str, Any] = {"layout": self.layout, "rotary dim": self.rotary_dim,
                                "rotary block": f"[{self.rotary_start}, "
                                                f"{self.rotary_start + self.rotary_dim})"}
        if self.layout == "other":
            info["pairs"] = list(self.pairs)
        if self.base is not None:
            info["base"] = self.base
            info["position scale"] = self.scale
        elif self.frequencies.shape == (1, len(self.pairs)) and len(self.pairs) > 1:
            info["schedule"] = "not one geometric series (YaRN, llama3, LongRoPE, ...?)"
        if self.frequencies.shape[0] > 1:
            info["axis of each pair"] = axis_labels(self.frequencies)
        info["frequencies"] = self.frequencies if self.frequencies.shape[0] > 1 \
            else self.frequencies[0]
        info["position offset"] = _plain(self.offset)
        info["magnitude"] = self.magnitude if self.magnitude_spread <= 1e-6 else \
            f"varies with the position (median {self.magnitude:.6g})"
        return info

    def convention(self) -> RopeConvention:
        """The reference convention these findings describe (interleaved or half only)."""
        frequencies = self.frequencies
        if self.base is not None:
            k = np.arange(len(self.pairs))
            frequencies = (self.base ** (-2.0 * k / self.rotary_dim) / self.scale)[None]
        return RopeConvention("identified", self.head_dim, frequencies, self.layout,
                              rotary_start=self.rotary_start, magnitude=self.magnitude,
                              position_offset=tuple(float(c) for c in self.offset))


def _plain(values: np.ndarray) -> Any:
    """A 1-element array as a float, longer ones as a list."""
    values = [float(v) for v in np.ravel(values)]
    return values[0] if len(values) == 1 else values


def axis_labels(frequencies: np.ndarray) -> str:
    """Run-length text of which axis drives each pair, e.g. ``"0x16 1x24 2x24"``.

    A pair driven by several axes (RoPE-Mixed) is labelled ``m``; one driven by none
    ``-``. This is how M-RoPE sections are compared: chunked ``[16, 24, 24]`` reads
    ``0x16 1x24 2x24`` and Qwen3-VL's interleaved map reads ``0 1 2 0 1 2 ...``.
    """
    nonzero = np.abs(frequencies) > 0
    labels = []
    for column in nonzero.T:
        labels.append(str(int(np.argmax(column))) if column.sum() == 1
                      else ("m" if column.sum() > 1 else "-"))
    runs: list[list] = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    return " ".join(f"{label}x{count}" if count > 1 else label for label, count in runs)


def _wrap(theta: np.ndarray) -> np.ndarray:
    """Angles wrapped into ``[-pi, pi)``."""
    return (theta + np.pi) % (2.0 * np.pi) - np.pi


def probe_matrices(fn: Callable, head_dim: int, positions: np.ndarray) -> np.ndarray:
    """The matrices ``M(p)`` with ``M(p)[:, j] = fn(e_j, p)``, for each row of ``positions``.

    ``positions`` has shape ``(n, n_axes)``; one call of ``fn`` evaluates all of them
    (``n * head_dim`` rows of the identity). 1-D functions get positions of shape
    ``(rows,)``. Integer-valued positions are passed as int64, so table-indexing
    implementations work.
    """
    n = positions.shape[0]
    x = np.tile(np.eye(head_dim), (n, 1))
    out = _call(fn, x, np.repeat(positions, head_dim, axis=0))
    if out.shape != x.shape:
        raise ValueError(f"fn returned shape {out.shape} for x of shape {x.shape}; a RoPE "
                         f"function must return an array shaped like x")
    return np.swapaxes(out.reshape(n, head_dim, head_dim), 1, 2)


def _find_pairs(matrices: np.ndarray) -> tuple[tuple[tuple[int, int], ...], bool]:
    """The feature pairs mixed by the probes, and whether each column mixes one partner only.

    Each column is scaled by its largest entry first, so a magnitude that changes with
    the position (xPos) does not hide the pairs of small columns.
    """
    columns = np.nan_to_num(np.abs(matrices), nan=0.0, posinf=0.0)
    columns /= np.maximum(np.max(columns, axis=1, keepdims=True), 1e-300)
    off = np.max(columns, axis=0)
    np.fill_diagonal(off, 0.0)
    moved = off.max(axis=0) > 1e-10
    partner = np.argmax(off, axis=0)
    pairs, clean = set(), True
    for j in np.flatnonzero(moved):
        k = int(partner[j])
        second = np.partition(off[:, j], -2)[-2]
        clean &= bool(moved[k] and partner[k] == j and second <= 1e-6 * off[k, j])
        pairs.add((int(min(j, k)), int(max(j, k))))
    return tuple(sorted(pairs)), clean


def _layout(pairs: tuple[tuple[int, int], ...], clean: bool) -> tuple[str, tuple, int]:
    """Name the layout and put the pairs in layout (frequency) order."""
    if not pairs:
        return "none", pairs, 0
    features = sorted(i for pair in pairs for i in pair)
    start, count = features[0], len(pairs)
    contiguous = features == list(range(start, start + 2 * count))
    if clean and contiguous:
        if all(pair == (start + 2 * k, start + 2 * k + 1) for k, pair in enumerate(pairs)):
            return "interleaved", pairs, start
        if all(pair == (start + k, start + k + count) for k, pair in enumerate(pairs)):
            return "half", pairs, start
    return "other", pairs, start


def _pair_angles(matrices: np.ndarray, pairs) -> tuple[np.ndarray, np.ndarray]:
    """Angle and magnitude of every pair in every probe matrix: shapes ``(n, P)``."""
    first = np.array([a for a, _ in pairs], dtype=int)
    second = np.array([c for _, c in pairs], dtype=int)
    cosine = matrices[:, first, first]
    sine = matrices[:, second, first]
    return np.arctan2(sine, cosine), np.hypot(sine, cosine)


def _unwrapped_frequency(phases: np.ndarray, phase0: np.ndarray) -> np.ndarray:
    """Frequencies from phases at ``PROBE_POSITIONS``, unwrapping by doubling positions."""
    omega = _wrap(phases[0] - phase0) / PROBE_POSITIONS[0]
    for phase, p in zip(phases[1:], PROBE_POSITIONS[1:]):
        delta = _wrap(phase - phase0)
        omega = (delta + 2.0 * np.pi * np.round((omega * p - delta) / (2.0 * np.pi))) / p
    return omega


def _snap(value: float, rtol: float = 1e-5) -> float:
    """``value`` rounded to 4 significant digits when that moves it by less than ``rtol``."""
    rounded = float(f"{value:.4g}")
    return rounded if abs(rounded - value) <= rtol * abs(value) else value


def geometric_fit(omega: np.ndarray) -> tuple[float, float, float]:
    """Fit ``omega_k = base^(-2k/R) / scale`` (``R = 2 len(omega)``) in log space.

    Returns ``(base, scale, residual)``, the residual being the largest deviation of
    ``log omega_k`` from the line; it is at rounding level for the default schedule and
    for linear interpolation, and large for YaRN, llama3 or LongRoPE.
    """
    k = np.arange(omega.size, dtype=np.float64)
    if omega.size < 2 or np.any(omega <= 0):
        return float("nan"), float("nan"), float("inf")
    slope, intercept = np.polyfit(k, np.log(omega), 1)
    residual = float(np.max(np.abs(np.log(omega) - (intercept + slope * k))))
    return float(np.exp(-slope * omega.size)), float(np.exp(-intercept)), residual


def identify_rope(fn: Callable, head_dim: int, n_axes: int = 1) -> RopeIdentity:
    """Probe ``fn(x, positions)`` and recover its RoPE conventions (module notes).

    Parameters
    ----------
    fn : callable
        ``fn(x, positions)`` with ``x`` of shape ``(rows, head_dim)`` and positions of
        shape ``(rows,)`` (``n_axes = 1``) or ``(rows, n_axes)``; returns the rotated
        ``x``. NumPy in, NumPy out (wrap framework functions with
        :func:`refimpl.testing.adapters.as_numpy_function`).
    head_dim : int
        Feature dimension ``D``.
    n_axes : int
        Number of position axes (1 for text, 2 for image grids, 3 for M-RoPE).

    Returns
    -------
    RopeIdentity
    """
    head_dim = as_int(head_dim, "head_dim", minimum=1)
    n_axes = as_int(n_axes, "n_axes", minimum=1)
    probes = [np.zeros(n_axes)]
    for axis in range(n_axes):
        probes += [p * np.eye(n_axes)[axis] for p in PROBE_POSITIONS + (997, 65537)]
    matrices = probe_matrices(fn, head_dim, np.array(probes))
    pairs, clean = _find_pairs(matrices)
    layout, pairs, start = _layout(pairs, clean)
    if not pairs or not clean:  # nothing rotates, or features mix beyond pairs
        return RopeIdentity(head_dim, tuple((int(a), int(c)) for a, c in pairs),
                            "none" if not pairs else "not pairwise", 0,
                            np.zeros((n_axes, 0)), np.zeros(n_axes), 1.0, 0.0)
    phases, magnitudes = _pair_angles(matrices, pairs)
    per_axis = len(PROBE_POSITIONS) + 2
    frequencies = np.array([
        _unwrapped_frequency(phases[1 + a * per_axis: 1 + a * per_axis + len(PROBE_POSITIONS)],
                             phases[0]) for a in range(n_axes)])
    offset, *_ = np.linalg.lstsq(frequencies.T, phases[0], rcond=None)
    offset = np.where(np.abs(offset - np.round(offset)) < 1e-6, np.round(offset), offset) + 0.0
    magnitude = float(np.median(magnitudes))
    spread = float(np.max(np.abs(magnitudes - magnitude)) / max(magnitude, 1e-300))
    base = scale = None
    if n_axes == 1 and layout in ("interleaved", "half"):
        fit_base, fit_scale, residual = geometric_fit(frequencies[0])
        if residual < 1e-5:
            base, scale = _snap(fit_base), _snap(fit_scale)
    return RopeIdentity(head_dim, pairs, layout, start, frequencies, offset,
                        _snap(magnitude, 1e-9), spread, base, scale)


def _tolerance(eps: float, angle: np.ndarray | float, magnitude: float) -> np.ndarray:
    """Allowed error of a rotation at angle ``angle``: ``SAFETY eps (1 + |angle|) max(1, m)``.

    Rounding the angle ``p omega`` costs ``eps |p omega|``; the products and sums of the
    rotation cost a few ``eps``.
    """
    return SAFETY * eps * (1.0 + np.abs(angle)) * max(1.0, magnitude)


def _positions_for(rng: np.random.Generator, count: int, n_axes: int, high: int) -> np.ndarray:
    """``count`` random integer positions in ``[0, high]`` on every axis, shape (count, n_axes)."""
    return rng.integers(0, high + 1, size=(count, n_axes)).astype(np.float64)


def _integer_or_real(positions: np.ndarray) -> np.ndarray:
    """Positions ``(n, n_axes)`` as passed to a foreign function: ``(n,)`` for one axis,
    int64 when every value is an integer (so table-indexing implementations work)."""
    rows = positions[:, 0] if positions.shape[1] == 1 else positions
    return rows.astype(np.int64) if np.all(rows == np.round(rows)) else rows


def _call(fn: Callable, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``fn(x, positions)`` as float64, positions converted by :func:`_integer_or_real`.

    Floating-point warnings of the foreign function (a float16 position overflowing) are
    silenced: the non-finite output they announce is what the report flags.
    """
    with np.errstate(all="ignore"):
        return np.asarray(fn(x, _integer_or_real(positions)), dtype=np.float64)


def _cast(dtype: str, framework: str | None) -> str | None:
    """The dtype to cast ``x`` to before calling a foreign function (None: keep float64).

    NumPy has no bfloat16, so a NumPy function claiming bfloat16 gets float32 input.
    """
    if dtype == "float64":
        return None
    return "float32" if dtype == "bfloat16" and framework in (None, "numpy") else dtype


def _relative_invariance(fn, head_dim, n_axes, eps, omega_max, magnitude, rng,
                         max_position) -> Row:
    """``<f(q, m), f(k, n)> = <f(q, m+s), f(k, n+s)>`` on random vectors and positions."""
    count, half = 32, max_position // 2
    q, k = rng.standard_normal((2, count, head_dim))
    m, n, s = (_positions_for(rng, count, n_axes, half) for _ in range(3))
    before = np.sum(_call(fn, q, m) * _call(fn, k, n), axis=-1)
    after = np.sum(_call(fn, q, m + s) * _call(fn, k, n + s), axis=-1)
    scale = np.linalg.norm(q, axis=-1) * np.linalg.norm(k, axis=-1) * max(magnitude, 1.0) ** 2
    measured = float(np.max(np.abs(before - after) / scale))
    tolerance = float(2 * _tolerance(eps, n_axes * max_position * omega_max, 1.0))
    return Row("relative-position invariance", measured, tolerance,
               "scores change when both positions shift by the same amount")


def _orthogonality(fn, found: RopeIdentity, n_axes, eps, rng, max_position) -> Row:
    """Each pair is rotated and scaled, nothing else: ``M(p)^T M(p)`` is diagonal, equal
    within each pair, and 1 on pass-through features, at random positions."""
    positions = _positions_for(rng, 4, n_axes, max_position)
    matrices = probe_matrices(fn, found.head_dim, positions)
    gram = np.swapaxes(matrices, 1, 2) @ matrices
    expected = np.ones((len(positions), found.head_dim))
    for first, second in found.pairs if found.layout != "not pairwise" else ():
        scale = 0.5 * (gram[:, first, first] + gram[:, second, second])
        expected[:, first] = expected[:, second] = scale
    size = np.maximum(expected, 1.0)
    error = np.abs(gram - expected[:, :, None] * np.eye(found.head_dim)) / size[:, :, None]
    return Row("orthogonality (M^T M = m^2 I)", float(np.max(error)),
               float(_tolerance(eps, 0.0, 1.0)),
               "the map at a fixed position is not a rotation times a scale per pair")


def _error_curve(fn, reference: RopeConvention, n_axes, eps, rng, max_position) -> Curve:
    """Worst error against ``reference`` at positions 0, 1, 2, 4, ..., ``max_position``.

    At each grid value ``p`` a batch of random vectors is rotated at random integer
    positions in ``[0, p]`` per axis (the first at ``p`` on every axis). Errors are
    relative to the larger of ``|x|`` and ``|reference(x)|``.
    """
    grid = [0] + [2**j for j in range(int(np.log2(max_position)) + 1)]
    rows, positions = 8, []
    for p in grid:
        batch = _positions_for(rng, rows, n_axes, p)
        batch[0] = p
        positions.append(batch)
    positions = np.concatenate(positions)
    x = rng.standard_normal((positions.shape[0], reference.head_dim))
    expected = reference(x, _flat(positions))
    scale = np.maximum(np.linalg.norm(x, axis=-1), np.linalg.norm(expected, axis=-1))
    error = np.max(np.abs(_call(fn, x, positions) - expected), axis=-1) / scale
    error = error.reshape(len(grid), rows).max(axis=1)
    angle = np.abs(reference.angles(_flat(positions))).max(axis=-1).reshape(len(grid), rows)
    angle = angle.max(axis=1)
    tolerance = _tolerance(eps, angle, 1.0)
    return Curve("position", tuple(float(p) for p in grid), tuple(map(float, error)),
                 tuple(map(float, tolerance)))


def _flat(positions: np.ndarray) -> np.ndarray:
    """Positions ``(n, 1)`` as ``(n,)`` for 1-D conventions."""
    return positions[:, 0] if positions.shape[1] == 1 else positions


def _precision_fault(fn: Callable, found: RopeIdentity, reference: RopeConvention,
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
    if np.all(errors <= np.array(curve.tolerances)) or finite[-1] <= 10 * finite[1]:
        return None
    grid = np.array(curve.values[1:])[:, None] * np.ones(reference.n_axes)
    phase, _ = _pair_angles(probe_matrices(fn, found.head_dim, grid), found.pairs)
    expected = reference.angles(_flat(grid))
    large = np.abs(expected) >= 1.0
    if not large.any():
        return None
    relative = np.abs(_wrap(phase - expected))[large] / np.abs(expected[large])
    relative = float(np.max(relative[np.isfinite(relative)], initial=0.0))
    if not 1e-9 < relative < 0.05:
        return None
    name = min(ROUNDOFF, key=lambda k: abs(np.log(relative / (2 * ROUNDOFF[k]))))
    return (f"angles lose precision linearly with position (relative angle error "
            f"{relative:.1e}, unit roundoff of {name} {ROUNDOFF[name]:.1e}): consistent "
            f"with angles computed in {name}")


def _structural_faults(found: RopeIdentity, expected: RopeConvention) -> list[str]:
    """Disagreements of layout, rotary block, direction and offset with ``expected``."""
    if found.layout == "not pairwise":
        return [NOT_PAIRWISE]
    faults = []
    if found.layout != expected.layout:
        shape = {"interleaved": "(2k, 2k+1)", "half": "(k, k+P)"}
        faults.append(f"wrong layout: expected {expected.layout} pairs "
                      f"{shape.get(expected.layout, '')}, found {found.layout} pairs "
                      f"{shape.get(found.layout, list(found.pairs)[:4])}")
    if found.rotary_dim != expected.rotary_dim:
        faults.append(f"rotary dim: expected {expected.rotary_dim}, found {found.rotary_dim}")
    elif found.rotary_start != expected.rotary_start:
        faults.append(f"partial rotary on the wrong block: expected features "
                      f"[{expected.rotary_start}, {expected.rotary_start + expected.rotary_dim}),"
                      f" found [{found.rotary_start}, {found.rotary_start + found.rotary_dim})")
    if found.frequencies.size and np.all(np.sum(found.frequencies, axis=0) < 0):
        faults.append("rotation direction reversed: angles are -p omega (sign of sin flipped "
                      "or pairs swapped)")
    shift = np.asarray(found.offset) - np.asarray(expected.position_offset)
    if found.frequencies.size and np.any(np.abs(shift) > 1e-6):
        faults.append(f"positions off by {_plain(shift)}: the angle at position p is that of "
                      f"p + {_plain(shift)} in the expected convention")
    if expected.xpos_scale_base is not None:
        if found.magnitude_spread < 1e-6:
            faults.append("xPos: expected a magnitude that changes with the position, found "
                          "a constant one")
    elif found.magnitude_spread > 1e-6:
        faults.append(f"magnitude changes with the position (by {found.magnitude_spread:.2g} "
                      f"relative; xPos-like), expected a constant {expected.magnitude:.10g}")
    elif abs(found.magnitude - expected.magnitude) > 1e-6 * expected.magnitude:
        faults.append(f"magnitude (attention factor on cos and sin): expected "
                      f"{expected.magnitude:.10g}, found {found.magnitude:.10g}")
    return faults


def _frequency_faults(found: RopeIdentity, expected: RopeConvention,
                      eps: float) -> list[str]:
    """Disagreements of the frequency matrix with ``expected`` (same layout and width).

    Frequencies agreeing to ``max(1e-9, 16 eps)`` relative pass (probing reads them to
    about ``1e-13`` in float64).
    """
    measured, reference = np.abs(found.frequencies), np.abs(expected.frequencies)
    if measured.shape != reference.shape:
        return [f"frequencies: expected {reference.shape[0]} position axes with "
                f"{reference.shape[1]} pairs, found {measured.shape}"]
    if expected.n_axes > 1 and axis_labels(measured) != axis_labels(reference):
        return [f"axis assignment of pairs (M-RoPE sections / axial split): expected "
                f"[{axis_labels(reference)}], found [{axis_labels(measured)}]"]
    error = np.max(np.abs(measured - reference) / np.maximum(reference, 1e-300), initial=0.0,
                   where=reference > 0)
    if error <= max(1e-9, SAFETY * eps):
        return []
    for description, alternative in expected.alternatives:
        alt = np.atleast_2d(alternative)
        if np.max(np.abs(measured - alt) / np.maximum(alt, 1e-300)) <= 1e-6:
            return [f"frequencies match {description}, not the expected schedule"]
    if expected.n_axes == 1:
        base, scale, residual = geometric_fit(reference[0])
        if found.base is not None and residual < 1e-5:
            faults = []
            if abs(found.base - base) > 1e-5 * base:
                faults.append(f"wrong base: expected {base:.10g}, found {found.base:.10g}")
            if abs(found.scale - scale) > 1e-5 * scale:
                faults.append(f"position scale (linear interpolation factor): expected "
                              f"{scale:.10g}, found {found.scale:.10g}")
            if faults:
                return faults
    worst = np.unravel_index(np.argmax(np.where(reference > 0, np.abs(measured - reference)
                                                / np.maximum(reference, 1e-300), 0)),
                             reference.shape)
    rounding = [name for name, u in ROUNDOFF.items() if error <= 4 * u]
    kind = (f"rounded frequencies (inv_freq stored in {rounding[0]}?)" if rounding
            else "a different frequency schedule")
    return [f"frequencies differ from expected by up to {error:.2e} relative (axis "
            f"{worst[0]}, pair {worst[1]}: expected {reference[worst]:.10g}, found "
            f"{measured[worst]:.10g}): {kind}"]


def _expectation(fn: Callable, found: RopeIdentity, expect: RopeConvention | None,
                 eps: float) -> tuple[RopeConvention | None, list[str], list[Row]]:
    """The reference to compare with, the faults against ``expect``, and extra rows.

    Without ``expect`` the reference is the identified convention and position 0 must be
    the identity (a row); with it, every structural and frequency disagreement is a fault.
    """
    if expect is not None:
        faults = _structural_faults(found, expect)
        if found.layout == expect.layout and found.rotary_dim == expect.rotary_dim:
            faults += _frequency_faults(found, expect, eps)
        return expect, faults, []
    head_dim, n_axes = found.head_dim, found.frequencies.shape[0]
    identity = probe_matrices(fn, head_dim, np.zeros((1, n_axes)))[0] / found.magnitude
    row = Row("position 0 is the identity", float(np.max(np.abs(identity - np.eye(head_dim)))),
              float(_tolerance(eps, 0.0, 1.0)),
              "fn rotates at position 0: positions are offset (off by one?)")
    faults = [NOT_PAIRWISE] if found.layout == "not pairwise" else []
    if np.any(found.offset != 0):
        faults.append(f"positions off by {_plain(found.offset)}: position 0 is rotated by "
                      f"{_plain(found.offset)} x the frequencies")
    reference = found.convention() if found.layout in ("interleaved", "half") else None
    return reference, faults, [row]


def _agreement(curve: Curve, name: str) -> Row:
    """The curve's worst point (largest excess over its tolerance) as a row."""
    worst = int(np.argmax(np.array(curve.errors) - np.array(curve.tolerances)))
    return Row(f"agreement with {name}", curve.errors[worst], curve.tolerances[worst],
               f"worst at position {curve.values[worst]:g}; see the curve")


def _curve_faults(fn: Callable, found: RopeIdentity, reference: RopeConvention, curve: Curve,
                  faults: list[str]) -> list[str]:
    """Faults read from the curve: non-finite output, and (when nothing structural was
    found) a loss of angle precision."""
    named = []
    broken = [p for p, e in zip(curve.values, curve.errors) if not np.isfinite(e)]
    if broken:
        named.append(f"non-finite output from position {broken[0]:g} on (float16 positions "
                     f"overflow above 65504?)")
    precision = _precision_fault(fn, found, reference, curve)
    if precision and all("rounded frequencies" in f for f in faults):
        named.append(precision)
    return named


def check_rope(
    fn: Callable,
    *,
    head_dim: int,
    expect: RopeConvention | None = None,
    n_axes: int | None = None,
    dtype: str = "float64",
    framework: str | None = None,
    max_position: int = 2**17,
    rng: Any = 0,
) -> Report:
    """Identify and check a foreign RoPE function ``fn(x, positions) -> rotated x``.

    Parameters
    ----------
    fn : callable
        ``x`` has shape ``(rows, head_dim)``; positions have shape ``(rows,)``, or
        ``(rows, n_axes)`` for 2-D and M-RoPE; integer positions arrive as int64.
        Returns an array shaped like ``x``. For a q/k pair function use
        :func:`check_rope_pair`.
    head_dim : int
        Feature dimension ``D``.
    expect : RopeConvention, optional
        The convention ``fn`` should implement (a preset from
        :mod:`refimpl.testing.presets`). Every disagreement is reported as a named fault
        and the error curve is measured against it. Without it, the curve is measured
        against the identified convention and position 0 must be the identity.
    n_axes : int, optional
        Number of position axes (default: ``expect.n_axes``, else 1).
    dtype : {"float64", "float32", "float16", "bfloat16"}
        The precision ``fn`` claims; tolerances are ``16 eps (1 + |angle|)``.
    framework : {"numpy", "torch", "jax"}, optional
        Convert inputs to this framework's arrays before calling ``fn`` (outputs are
        converted back whatever they are); ``dtype`` is applied to ``x`` then.
    max_position : int
        Largest position of the error curve and the invariance test (default 2**17).
    rng : None, int or numpy.random.Generator
        Source of the random test vectors.

    Returns
    -------
    Report
        Identified conventions, rows for relative invariance, orthogonality, identity
        at position 0 and agreement with the reference, the error-by-position curve,
        and the named faults.

    Examples
    --------
    >>> from refimpl.testing.presets import gpt_neox
    >>> neox = gpt_neox(32, rotary_pct=0.5)
    >>> report = check_rope(neox, head_dim=32, expect=neox, max_position=1024)
    >>> report.passed, report.identified["layout"], report.identified["rotary dim"]
    (True, 'half', 16)
    """
    head_dim = as_int(head_dim, "head_dim", minimum=2)
    eps = EPSILON[check_choice(dtype, "dtype", tuple(EPSILON))]
    max_position = as_int(max_position, "max_position", minimum=1)
    n_axes = as_int(n_axes if n_axes is not None else (expect.n_axes if expect else 1),
                    "n_axes", minimum=1)
    generator = as_generator(rng)
    name = getattr(fn, "__name__", None) or getattr(fn, "name", "fn")
    fn = as_numpy_function(fn, framework, _cast(dtype, framework))
    found = identify_rope(fn, head_dim, n_axes)
    if not found.pairs:
        return Report(f"RoPE conformance of {name}", (Row("features rotated", 0.0, -1.0,
                      "fn rotates no pair of features"),), found.summary())
    omega_max = float(np.max(np.abs(found.frequencies), initial=1.0))
    rows = [_orthogonality(fn, found, n_axes, eps, generator, max_position)]
    if expect is None or expect.xpos_scale_base is None:  # one xPos side is not relative
        rows.insert(0, _relative_invariance(fn, head_dim, n_axes, eps, omega_max,
                                            found.magnitude, generator, max_position))
    reference, faults, origin = _expectation(fn, found, expect, eps)
    rows += origin
    curve = None
    if reference is not None:
        curve = _error_curve(fn, reference, n_axes, eps, generator, max_position)
        rows.append(_agreement(curve, reference.name))
        faults += _curve_faults(fn, found, reference, curve, faults)
    info = found.summary()
    if expect is not None:
        info["expected"] = f"{expect.name} {expect.parameters} ({expect.source})"
    return Report(f"RoPE conformance of {name}", tuple(rows), info, tuple(faults), curve)


def check_rope_pair(
    fn: Callable,
    *,
    head_dim: int,
    expect: RopeConvention | None = None,
    n_axes: int | None = None,
    dtype: str = "float64",
    framework: str | None = None,
    max_position: int = 2**17,
    rng: Any = 0,
) -> Report:
    """:func:`check_rope` for the q/k pair form ``fn(q, k, positions) -> (q_rot, k_rot)``.

    This is the shape of Hugging Face's ``apply_rotary_pos_emb(q, k, cos, sin)`` once the
    cos/sin tables are computed from the positions inside ``fn``. Each side is identified
    and checked as in :func:`check_rope` (rows and faults prefixed ``q:`` and ``k:``), and
    the pair must satisfy relative-position invariance of the scores
    ``<q_rot(m), k_rot(n)>``. Arguments as in :func:`check_rope`.

    Examples
    --------
    >>> from refimpl.testing.presets import hugging_face
    >>> hf = hugging_face(16)
    >>> check_rope_pair(lambda q, k, p: (hf(q, p), hf(k, p)), head_dim=16, expect=hf,
    ...                 max_position=256).passed
    True
    """
    generator = as_generator(rng)
    expected = (expect, expect.keys() if expect is not None else None)
    sides = [check_rope(lambda x, p, i=i: fn(x, x, p)[i], head_dim=head_dim, expect=expected[i],
                        n_axes=n_axes, dtype=dtype, framework=framework,
                        max_position=max_position, rng=generator) for i in (0, 1)]
    numpy_fn = as_numpy_function(fn, framework, _cast(dtype, framework))
    axes = as_int(n_axes if n_axes is not None else (expect.n_axes if expect else 1),
                  "n_axes", minimum=1)
    count, half = 32, max_position // 2
    q, k = generator.standard_normal((2, count, head_dim))
    m, n, s = (_positions_for(generator, count, axes, half) for _ in range(3))

    def scores(q_positions: np.ndarray, k_positions: np.ndarray) -> np.ndarray:
        q_rotated = numpy_fn(q, k, _integer_or_real(q_positions))[0]
        k_rotated = numpy_fn(q, k, _integer_or_real(k_positions))[1]
        return np.sum(q_rotated * k_rotated, axis=-1)

    scale = np.linalg.norm(q, axis=-1) * np.linalg.norm(k, axis=-1)
    omega = max(float(np.max(np.abs(np.atleast_1d(report.identified.get("frequencies", 0.0)))))
                for report in sides)
    invariance = Row("q/k scores: relative-position invariance",
                     float(np.max(np.abs(scores(m, n) - scores(m + s, n + s)) / scale)),
                     float(2 * _tolerance(EPSILON[dtype], axes * max_position * omega, 1.0)),
                     "<q_rot(m), k_rot(n)> changes when m and n shift together")
    rows = tuple(Row(f"{side}: {row.name}", row.measured, row.tolerance, row.detail)
                 for side, report in zip("qk", sides) for row in report.rows) + (invariance,)
    faults = tuple(f"{side}: {fault}" for side, report in zip("qk", sides)
                   for fault in report.faults)
    info = dict(sides[0].identified)
    if sides[1].identified.get("layout") != info.get("layout"):
        info["k layout"] = sides[1].identified.get("layout")
    name = getattr(fn, "__name__", "fn")
    return Report(f"RoPE q/k pair conformance of {name}", rows, info, faults, sides[0].curve)
