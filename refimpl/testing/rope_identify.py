"""Identify a foreign rotary embedding by probing it with the identity matrix.

A RoPE implementation is a linear map of ``x`` for each position, so feeding it the
identity matrix at a position ``p`` reads off its ``D x D`` rotation ``M(p)`` column by
column. From a handful of such probes :func:`identify_rope` recovers everything that
distinguishes the published conventions (Su et al., "RoFormer: Enhanced Transformer with
Rotary Position Embedding", 2021, arXiv:2104.09864, and the implementations named in
:mod:`refimpl.testing.presets`):

* the **pairs**: which two features each rotation mixes, hence the layout
  (interleaved ``(2k, 2k+1)``, half ``(k, k+P)``, or other), the rotary dimension and
  the block it occupies (partial rotary);
* the **frequencies** ``F[a, k]`` of each position axis ``a`` and pair ``k``, read from
  the angle ``atan2(M[second, first], M[first, first])`` at positions ``1, 2, 4, ...,
  1024`` (never beyond ``max_position``) with phase unwrapping (this assumes
  ``|omega| < pi``, half a turn per step); for 1-D a weighted fit of ``log omega_k``
  against ``k`` gives the base and the position scale;
* the **position offset** (angles at position 0, e.g. Llama-4 vision's 1-based
  positions, or an off-by-one bug) and the **magnitude** (Hugging Face's attention
  factor multiplies cos and sin).

Every threshold follows the claimed precision (:mod:`refimpl.testing._tolerance`): an
output rounded to bfloat16 reads its angles to about ``2^-8`` radians, so a frequency
read at position ``p`` is known to ``2^-8 / p``, and the magnitude to ``2^-8``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl._validation import as_int
from refimpl.testing._tolerance import SAFETY, angle_precision, epsilon, frequency_uncertainty
from refimpl.testing.presets import RopeConvention

#: Largest position at which frequencies are read, by phase unwrapping from 1 upwards.
LAST_FREQUENCY_PROBE = 1024

#: The fault named when features mix beyond pairs.
NOT_PAIRWISE = ("not a pairwise rotation: some input features reach more than two output "
                "features (a permuted output, e.g. DeepSeek's interleaved-in / half-out order, "
                "or a change of basis)")

#: Relative deviation from one geometric series below which frequencies count as one
#: (the default schedule and linear interpolation), whatever the claimed precision.
GEOMETRIC_FLOOR = 1e-5

__all__ = ["RopeIdentity", "identify_rope", "probe_positions", "probe_matrices",
           "call_rope", "integer_or_real", "pair_angles", "geometric_fit", "axis_labels",
           "wrap", "plain", "offset_slack", "find_pairs", "name_layout",
           "unwrapped_frequency", "snap", "NOT_PAIRWISE", "GEOMETRIC_FLOOR"]


@dataclass(frozen=True, eq=False)
class RopeIdentity:
    """What probing found about a RoPE function (see :func:`identify_rope`).

    ``pairs[k] = (first, second)`` are the features pair ``k`` mixes, in layout order;
    ``frequencies`` has shape ``(n_axes, P)`` (signed: negative means the rotation runs
    backwards); ``uncertainty`` (same shape) is the relative precision each frequency is
    known to; ``offset`` is the position the function treats as the origin shift (angles
    at position 0 are ``offset @ frequencies``); ``base`` and ``scale`` are set when the
    1-D frequencies are one geometric series ``omega_k = base^(-2k/R) / scale``;
    ``input_eps`` is the claimed input precision the thresholds used.
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
    uncertainty: np.ndarray | None = None
    input_eps: float = 2.0**-52

    @property
    def rotary_dim(self) -> int:
        """Number of rotated features, ``2 P``."""
        return 2 * len(self.pairs)

    @property
    def offset_tolerance(self) -> np.ndarray:
        """Per axis, the position shift attributable to rounding (:func:`offset_slack`)."""
        return offset_slack(self.frequencies, self.input_eps)

    @property
    def magnitude_tolerance(self) -> float:
        """Relative magnitude change attributable to rounding: ``SAFETY eps_in``."""
        return SAFETY * self.input_eps

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
        info["position offset"] = plain(self.offset)
        info["magnitude"] = self.magnitude if self.magnitude_spread <= self.magnitude_tolerance \
            else f"varies with the position (median {self.magnitude:.6g})"
        return info

    def convention(self) -> RopeConvention:
        """The reference convention these findings describe (interleaved or half only)."""
        frequencies = self.frequencies
        if self.base is not None and self.scale is not None:
            k = np.arange(len(self.pairs))
            frequencies = (self.base ** (-2.0 * k / self.rotary_dim) / self.scale)[None]
        return RopeConvention("identified", self.head_dim, frequencies, self.layout,
                              rotary_start=self.rotary_start, magnitude=self.magnitude,
                              position_offset=tuple(float(c) for c in self.offset))


