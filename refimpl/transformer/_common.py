"""Input checks shared by the modules of :mod:`refimpl.transformer`.

:func:`token_ids` checks integer ids (tokens, targets, segments, positions) against the
size of the table they index.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["token_ids"]


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
