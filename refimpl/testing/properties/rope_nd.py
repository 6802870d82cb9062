"""Properties of an N-D rotary position embedding ``fn(x, positions (rows, n_axes))``.

An N-D RoPE is ``R(p) = expm(sum_a p_a A_a)`` for commuting skew-symmetric generators
``A_a`` (Su, "Transformer upgrade road: 4. Rotary position encoding for two-dimensional
positions", 2021, https://kexue.fm/archives/8397; Heo et al., "Rotary Position Embedding
for Vision Transformer", 2024, arXiv:2403.13298). The post's two requirements become
three checkable properties of any implementation: relativity
``R(p)^T R(q) = R(q - p)``, commutation ``R(p) R(q) = R(q) R(p)`` and invertibility
(distinct positions of a grid give distinct rotations). See ``docs/rope_nd.md``.

Error model: as for 1-D RoPE (:mod:`refimpl.testing.properties.rope`), a rotation at
``p`` is within ``eps (c + omega_max |p|_1)`` of the exact one, ``|p|_1`` the sum of the
coordinates' magnitudes; a matrix product of two such rotations adds ``sqrt(D)`` for a
change of basis that mixes all ``D`` features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl._validation import as_int
from refimpl.testing.properties._core import (
    Case,
    Property,
    PropertyResult,
    numpy_callable,
    tolerance,
)

__all__ = ["RopeNdSubject", "rope_nd_subject", "relativity", "commutation",
           "invertibility_on_grid", "PROPERTIES"]


@dataclass(frozen=True, eq=False)
class RopeNdSubject:
    """An N-D RoPE ``fn(x, positions)`` (NumPy in and out) with its sizes.

    ``omega_max`` bounds ``|F|`` (the angle per unit of position of any pair along any
    axis); ``grid`` is the integer grid on which rotations must be distinct.
    """

    fn: Callable[[np.ndarray, np.ndarray], Any]
    head_dim: int
    n_axes: int
    dtype: str = "float64"
    omega_max: float = 1.0
    grid: tuple[int, ...] = (32, 32)
    name: str = "fn"

    def __call__(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.float64)
        if np.all(positions == np.round(positions)):
            positions = positions.astype(np.int64)
        with np.errstate(all="ignore"):
            return np.asarray(self.fn(x, positions), dtype=np.float64)

    def matrices(self, positions: np.ndarray) -> np.ndarray:
        """``M(p)`` with ``M(p) e_j = fn(e_j, p)`` for each row of ``positions``."""
        dim, count = self.head_dim, positions.shape[0]
        out = self(np.tile(np.eye(dim), (count, 1)), np.repeat(positions, dim, axis=0))
        return np.swapaxes(out.reshape(count, dim, dim), 1, 2)


def default_grid(n_axes: int) -> tuple[int, ...]:
    """32 per axis up to 2 axes, 8 per axis beyond (the probe grows as the grid's volume)."""
    return (32,) * n_axes if n_axes <= 2 else (8,) * n_axes


def rope_nd_subject(fn: Callable[..., Any], *, head_dim: int, n_axes: int,
                    omega_max: float = 1.0, grid: tuple[int, ...] | None = None,
                    dtype: str = "float64", framework: str | None = None) -> RopeNdSubject:
    """Wrap a foreign N-D ``fn(x, positions)`` as a :class:`RopeNdSubject`."""
    n_axes = as_int(n_axes, "n_axes", minimum=1)
    grid = default_grid(n_axes) if grid is None else tuple(int(g) for g in grid)
    if len(grid) != n_axes:
        raise ValueError(f"grid must have n_axes={n_axes} sizes, got grid={grid}")
    return RopeNdSubject(numpy_callable(fn, framework, dtype),
                         as_int(head_dim, "head_dim", minimum=2), n_axes, dtype,
                         float(omega_max), grid, getattr(fn, "__name__", "fn"))


def _size(subject: RopeNdSubject, *positions: np.ndarray) -> float:
    """``sqrt(D) (1 + omega_max sum_i max_rows |p_i|_1)``."""
    reach = sum(float(np.max(np.sum(np.abs(p), axis=-1), initial=0.0)) for p in positions)
    return float(np.sqrt(subject.head_dim)) * (1.0 + subject.omega_max * reach)


def _finite(*arrays: np.ndarray) -> tuple[str, ...]:
    return () if all(np.all(np.isfinite(a)) for a in arrays) else ("non-finite output",)


def relativity(subject: RopeNdSubject, case: Case) -> PropertyResult:
    """``R(p)^T R(q) = R(q - p)``: scores see only the offset (fields ``p, q``, shape
    ``(rows, n_axes)``; the first 4 rows are probed).

    Measured: ``max |R(p)^T R(q) - R(q - p)|``. Tolerance: three rotations,
    ``SAFETY eps sqrt(D) (1 + omega_max (|p|_1 + |q|_1 + |q - p|_1))``.
    """
    p, q = case.p[:4], case.q[:4]
    Rp, Rq, Rd = subject.matrices(p), subject.matrices(q), subject.matrices(q - p)
    error = float(np.max(np.abs(np.swapaxes(Rp, 1, 2) @ Rq - Rd), initial=0.0))
    return PropertyResult("rope_nd.relativity", error,
                          tolerance(subject.dtype, _size(subject, p, q, q - p)),
                          "max |R(p)^T R(q) - R(q - p)|, R read column by column",
                          _finite(Rp, Rq, Rd), Case(p=p, q=q))


def commutation(subject: RopeNdSubject, case: Case) -> PropertyResult:
    """``f(f(x, p), q) = f(f(x, q), p)``: rotations at two positions commute (fields
    ``x, p, q``).

    Measured: ``max |f(f(x, p), q) - f(f(x, q), p)| / |x|``. Tolerance: four rotations,
    ``SAFETY eps sqrt(D) 2 (1 + omega_max (|p|_1 + |q|_1))``.
    """
    x, p, q = case.x, case.p, case.q
    pq, qp = subject(subject(x, p), q), subject(subject(x, q), p)
    norms = np.maximum(np.linalg.norm(x, axis=-1), 1e-300)
    error = float(np.max(np.linalg.norm(pq - qp, axis=-1) / norms))
    return PropertyResult("rope_nd.commutation", error,
                          tolerance(subject.dtype, 2 * _size(subject, p, q)),
                          "relative distance of f(f(x, p), q) from f(f(x, q), p)",
                          _finite(pq, qp), case)


def grid_offsets(grid: tuple[int, ...]) -> np.ndarray:
    """The offsets ``q - p`` between distinct points of the grid, one of each ``+-`` pair."""
    axes = [np.arange(1 - size, size, dtype=np.float64) for size in grid]
    offsets = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(grid))
    first = offsets[np.arange(len(offsets)), np.argmax(offsets != 0, axis=1)]
    return offsets[first > 0]  # the first nonzero coordinate positive (R(-d) = R(d)^T)


