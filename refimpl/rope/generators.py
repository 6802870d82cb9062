"""N-D RoPE as a matrix exponential: ``R(p) = expm(sum_k p_k A_k)``.

The RoPE-2D post (Su, kexue.fm/archives/8397) asks for rotations with *relativity*,
``R(p)^T R(q) = R(q - p)``, and *invertibility* (``p`` can be read back from ``R(p)``).
Writing ``R(p) = expm(sum_k p_k A_k)``, relativity holds when every generator ``A_k`` is
skew-symmetric and the ``A_k`` commute; invertibility needs them linearly independent
(``rank F = n_axes``) and, on a finite set of positions, no two positions with the same
rotation.

A commuting family of real skew-symmetric matrices can be brought to block-diagonal
form by one orthogonal ``Q``: ``A_k = Q blockdiag_j(F_kj J) Q^T`` with
``J = [[0, -1], [1, 0]]``. So every such RoPE is the elementwise N-D RoPE with a
frequency matrix ``F`` (:mod:`refimpl.rope.nd`) seen in a rotated basis, which
:func:`refimpl.rope.apply` takes as ``basis=Q``. This module makes that statement
executable: :func:`generators` (``F -> A``), :func:`canonical_form` (``A -> (Q, F)``),
:func:`rotation_from_generators` (``scipy.linalg.expm``) and
:func:`validate_generators`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from refimpl._validation import (
    as_float_array,
    as_int,
    as_scalar,
    broadcast_batch,
    check_choice,
    check_last_axis,
    check_ndim,
)
from refimpl.rope.apply import LAYOUTS, check_basis

__all__ = [
    "GeneratorReport", "generators", "rotation_from_generators", "validate_generators",
    "canonical_form",
]


def _pair_indices(n_pairs: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Feature indices ``(first, second)`` of each pair: ``(2j, 2j+1)`` or ``(j, j+P)``."""
    j = np.arange(n_pairs)
    return (2 * j, 2 * j + 1) if layout == "interleaved" else (j, j + n_pairs)


def generators(frequencies: ArrayLike, layout: str = "interleaved", *, dim: int | None = None,
               basis: ArrayLike | None = None) -> np.ndarray:
    """The skew-symmetric, commuting generators of N-D RoPE with frequency matrix ``F``.

    .. math::

        A_k = \\sum_j F_{kj} \\left(e_{b_j} e_{a_j}^T - e_{a_j} e_{b_j}^T\\right),
        \\qquad R(p) = \\exp\\Big(\\sum_k p_k A_k\\Big),

    where pair ``j`` is ``(a_j, b_j) = (2j, 2j+1)`` (interleaved) or ``(j, j+P)``
    (half): in its plane ``A_k`` is ``F_kj J`` with ``J = [[0, -1], [1, 0]]``, the
    generator of the rotation ``a' = a cos - b sin``, ``b' = b cos + a sin`` that
    :func:`refimpl.rope.apply` performs. With ``basis=Q`` the rotary block becomes
    ``Q A_k Q^T`` (the general solution). Features past ``2P`` have zero rows and
    columns (partial rotary).

    Parameters
    ----------
    frequencies : array_like, shape (..., n_axes, P)
        The frequency matrix ``F``.
    layout : {"interleaved", "half"}
        Pair layout.
    dim : int, optional
        Total feature width ``D >= 2P``; default ``2P``.
    basis : array_like, shape (2P, 2P), optional
        Orthogonal change of basis ``Q`` of the rotary block.

    Returns
    -------
    ndarray, shape (..., n_axes, dim, dim)

    Examples
    --------
    >>> generators([[2.0]])
    array([[[ 0., -2.],
            [ 2.,  0.]]])
    """
    frequencies = as_float_array(frequencies, "frequencies")
    check_ndim(frequencies, "frequencies", 2)
    check_choice(layout, "layout", LAYOUTS)
    n_pairs = frequencies.shape[-1]
    dim = 2 * n_pairs if dim is None else as_int(dim, "dim", minimum=2 * n_pairs)
    first, second = _pair_indices(n_pairs, layout)
    A = np.zeros(frequencies.shape[:-1] + (dim, dim))
    A[..., second, first] = frequencies
    A[..., first, second] = -frequencies
    if basis is not None:
        Q = check_basis(basis, 2 * n_pairs)
        block = slice(0, 2 * n_pairs)
        A[..., block, block] = Q @ A[..., block, block] @ Q.T
    return A


