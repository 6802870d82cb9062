"""Shared helpers of the refimpl.similarity tests: seeds, adversarial scales, Gaussian
sentence vectors and a plain normalisation to compare against."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

seeds = st.integers(0, 2**32 - 1)
# per-vector rescaling factors from 1e-150 to 1e150 (adversarial magnitudes)
log_scales = st.lists(st.floats(-150, 150), min_size=1, max_size=8)


def random_vectors(seed: int, *shape: int) -> np.ndarray:
    """Gaussian vectors (never zero in practice)."""
    return np.random.default_rng(seed).standard_normal(shape)


def naive_unit(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
