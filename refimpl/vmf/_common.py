"""Argument types and checks shared by the samplers of :mod:`refimpl.vmf`.

:mod:`refimpl.vmf.sampling` and :mod:`refimpl.vmf.wood` both take ``size`` (sample axes,
prepended to the batch) and ``rng`` (a seed or a Generator) the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from refimpl._validation import as_int

#: ``None``, an int seed or a ``numpy.random.Generator`` (see ``as_generator``).
RandomSource = int | np.random.Generator | None

#: Sample axes: ``None``, one int or a sequence of ints.
Size = int | Sequence[int] | None


def size_tuple(size: Size) -> tuple[int, ...]:
    """``size`` as a tuple of non-negative ints (``None`` is ``()``), or ``ValueError`` /
    ``TypeError`` naming ``size``."""
    if size is None:
        return ()
    if np.ndim(size) == 0:
        return (as_int(size, "size", minimum=0),)
    return tuple(as_int(n, "size", minimum=0) for n in size)  # type: ignore[union-attr]