def rotation_from_generators(positions: ArrayLike, A: ArrayLike) -> np.ndarray:
    """``R(p) = expm(sum_k p_k A_k)`` by ``scipy.linalg.expm`` (Pade, scaling and squaring).

    .. math:: R(p) = \\exp\\Big(\\sum_{k=0}^{n-1} p_k A_k\\Big)

    The slow, definition-level form: tests check the elementwise
    ``apply(x, nd_angles(p, F))`` against ``rotation_from_generators(p, generators(F)) @ x``.
    Nothing is assumed about ``A``; non-commuting or non-skew generators simply give
    a matrix that is not a RoPE (see :func:`validate_generators`).

    Parameters
    ----------
    positions : array_like, shape (..., n_axes)
        Positions; leading axes broadcast against ``A.shape[:-3]``.
    A : array_like, shape (..., n_axes, D, D)
        Generators.

    Returns
    -------
    ndarray, shape (..., D, D)

    Examples
    --------
    >>> R = rotation_from_generators([np.pi / 2], [[[0.0, -1.0], [1.0, 0.0]]])
    >>> np.round(R, 12) + 0.0
    array([[ 0., -1.],
           [ 1.,  0.]])
    """
    positions = as_float_array(positions, "positions")
    A = as_float_array(A, "A")
    check_ndim(A, "A", 3)
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(f"A must hold square matrices, got shape {A.shape}")
    check_last_axis(positions, "positions", size=A.shape[-3])
    broadcast_batch(positions=positions.shape[:-1], A=A.shape[:-3])
    exponent = np.sum(positions[..., :, None, None] * A, axis=-3)
    return scipy.linalg.expm(exponent)


def _check_family(A: ArrayLike) -> np.ndarray:
    """Validate ``A`` as ``n_axes`` square matrices of one even size ``(n_axes, D, D)``."""
    A = as_float_array(A, "A")
    if A.ndim != 3 or A.shape[1] != A.shape[2] or A.shape[0] < 1:
        raise ValueError(f"A must have shape (n_axes, D, D), got shape {A.shape}")
    if A.shape[-1] % 2:
        raise ValueError(f"A must act on an even dimension D, got D={A.shape[-1]}")
    return A


