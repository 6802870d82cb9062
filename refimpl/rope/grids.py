"""Position grids for N-D RoPE: which position vector each image (or video) token gets.

Patches of an ``H x W`` image are numbered in raster order (row by row, as a
``(B, C, H, W)`` feature map flattens) and token ``i`` gets the position
``(row, col) = (i // W, i mod W)``. What varies between frameworks is the axis order
of the position vector, its offset or normalisation, the token order (Qwen's vision
tower orders patches in merge blocks, :func:`merge_block_grid`), and where the class
token goes (sources: timm 1.0.31 ``timm/layers/pos_embed_sincos.py``, naver-ai/rope-vit
``models/vit_rope.py``, transformers 5.23.0 ``vision_utils.py`` and
``models/llama4/modeling_llama4.py``, facebookresearch/dinov3
``dinov3/layers/rope_position_encoding.py``):

=========================================  ==============  ===========  ============
source                                     position        axis order   prefix
=========================================  ==============  ===========  ============
the RoPE-2D post, EVA-02, timm ``Cat``      integer index   (row, col)   first
Qwen2-VL / Qwen3-VL / GLM-4V vision        index, blocks   (row, col)   none
Pixtral                                    integer index   (row, col)   none
DINOv3                                     centred, [-1,1] (row, col)   first
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

__all__ = ["AXIS_ORDERS", "index_grid", "pixel_grid", "merge_block_grid", "centred_grid",
           "NORMALISATIONS", "with_prefix_tokens"]

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


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Validate a grid shape: a non-empty sequence of positive integers."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) == 0:
        raise TypeError(f"shape must be a non-empty sequence of integers, got {shape!r}")
    return tuple(as_int(size, "shape", minimum=1) for size in shape)


def _offsets(offset: float | Sequence[float], n_axes: int) -> np.ndarray:
    """A scalar offset for every axis, or one per axis (in ``shape``'s order)."""
    if isinstance(offset, (str, bytes)):
        raise TypeError(f"offset must be a real number or a sequence of them, got {offset!r}")
    if np.ndim(offset) == 0:
        return np.full(n_axes, as_scalar(offset, "offset"))
    values = np.array([as_scalar(value, "offset") for value in np.asarray(offset)])
    if values.shape != (n_axes,):
        raise ValueError(f"offset must be a scalar or hold one value per axis ({n_axes}), "
                         f"got {values.tolist()}")
    return values


def index_grid(shape: Sequence[int], *, axis_order: str = "ij",
               offset: float | Sequence[float] = 0.0) -> np.ndarray:
    """Integer positions of every cell of an N-D grid, in raster order.

    .. math:: p_i = (i_0 + c_0, \\ldots, i_{n-1} + c_{n-1}), \\qquad
              i = \\sum_k i_k \\prod_{l > k} s_l

    Parameters
    ----------
    shape : sequence of int
        Grid size per axis, e.g. ``(H, W)`` or ``(T, H, W)``.
    axis_order : {"ij", "xy"}
        ``"ij"`` gives ``(row, col)`` (EVA-02, timm ``Cat``, Qwen-VL vision); ``"xy"``
        gives ``(col, row)`` (naver rope-vit, timm ``Mixed``, Llama 4). The token
        order is raster order either way.
    offset : float or sequence of float
        ``c``, added to every coordinate, or one ``c_k`` per axis in ``shape``'s order
        (e.g. Qwen-VL's running start on the h and w axes); ``1`` gives Llama 4's
        1-based positions.

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
    >>> index_grid((1, 2), offset=(10, 20))
    array([[10., 20.],
           [10., 21.]])
    """
    shape = _check_shape(shape)
    offsets = _offsets(offset, len(shape))
    coordinates = [np.arange(size, dtype=np.float64) + c
                   for size, c in zip(shape, offsets, strict=True)]
    return _grid(coordinates, axis_order)


def merge_block_grid(shape: Sequence[int], merge_size: int = 2, *, frames: int = 1
                     ) -> np.ndarray:
    """``(row, col)`` of every patch in the token order of Qwen's vision tower: merge blocks.

    The ``H x W`` patches are cut into ``m x m`` blocks (the patches one merged token
    will hold); tokens run block by block in raster order of the blocks, and inside a
    block in raster order:

    .. math:: i = \\big((b_r (W/m) + b_c)\\, m + r\\big)\\, m + c, \\qquad
              (\\text{row}, \\text{col}) = (b_r m + r,\\; b_c m + c)

    With ``frames = t`` the whole list repeats ``t`` times (the vision tower gives
    every frame the same spatial positions). Plain :func:`index_grid` is raster order,
    which differs by up to ``m`` rows here. Source: transformers 5.23.0
    ``vision_utils.get_vision_position_ids`` (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, GLM-4V).

    Parameters
    ----------
    shape : (int, int)
        Patch grid ``(H, W)``, each a multiple of ``merge_size``.
    merge_size : int
        ``spatial_merge_size`` (2 in every released Qwen-VL).
    frames : int
        Temporal patches ``t``.

    Returns
    -------
    ndarray, shape (frames * H * W, 2)

    Examples
    --------
    >>> merge_block_grid((2, 4))[:, 1]
    array([0., 1., 0., 1., 2., 3., 2., 3.])
    """
    dims = _check_shape(shape)
    if len(dims) != 2:
        raise ValueError(f"shape must be (H, W), got {shape!r}")
    height, width = dims
    merge = as_int(merge_size, "merge_size", minimum=1)
    frames = as_int(frames, "frames", minimum=1)
    if height % merge or width % merge:
        raise ValueError(f"shape {dims} must be a multiple of merge_size={merge} on both "
                         "axes")
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float64),
                             np.arange(width, dtype=np.float64), indexing="ij")
    blocks = (height // merge, merge, width // merge, merge)
    order = [grid.reshape(blocks).transpose(0, 2, 1, 3).reshape(-1) for grid in (rows, cols)]
    return np.tile(np.stack(order, axis=-1), (frames, 1))


#: How :func:`centred_grid` divides the patch centres: by each axis's own size, or by
#: the smaller / larger of the two (DINOv3's ``normalize_coords``).
NORMALISATIONS = ("separate", "min", "max")


def centred_grid(shape: Sequence[int], *, normalize: str = "separate") -> np.ndarray:
    """DINOv3's patch centres, ``2 (i + 1/2) / N - 1``, in raster order ``(row, col)``.

    .. math:: p_{i,k} = \\frac{2\\,(i_k + \\tfrac12)}{N_k} - 1, \\qquad
              N_k = s_k \\;(\\text{separate}),\\; \\min_l s_l,\\; \\max_l s_l

    With ``"separate"`` each axis spans ``(-1, 1)`` symmetrically; ``"max"`` keeps the
    aspect ratio inside ``[-1, 1]`` (the shorter axis does not reach ``1``), ``"min"``
    lets the longer axis pass 1. The angle of DINOv3 is ``2 pi p / period``. Source:
    facebookresearch/dinov3 ``dinov3/layers/rope_position_encoding.py``
    (``RopePositionEmbedding.forward``), timm 1.0.31 ``RotaryEmbeddingDinoV3``.

    Examples
    --------
    >>> centred_grid((1, 4))[:, 1]
    array([-0.75, -0.25,  0.25,  0.75])
    >>> centred_grid((2, 4), normalize="max")[:, 0].reshape(2, 4)[:, 0]
    array([-0.75, -0.25])
    """
    dims = _check_shape(shape)
    check_choice(normalize, "normalize", NORMALISATIONS)
    sizes = {"separate": dims, "min": (min(dims),) * len(dims),
             "max": (max(dims),) * len(dims)}[normalize]
    return _grid([2.0 * (np.arange(size) + 0.5) / norm - 1.0
                  for size, norm in zip(dims, sizes, strict=True)], "ij")


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
