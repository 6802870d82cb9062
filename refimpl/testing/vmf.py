"""von Mises-Fisher conformance: statistical checks of a sampler, accuracy of a normalizer.

Both checks run the properties of :mod:`refimpl.testing.properties.vmf`, where each is
stated once with its error model and power, and report them case by case.

:func:`check_vmf_sampler` draws from a foreign sampler at a grid of ``(d, kappa)`` and
runs, per case, a Kolmogorov-Smirnov test of ``w = <mu, x>`` against the exact marginal
CDF (:func:`refimpl.vmf.marginal.marginal_cdf`), a z-test of the mean of ``w`` against
the mean resultant length ``A_d(kappa)``, a test that the tangent direction is uniform
on the sphere orthogonal to ``mu``, and a deterministic unit-norm check; four
statistical tests per case at a total false-alarm rate of ``1e-6`` (Bonferroni). From
which tests fail where it names the usual bugs: the approximate envelope
``b = (d - 1)/(4 kappa)`` of s-vae-pytorch (``hyperspherical_vae/distributions/
von_mises_fisher.py``, commit 671c46c), which biases ``w`` low where
``11 <= kappa < d``; a tangent part not projected off ``mu`` (``w mu + sqrt(1 - w^2) v``
with a raw Gaussian ``v``), which breaks the unit norm, and once renormalised shifts the
law of ``w`` at small ``d``.

:func:`check_vmf_log_normalizer` evaluates a foreign ``log C_d(kappa)`` on a
``(d, kappa)`` grid from ``d = 2`` to ``1e5`` and ``kappa = 1e-10`` to ``1e10``, flags
where it is non-finite and where it is inaccurate (tolerance ``16 eps S``, ``S`` the
magnitudes of the terms the usual formula adds), and names the usual convention slips
(returning ``-log C``, the ``log Z`` of TensorFlow Probability and s-vae; using the
sphere dimension ``d - 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl._validation import as_generator
from refimpl.testing.properties import Case, PropertyResult
from refimpl.testing.properties.vmf import (
    NORMALIZER_DIMS,
    NORMALIZER_KAPPAS,
    SAMPLER_CASES,
    law_of_w,
    log_normalizer_accuracy,
    mean_of_w,
    normalizer_subject,
    sampler_subject,
    tangent_isotropy,
    unit_norms,
)
from refimpl.testing.report import Report, Row
from refimpl.vmf.distribution import (
    log_normalizer,  # noqa: F401 (used by the examples)
    mean_resultant_length,
)

__all__ = ["SAMPLER_CASES", "NORMALIZER_DIMS", "NORMALIZER_KAPPAS", "check_vmf_sampler",
           "check_vmf_log_normalizer"]

#: The kit's row names of the four statistical properties and the deterministic one.
_SAMPLER_ROWS = (("unit norm", unit_norms), ("KS of w", law_of_w), ("mean of w", mean_of_w),
                 ("tangent", tangent_isotropy))


def _sampler_faults(failures: dict[tuple[int, float], set[str]],
                    bias: dict[tuple[int, float], float],
                    named: tuple[str, ...]) -> list[str]:
    """Name the likely bug from which tests failed where."""
    faults = [fault for fault in named if "not unit vectors" in fault][:1]
    law = {case for case, failed in failures.items() if failed & {"KS of w", "mean of w"}}
    if law and all(11 <= kappa < d for d, kappa in law) and all(bias[case] < 0 for case in law):
        faults.append("w is too small exactly where 11 <= kappa < d: consistent with the "
                      "approximate envelope b = (d-1)/(4 kappa) of s-vae-pytorch "
                      "(hyperspherical_vae/distributions/von_mises_fisher.py)")
    elif law:
        cases = ", ".join(f"d={d} kappa={kappa:g}" for d, kappa in sorted(law))
        faults.append(f"the law of w = <mu, x> is wrong at {cases}")
    if any("tangent" in failed for failed in failures.values()) and not law:
        faults.append("the tangent direction is not uniform on the sphere orthogonal to mu")
    if any("shape" in failed for failed in failures.values()):
        faults.append("samples are non-finite or misshapen")
    return faults


def check_vmf_sampler(fn: Callable[..., Any], *,
                      cases: tuple[tuple[int, float], ...] = SAMPLER_CASES, n: int = 4000,
                      false_alarm: float = 1e-6, dtype: str = "float64",
                      framework: str | None = None, rng: Any = 0) -> Report:
    """Statistical conformance of a vMF sampler ``fn(mu, kappa, n, seed) -> (n, d)``.

    Runs the sampler properties of :mod:`refimpl.testing.properties.vmf` (the law of w,
    its mean, tangent isotropy at a total false-alarm rate, unit norms; see there for
    the power) on every case.

    Parameters
    ----------
    fn : callable
        ``fn(mu, kappa, n, seed)``: ``mu`` a unit vector of shape ``(d,)``, ``kappa`` a
        float, ``n`` the number of draws, ``seed`` an int; returns ``(n, d)`` samples.
        ``refimpl.vmf.sample`` has this signature.
    cases : tuple of (d, kappa)
        Where to test (default :data:`SAMPLER_CASES`).
    n : int
        Draws per case (the power statement assumes 4000).
    false_alarm : float
        Probability that a correct sampler fails any test (Bonferroni over all tests).
    dtype : str
        Precision the sampler claims (tolerance of the unit-norm row).
    framework : {"numpy", "torch", "jax"}, optional
        Convert ``mu`` to this framework before calling ``fn``.
    rng : None, int or numpy.random.Generator
        Source of the directions ``mu`` and the seeds passed to ``fn``.

    Returns
    -------
    Report
        Per case: unit norm, and ``-log10 p`` of the KS, mean and tangent tests against
        ``-log10`` of the per-test level.
    """
    subject = sampler_subject(fn, n=n, false_alarm=false_alarm, cases=cases, dtype=dtype,
                              framework=framework)
    generator = as_generator(rng)
    rows: list[Row] = []
    failures: dict[tuple[int, float], set[str]] = {}
    bias: dict[tuple[int, float], float] = {}
    named: tuple[str, ...] = ()
    for d, kappa in cases:
        mu = generator.standard_normal(d)
        case = Case(d=d, kappa=kappa, mu=mu / np.linalg.norm(mu),
                    seed=int(generator.integers(2**31)))
        label = f"d={d} kappa={kappa:g}"
        results: list[tuple[str, PropertyResult]] = [(name, check(subject, case))
                                                     for name, check in _SAMPLER_ROWS]
        x = subject.sample(case)
        if not np.all(np.isfinite(x)):
            rows.append(Row(f"{label}: finite samples of shape ({n}, {d})", 1.0, 0.0,
                            "the sampler failed, or returned NaN/inf or another shape"))
            failures[(d, kappa)] = {"shape"}
            continue
        bias[(d, kappa)] = float(np.mean(np.clip(x @ case.mu, -1, 1))) - float(
            mean_resultant_length(d, kappa))
        rows += [Row(f"{label}: {name}", result.measured, result.tolerance,
                     result.detail.split(": ", 1)[-1]) for name, result in results]
        failed = {name for name, result in results if not result.passed}
        named += tuple(f for _, result in results for f in result.faults)
        if failed:
            failures[(d, kappa)] = failed
    info = {"draws per case": n, "false alarm (all tests)": false_alarm,
            "level per test": subject.level}
    return Report("vMF sampler conformance", tuple(rows), info,
                  tuple(_sampler_faults(failures, bias, named)))


def check_vmf_log_normalizer(fn: Callable[..., Any], *, dtype: str = "float64",
                             framework: str | None = None) -> Report:
    """Accuracy and finiteness of a foreign ``log C_d(kappa)`` over the ``(d, kappa)`` grid.

    Runs :func:`refimpl.testing.properties.vmf.log_normalizer_accuracy` (tolerance
    ``16 eps S``, see there) for every ``d`` of :data:`NORMALIZER_DIMS` over all of
    :data:`NORMALIZER_KAPPAS`, and counts where the value is non-finite or inaccurate.

    Parameters
    ----------
    fn : callable
        ``fn(d, kappa)`` with an int ``d`` and an array (or float) ``kappa``.
    dtype : {"float64", "float32", ...}
        Precision claimed; sets ``eps`` in the tolerance.
    framework : {"numpy", "torch", "jax"}, optional
        Convert ``kappa`` to this framework before calling ``fn``.

    Examples
    --------
    >>> check_vmf_log_normalizer(log_normalizer).passed
    True
    """
    subject = normalizer_subject(fn, dtype=dtype, framework=framework)
    nonfinite: list[str] = []
    inaccurate: list[str] = []
    slips: dict[str, int] = {}
    worst = 0.0
    for d in NORMALIZER_DIMS:
        for kappa in NORMALIZER_KAPPAS:
            result = log_normalizer_accuracy(subject, Case(d=d, kappa=kappa))
            if not np.isfinite(result.measured):
                nonfinite.append(f"d={d} kappa={kappa:g}")
                continue
            worst = max(worst, result.measured)
            if not result.passed:
                inaccurate.append(f"d={d} kappa={kappa:g} ({result.measured:.2g} x tol)")
                for slip in result.faults:
                    slips[slip] = slips.get(slip, 0) + 1
    points = len(NORMALIZER_DIMS) * len(NORMALIZER_KAPPAS)
    rows = (Row("finite on the grid", float(len(nonfinite)), 0.0,
                f"non-finite at {len(nonfinite)}/{points} points: {', '.join(nonfinite[:8])}"
                + (" ..." if len(nonfinite) > 8 else "")),
            Row("accuracy where finite (error / tolerance)", worst, 1.0,
                f"inaccurate at {len(inaccurate)} points: {', '.join(inaccurate[:6])}"
                + (" ..." if len(inaccurate) > 6 else "")))
    faults = tuple(slip for slip, count in slips.items() if 2 * count >= len(inaccurate))
    info = {"grid": f"d in {NORMALIZER_DIMS}, kappa in 1e-10..1e10 ({points} points)",
            "non-finite points": len(nonfinite), "inaccurate points": len(inaccurate)}
    return Report("vMF log-normalizer conformance", rows, info, faults)
