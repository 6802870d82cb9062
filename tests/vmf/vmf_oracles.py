"""Independent forms shared by the vMF sampler tests (written out, not refimpl's code)."""

from __future__ import annotations

import numpy as np


def householder_matrix(mu: np.ndarray) -> np.ndarray:
    """The reflection e_1 -> mu as a matrix, ``I - 2 n n^T / n^T n`` with ``n = e_1 - mu``
    (the identity at mu = e_1, as refimpl.vmf.sampling documents)."""
    d = mu.size
    e1 = np.eye(d)[0]
    if np.array_equal(mu, e1):
        return np.eye(d)
    n = e1 - mu
    return np.eye(d) - 2.0 * np.outer(n, n) / (n @ n)