def canonical_form(A: ArrayLike, *, rtol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous block-diagonalisation of commuting skew generators: ``A -> (Q, F)``.

    .. math:: A_k = Q \\, \\operatorname{blockdiag}_j(F_{kj} J) \\, Q^T,
              \\qquad J = \\begin{pmatrix} 0 & -1 \\\\ 1 & 0 \\end{pmatrix},

    with ``Q`` orthogonal and the blocks on the interleaved pairs ``(2j, 2j+1)``; so
    ``rotation_from_generators(p, A) @ x`` equals
    ``apply(x, nd_angles(p, F), basis=Q)``. Method: the fixed generic combination
    ``M = sum_k cos(k+1) A_k`` commutes with every ``A_k``, so each ``A_k`` keeps
    ``M``'s invariant planes. Those come from the Hermitian eigenproblem
    ``(iM) z = b z`` (``numpy.linalg.eigh``): for ``b > 0`` and ``z = (u + i w)/sqrt 2``
    the plane is ``(u, w)`` and ``F_kj = w^T A_k u``. The common kernel (zero
    columns of ``F``) is completed with ``scipy.linalg.null_space``.

    Parameters
    ----------
    A : array_like, shape (n_axes, D, D)
        Skew-symmetric, pairwise commuting generators, ``D`` even.
    rtol : float
        Relative tolerance (against ``max |A|``) for skew-symmetry, for treating an
        eigenvalue as zero, and for the final check that ``Q^T A_k Q`` is
        block-diagonal.

    Returns
    -------
    Q : ndarray, shape (D, D)
        Orthogonal.
    F : ndarray, shape (n_axes, D // 2)
        Frequency matrix; zero columns for the common kernel come last.

    Raises
    ------
    ValueError
        If ``A`` is not skew-symmetric, or no common block-diagonal form was found
        (the generators do not commute; or, for a measure-zero set of ``F``, the
        fixed combination vanishes on a plane, ``sum_k cos(k+1) F_kj = 0``, or gives
        two distinct planes the same ``|b|``).

    Notes
    -----
    What is unique is the multiset of columns ``F_j`` *up to sign*, one per invariant
    plane, and the invariant planes of each distinct ``±F_j``. Not unique: the order
    of the planes (a permutation of the columns), the sign of each column (swapping
    ``u`` and ``w`` reverses the plane and negates ``F_j``), a rotation inside each
    plane (it commutes with ``J``), and, when columns repeat up to sign, the split of
    their joint invariant subspace into planes. Tests check exactly this: the
    reconstruction, the orthogonality of ``Q``, and equality of the columns up to
    sign and order.

    Examples
    --------
    >>> Q, F = canonical_form([[[0.0, 0.0], [0.0, 0.0]], [[0.0, -3.0], [3.0, 0.0]]])
    >>> np.abs(F)
    array([[0.],
           [3.]])
    """
    A = _check_family(A)
    rtol = as_scalar(rtol, "rtol", positive=True)
    scale = float(np.max(np.abs(A))) or 1.0
    skew_error = np.max(np.abs(A + np.swapaxes(A, -1, -2))) / scale
    if skew_error > rtol:
        raise ValueError("A must be skew-symmetric, got max |A + A^T| / max |A| = "
                         f"{skew_error:.3g}")
    M = np.tensordot(np.cos(np.arange(1, A.shape[0] + 1)), A, axes=1)
    b, Z = np.linalg.eigh(1j * M)
    Z = Z[:, b > rtol * scale][:, ::-1] * np.sqrt(2.0)
    planes = np.concatenate([Z.real, Z.imag], axis=1)
    kernel = scipy.linalg.null_space(planes.T) if planes.size else np.eye(A.shape[-1])
    Q = np.empty_like(A[0])
    Q[:, 0::2] = np.concatenate([Z.real, kernel[:, 0::2]], axis=1)
    Q[:, 1::2] = np.concatenate([Z.imag, kernel[:, 1::2]], axis=1)
    blocks = Q.T @ A @ Q
    F = blocks[:, 1::2, 0::2].diagonal(axis1=-2, axis2=-1).copy()
    F[:, Z.shape[1]:] = 0.0  # the common kernel: exactly zero, not rounding noise
    residual = np.max(np.abs(blocks - generators(F))) / scale
    if residual > rtol:
        raise ValueError("A has no common block-diagonal form (do the generators commute?): "
                         f"off-block residual {residual:.3g} relative to max |A|")
    return Q, F


@dataclass(frozen=True)
class GeneratorReport:
    """What :func:`validate_generators` found; ``valid`` is the verdict.

    Errors are relative: ``skew_error = max|A_k + A_k^T| / max|A|`` and
    ``commutator_error = max|A_k A_l - A_l A_k| / max|A|^2``. ``grid_separation`` is
    ``min ||R(p) - R(q)||_F`` over distinct grid points, or None when relativity
    fails (not skew-symmetric or not commuting) and it was not computed.
    """

    n_axes: int
    skew_error: float
    commutator_error: float
    rank: int
    grid_separation: float | None
    rtol: float
    min_separation: float

    @property
    def skew_symmetric(self) -> bool:
        """Every ``A_k^T = -A_k``, so every ``R(p)`` is orthogonal."""
        return self.skew_error <= self.rtol

    @property
    def commuting(self) -> bool:
        """Every ``A_k A_l = A_l A_k``, so ``expm`` turns sums into products."""
        return self.commutator_error <= self.rtol

    @property
    def full_rank(self) -> bool:
        """The ``A_k`` are linearly independent: ``rank(F) = n_axes``."""
        return self.rank == self.n_axes

    @property
    def injective_on_grid(self) -> bool:
        """Distinct grid positions give rotations at least ``min_separation`` apart."""
        return self.grid_separation is not None and self.grid_separation > self.min_separation

    @property
    def valid(self) -> bool:
        """Relativity (skew, commuting) and invertibility (full rank, injective)."""
        return self.skew_symmetric and self.commuting and self.full_rank and self.injective_on_grid


def _grid_separation(frequencies: np.ndarray, grid_shape: tuple[int, ...]) -> float:
    """``min ||R(p) - R(q)||_F`` over distinct points of an integer grid, given ``F``.

    With relativity ``||R(p) - R(q)|| = ||I - R(q - p)||``, and a plane turned by
    ``phi`` contributes ``8 sin^2(phi / 2)`` to the squared norm of ``R - I``.
    """
    axes = [np.arange(1 - size, size, dtype=np.float64) for size in grid_shape]
    offsets = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    offsets = offsets[np.any(offsets != 0, axis=1)]
    half_angles = (offsets @ frequencies) / 2
    return float(np.sqrt(np.min(np.sum(8 * np.sin(half_angles) ** 2, axis=1))))


def validate_generators(A: ArrayLike, grid_shape: tuple[int, ...] | None = None, *,
                        rtol: float = 1e-9,
                        min_separation: float = 1e-6) -> GeneratorReport:
    """Check whether generators ``A_k`` define a valid N-D RoPE ``R(p) = expm(sum p_k A_k)``.

    The post's two requirements, made checkable:

    * relativity ``R(p)^T R(q) = R(q - p)``: every ``A_k`` skew-symmetric and every
      pair commuting (sufficient, and what every RoPE in use satisfies);
    * invertibility: ``rank F = n_axes`` (no direction of motion leaves ``R``
      unchanged; rank of the stacked ``vec(A_k)``), and distinct rotations for
      distinct points of the integer grid ``{0..s_0-1} x ... x {0..s_{n-1}-1}``. Both
      are needed: ``rot((x + y) theta)`` is rank 1 and fails on ``(1, 2), (2, 1)``;
      ``rot((x + sqrt(2) y) theta)`` is rank 1 yet injective on every integer grid;
      a full-rank ``F`` with a period of 1 in some direction fails on the grid only.

    The grid test uses :func:`canonical_form`: by relativity ``R(p) = R(q)`` iff
    ``R(q - p) = I``, so only the offsets ``q - p`` need checking, in closed form.

    Parameters
    ----------
    A : array_like, shape (n_axes, D, D)
        Candidate generators, ``D`` even.
    grid_shape : sequence of int, optional
        Grid size per axis (each at least 2); default 8 per axis.
    rtol : float
        Relative tolerance for skew-symmetry, commutation and rank.
    min_separation : float
        Smallest Frobenius distance between two grid rotations counted as distinct.

    Returns
    -------
    GeneratorReport

    Examples
    --------
    >>> from refimpl.rope.nd import axial_frequencies
    >>> validate_generators(generators(axial_frequencies(16, 2)), (32, 32)).valid
    True
    >>> report = validate_generators(generators([[1.0], [1.0]]))
    >>> report.commuting, report.rank, report.valid
    (True, 1, False)
    """
    A = _check_family(A)
    n_axes = A.shape[0]
    rtol = as_scalar(rtol, "rtol", positive=True)
    min_separation = as_scalar(min_separation, "min_separation", positive=True)
    grid_shape = (8,) * n_axes if grid_shape is None else tuple(
        as_int(size, "grid_shape", minimum=2) for size in grid_shape)
    if len(grid_shape) != n_axes:
        raise ValueError(f"grid_shape must have {n_axes} entries (one per axis), got {grid_shape}")
    scale = float(np.max(np.abs(A))) or 1.0
    skew_error = float(np.max(np.abs(A + np.swapaxes(A, -1, -2)))) / scale
    products = A[:, None] @ A[None, :]
    commutator_error = float(np.max(np.abs(products - np.swapaxes(products, 0, 1)))) / scale**2
    singular = np.linalg.svd(A.reshape(n_axes, -1), compute_uv=False)
    rank = int(np.sum(singular > rtol * singular[0])) if singular[0] > 0 else 0
    separation = None
    if skew_error <= rtol and commutator_error <= rtol:
        separation = _grid_separation(canonical_form(A, rtol=rtol)[1], grid_shape)
    return GeneratorReport(n_axes, skew_error, commutator_error, rank, separation,
                           rtol, min_separation)
