"""Argument checks shared by every form of the 1-D rotation (:mod:`refimpl.rope.apply`,
:mod:`refimpl.rope.reference_forms`, :mod:`refimpl.rope.generators`).

The rules: ``angles`` covers the whole rotary block, which is all of ``x`` unless the
caller says ``rotary_dim=`` (partial rotary is never inferred from a short ``angles``);
batch axes broadcast, with a hint when a heads axis is missing; a ``basis`` is an
orthogonal float64 matrix.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_float_array, as_int, check_choice, check_ndim

#: The two pair layouts: ``(2k, 2k+1)`` and ``(k, k+P)``.
LAYOUTS = ("interleaved", "half")

#: Largest ``max |Q^T Q - I|`` accepted for ``basis``: a float64 orthogonalisation
#: (QR, expm of a skew matrix) lands near 1e-15; a float32 one (about 1e-7) is rejected.
BASIS_ORTHOGONALITY_TOL = 1e-10


def check_rotary_block(x_shape: tuple[int, ...], angles_shape: tuple[int, ...],
                       rotary_dim: int | None) -> None:
    """Check that ``angles`` covers the rotary block: all of ``x`` unless ``rotary_dim``
    says partial rotary explicitly.

    A short ``angles`` is never read as partial rotary on its own: passing positions
    where angles belong (``(T,)`` positions for ``(T, D)`` x) looks exactly like it.
    Shared with :mod:`refimpl.rope.generators` and the other forms.
    """
    pairs, dim = angles_shape[-1], x_shape[-1]
    if rotary_dim is not None:
        rotary_dim = as_int(rotary_dim, "rotary_dim", minimum=0)
        if rotary_dim != 2 * pairs or rotary_dim > dim:
            raise ValueError(f"rotary_dim={rotary_dim} must equal 2P = {2 * pairs} for angles "
                             f"of shape {angles_shape} and be at most x's last dimension "
                             f"D={dim} (x of shape {x_shape})")
        return
    if 2 * pairs > dim:
        raise ValueError(f"angles of shape {angles_shape} has P={pairs} pairs, so the rotary "
                         f"block 2P={2 * pairs} exceeds x's last dimension D={dim} (x of "
                         f"shape {x_shape})")
    if 2 * pairs < dim:
        raise ValueError(f"angles of shape {angles_shape} covers 2P={2 * pairs} of x's D={dim} "
                         f"features (x of shape {x_shape}): for partial rotary say so with "
                         f"rotary_dim={2 * pairs}; did you pass positions? use "
                         "rope.angles(positions, inv_freq)")


def batch_shape(x_shape: tuple[int, ...], angles_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The batch shape of x and angles, with a hint for a missing heads axis."""
    try:
        return tuple(np.broadcast_shapes(x_shape[:-1], angles_shape[:-1]))
    except ValueError:
        hint = ""
        if len(x_shape) == len(angles_shape) + 1 and len(x_shape) >= 3 and \
                (x_shape[0], *x_shape[2:-1]) == angles_shape[:-1]:
            hint = ("; x looks like (B, H, T, D) and angles like (B, T, P): add the heads "
                    "axis with angles[:, None] (Hugging Face's unsqueeze_dim=1)")
        raise ValueError(f"shapes do not broadcast: x {x_shape}, angles {angles_shape} "
                         f"(batch axes {x_shape[:-1]} and {angles_shape[:-1]}){hint}") from None


def rotation_arguments(x: ArrayLike, angles: ArrayLike, layout: str, magnitude: ArrayLike | None,
               basis: ArrayLike | None, rotary_dim: int | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None,
                          tuple[int, ...]]:
    """Validate the arguments of the rotation; return x, angles, magnitude, basis and the
    output's shape.

    ``x`` may still hold non-finite values: :func:`apply` checks it block by block, while
    the block is in cache, the other forms check it whole.
    """
    check_choice(layout, "layout", LAYOUTS)
    x = as_float_array(x, "x", allow_nonfinite=True)
    check_ndim(x, "x", 1)
    if x.strides[-1] != x.itemsize:
        x = np.ascontiguousarray(x)
    phi = as_float_array(angles, "angles")
    check_ndim(phi, "angles", 1)
    check_rotary_block(x.shape, phi.shape, rotary_dim)
    pairs, dim = phi.shape[-1], x.shape[-1]
    batch = batch_shape(x.shape, phi.shape)
    scale = None
    if magnitude is not None:
        scale = as_float_array(magnitude, "magnitude")
        if np.broadcast_shapes(scale.shape, phi.shape) != phi.shape:
            raise ValueError(f"magnitude of shape {scale.shape} must broadcast to "
                             f"angles' shape {phi.shape}")
    frame = None if basis is None else check_basis(basis, 2 * pairs)
    return x, phi, scale, frame, batch + (dim,)


def check_basis(basis: ArrayLike, size: int) -> np.ndarray:
    """Return ``basis`` as float64 after checking it is an orthogonal (size, size) matrix.

    Shared with :mod:`refimpl.rope.generators`; raises ``ValueError`` naming ``basis``.
    """
    basis = as_float_array(basis, "basis")
    if basis.shape != (size, size):
        raise ValueError(f"basis must have shape ({size}, {size}) to match 2P={size} "
                         f"rotary features, got shape {basis.shape}")
    error = float(np.max(np.abs(basis.T @ basis - np.eye(size)), initial=0.0))
    if error > BASIS_ORTHOGONALITY_TOL:
        raise ValueError(f"basis must be orthogonal: max |Q^T Q - I| = {error:.3g} exceeds "
                         f"{BASIS_ORTHOGONALITY_TOL:g}")
    return basis



def scaled_cos_sin(phi: np.ndarray, scale: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(m cos phi, m sin phi)``, the tables of the fast forms."""
    cos, sin = np.cos(phi), np.sin(phi)
    if scale is not None:
        cos, sin = cos * scale, sin * scale
    return cos, sin
