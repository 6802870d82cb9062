"""Helpers shared by the tests of refimpl.rope (imported by bare name, see tests/householder)."""

import numpy as np
from numpy.typing import ArrayLike


def rotary_dim(angles: ArrayLike) -> int:
    """The rotary width ``2P`` that ``angles`` covers: the explicit ``rotary_dim=`` of
    :func:`refimpl.rope.apply` for partial rotary (issue #16: never inferred)."""
    return 2 * np.shape(angles)[-1]
