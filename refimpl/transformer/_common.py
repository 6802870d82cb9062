"""Input checks shared by the modules of :mod:`refimpl.transformer`.

:func:`token_ids` checks integer ids (tokens, targets, segments, positions) against the
size of the table they index; :func:`token_positions` checks (or makes) the positions of
a call's tokens.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import broadcasts_to
from refimpl.transformer.config import TransformerConfig

__all__ = ["token_ids", "token_positions"]


def token_ids(value: ArrayLike, name: str, size: int, minimum_ndim: int = 1) -> np.ndarray:
    """An integer array with entries in ``[0, size)``, or raise naming ``name``."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.ndim < minimum_ndim or (minimum_ndim and array.shape[-1] == 0):
        raise ValueError(f"{name} must have a non-empty last (sequence) axis, got shape "
                         f"{array.shape}")
    if array.size and (array.min() < 0 or array.max() >= size):
        bad = array[(array < 0) | (array >= size)].ravel()[0]
        raise ValueError(f"{name} must lie in [0, {size}), got {bad}")
    return array.astype(np.intp)


def _signed_positions(value: ArrayLike) -> np.ndarray:
    """Integer positions in the int32 range, negative ones included."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"positions must hold integers, got dtype {array.dtype}")
    if array.ndim < 1 or array.shape[-1] == 0:
        raise ValueError(f"positions must have a non-empty last (sequence) axis, got shape "
                         f"{array.shape}")
    limit = np.iinfo(np.int32).max
    if array.size and (array.min() < -limit or array.max() > limit):
        raise ValueError(f"positions must lie in [-{limit}, {limit}], got "
                         f"{array[(array < -limit) | (array > limit)].ravel()[0]}")
    return array.astype(np.intp)


def token_positions(config: TransformerConfig, positions: ArrayLike | None,
                    shape: tuple[int, ...], start: int = 0) -> np.ndarray:
    """Integer positions broadcasting to the token ``shape``; default ``start .. start+T-1``.

    Positions index the learned table (``[0, max_positions)``) with
    ``positions="learned"``; otherwise (RoPE angles, which only their differences
    matter to) any int32, negative ones included.
    """
    if positions is None:
        positions = start + np.arange(shape[-1])
    if config.positions == "learned":
        checked = token_ids(positions, "positions", config.max_positions)
    else:
        checked = _signed_positions(positions)
    if not broadcasts_to(checked.shape, shape):
        raise ValueError(f"positions of shape {checked.shape} must broadcast to the "
                         f"tokens' shape {shape}")
    return checked
