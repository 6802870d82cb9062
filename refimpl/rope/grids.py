"""Position grids for N-D RoPE: which position vector each image (or video) token gets.

Patches of an ``H x W`` image are numbered in raster order (row by row, as a
``(B, C, H, W)`` feature map flattens) and token ``i`` gets the position
``(row, col) = (i // W, i mod W)``. What varies between frameworks is the axis order
of the position vector, its offset or normalisation, and where the class token goes
(research notes rope_anchors.md §2.4, §5, §8.7 and rope2d_householder.md §D):

=========================================  ==============  ===========  ============
source                                     position        axis order   prefix
=========================================  ==============  ===========  ============
the RoPE-2D post, EVA-02, timm ``Cat``      integer index   (row, col)   first
Qwen2-VL / Qwen3-VL vision                 integer index   (row, col)   none
naver rope-vit, timm ``Mixed``              integer index   (col, row)   first
Llama 4 vision                             index + 1       (col, row)   last
timm / lucidrains 'pixel' mode             ``[-1, 1]``     (row, col)   --
=========================================  ==============  ===========  ============

Prefix tokens sit at the origin, where every RoPE is the identity (angle 0). A
1-based grid keeps the origin for them alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_float_array, as_int, as_scalar, check_choice

__all__ = ["AXIS_ORDERS", "index_grid", "pixel_grid", "with_prefix_tokens"]

#: ``"ij"``: coordinates in the order of ``shape`` (row first in 2-D);
#: ``"xy"``: 2-D only, column first (``x = col, y = row``).
AXIS_ORDERS = ("ij", "xy")


def _grid(coordinates: list[np.ndarray], axis_order: str) -> np.ndarray:
    """Raster-order positions from per-axis coordinates, in the requested axis order."""
    check_choice(axis_order, "axis_order", AXIS_ORDERS)
    if axis_order == "xy" and len(coordinates) != 2:
        raise ValueError(f"axis_order='xy' needs a 2-D shape, got {len(coordinates)} axes")
    mesh = np.meshgrid(*coordinates, indexing="ij")
    positions = np.stack(mesh, axis=-1).reshape(-1, len(coordinates))
    return positions[:, ::-1].copy() if axis_order == "xy" else positions


def _check_shape(shape) -> tuple[int, ...]:
    """Validate a grid shape: a non-empty sequence of positive integers."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) == 0:
        raise TypeError(f"shape must be a non-empty sequence of integers, got {shape!r}")
    return tuple(as_int(size, "shape", minimum=1) for size in shape)


def index_grid(shape: Sequence[int], *, axis_order: str = "ij",
               offset: float = 0.0) -> np.ndarray:
    """Integer positions of every cell of an N-D grid, in raster order.

    .. math:: p_i = (i_0 + c, \\ldots, i_{n-1} + c), \\qquad
              i = \\sum_k i_k \\prod_{l > k} s_l

    Parameters
    ----------
    shape : sequence of int
        Grid size per axis, e.g. ``(H, W)`` or ``(T, H, W)``.
    axis_order : {"ij", "xy"}
        ``"ij"`` gives ``(row, col)`` (EVA-02, timm ``Cat``, Qwen-VL vision); ``"xy"``
        gives ``(col, row)`` (naver rope-vit, timm ``Mixed``, Llama 4). The token
        order is raster order either way.
    offset : float
        ``c``, added to every coordinate; ``1`` gives Llama 4's 1-based positions.

    Returns
    -------
    ndarray, shape (prod(shape), len(shape))

    Examples
    --------
    >>> index_grid((2, 3))
    array([[0., 0.],
           [0., 1.],
           [0., 2.],
           [1., 0.],
           [1., 1.],
           [1., 2.]])
    >>> index_grid((2, 3), axis_order="xy", offset=1)[:4]
    array([[1., 1.],
           [2., 1.],
           [3., 1.],
           [1., 2.]])
    """
    shape = _check_shape(shape)
    offset = as_scalar(offset, "offset")
    return _grid([np.arange(size, dtype=np.float64) + offset for size in shape], axis_order)


def pixel_grid(shape: Sequence[int], *, axis_order: str = "ij") -> np.ndarray:
    """Normalised positions: each axis spans ``[-1, 1]`` (timm / lucidrains 'pixel').

    .. math:: p_{i,k} = -1 + \\frac{2\\, i_k}{s_k - 1}

    as ``numpy.linspace(-1, 1, s_k)``; an axis of size 1 sits at ``-1`` (as
    ``torch.linspace``). Grids of different resolutions cover the same square, so
    positions are fractions of the image rather than patch counts; pair these with
    large ("pixel") frequencies such as ``pi * linspace(1, max_freq / 2, P / n)``.

    Parameters
    ----------
    shape : sequence of int
        Grid size per axis.
    axis_order : {"ij", "xy"}
        As in :func:`index_grid`.

    Returns
    -------
    ndarray, shape (prod(shape), len(shape))

    Examples
    --------
    >>> pixel_grid((3, 2))
    array([[-1., -1.],
           [-1.,  1.],
           [ 0., -1.],
           [ 0.,  1.],
           [ 1., -1.],
           [ 1.,  1.]])
    """
    shape = _check_shape(shape)
    return _grid([np.linspace(-1.0, 1.0, size) for size in shape], axis_order)


def with_prefix_tokens(positions: ArrayLike, n_prefix: int = 1, *,
                       where: str = "first") -> np.ndarray:
    """Add ``n_prefix`` tokens (CLS, registers) at the origin, where RoPE is the identity.

    Because N-D angles are linear in the position, ``p = 0`` gives angle 0 in every
    pair: the token passes through unrotated, which is what EVA-02 / timm (prefix
    first, skipped by RoPE), naver rope-vit and Llama 4 vision (CLS appended last, on
    a 1-based grid so no patch shares the origin) do.

    Parameters
    ----------
    positions : array_like, shape (N, n_axes)
        Positions of the patch tokens.
    n_prefix : int
        Number of extra tokens.
    where : {"first", "last"}
        Prepend (EVA-02, timm, naver) or append (Llama 4).

    Returns
    -------
    ndarray, shape (N + n_prefix, n_axes)

    Examples
    --------
    >>> with_prefix_tokens(index_grid((1, 2), offset=1), where="last")
    array([[1., 1.],
           [1., 2.],
           [0., 0.]])
    """
    positions = as_float_array(positions, "positions")
    if positions.ndim != 2:
        raise ValueError(f"positions must have shape (N, n_axes), got shape {positions.shape}")
    n_prefix = as_int(n_prefix, "n_prefix", minimum=0)
    check_choice(where, "where", ("first", "last"))
    prefix = np.zeros((n_prefix, positions.shape[1]))
    parts = [prefix, positions] if where == "first" else [positions, prefix]
    return np.concatenate(parts, axis=0)