def plain(values: Any) -> Any:
    """A 1-element array as a float, longer ones as a list of floats."""
    flat = [float(v) for v in np.ravel(values)]
    return flat[0] if len(flat) == 1 else flat


def axis_labels(frequencies: np.ndarray) -> str:
    """Run-length text of which axis drives each pair, e.g. ``"0x16 1x24 2x24"``.

    A pair driven by several axes (RoPE-Mixed) is labelled ``m``; one driven by none
    ``-``. This is how M-RoPE sections are compared: chunked ``[16, 24, 24]`` reads
    ``0x16 1x24 2x24`` and Qwen3-VL's interleaved map reads ``0 1 2 0 1 2 ...``.

    Examples
    --------
    >>> axis_labels(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    '0x2 1'
    """
    nonzero = np.abs(frequencies) > 0
    labels = []
    for column in nonzero.T:
        labels.append(str(int(np.argmax(column))) if column.sum() == 1
                      else ("m" if column.sum() > 1 else "-"))
    runs: list[tuple[str, int]] = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1] = (label, runs[-1][1] + 1)
        else:
            runs.append((label, 1))
    return " ".join(f"{label}x{count}" if count > 1 else label for label, count in runs)


def wrap(theta: np.ndarray) -> np.ndarray:
    """Angles wrapped into ``[-pi, pi)``."""
    return (theta + np.pi) % (2.0 * np.pi) - np.pi


def integer_or_real(positions: np.ndarray) -> np.ndarray:
    """Positions ``(n, n_axes)`` as passed to a foreign function: ``(n,)`` for one axis,
    int64 when every value is an integer (so table-indexing implementations work)."""
    rows = positions[:, 0] if positions.shape[1] == 1 else positions
    return rows.astype(np.int64) if np.all(rows == np.round(rows)) else rows


