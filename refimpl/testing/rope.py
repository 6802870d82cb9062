"""RoPE conformance: identify a foreign rotary embedding by probing it, then check it.

:func:`check_rope` probes ``fn(x, positions)``
(:func:`~refimpl.testing.rope_identify.identify_rope`: pairs, layout, rotary block,
frequencies, base and position scale, offset, magnitude), then checks that the output of a
row depends neither on the other rows of the call (two batch sizes) nor on earlier calls,
relative-position invariance of the scores (Su et al., "RoFormer: Enhanced Transformer with
Rotary Position Embedding", 2021, arXiv:2104.09864, eq. 16) and orthogonality, compares the
function with a reference convention (an expected preset from
:mod:`refimpl.testing.presets`, or the one identified) over positions ``0, 1, 2, 4, ...,
max_position`` and reports the worst error at each position: float32 angles show up as a
curve that grows linearly with the position. Every disagreement with an expected preset
becomes a named fault (:mod:`refimpl.testing.rope_faults`), all of them, not only the first.

Tolerances follow the claimed precision, separately for the inputs (``dtype``: ``x``, the
cos/sin tables, the output) and for the angles (``angle_dtype``), by the rule of
:mod:`refimpl.testing._tolerance`: ``SAFETY (eps_in + eps_angle |angle|)`` per rotated
entry. :func:`check_rope_pair` does the same for ``fn(q, k, positions)`` and also checks
the scores of the pair, which covers xPos (queries and keys scaled oppositely).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl._validation import as_generator, as_int, check_choice
from refimpl.testing._tolerance import (
    EPSILON,
    ROUNDOFF,
    SAFETY,
    angle_precision,
    epsilon,
    rotation_tolerance,
)
from refimpl.testing.adapters import TENSOR_LAYOUTS, as_numpy_function, rows_as_tensor
from refimpl.testing.presets import RopeConvention
from refimpl.testing.report import Curve, Report, Row
from refimpl.testing.rope_faults import (
    BATCH_DEPENDENT,
    STATEFUL,
    curve_faults,
    frequency_faults,
    structural_faults,
)
from refimpl.testing.rope_identify import (
    NOT_PAIRWISE,
    RopeIdentity,
    call_rope,
    identify_rope,
    integer_or_real,
    plain,
    probe_matrices,
)

__all__ = ["EPSILON", "ROUNDOFF", "SAFETY", "RopeIdentity", "identify_rope", "check_rope",
           "check_rope_pair", "ROPE_CALL_HINT", "PAIR_CALL_HINT"]

#: What a user whose function does not take ``(x, positions)`` should do instead.
ROPE_CALL_HINT = ("check_rope calls fn(x, positions) with x of shape (rows, head_dim) and "
                  "positions of shape (rows,) (or (rows, n_axes)); for a q/k pair function "
                  "fn(q, k, positions) use check_rope_pair; for Hugging Face's "
                  "apply_rotary_pos_emb(q, k, cos, sin) wrap it with "
                  "refimpl.testing.adapters.cos_sin_pair(apply_rotary_pos_emb, rotary_emb) "
                  "and use check_rope_pair; for (B, H, T, D) inputs pass tensor_layout='BHTD'")

#: The same for :func:`check_rope_pair`.
PAIR_CALL_HINT = ("check_rope_pair calls fn(q, k, positions) and expects (q_rot, k_rot); for "
                  "Hugging Face's apply_rotary_pos_emb(q, k, cos, sin) wrap it with "
                  "refimpl.testing.adapters.cos_sin_pair(apply_rotary_pos_emb, rotary_emb); "
                  "for fn(x, positions) use check_rope")


@dataclass(frozen=True)
class _Setting:
    """What every probe of one check shares: the claim, the sizes, the randomness."""

    head_dim: int
    n_axes: int
    input_eps: float
    angle_eps: float
    max_position: int
    rng: np.random.Generator

    def tolerance(self, angle: Any, magnitude: float = 1.0) -> np.ndarray:
        """:func:`refimpl.testing._tolerance.rotation_tolerance` for this claim."""
        return rotation_tolerance(self.input_eps, self.angle_eps, angle, magnitude)

    def positions(self, count: int, high: int) -> np.ndarray:
        """``count`` random integer positions in ``[0, high]`` per axis: ``(count, n_axes)``."""
        return self.rng.integers(0, high + 1, size=(count, self.n_axes)).astype(np.float64)


def _batch_rows(fn: Callable[..., Any], setting: _Setting) -> tuple[list[Row], list[str]]:
    """The same rows alone, inside a larger call, and alone again must agree.

    Eight rows at positions up to ``max_position // 4`` are rotated alone, then with eight
    more rows up to ``max_position`` (the first exactly there), then alone again. A
    function whose angles are a function of its own row only gives the same output up to
    the rounding of its inputs, ``SAFETY eps_in``.
    """
    x = setting.rng.standard_normal((16, setting.head_dim))
    small = setting.positions(8, max(1, setting.max_position // 4))
    large = setting.positions(8, setting.max_position)
    large[0] = setting.max_position
    alone = call_rope(fn, x[:8], small)
    together = call_rope(fn, x, np.concatenate([small, large]))[:8]
    again = call_rope(fn, x[:8], small)
    scale = np.linalg.norm(x[:8], axis=-1, keepdims=True)
    tolerance = float(setting.tolerance(0.0))
    batch = float(np.max(np.abs(alone - together) / scale))
    state = float(np.max(np.abs(alone - again) / scale))
    rows = [Row("batch independence (two batch sizes)", batch, tolerance,
                "a row's output depends on the other rows of the call"),
            Row("no state across calls", state, tolerance,
                "fn remembers earlier calls")]
    faults = ([BATCH_DEPENDENT] if not batch <= tolerance else []) + \
        ([STATEFUL] if not state <= tolerance else [])
    return rows, faults


def _relative_invariance(fn: Callable[..., Any], setting: _Setting, omega_max: float,
                         magnitude: float) -> Row:
    """``<f(q, m), f(k, n)> = <f(q, m+s), f(k, n+s)>`` on random vectors and positions.

    Each rotated vector carries ``SAFETY (eps_in + eps_angle |angle|)`` relative error
    (per pair, so the score's error is that times ``|q| |k|`` by Cauchy-Schwarz); the
    difference of two scores allows twice that, at the largest angle
    ``n_axes max_position omega_max``, with ``omega_max`` the largest identified
    frequency floored at 1 (a conservative floor: a slow schedule is allowed the rounding
    of angles up to ``n_axes max_position``).
    """
    half = setting.max_position // 2
    q, k = setting.rng.standard_normal((2, 32, setting.head_dim))
    m, n, s = (setting.positions(32, half) for _ in range(3))
    before = np.sum(call_rope(fn, q, m) * call_rope(fn, k, n), axis=-1)
    after = np.sum(call_rope(fn, q, m + s) * call_rope(fn, k, n + s), axis=-1)
    scale = np.linalg.norm(q, axis=-1) * np.linalg.norm(k, axis=-1) * max(magnitude, 1.0) ** 2
    angle = setting.n_axes * setting.max_position * omega_max
    return Row("relative-position invariance", float(np.max(np.abs(before - after) / scale)),
               float(2 * setting.tolerance(angle)),
               "scores change when both positions shift by the same amount")


def _orthogonality(fn: Callable[..., Any], found: RopeIdentity, setting: _Setting) -> Row:
    """Each pair is rotated and scaled, nothing else: ``M(p)^T M(p)`` is diagonal, equal
    within each pair, and 1 on pass-through features, at random positions. The entries of
    ``M`` are rounded to the input dtype: ``SAFETY eps_in``."""
    positions = setting.positions(4, setting.max_position)
    matrices = probe_matrices(fn, found.head_dim, positions)
    gram = np.swapaxes(matrices, 1, 2) @ matrices
    expected = np.ones((len(positions), found.head_dim))
    for first, second in found.pairs if found.layout != "not pairwise" else ():
        scale = 0.5 * (gram[:, first, first] + gram[:, second, second])
        expected[:, first] = expected[:, second] = scale
    size = np.maximum(expected, 1.0)
    error = np.abs(gram - expected[:, :, None] * np.eye(found.head_dim)) / size[:, :, None]
    return Row("orthogonality (M^T M = m^2 I)", float(np.max(error)),
               float(setting.tolerance(0.0)),
               "the map at a fixed position is not a rotation times a scale per pair")


def _error_curve(fn: Callable[..., Any], reference: RopeConvention, setting: _Setting) -> Curve:
    """Worst error against ``reference`` at positions 0, 1, 2, 4, ..., ``max_position``.

    At each grid value ``p`` a batch of random vectors is rotated at random integer
    positions in ``[0, p]`` per axis (the first at ``p`` on every axis). Errors are
    relative to the larger of ``|x|`` and ``|reference(x)|``; the tolerance at ``p`` is
    ``SAFETY (eps_in + eps_angle |angle|)`` at the largest angle of the batch.
    """
    top = setting.max_position
    grid = [0] + [2**j for j in range(int(np.log2(top)) + 1)] + ([top] if top & (top - 1)
                                                                  else [])
    count, batches = 8, []
    for p in grid:
        batch = setting.positions(count, p)
        batch[0] = p
        batches.append(batch)
    positions = np.concatenate(batches)
    flat = positions[:, 0] if setting.n_axes == 1 else positions
    x = setting.rng.standard_normal((positions.shape[0], reference.head_dim))
    expected = reference(x, flat)
    scale = np.maximum(np.linalg.norm(x, axis=-1), np.linalg.norm(expected, axis=-1))
    error = np.max(np.abs(call_rope(fn, x, positions) - expected), axis=-1) / scale
    worst = error.reshape(len(grid), count).max(axis=1)
    angle = np.abs(reference.angles(flat)).max(axis=-1).reshape(len(grid), count).max(axis=1)
    return Curve("position", tuple(float(p) for p in grid), tuple(map(float, worst)),
                 tuple(map(float, setting.tolerance(angle))))


def _agreement(curve: Curve, name: str) -> Row:
    """The curve's worst point (largest excess over its tolerance) as a row."""
    worst = int(np.argmax(np.array(curve.errors) - np.array(curve.tolerances)))
    return Row(f"agreement with {name}", curve.errors[worst], curve.tolerances[worst],
               f"worst at position {curve.values[worst]:g}; see the curve")


def _expectation(fn: Callable[..., Any], found: RopeIdentity, expect: RopeConvention | None,
                 setting: _Setting) -> tuple[RopeConvention | None, list[str], list[Row]]:
    """The reference to compare with, the faults against ``expect``, and extra rows.

    Without ``expect`` the reference is the identified convention and position 0 must be
    the identity (a row); with it, every structural and frequency disagreement is a fault.
    """
    if expect is not None:
        return expect, structural_faults(found, expect) + frequency_faults(found, expect), []
    identity = probe_matrices(fn, found.head_dim, np.zeros((1, setting.n_axes)))[0]
    identity = identity / found.magnitude
    row = Row("position 0 is the identity",
              float(np.max(np.abs(identity - np.eye(found.head_dim)))),
              float(setting.tolerance(0.0)),
              "fn rotates at position 0: positions are offset (off by one?)")
    faults = [NOT_PAIRWISE] if found.layout == "not pairwise" else []
    if np.any(found.offset != 0):
        faults.append(f"positions off by {plain(found.offset)}: position 0 is rotated by "
                      f"{plain(found.offset)} x the frequencies")
    reference = found.convention() if found.layout in ("interleaved", "half") else None
    return reference, faults, [row]


def _rope_report(fn: Callable[..., Any], name: str, expect: RopeConvention | None,
                 setting: _Setting, dtype: str, angle_dtype: str) -> Report:
    """The whole check on a NumPy-in, NumPy-out ``fn`` (see :func:`check_rope`)."""
    rows, faults = _batch_rows(fn, setting)
    found = identify_rope(fn, setting.head_dim, setting.n_axes, dtype=dtype,
                          angle_dtype=angle_dtype, max_position=setting.max_position)
    claim = {"claimed precision": f"inputs {dtype}, angles {angle_dtype}"}
    if not found.pairs:
        return Report(f"RoPE conformance of {name}", (Row("features rotated", 0.0, -1.0,
                      "fn rotates no pair of features"), *rows), {**found.summary(), **claim},
                      tuple(faults))
    omega_max = float(np.max(np.abs(found.frequencies), initial=1.0))
    rows.append(_orthogonality(fn, found, setting))
    if expect is None or expect.xpos_scale_base is None:  # one xPos side is not relative
        rows.insert(2, _relative_invariance(fn, setting, omega_max, found.magnitude))
    reference, named, origin = _expectation(fn, found, expect, setting)
    rows += origin
    faults += named
    curve = None
    if reference is not None:
        curve = _error_curve(fn, reference, setting)
        rows.append(_agreement(curve, reference.name))
        faults += curve_faults(fn, found, reference, curve, named)
    info = {**found.summary(), **claim}
    if expect is not None:
        info["expected"] = f"{expect.name} {expect.parameters} ({expect.source})"
    return Report(f"RoPE conformance of {name}", tuple(rows), info, tuple(faults), curve)


def _setting(head_dim: int, expect: RopeConvention | None, n_axes: int | None, dtype: str,
             angle_dtype: str | None, max_position: int, rng: Any) -> tuple[_Setting, str]:
    """Validate the common arguments of the two checks."""
    head_dim = as_int(head_dim, "head_dim", minimum=2)
    angles = angle_precision(dtype, angle_dtype)
    axes = as_int(n_axes if n_axes is not None else (expect.n_axes if expect else 1),
                  "n_axes", minimum=1)
    return _Setting(head_dim, axes, epsilon(dtype), epsilon(angles, "angle_dtype"),
                    as_int(max_position, "max_position", minimum=1), as_generator(rng)), angles


def _cast(dtype: str, framework: str | None) -> str | None:
    """The dtype to cast ``x`` to before calling a foreign function (None: keep float64).

    NumPy has no bfloat16, so a NumPy function claiming bfloat16 gets float32 input.
    """
    if dtype == "float64":
        return None
    return "float32" if dtype == "bfloat16" and framework in (None, "numpy") else dtype


def check_rope(
    fn: Callable[..., Any],
    *,
    head_dim: int,
    expect: RopeConvention | None = None,
    n_axes: int | None = None,
    dtype: str = "float64",
    angle_dtype: str | None = None,
    framework: str | None = None,
    tensor_layout: str = "rows",
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
        :func:`check_rope_pair`; for ``(B, H, T, D)`` inputs set ``tensor_layout``.
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
        The precision ``fn`` claims for its inputs, tables and output; ``x`` is cast to
        it (NumPy: bfloat16 becomes float32).
    angle_dtype : {"float64", "float32", "float16", "bfloat16"}, optional
        The precision ``fn`` claims for its angles (default: ``dtype``, but at least
        float32, as Hugging Face and Meta compute angles). Tolerances are
        ``16 (eps_in + eps_angle |angle|)`` (:mod:`refimpl.testing._tolerance`).
    framework : {"numpy", "torch", "jax"}, optional
        Convert inputs to this framework's arrays before calling ``fn`` (outputs are
        converted back whatever they are). By default ``fn`` receives NumPy arrays.
    tensor_layout : {"rows", "BHTD", "BTHD"}
        ``"BHTD"``: ``fn`` takes ``x`` of shape ``(batch, heads, tokens, head_dim)``
        (``"BTHD"``: heads after tokens) and positions ``(batch, tokens)``; the kit calls
        it with one batch and one head (:func:`refimpl.testing.adapters.rows_as_tensor`).
    max_position : int
        Largest position passed to ``fn`` by any probe (default 2**17); set it below the
        size of a position table (GPT-J: 2047).
    rng : None, int or numpy.random.Generator
        Source of the random test vectors.

    Returns
    -------
    Report
        Identified conventions, rows for batch independence, relative invariance,
        orthogonality, identity at position 0 and agreement with the reference, the
        error-by-position curve, and every named fault.

    Raises
    ------
    TypeError
        ``fn`` cannot be called as ``fn(x, positions)`` (the message says what to use).
    refimpl.testing.adapters.ForeignError
        ``fn`` raised; the message shows the call the kit made.

    Examples
    --------
    >>> from refimpl.testing.presets import gpt_neox
    >>> neox = gpt_neox(32, rotary_pct=0.5)
    >>> report = check_rope(neox, head_dim=32, expect=neox, max_position=1024)
    >>> report.passed, report.identified["layout"], report.identified["rotary dim"]
    (True, 'half', 16)
    """
    setting, angles = _setting(head_dim, expect, n_axes, dtype, angle_dtype, max_position, rng)
    name = str(getattr(fn, "__name__", None) or getattr(fn, "name", "fn"))
    layout = check_choice(tensor_layout, "tensor_layout", TENSOR_LAYOUTS)
    wrapped = as_numpy_function(rows_as_tensor(fn, layout) if layout != "rows" else fn,
                                framework, _cast(dtype, framework), call="fn(x, positions)",
                                hint=ROPE_CALL_HINT, name=name, arity=2)
    return _rope_report(wrapped, name, expect, setting, dtype, angles)


def check_rope_pair(
    fn: Callable[..., Any],
    *,
    head_dim: int,
    expect: RopeConvention | None = None,
    n_axes: int | None = None,
    dtype: str = "float64",
    angle_dtype: str | None = None,
    framework: str | None = None,
    tensor_layout: str = "rows",
    max_position: int = 2**17,
    rng: Any = 0,
) -> Report:
    """:func:`check_rope` for the q/k pair form ``fn(q, k, positions) -> (q_rot, k_rot)``.

    This is the shape of Hugging Face's ``apply_rotary_pos_emb(q, k, cos, sin)`` once the
    cos/sin tables are computed from the positions
    (:func:`refimpl.testing.adapters.cos_sin_pair` does that). Each side is identified
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
    setting, angles = _setting(head_dim, expect, n_axes, dtype, angle_dtype, max_position, rng)
    name = getattr(fn, "__name__", "fn")
    layout = check_choice(tensor_layout, "tensor_layout", TENSOR_LAYOUTS)
    pair = as_numpy_function(rows_as_tensor(fn, layout, pair=True) if layout != "rows" else fn,
                             framework, _cast(dtype, framework), call="fn(q, k, positions)",
                             hint=PAIR_CALL_HINT, name=name, arity=3)
    expected = (expect, expect.keys() if expect is not None else None)
    sides = [_rope_report(lambda x, p, i=i: _side(pair, x, p, i), name, expected[i], setting,
                          dtype, angles) for i in (0, 1)]
    invariance = _pair_invariance(pair, setting, sides)
    rows = tuple(Row(f"{side}: {row.name}", row.measured, row.tolerance, row.detail)
                 for side, report in zip("qk", sides, strict=True)
                 for row in report.rows) + (invariance,)
    faults = tuple(f"{side}: {fault}" for side, report in zip("qk", sides, strict=True)
                   for fault in report.faults)
    info = dict(sides[0].identified)
    if sides[1].identified.get("layout") != info.get("layout"):
        info["k layout"] = sides[1].identified.get("layout")
    return Report(f"RoPE q/k pair conformance of {name}", rows, info, faults, sides[0].curve)


def _side(pair: Callable[..., Any], x: np.ndarray, positions: np.ndarray, i: int) -> np.ndarray:
    """One side of a pair function's output, checked to be a pair first."""
    out = pair(x, x, positions)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"fn(q, k, positions) must return (q_rot, k_rot), got "
                        f"{type(out).__name__}; {PAIR_CALL_HINT}")
    return np.asarray(out[i])


