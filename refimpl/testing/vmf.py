"""von Mises-Fisher conformance: statistical checks of a sampler, accuracy of a normalizer.

:func:`check_vmf_sampler` draws from a foreign sampler at a grid of ``(d, kappa)`` and
runs four tests per case, at a total false-alarm rate of ``1e-6`` (Bonferroni over all
tests): a Kolmogorov-Smirnov test of ``w = <mu, x>`` against the exact marginal CDF
(:func:`refimpl.vmf.marginal.marginal_cdf`), a z-test of the mean of ``w`` against the
mean resultant length ``A_d(kappa)`` (variance ``A_d'``), and two tests that the tangent
direction ``(x - w mu)/|x - w mu|`` is uniform on the sphere orthogonal to ``mu`` (its
mean is 0: a chi-squared test with ``d - 1`` degrees of freedom; its second moment
along a fixed tangent direction is ``1/(d-1)``). Samples must also be unit vectors to
rounding (a deterministic row, tolerance ``16 eps (sqrt(d) + n)``: projecting a
Gaussian direction off ``mu`` loses about ``eps / |v_perp|`` of orthogonality, and among
``n`` draws in ``d = 2`` the smallest ``|v_perp|`` is about ``1/n``).

Power, with the default 4000 draws per case and 8 cases (32 tests, each at level
``3.1e-8``): the KS test rejects a sampler whose CDF of ``w`` is off by more than 0.047
somewhere; the mean test catches a bias in ``E[w]`` of ``5.53 sqrt(A'/n)`` (for
``d = 100, kappa = 11`` that is 0.0086, while the s-vae approximate envelope gives a
bias of about -0.5, research note vmf_householder_testing_anchors.md §3.1); an
un-orthogonalised tangent part (the StackExchange recipe ``w mu + sqrt(1-w^2) v`` with
``v`` not projected off ``mu``) breaks the unit norm, and when renormalised shifts the law
of ``w`` at small ``d``.

:func:`check_vmf_log_normalizer` evaluates a foreign ``log C_d(kappa)`` on a
``(d, kappa)`` grid from ``d = 2`` to ``1e5`` and ``kappa = 1e-10`` to ``1e10``, flags
where it is non-finite and where it is inaccurate, with the tolerance of research note
§8.6: ``16 eps S`` with ``S = |nu log kappa| + (nu+1) log 2 pi + |log ive_nu(kappa)| + kappa``,
the magnitudes of the terms the formula adds. It also names the usual convention
slips (returning ``-log C``, the TFP/s-vae ``log Z``; using the sphere dimension).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy import stats

from refimpl._validation import as_generator, check_choice
from refimpl.testing.adapters import as_numpy_function
from refimpl.testing.report import Report, Row
from refimpl.testing.rope import EPSILON, SAFETY
from refimpl.vmf.bessel import log_bessel_ive
from refimpl.vmf.distribution import (
    log_normalizer,
    mean_resultant_length,
    mean_resultant_length_derivative,
)
from refimpl.vmf.marginal import marginal_cdf

__all__ = ["SAMPLER_CASES", "check_vmf_sampler", "check_vmf_log_normalizer"]

#: ``(d, kappa)`` of the sampler check: small d (exact paths), d = kappa regimes, and
#: ``11 <= kappa << d`` where the s-vae envelope approximation fails.
SAMPLER_CASES = ((2, 1.0), (3, 2.0), (3, 1e-12), (5, 50.0), (10, 5.0), (100, 11.0),
                 (1000, 100.0), (100, 1000.0))

#: Dimensions and concentrations of the normalizer grid (research note §6.3).
NORMALIZER_DIMS = (2, 3, 5, 10, 100, 1000, 10_000, 100_000)
NORMALIZER_KAPPAS = tuple(10.0**e for e in (-10, -6, -3, -1, 0, 1, 2, 3, 4, 6, 8, 10))


def _minus_log10(p: float) -> float:
    return float(-np.log10(max(p, 1e-300))) + 0.0


def _tangent_tests(x: np.ndarray, w: np.ndarray, mu: np.ndarray,
                   rng: np.random.Generator) -> tuple[float, float]:
    """p-values: tangent mean is 0 (chi-squared) and ``E[(u.t)^2] = 1/(d-1)`` (z-test)."""
    n, d = x.shape
    tangent = x - w[:, None] * mu
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-300)
    mean = tangent.mean(axis=0)
    mean -= (mean @ mu) * mu
    chi2 = n * (d - 1) * float(mean @ mean)
    p_mean = float(stats.chi2.sf(chi2, d - 1))
    if d < 3:
        return p_mean, 1.0
    u = rng.standard_normal(d)
    u -= (u @ mu) * mu
    u /= np.linalg.norm(u)
    square = (tangent @ u) ** 2
    variance = 2.0 * (d - 2) / ((d - 1) ** 2 * (d + 1))
    z = (square.mean() - 1.0 / (d - 1)) / np.sqrt(variance / n)
    return p_mean, float(2 * stats.norm.sf(abs(z)))


def _sampler_faults(failures: dict[tuple[int, float], set[str]], means) -> list[str]:
    """Name the likely bug from which tests failed where."""
    faults = []
    if any("unit norm" in f for f in failures.values()):
        faults.append("samples are not unit vectors: the tangent part is not orthogonal to mu "
                      "(the StackExchange recipe w mu + sqrt(1-w^2) v without projecting v), or "
                      "the rotation to mu is not orthogonal")
    law = {case for case, failed in failures.items() if failed & {"KS of w", "mean of w"}}
    if law and all(11 <= kappa < d for d, kappa in law) and all(
            means[case] < 0 for case in law):
        faults.append("w is too small exactly where 11 <= kappa < d: consistent with the "
                      "s-vae approximate envelope b = (d-1)/(4 kappa) (research note §3.1)")
    elif law:
        cases = ", ".join(f"d={d} kappa={kappa:g}" for d, kappa in sorted(law))
        faults.append(f"the law of w = <mu, x> is wrong at {cases}")
    tangent = {case for case, failed in failures.items() if failed & {"tangent mean",
                                                                       "tangent spread"}}
    if tangent and not law:
        faults.append("the tangent direction is not uniform on the sphere orthogonal to mu")
    return faults


def check_vmf_sampler(fn: Callable, *, cases: tuple[tuple[int, float], ...] = SAMPLER_CASES,
                      n: int = 4000, false_alarm: float = 1e-6, dtype: str = "float64",
                      framework: str | None = None, rng: Any = 0) -> Report:
    """Statistical conformance of a vMF sampler ``fn(mu, kappa, n, seed) -> (n, d)``.

    Parameters
    ----------
    fn : callable
        ``fn(mu, kappa, n, seed)``: ``mu`` a unit vector of shape ``(d,)``, ``kappa`` a
        float, ``n`` the number of draws, ``seed`` an int; returns ``(n, d)`` samples.
        ``refimpl.vmf.sample`` has this signature.
    cases : tuple of (d, kappa)
        Where to test (default :data:`SAMPLER_CASES`).
    n : int
        Draws per case (the power statement of the module notes assumes 4000).
    false_alarm : float
        Probability that a correct sampler fails any test (Bonferroni over all tests).
    dtype : str
        Precision the sampler claims (tolerance of the unit-norm row).
    framework : {"numpy", "torch", "jax"}, optional
        Convert ``mu`` to this framework before calling ``fn``.
    rng : None, int or numpy.random.Generator
        Source of the directions ``mu``, the seeds passed to ``fn`` and test directions.

    Returns
    -------
    Report
        Per case: unit norm, and ``-log10 p`` of the KS, mean, tangent-mean and
        tangent-spread tests against ``-log10`` of the per-test level.
    """
    eps = EPSILON[check_choice(dtype, "dtype", tuple(EPSILON))]
    fn = as_numpy_function(fn, framework, None if dtype == "float64" else "float32")
    generator = as_generator(rng)
    level = false_alarm / (4 * len(cases))
    rows, failures, means = [], {}, {}
    for d, kappa in cases:
        mu = generator.standard_normal(d)
        mu /= np.linalg.norm(mu)
        x = np.asarray(fn(mu, kappa, n, int(generator.integers(2**31))), dtype=np.float64)
        label = f"d={d} kappa={kappa:g}"
        if x.shape != (n, d) or not np.all(np.isfinite(x)):
            rows.append(Row(f"{label}: finite samples of shape ({n}, {d})", 1.0, 0.0,
                            f"got shape {x.shape}, finite: {bool(np.all(np.isfinite(x)))}"))
            failures[(d, kappa)] = {"shape"}
            continue
        w = np.clip(x @ mu, -1.0, 1.0)
        mean_a = float(mean_resultant_length(d, kappa))
        spread = float(mean_resultant_length_derivative(d, kappa))
        means[(d, kappa)] = float(w.mean() - mean_a)
        z = means[(d, kappa)] / np.sqrt(spread / n) if spread > 0 else 0.0
        p_tangent_mean, p_tangent_spread = _tangent_tests(x, w, mu, generator)
        norm_error = float(np.max(np.abs(np.linalg.norm(x, axis=1) - 1.0)))
        case_rows = [
            Row(f"{label}: unit norm", norm_error, SAFETY * eps * (np.sqrt(d) + n),
                "max | |x| - 1 |"),
            Row(f"{label}: KS of w", _minus_log10(stats.kstest(
                w, lambda t: marginal_cdf(t, d, kappa)).pvalue), _minus_log10(level),
                "-log10 p of the Kolmogorov-Smirnov test"),
            Row(f"{label}: mean of w", _minus_log10(2 * stats.norm.sf(abs(z))),
                _minus_log10(level), f"mean of w - A_d = {means[(d, kappa)]:.3g}"),
            Row(f"{label}: tangent mean", _minus_log10(p_tangent_mean), _minus_log10(level),
                "-log10 p, chi-squared test that the mean tangent direction is 0"),
            Row(f"{label}: tangent spread", _minus_log10(p_tangent_spread),
                _minus_log10(level), "-log10 p, z-test of E[(u.t)^2] = 1/(d-1)"),
        ]
        rows += case_rows
        failed = {row.name.split(": ")[1] for row in case_rows if not row.passed}
        if failed:
            failures[(d, kappa)] = failed
    info = {"draws per case": n, "false alarm (all tests)": false_alarm,
            "level per test": level}
    return Report("vMF sampler conformance", tuple(rows), info,
                  tuple(_sampler_faults(failures, means)))


def _call_grid(fn: Callable, d: int, kappa: np.ndarray) -> np.ndarray:
    """``fn(d, kappa)`` vectorised over kappa, or one call per kappa when that fails."""
    with np.errstate(all="ignore"):
        try:
            values = np.asarray(fn(d, kappa), dtype=np.float64)
            if values.shape == kappa.shape:
                return values
        except Exception:  # a scalar-only foreign function
            pass
        out = np.empty_like(kappa)
        for j, k in enumerate(kappa):
            try:
                out[j] = float(np.asarray(fn(d, float(k)), dtype=np.float64))
            except Exception:  # a crash at one point counts as non-finite there
                out[j] = np.nan
        return out


def _term_magnitude(d: int, kappa: np.ndarray) -> np.ndarray:
    """``S``: the magnitudes of the terms ``log C`` is assembled from (module notes)."""
    nu = 0.5 * d - 1.0
    return (np.abs(nu * np.log(kappa)) + (nu + 1.0) * np.log(2 * np.pi)
            + np.abs(log_bessel_ive(nu, kappa)) + kappa)


def check_vmf_log_normalizer(fn: Callable, *, dtype: str = "float64",
                             framework: str | None = None) -> Report:
    """Accuracy and finiteness of a foreign ``log C_d(kappa)`` over the ``(d, kappa)`` grid.

    Parameters
    ----------
    fn : callable
        ``fn(d, kappa)`` with an int ``d`` and an array (or float) ``kappa``.
    dtype : {"float64", "float32", ...}
        Precision claimed; the tolerance is ``16 eps S`` (module notes).
    framework : {"numpy", "torch", "jax"}, optional
        Convert ``kappa`` to this framework before calling ``fn``.

    Examples
    --------
    >>> check_vmf_log_normalizer(log_normalizer).passed
    True
    """
    eps = EPSILON[check_choice(dtype, "dtype", tuple(EPSILON))]
    fn = as_numpy_function(fn, framework, None if dtype == "float64" else "float32")
    kappa = np.array(NORMALIZER_KAPPAS)
    nonfinite, inaccurate, worst = [], [], 0.0
    slips = {"returns -log C (the log normalization constant Z of TFP/s-vae)": 0,
             "uses the sphere dimension d - 1 instead of the ambient d": 0}
    for d in NORMALIZER_DIMS:
        found = _call_grid(fn, d, kappa)
        expected = log_normalizer(d, kappa)
        tolerance = SAFETY * eps * _term_magnitude(d, kappa)
        finite = np.isfinite(found)
        nonfinite += [f"d={d} kappa={k:g}" for k in kappa[~finite]]
        ratio = np.abs(found - expected) / tolerance
        bad = finite & (ratio > 1)
        inaccurate += [f"d={d} kappa={k:g} (error {e:.2g})"
                       for k, e in zip(kappa[bad], np.abs(found - expected)[bad])]
        worst = max(worst, float(np.max(ratio[finite], initial=0.0)))
        for slip, alternative in zip(slips, (-expected, log_normalizer(d + 1, kappa))):
            slips[slip] += int(np.sum(finite & (np.abs(found - alternative) <= tolerance)))
    points = len(NORMALIZER_DIMS) * len(NORMALIZER_KAPPAS)
    rows = (Row("finite on the grid", float(len(nonfinite)), 0.0,
                f"non-finite at {len(nonfinite)}/{points} points: {', '.join(nonfinite[:8])}"
                + (" ..." if len(nonfinite) > 8 else "")),
            Row("accuracy where finite (error / tolerance)", worst, 1.0,
                f"inaccurate at {len(inaccurate)} points: {', '.join(inaccurate[:6])}"
                + (" ..." if len(inaccurate) > 6 else "")))
    faults = tuple(slip for slip, count in slips.items()
                   if inaccurate and 2 * count >= len(inaccurate))
    info = {"grid": f"d in {NORMALIZER_DIMS}, kappa in 1e-10..1e10 ({points} points)",
            "non-finite points": len(nonfinite), "inaccurate points": len(inaccurate)}
    return Report("vMF log-normalizer conformance", rows, info, faults)
