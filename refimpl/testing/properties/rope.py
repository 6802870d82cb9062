"""Properties of a 1-D rotary position embedding, ``fn(x, positions)`` or ``fn(q, k, positions)``.

RoPE (Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding", 2021,
arXiv:2104.09864) rotates pair ``k`` of the features by the angle ``p omega_k``, so that
attention scores depend on positions only through their difference. Each property below
is stated once, for any implementation: refimpl's own (``tests/properties/``), a user's
(the pytest plugin) and a foreign framework's (the self-check rows of the kit).

Error model, shared by every tolerance here: an implementation rounds the angle
``p omega`` to ``eps |p omega|`` and the products of the rotation to a few ``eps``, so a
rotated vector is within ``eps (c + |angle|) |x|`` of the exact one; with
``omega_max`` the largest frequency (1 for every Hugging Face schedule, whose first
frequency is ``base^0``) and ``P`` the largest position involved, the size factor is
``1 + omega_max P`` per rotation (:func:`refimpl.testing.properties._core.tolerance`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl._validation import as_int
from refimpl.testing.presets import RopeConvention
from refimpl.testing.properties._core import (
    Case,
    Property,
    PropertyResult,
    numpy_callable,
    tolerance,
)
from refimpl.testing.rope import check_rope, check_rope_pair, identify_rope

__all__ = ["RopeSubject", "RopePairSubject", "rope_subject", "rope_pair_subject",
           "relative_position_invariance", "norm_preservation", "orthogonality",
           "identity_at_zero", "group_law", "agreement", "pair_score_invariance",
           "pair_sides_agree", "pair_agreement", "PROPERTIES", "PAIR_PROPERTIES"]


@dataclass(frozen=True, eq=False)
class RopeSubject:
    """A RoPE ``fn(x, positions) -> rotated x`` (NumPy in and out) and what is known of it.

    ``expect`` is the convention it claims (a preset of :mod:`refimpl.testing.presets`),
    ``dtype`` the precision it computes in, ``omega_max`` its largest frequency (from
    ``expect``, else read off the function by :func:`refimpl.testing.identify_rope`),
    ``integer_positions`` whether it only takes integer positions (table lookups).
    """

    fn: Callable[[np.ndarray, np.ndarray], Any]
    head_dim: int
    expect: RopeConvention | None = None
    dtype: str = "float64"
    omega_max: float = 1.0
    integer_positions: bool = True
    name: str = "fn"

    def __call__(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """``fn(x, positions)`` as float64, positions as int64 when all are integers."""
        with np.errstate(all="ignore"):  # a foreign overflow shows as a non-finite output
            return np.asarray(self.fn(x, _positions(positions)), dtype=np.float64)

    @property
    def magnitude(self) -> float:
        """What multiplies cos and sin: the expected magnitude, else 1."""
        return float(self.expect.magnitude) if self.expect is not None else 1.0


@dataclass(frozen=True, eq=False)
class RopePairSubject:
    """A q/k RoPE ``fn(q, k, positions) -> (q_rot, k_rot)`` (Hugging Face's
    ``apply_rotary_pos_emb`` with its cos/sin computed inside), as :class:`RopeSubject`."""

    fn: Callable[[np.ndarray, np.ndarray, np.ndarray], Any]
    head_dim: int
    expect: RopeConvention | None = None
    dtype: str = "float64"
    omega_max: float = 1.0
    integer_positions: bool = True
    name: str = "fn"

    def __call__(self, q: np.ndarray, k: np.ndarray, positions: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            q_rot, k_rot = self.fn(q, k, _positions(positions))
        return np.asarray(q_rot, dtype=np.float64), np.asarray(k_rot, dtype=np.float64)

    def side(self, index: int) -> RopeSubject:
        """The queries (0) or keys (1) side as a :class:`RopeSubject` of its own; the
        other argument is zeros, so a function that swaps q and k shows."""
        expect = self.expect if index == 0 or self.expect is None else self.expect.keys()

        def rotate(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
            other = np.zeros_like(x)
            return self(*((x, other) if index == 0 else (other, x)), positions)[index]

        return RopeSubject(rotate, self.head_dim, expect,
                           self.dtype, self.omega_max, self.integer_positions,
                           f"{self.name}[{'qk'[index]}]")


def _positions(positions: np.ndarray) -> np.ndarray:
    """Positions as int64 when every value is an integer, else float64 (as the kit does)."""
    positions = np.asarray(positions, dtype=np.float64)
    return positions.astype(np.int64) if np.all(positions == np.round(positions)) else positions


def _largest_frequency(fn: Callable[..., Any], head_dim: int, expect: RopeConvention | None
                       ) -> float:
    """``max |F|`` of ``expect``, else of the frequencies probed from ``fn`` (1 if none)."""
    if expect is not None:
        return float(np.max(np.abs(expect.frequencies), initial=0.0)) or 1.0
    try:
        found = identify_rope(fn, head_dim)
    except ValueError:  # a function that does not even return x's shape: other rows fail
        return 1.0
    return float(np.max(np.abs(found.frequencies), initial=0.0)) or 1.0


def rope_subject(fn: Callable[..., Any], *, head_dim: int, expect: RopeConvention | None = None,
                 dtype: str = "float64", framework: str | None = None,
                 integer_positions: bool = True) -> RopeSubject:
    """Wrap a foreign ``fn(x, positions)`` (any framework) as a :class:`RopeSubject`.

    Examples
    --------
    >>> from refimpl.testing.presets import hugging_face
    >>> subject = rope_subject(hugging_face(8), head_dim=8)
    >>> subject.omega_max, subject.dtype
    (1.0, 'float64')
    """
    head_dim = as_int(head_dim, "head_dim", minimum=2)
    wrapped = numpy_callable(fn, framework, dtype)
    omega = _largest_frequency(lambda x, p: wrapped(x, _positions(p)), head_dim, expect)
    return RopeSubject(wrapped, head_dim, expect, dtype, omega, integer_positions,
                       str(getattr(fn, "__name__", None) or getattr(fn, "name", "fn")))


def rope_pair_subject(fn: Callable[..., Any], *, head_dim: int,
                      expect: RopeConvention | None = None, dtype: str = "float64",
                      framework: str | None = None, integer_positions: bool = True
                      ) -> RopePairSubject:
    """Wrap a foreign ``fn(q, k, positions)`` as a :class:`RopePairSubject`."""
    head_dim = as_int(head_dim, "head_dim", minimum=2)
    wrapped = numpy_callable(fn, framework, dtype)
    omega = _largest_frequency(lambda x, p: wrapped(x, x, _positions(p))[0], head_dim, expect)
    return RopePairSubject(wrapped, head_dim, expect, dtype, omega, integer_positions,
                           getattr(fn, "__name__", "fn"))


def _norms(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.linalg.norm(x, axis=-1), 1e-300)


def _rotation_size(subject: RopeSubject | RopePairSubject, *positions: np.ndarray) -> float:
    """``1 + omega_max sum_i max|p_i|``: the size factor of rotations at these positions."""
    return 1.0 + subject.omega_max * sum(float(np.max(np.abs(p), initial=0.0)) for p in positions)


def _not_finite(*arrays: np.ndarray) -> tuple[str, ...]:
    if all(np.all(np.isfinite(a)) for a in arrays):
        return ()
    return ("non-finite output (positions overflowing a float16 table, or an angle "
            "computed in too low a precision?)",)


def _score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


def _is_relative(subject: RopeSubject) -> bool:
    return subject.expect is None or subject.expect.xpos_scale_base is None


def _is_rotation(subject: RopeSubject) -> bool:
    """True when ``fn(., p)`` should be a pure rotation: no xPos, magnitude 1, no offset."""
    expect = subject.expect
    return expect is None or (expect.xpos_scale_base is None and expect.magnitude == 1.0
                              and not any(expect.position_offset))


def relative_position_invariance(subject: RopeSubject, case: Case) -> PropertyResult:
    """``<f(q, m), f(k, n)> = <f(q, m + s), f(k, n + s)>`` (fields ``q, k, m, n, shift``).

    Measured: ``max |score change| / (|q| |k| max(1, magnitude)^2)`` over the rows.
    Tolerance: two rotations at positions up to ``max |m + s|``, ``|n + s|``:
    ``SAFETY eps 2 (1 + omega_max (max|m| + max|n| + 2 max|s|))``.
    """
    q, k, m, n, s = case.q, case.k, case.m, case.n, case.shift
    q_m, k_n, q_ms, k_ns = subject(q, m), subject(k, n), subject(q, m + s), subject(k, n + s)
    scale = _norms(q) * _norms(k) * max(1.0, subject.magnitude) ** 2
    change = np.abs(_score(q_m, k_n) - _score(q_ms, k_ns)) / scale
    size = 2 * _rotation_size(subject, m, n, s, s)
    return PropertyResult("rope.relative_position_invariance", float(np.max(change)),
                          tolerance(subject.dtype, size),
                          "relative change of <f(q, m), f(k, n)> when m and n shift together",
                          _not_finite(q_m, k_n, q_ms, k_ns), case)


def norm_preservation(subject: RopeSubject, case: Case) -> PropertyResult:
    """``|f(x, p)| = |f(x, 0)|``: moving to position ``p`` changes no length (fields ``x,
    positions``). At magnitude 1 without offset this is ``|f(x, p)| = |x|``.

    Measured: ``max | |f(x, p)| - |f(x, 0)| | / |x|``. Tolerance: ``SAFETY eps``; the
    rounded cos and sin of any angle satisfy ``cos^2 + sin^2 = 1`` to a few ``eps``, so
    the length error does not grow with the angle.
    """
    x, p = case.x, case.positions
    moved, origin = subject(x, p), subject(x, np.zeros_like(p))
    error = np.abs(np.linalg.norm(moved, axis=-1) - np.linalg.norm(origin, axis=-1)) / _norms(x)
    return PropertyResult("rope.norm_preservation", float(np.max(error)),
                          tolerance(subject.dtype, max(1.0, subject.magnitude)),
                          "relative change of |f(x, p)| against |f(x, 0)|",
                          _not_finite(moved, origin), case)


def probe(subject: RopeSubject, positions: np.ndarray) -> np.ndarray:
    """The matrices ``M(p)`` with ``M(p) e_j = f(e_j, p)``, shape ``(len(positions), D, D)``."""
    dim = subject.head_dim
    rows = np.tile(np.eye(dim), (len(positions), 1))
    out = subject(rows, np.repeat(positions, dim, axis=0))
    return np.swapaxes(out.reshape(len(positions), dim, dim), 1, 2)


def orthogonality(subject: RopeSubject, case: Case) -> PropertyResult:
    """``M(p)^T M(p) = diag(g)``, ``g_j = 1`` or ``magnitude^2``: at each position the map
    is a rotation, scaled by the magnitude on the rotated features (field ``positions``,
    the first 4 are probed).

    Measured: ``max |M^T M - diag(g)| / max(1, m^2)``, ``g`` the nearer of ``1`` and ``m^2``
    to each diagonal entry. Tolerance: ``SAFETY eps max(1, m^2)`` (each entry of ``M^T M``
    sums two products).
    """
    matrices = probe(subject, case.positions[:4])
    gram = np.swapaxes(matrices, 1, 2) @ matrices
    m2 = subject.magnitude ** 2
    diagonal = np.diagonal(gram, axis1=1, axis2=2)
    nearest = np.where(np.abs(diagonal - 1.0) <= np.abs(diagonal - m2), 1.0, m2)
    target = nearest[:, :, None] * np.eye(subject.head_dim)
    error = float(np.max(np.abs(gram - target), initial=0.0)) / max(1.0, m2)
    return PropertyResult("rope.orthogonality", error, tolerance(subject.dtype, 1.0),
                          "max |M(p)^T M(p) - diag(1 or m^2)|, M(p) read column by column",
                          _not_finite(matrices), Case(positions=case.positions[:4]))


def identity_at_zero(subject: RopeSubject, case: Case) -> PropertyResult:
    """``f(x, 0) = m x`` on the rotated features and ``x`` elsewhere: position 0 does not
    rotate (field ``x``). Catches 1-based positions and off-by-one bugs.

    Measured: ``max |f(x, 0) - x ⊙ g| / |x|`` with ``g_j`` the nearer of 1 and ``m`` to
    ``f(e_j, 0)_j``. Tolerance: ``SAFETY eps`` (cos 0 and sin 0 are exact; one product).
    """
    x = case.x
    out = subject(x, np.zeros(x.shape[0]))
    diagonal = np.diagonal(probe(subject, np.zeros(1))[0])
    m = subject.magnitude
    gain = np.where(np.abs(diagonal - 1.0) <= np.abs(diagonal - m), 1.0, m)
    error = np.max(np.linalg.norm(out - x * gain, axis=-1) / _norms(x))
    faults = () if error <= 1e-6 else ("position 0 is rotated: positions are offset "
                                       "(1-based, or off by one)",)
    return PropertyResult("rope.identity_at_zero", float(error),
                          tolerance(subject.dtype, max(1.0, m)),
                          "relative distance of f(x, 0) from x (times the magnitude)",
                          faults + _not_finite(out), case)


def group_law(subject: RopeSubject, case: Case) -> PropertyResult:
    """``f(f(x, p), s) = f(x, p + s)``: rotations compose by adding positions (fields ``x,
    positions, shift``; a pure rotation: magnitude 1, no offset, no xPos).

    Measured: ``max |f(f(x, p), s) - f(x, p + s)| / |x|``. Tolerance: three rotations,
    ``SAFETY eps 3 (1 + omega_max (max|p| + max|s|))``.
    """
    x, p, s = case.x, case.positions, case.shift
    twice, once = subject(subject(x, p), s), subject(x, p + s)
    error = np.max(np.linalg.norm(twice - once, axis=-1) / _norms(x))
    return PropertyResult("rope.group_law", float(error),
                          tolerance(subject.dtype, 3 * _rotation_size(subject, p, s)),
                          "relative distance of f(f(x, p), s) from f(x, p + s)",
                          _not_finite(twice, once), case)


def agreement(subject: RopeSubject, case: Case) -> PropertyResult:
    """``f(x, p) = expect(x, p)``: the function is the convention it claims (fields ``x,
    positions``; needs ``subject.expect``).

    Measured: ``max |f(x, p) - expect(x, p)| / max(|x|, |expect(x, p)|)`` over the rows.
    Tolerance: ``SAFETY eps (1 + max |angle|)`` with the expected angles.
    """
    if subject.expect is None:
        raise ValueError("agreement needs subject.expect, a RopeConvention; got None")
    x, p = case.x, case.positions
    found, expected = subject(x, p), subject.expect(x, p)
    scale = np.maximum(_norms(x), _norms(expected))
    error = np.max(np.linalg.norm(found - expected, axis=-1) / scale)
    angle = float(np.max(np.abs(subject.expect.angles(p)), initial=0.0))
    return PropertyResult("rope.agreement", float(error),
                          tolerance(subject.dtype, 1.0 + angle),
                          f"relative distance from {subject.expect.name} "
                          f"{subject.expect.parameters}", _not_finite(found), case)


def pair_score_invariance(subject: RopePairSubject, case: Case) -> PropertyResult:
    """``<q_rot(m), k_rot(n)> = <q_rot(m + s), k_rot(n + s)>`` for the pair form, xPos
    included (its query and key scales cancel in the score). Fields as
    :func:`relative_position_invariance`.

    Measured: the score change relative to ``|q_rot(m)| |k_rot(n)|``. Tolerance as
    :func:`relative_position_invariance`.
    """
    q, k, m, n, s = case.q, case.k, case.m, case.n, case.shift
    q_m, k_n = subject(q, k, m)[0], subject(q, k, n)[1]
    q_ms, k_ns = subject(q, k, m + s)[0], subject(q, k, n + s)[1]
    change = np.abs(_score(q_m, k_n) - _score(q_ms, k_ns)) / (_norms(q_m) * _norms(k_n))
    return PropertyResult("rope_pair.score_invariance", float(np.max(change)),
                          tolerance(subject.dtype, 2 * _rotation_size(subject, m, n, s, s)),
                          "relative change of <q_rot(m), k_rot(n)> when m and n shift together",
                          _not_finite(q_m, k_n, q_ms, k_ns), case)


def pair_sides_agree(subject: RopePairSubject, case: Case) -> PropertyResult:
    """Queries and keys are rotated alike: ``fn(x, x, p)[0] = fn(x, x, p)[1]`` (field ``x,
    positions``; not for xPos, which scales the two sides oppositely).

    Measured: ``max |q_rot - k_rot| / |x|``. Tolerance: ``SAFETY eps`` (the same
    operations on the same numbers).
    """
    q_rot, k_rot = subject(case.x, case.x, case.positions)
    error = np.max(np.linalg.norm(q_rot - k_rot, axis=-1) / _norms(case.x))
    return PropertyResult("rope_pair.sides_agree", float(error), tolerance(subject.dtype, 1.0),
                          "queries and keys equal to x are rotated differently",
                          _not_finite(q_rot, k_rot), case)


def pair_agreement(subject: RopePairSubject, case: Case) -> PropertyResult:
    """Each side agrees with the expected convention (keys with ``expect.keys()``); the
    worse side is reported. Fields and tolerance as :func:`agreement`."""
    results = [agreement(subject.side(i), case) for i in (0, 1)]
    worst = max(results, key=lambda r: r.measured / r.tolerance if r.tolerance else np.inf)
    side = "q" if worst is results[0] else "k"
    return PropertyResult("rope_pair.agreement", worst.measured, worst.tolerance,
                          f"{side}: {worst.detail}", worst.faults, case)


def diagnose(subject: RopeSubject) -> tuple[str, ...]:
    """Faults named by the kit's probing (:func:`refimpl.testing.check_rope`)."""
    report = check_rope(subject, head_dim=subject.head_dim, expect=subject.expect,
                        dtype=subject.dtype, max_position=1024)
    return report.faults