def call_rope(fn: Callable[..., Any], x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``fn(x, positions)`` as float64, positions converted by :func:`integer_or_real`.

    Floating-point warnings of the foreign function (a float16 position overflowing) are
    silenced: the non-finite output they announce is what the report flags.
    """
    with np.errstate(all="ignore"):
        out = np.asarray(fn(x, integer_or_real(positions)), dtype=np.float64)
    if out.shape != x.shape:
        raise ValueError(f"fn returned shape {out.shape} for x of shape {x.shape}; a RoPE "
                         f"function must return an array shaped like x (for a q/k pair "
                         f"function use check_rope_pair)")
    return out


def probe_matrices(fn: Callable[..., Any], head_dim: int, positions: np.ndarray) -> np.ndarray:
    """The matrices ``M(p)`` with ``M(p)[:, j] = fn(e_j, p)``, for each row of ``positions``.

    ``positions`` has shape ``(n, n_axes)``; one call of ``fn`` evaluates all of them
    (``n * head_dim`` rows of the identity).
    """
    n = positions.shape[0]
    x = np.tile(np.eye(head_dim), (n, 1))
    out = call_rope(fn, x, np.repeat(positions, head_dim, axis=0))
    return np.swapaxes(out.reshape(n, head_dim, head_dim), 1, 2)


def probe_positions(max_position: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(frequency probes, extra probes)``, none beyond ``max_position``.

    Frequencies are read at ``1, 2, 4, ...`` up to ``min(1024, max_position)``; the extra
    probes (997, an odd position, and ``max_position`` itself, where slow pairs have turned
    furthest and xPos has scaled most) only help find the pairs and the magnitude.
    """
    top = min(LAST_FREQUENCY_PROBE, max_position)
    frequency = tuple(2**j for j in range(int(np.log2(top)) + 1))
    extra = tuple(p for p in (997, max_position) if p <= max_position and p not in frequency)
    return frequency, tuple(sorted(set(extra)))


def find_pairs(matrices: np.ndarray, input_eps: float
               ) -> tuple[tuple[tuple[int, int], ...], bool]:
    """The feature pairs mixed by the probes, and whether each column mixes one partner only.

    Each column is scaled by its largest entry first, so a magnitude that changes with
    the position (xPos) does not hide the pairs of small columns. An entry counts as a
    link above ``max(1e-10, eps_in / 2)`` (half an ulp at 1 of the input dtype); a column
    is clean when its second-strongest link is below ``max(1e-6, eps_in)`` times its
    strongest.
    """
    columns = np.nan_to_num(np.abs(matrices), nan=0.0, posinf=0.0)
    columns /= np.maximum(np.max(columns, axis=1, keepdims=True), 1e-300)
    off = np.max(columns, axis=0)
    np.fill_diagonal(off, 0.0)
    moved = off.max(axis=0) > max(1e-10, input_eps / 2)
    partner = np.argmax(off, axis=0)
    pairs: set[tuple[int, int]] = set()
    clean = True
    for j in np.flatnonzero(moved):
        k = int(partner[j])
        second = np.partition(off[:, j], -2)[-2]
        clean &= bool(moved[k] and partner[k] == j
                      and second <= max(1e-6, input_eps) * off[k, j])
        pairs.add((min(int(j), k), max(int(j), k)))
    return tuple(sorted(pairs)), clean


def name_layout(pairs: tuple[tuple[int, int], ...], clean: bool
                ) -> tuple[str, tuple[tuple[int, int], ...], int]:
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


def pair_angles(matrices: np.ndarray, pairs: tuple[tuple[int, int], ...]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Angle and magnitude of every pair in every probe matrix: shapes ``(n, P)``."""
    first = np.array([a for a, _ in pairs], dtype=int)
    second = np.array([c for _, c in pairs], dtype=int)
    cosine = matrices[:, first, first]
    sine = matrices[:, second, first]
    return np.arctan2(sine, cosine), np.hypot(sine, cosine)


def unwrapped_frequency(phases: np.ndarray, phase0: np.ndarray,
                        positions: tuple[int, ...]) -> np.ndarray:
    """Frequencies from phases at ``positions`` (1, 2, 4, ...), unwrapping by doubling."""
    omega = wrap(phases[0] - phase0) / positions[0]
    for phase, p in zip(phases[1:], positions[1:], strict=True):
        delta = wrap(phase - phase0)
        omega = (delta + 2.0 * np.pi * np.round((omega * p - delta) / (2.0 * np.pi))) / p
    return omega


def snap(value: float, rtol: float = 1e-5) -> float:
    """``value`` rounded to 4 significant digits when that moves it by less than ``rtol``."""
    rounded = float(f"{value:.4g}")
    return rounded if abs(rounded - value) <= rtol * abs(value) else value


def geometric_fit(omega: np.ndarray, uncertainty: np.ndarray | None = None
                  ) -> tuple[float, float, float]:
    """Fit ``omega_k = base^(-2k/R) / scale`` (``R = 2 len(omega)``) in log space.

    Each ``log omega_k`` is weighted by ``1 / uncertainty_k`` (its relative precision;
    default equal weights). Returns ``(base, scale, misfit)``, the misfit being the
    largest deviation of ``log omega_k`` from the line in units of
    ``max(GEOMETRIC_FLOOR, SAFETY uncertainty_k)``: at most 1 for the default schedule and
    for linear interpolation, large for YaRN, llama3 or LongRoPE.

    Examples
    --------
    >>> base, scale, misfit = geometric_fit(10000.0 ** -(np.arange(4) / 4) / 2)
    >>> round(base, 6), round(scale, 6), misfit <= 1
    (10000.0, 2.0, True)
    """
    k = np.arange(omega.size, dtype=np.float64)
    if omega.size < 2 or np.any(~np.isfinite(omega)) or np.any(omega <= 0):
        return float("nan"), float("nan"), float("inf")
    sigma = np.zeros(omega.size) if uncertainty is None else np.asarray(uncertainty, float)
    allowed = np.maximum(GEOMETRIC_FLOOR, SAFETY * sigma)
    slope, intercept = np.polyfit(k, np.log(omega), 1, w=1.0 / allowed)
    misfit = float(np.max(np.abs(np.log(omega) - (intercept + slope * k)) / allowed))
    return float(np.exp(-slope * omega.size)), float(np.exp(-intercept)), misfit


def identify_rope(fn: Callable[..., Any], head_dim: int, n_axes: int = 1, *,
                  dtype: str = "float64", angle_dtype: str | None = None,
                  max_position: int = 2**17) -> RopeIdentity:
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
    dtype, angle_dtype : str
        The claimed precision of inputs and tables, and of the angles
        (:func:`refimpl.testing._tolerance.angle_precision`); they set the thresholds.
    max_position : int
        No probe goes beyond this position (table-based implementations).

    Returns
    -------
    RopeIdentity

    Examples
    --------
    >>> from refimpl.testing.presets import gpt_j
    >>> found = identify_rope(gpt_j(16, 8), 16, max_position=2047)
    >>> found.layout, found.rotary_dim, found.base
    ('interleaved', 8, 10000.0)
    """
    head_dim = as_int(head_dim, "head_dim", minimum=1)
    n_axes = as_int(n_axes, "n_axes", minimum=1)
    max_position = as_int(max_position, "max_position", minimum=1)
    input_eps = epsilon(dtype)
    angle_eps = epsilon(angle_precision(dtype, angle_dtype), "angle_dtype")
    frequency_probes, extra = probe_positions(max_position)
    probes = [np.zeros(n_axes)]
    for axis in range(n_axes):
        probes += [p * np.eye(n_axes)[axis] for p in frequency_probes + extra]
    matrices = probe_matrices(fn, head_dim, np.array(probes))
    found_pairs, clean = find_pairs(matrices, input_eps)
    layout, pairs, start = name_layout(found_pairs, clean)
    if not pairs or not clean:  # nothing rotates, or features mix beyond pairs
        return RopeIdentity(head_dim, pairs, "none" if not pairs else "not pairwise", 0,
                            np.zeros((n_axes, 0)), np.zeros(n_axes), 1.0, 0.0,
                            input_eps=input_eps)
    phases, magnitudes = pair_angles(matrices, pairs)
    per_axis = len(frequency_probes) + len(extra)
    frequencies = np.array([
        unwrapped_frequency(phases[1 + a * per_axis: 1 + a * per_axis + len(frequency_probes)],
                            phases[0], frequency_probes) for a in range(n_axes)])
    uncertainty = frequency_uncertainty(input_eps, angle_eps, frequencies, frequency_probes[-1])
    offset = _offset(frequencies, phases[0], input_eps)
    magnitude = float(np.median(magnitudes))
    spread = float(np.max(np.abs(magnitudes - magnitude)) / max(magnitude, 1e-300))
    base = scale = None
    if n_axes == 1 and layout in ("interleaved", "half"):
        fit_base, fit_scale, misfit = geometric_fit(frequencies[0], uncertainty[0])
        if misfit <= 1.0:
            rtol = max(GEOMETRIC_FLOOR, SAFETY * float(np.min(uncertainty)))
            base, scale = snap(fit_base, rtol), snap(fit_scale, rtol)
    return RopeIdentity(head_dim, pairs, layout, start, frequencies, offset,
                        snap(magnitude, max(1e-9, 2 * input_eps)), spread, base, scale,
                        uncertainty, input_eps)


def offset_slack(frequencies: np.ndarray, input_eps: float) -> np.ndarray:
    """``max(1e-6, SAFETY eps_in / |omega_a|)`` per axis ``a``: how far from an integer a
    position shift read from phases rounded to ``eps_in`` may be by rounding alone."""
    norm = np.maximum(np.linalg.norm(frequencies, axis=1), 1e-300)
    return np.maximum(1e-6, SAFETY * input_eps / norm)


def _offset(frequencies: np.ndarray, phase0: np.ndarray, input_eps: float) -> np.ndarray:
    """The position shift whose angles are the phases at position 0, by least squares.

    The phases are read to about ``eps_in`` each, so the shift is known to about
    ``eps_in / |omega|`` per axis; a shift within ``max(1e-6, SAFETY eps_in / |omega|)``
    of an integer is rounded to it.
    """
    offset, *_ = np.linalg.lstsq(frequencies.T, phase0, rcond=None)
    slack = offset_slack(frequencies, input_eps)
    return np.where(np.abs(offset - np.round(offset)) < slack, np.round(offset), offset) + 0.0
