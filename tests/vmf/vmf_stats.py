"""Shared statistical thresholds for the vMF sampler tests.

Every statistical assertion in tests/vmf uses the per-check level :data:`ALPHA`: the
suite makes fewer than :data:`MAX_CHECKS` such checks, so by Bonferroni the chance that a
correct implementation fails any of them is below 1e-6 (each run uses fixed seeds, so a
run either always passes or always fails; the level says how unlucky a seed would have to
be). Two-sided z-tests reject beyond :data:`Z_CRITICAL` (= 5.73) standard errors.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

MAX_CHECKS = 200  # 192 statistical assertions at the time of writing (179 sampling, 13 fit)
ALPHA = 1e-6 / MAX_CHECKS
Z_CRITICAL = float(stats.norm.isf(ALPHA / 2))


def z_mean(values: np.ndarray, mean: float, variance: float) -> float:
    """z-score of the sample mean of ``values`` against a known mean and variance."""
    return float((np.mean(values) - mean) / np.sqrt(variance / values.size))


def z_variance(values: np.ndarray, variance: float) -> float:
    """z-score of the sample variance against ``variance`` (plug-in fourth moment)."""
    centred = values - np.mean(values)
    fourth = np.mean(centred ** 4)
    sample = np.mean(centred ** 2)
    return float((sample - variance) / np.sqrt(max(fourth - sample ** 2, 1e-300) / values.size))


def ks_pvalue(values: np.ndarray, cdf) -> float:
    """One-sample Kolmogorov-Smirnov p-value of ``values`` against ``cdf`` (exact n)."""
    return float(stats.kstest(values, cdf).pvalue)


def ks2_pvalue(first: np.ndarray, second: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value."""
    return float(stats.ks_2samp(first, second).pvalue)