def diagnose_pair(subject: RopePairSubject) -> tuple[str, ...]:
    """Faults named by :func:`refimpl.testing.check_rope_pair`."""
    report = check_rope_pair(subject, head_dim=subject.head_dim, expect=subject.expect,
                             dtype=subject.dtype, max_position=1024)
    return report.faults


def _has_expect(subject: RopeSubject | RopePairSubject) -> bool:
    return subject.expect is not None


def _pair_not_xpos(subject: RopePairSubject) -> bool:
    return subject.expect is None or subject.expect.xpos_scale_base is None


_TOL_ROTATION = "SAFETY eps(dtype) (1 + omega_max |positions|) per rotation"

#: The properties of ``fn(x, positions)``, in the order the plugin runs them.
PROPERTIES = (
    Property("rope", "relative_position_invariance",
             "<f(q, m), f(k, n)> = <f(q, m+s), f(k, n+s)>", _TOL_ROTATION,
             relative_position_invariance, "rope_cases", _is_relative, diagnose),
    Property("rope", "norm_preservation", "|f(x, p)| = |f(x, 0)|", "SAFETY eps(dtype)",
             norm_preservation, "rope_cases", _is_relative, diagnose),
    Property("rope", "orthogonality", "M(p)^T M(p) = diag(1 or m^2)", "SAFETY eps(dtype)",
             orthogonality, "rope_cases", _is_relative, diagnose),
    Property("rope", "identity_at_zero", "f(x, 0) = m x (no rotation at position 0)",
             "SAFETY eps(dtype)", identity_at_zero, "rope_cases",
             lambda s: s.expect is None or not any(s.expect.position_offset), diagnose),
    Property("rope", "group_law", "f(f(x, p), s) = f(x, p + s)", _TOL_ROTATION,
             group_law, "rope_cases", _is_rotation, diagnose),
    Property("rope", "agreement", "f(x, p) = expect(x, p) (the claimed convention)",
             "SAFETY eps(dtype) (1 + |angle|)", agreement, "rope_cases", _has_expect,
             diagnose),
)

#: The properties of the q/k form ``fn(q, k, positions)``.
PAIR_PROPERTIES = (
    Property("rope_pair", "score_invariance",
             "<q_rot(m), k_rot(n)> = <q_rot(m+s), k_rot(n+s)>", _TOL_ROTATION,
             pair_score_invariance, "rope_cases", diagnose=diagnose_pair),
    Property("rope_pair", "sides_agree", "fn(x, x, p)[0] = fn(x, x, p)[1]",
             "SAFETY eps(dtype)", pair_sides_agree, "rope_cases", _pair_not_xpos,
             diagnose_pair),
    Property("rope_pair", "agreement", "each side = expect (keys: expect.keys())",
             "SAFETY eps(dtype) (1 + |angle|)", pair_agreement, "rope_cases", _has_expect,
             diagnose_pair),
)