def invertibility_on_grid(subject: RopeNdSubject, case: Case) -> PropertyResult:
    """Distinct points of ``subject.grid`` get distinct rotations (no field is read).

    With relativity ``||R(p) - R(q)||_F = ||R(q - p) - I||_F``, so the separation
    ``min ||R(d) - I||_F`` over the offsets ``d`` of the grid is measured (probing
    ``D`` columns per offset). Passes when it exceeds the threshold
    ``max(1e-6, SAFETY eps sqrt(D) (1 + omega_max |d|_1))``, what rounding alone could
    fake. Reported as ``threshold / separation``, which passes at ``<= 1``.
    """
    offsets = grid_offsets(subject.grid)
    worst, where = np.inf, offsets[0]
    for chunk in np.array_split(offsets, max(1, len(offsets) * subject.head_dim // 200_000)):
        matrices = subject.matrices(chunk)
        distance = np.linalg.norm((matrices - np.eye(subject.head_dim)).reshape(len(chunk), -1),
                                  axis=1)
        distance = np.where(np.isfinite(distance), distance, 0.0)
        if distance.min() < worst:
            worst, where = float(distance.min()), chunk[int(np.argmin(distance))]
    threshold = max(1e-6, tolerance(subject.dtype, _size(subject, offsets)))
    ratio = threshold / worst if worst > 0 else np.inf
    return PropertyResult("rope_nd.invertibility_on_grid", float(ratio), 1.0,
                          f"threshold {threshold:.2e} / min ||R(d) - I|| = {worst:.3e} at "
                          f"offset d = {where.tolist()} on the grid {subject.grid}",
                          (), Case(grid=np.array(subject.grid), worst_offset=where))


#: The properties of an N-D RoPE, in the order the plugin runs them.
PROPERTIES = (
    Property("rope_nd", "relativity", "R(p)^T R(q) = R(q - p)",
             "SAFETY eps(dtype) sqrt(D) (1 + omega_max |p|_1) / rotation", relativity,
             "rope_nd_cases"),
    Property("rope_nd", "commutation", "f(f(x, p), q) = f(f(x, q), p)",
             "SAFETY eps(dtype) sqrt(D) (1 + omega_max |p|_1) / rotation", commutation,
             "rope_nd_cases"),
    Property("rope_nd", "invertibility_on_grid", "p != q on the grid => R(p) != R(q)",
             "separation > max(1e-6, rounding)", invertibility_on_grid, "grid_case"),
)