def _pair_invariance(pair: Callable[..., Any], setting: _Setting, sides: list[Report]) -> Row:
    """Relative-position invariance of ``<q_rot(m), k_rot(n)>`` (see _relative_invariance)."""
    half = setting.max_position // 2
    q, k = setting.rng.standard_normal((2, 32, setting.head_dim))
    m, n, s = (setting.positions(32, half) for _ in range(3))

    def scores(q_positions: np.ndarray, k_positions: np.ndarray) -> np.ndarray:
        q_rotated = np.asarray(pair(q, k, integer_or_real(q_positions))[0])
        k_rotated = np.asarray(pair(q, k, integer_or_real(k_positions))[1])
        return np.sum(q_rotated * k_rotated, axis=-1)

    scale = np.linalg.norm(q, axis=-1) * np.linalg.norm(k, axis=-1)
    omega = max(float(np.max(np.abs(np.atleast_1d(report.identified.get("frequencies", 0.0))),
                             initial=0.0))
                for report in sides)
    angle = setting.n_axes * setting.max_position * omega
    return Row("q/k scores: relative-position invariance",
               float(np.max(np.abs(scores(m, n) - scores(m + s, n + s)) / scale)),
               float(2 * setting.tolerance(angle)),
               "<q_rot(m), k_rot(n)> changes when m and n shift together")
