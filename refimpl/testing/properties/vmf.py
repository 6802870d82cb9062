"""Properties of a von Mises-Fisher sampler ``fn(mu, kappa, n, seed)`` and of ``log C_d(kappa)``.

A vMF sample ``x`` on the unit sphere of ``R^d`` splits into ``w = <mu, x>``, whose law is
known exactly (:func:`refimpl.vmf.marginal.marginal_cdf`; Wood, "Simulation of the von
Mises Fisher distribution", Communications in Statistics - Simulation and Computation
23(1), 1994), and a tangent direction ``(x - w mu)/|x - w mu|`` uniform on the sphere
orthogonal to ``mu``. The sampler properties test exactly that, each on one ``(d,
kappa)`` case drawn from the grid :data:`SAMPLER_CASES` with a fixed seed:

* the law of w (Kolmogorov-Smirnov against the exact CDF) and its mean, the mean
  resultant length ``A_d(kappa)`` (a z-test with variance ``A_d'(kappa) / n``);
* tangent isotropy (the mean tangent direction is 0: chi-squared with ``d - 1`` degrees
  of freedom; its second moment along a fixed tangent direction is ``1/(d-1)``);
* unit norms (deterministic, tolerance ``SAFETY eps (sqrt(d) + n)``: projecting a
  Gaussian direction off ``mu`` loses about ``eps / |v_perp|`` of orthogonality, and
  among ``n`` draws in ``d = 2`` the smallest ``|v_perp|`` is about ``1/n``).

Statistical properties report ``-log10 p`` against ``-log10`` of the level, which is
``false_alarm / (4 cases)``: four tests per case, Bonferroni over the grid, so a
correct sampler fails any of them with probability at most ``false_alarm`` (1e-6).
Power at the defaults (n = 4000, 8 cases, level 3.1e-8 per test): the KS test rejects
a CDF of ``w`` off by more than 0.047 somewhere; the mean test a bias of
``5.53 sqrt(A'/n)`` (0.0086 at ``d = 100, kappa = 11``, where the approximate envelope
``b = (d - 1)/(4 kappa)`` of s-vae-pytorch, ``hyperspherical_vae/distributions/
von_mises_fisher.py`` at commit 671c46c, for Davidson et al., arXiv:1804.00891, is off
by about 0.5).

``log C_d(kappa)`` is compared with a reference (refimpl's
:func:`refimpl.vmf.log_normalizer` by default) with tolerance ``SAFETY eps S``, where
``S = |nu log kappa| + (nu + 1) log 2 pi + |log ive_nu(kappa)| + kappa`` (``nu = d/2 - 1``)
adds up the magnitudes of the terms the usual formula sums, so a correct evaluation by
that formula passes; at ``kappa = 0`` the terms are those of ``-log |S^(d-1)|``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

from refimpl.testing.properties._core import (
    Case,
    Property,
    PropertyResult,
    numpy_callable,
    tolerance,
)
from refimpl.vmf.bessel import log_bessel_ive
from refimpl.vmf.distribution import (
    log_normalizer,
    mean_resultant_length,
    mean_resultant_length_derivative,
)
from refimpl.vmf.marginal import marginal_cdf

__all__ = ["SAMPLER_CASES", "NORMALIZER_DIMS", "NORMALIZER_KAPPAS", "SamplerSubject",
           "NormalizerSubject", "sampler_subject", "normalizer_subject", "sampler_cases",
           "law_of_w", "mean_of_w", "tangent_isotropy", "unit_norms", "term_magnitude",
           "log_normalizer_accuracy", "SAMPLER_PROPERTIES", "NORMALIZER_PROPERTIES"]

#: ``(d, kappa)`` of the sampler properties: small d (exact paths), kappa ~ d, and
#: ``11 <= kappa << d`` where an approximate envelope fails.
SAMPLER_CASES = ((2, 1.0), (3, 2.0), (3, 1e-12), (5, 50.0), (10, 5.0), (100, 11.0),
                 (1000, 100.0), (100, 1000.0))

#: Statistical tests per sampler case (law of w, mean of w, two tangent tests).
TESTS_PER_CASE = 4

#: Dimensions and concentrations of the log-normalizer grid: d = 2 to 1e5, kappa 1e-10 to 1e10.
NORMALIZER_DIMS = (2, 3, 5, 10, 100, 1000, 10_000, 100_000)
NORMALIZER_KAPPAS = tuple(10.0**e for e in (-10, -6, -3, -1, 0, 1, 2, 3, 4, 6, 8, 10))


@dataclass(frozen=True, eq=False)
class SamplerSubject:
    """A vMF sampler ``fn(mu, kappa, n, seed) -> (n, d)`` and the statistical budget.

    Draws are kept per ``(d, kappa, seed)`` so that the four properties of one case test
    the same samples (the sampler is called once per case).
    """

    fn: Callable[[np.ndarray, float, int, int], Any]
    n: int = 4000
    false_alarm: float = 1e-6
    cases: tuple[tuple[int, float], ...] = SAMPLER_CASES
    dtype: str = "float64"
    name: str = "fn"
    draws: dict[tuple[int, float, int], np.ndarray] = field(default_factory=dict)

    @property
    def level(self) -> float:
        """Level of each test: ``false_alarm / (4 len(cases))``."""
        return self.false_alarm / (TESTS_PER_CASE * len(self.cases))

    def sample(self, case: Case) -> np.ndarray:
        """The ``(n, d)`` draws of this case (NaN when the sampler fails or misshapes)."""
        key = (int(case.d), float(case.kappa), int(case.seed))
        if key not in self.draws:
            with np.errstate(all="ignore"):
                try:
                    x = np.asarray(self.fn(case.mu, float(case.kappa), self.n, int(case.seed)),
                                   dtype=np.float64)
                except Exception:  # reported as a failure of every property of the case
                    x = np.full((self.n, int(case.d)), np.nan)
            self.draws[key] = x if x.shape == (self.n, int(case.d)) else np.full(
                (self.n, int(case.d)), np.nan)
        return self.draws[key]


@dataclass(frozen=True, eq=False)
class NormalizerSubject:
    """A ``log C_d(kappa)`` ``fn(d, kappa)`` and the reference it is compared with."""

    fn: Callable[[int, Any], Any]
    dtype: str = "float64"
    reference: Callable[[int, np.ndarray], Any] = log_normalizer
    name: str = "fn"

    def __call__(self, d: int, kappa: np.ndarray) -> np.ndarray:
        """``fn(d, kappa)`` vectorised over kappa, else point by point (NaN on a crash)."""
        with np.errstate(all="ignore"):
            try:
                values = np.asarray(self.fn(d, kappa), dtype=np.float64)
                if values.shape == kappa.shape:
                    return values
            except Exception:  # a scalar-only function: evaluated point by point below
                pass
            out = np.empty(kappa.shape)
            for j, k in enumerate(kappa.ravel()):
                try:
                    out.flat[j] = float(np.asarray(self.fn(d, float(k)), dtype=np.float64))
                except Exception:  # a crash at one point counts as non-finite there
                    out.flat[j] = np.nan
            return out


def sampler_subject(fn: Callable[..., Any], *, n: int = 4000, false_alarm: float = 1e-6,
                    cases: tuple[tuple[int, float], ...] = SAMPLER_CASES,
                    dtype: str = "float64", framework: str | None = None) -> SamplerSubject:
    """Wrap a foreign sampler as a :class:`SamplerSubject`."""
    return SamplerSubject(numpy_callable(fn, framework, dtype), int(n), float(false_alarm),
                          tuple(cases), dtype, getattr(fn, "__name__", "fn"))


def normalizer_subject(fn: Callable[..., Any], *, dtype: str = "float64",
                       framework: str | None = None) -> NormalizerSubject:
    """Wrap a foreign ``log C_d(kappa)`` as a :class:`NormalizerSubject`."""
    return NormalizerSubject(numpy_callable(fn, framework, dtype), dtype,
                             name=getattr(fn, "__name__", "fn"))


def sampler_cases(subject: SamplerSubject, seed: int = 0) -> list[Case]:
    """One case per ``(d, kappa)`` of the subject's grid: a random unit ``mu`` and a seed."""
    rng = np.random.default_rng(seed)
    cases = []
    for d, kappa in subject.cases:
        mu = rng.standard_normal(d)
        cases.append(Case(d=d, kappa=kappa, mu=mu / np.linalg.norm(mu),
                          seed=int(rng.integers(2**31))))
    return cases


def _minus_log10(p: float) -> float:
    return float(-np.log10(max(p, 1e-300))) + 0.0


def _w(subject: SamplerSubject, case: Case) -> tuple[np.ndarray, np.ndarray]:
    x = subject.sample(case)
    return x, np.clip(x @ case.mu, -1.0, 1.0)


def _label(case: Case) -> str:
    return f"d={case.d} kappa={case.kappa:g}"


def _statistical(name: str, p: float, subject: SamplerSubject, case: Case, detail: str
                 ) -> PropertyResult:
    faults = () if np.isfinite(p) else ("samples are non-finite or misshapen",)
    return PropertyResult(name, _minus_log10(p) if np.isfinite(p) else np.inf,
                          _minus_log10(subject.level), f"{_label(case)}: {detail}", faults,
                          Case(d=case.d, kappa=case.kappa, mu=case.mu, seed=case.seed))


def law_of_w(subject: SamplerSubject, case: Case) -> PropertyResult:
    """``w = <mu, x>`` has the exact marginal law (fields ``d, kappa, mu, seed``): ``-log10 p``
    of the Kolmogorov-Smirnov test against :func:`refimpl.vmf.marginal.marginal_cdf`."""
    x, w = _w(subject, case)
    if not np.all(np.isfinite(x)):
        return _statistical("vmf.law_of_w", np.nan, subject, case, "")
    p = stats.kstest(w, lambda t: marginal_cdf(t, case.d, case.kappa)).pvalue
    return _statistical("vmf.law_of_w", float(p), subject, case,
                        "-log10 p of the KS test of w against the exact CDF")


def mean_of_w(subject: SamplerSubject, case: Case) -> PropertyResult:
    """``E[w] = A_d(kappa)``, the mean resultant length (fields as :func:`law_of_w`):
    ``-log10 p`` of the z-test with variance ``A_d'(kappa) / n``."""
    x, w = _w(subject, case)
    if not np.all(np.isfinite(x)):
        return _statistical("vmf.mean_of_w", np.nan, subject, case, "")
    bias = float(w.mean() - mean_resultant_length(case.d, case.kappa))
    spread = float(mean_resultant_length_derivative(case.d, case.kappa))
    z = bias / np.sqrt(spread / len(w)) if spread > 0 else 0.0
    return _statistical("vmf.mean_of_w", float(2 * stats.norm.sf(abs(z))), subject, case,
                        f"-log10 p of the z-test; mean of w - A_d = {bias:.3g}")


def tangent_isotropy(subject: SamplerSubject, case: Case) -> PropertyResult:
    """The tangent direction is uniform on the sphere orthogonal to ``mu`` (fields as
    :func:`law_of_w`): the smaller ``p`` of the mean test (chi-squared) and, for
    ``d >= 3``, the second-moment test along a fixed tangent direction (z-test)."""
    x, w = _w(subject, case)
    if not np.all(np.isfinite(x)):
        return _statistical("vmf.tangent_isotropy", np.nan, subject, case, "")
    n, d = x.shape
    mu = case.mu
    tangent = x - w[:, None] * mu
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-300)
    mean = tangent.mean(axis=0)
    mean -= (mean @ mu) * mu
    p_mean = float(stats.chi2.sf(n * (d - 1) * float(mean @ mean), d - 1))
    p_spread = 1.0
    if d >= 3:
        u = np.random.default_rng(case.seed).standard_normal(d)
        u -= (u @ mu) * mu
        u /= np.linalg.norm(u)
        variance = 2.0 * (d - 2) / ((d - 1) ** 2 * (d + 1))
        z = (np.mean((tangent @ u) ** 2) - 1.0 / (d - 1)) / np.sqrt(variance / n)
        p_spread = float(2 * stats.norm.sf(abs(z)))
    return _statistical("vmf.tangent_isotropy", min(p_mean, p_spread), subject, case,
                        f"-log10 min p: tangent mean (p={p_mean:.2g}), spread (p={p_spread:.2g})")


def unit_norms(subject: SamplerSubject, case: Case) -> PropertyResult:
    """Every sample is a unit vector (fields as :func:`law_of_w`).

    Measured: ``max | |x| - 1 |``. Tolerance: ``SAFETY eps (sqrt(d) + n)`` (module notes).
    """
    x = subject.sample(case)
    error = float(np.max(np.abs(np.linalg.norm(x, axis=1) - 1.0)))
    faults = () if not error > 1e-6 else (
        "samples are not unit vectors: the tangent part is not orthogonal to mu (the recipe "
        "w mu + sqrt(1 - w^2) v without projecting v off mu), or the rotation to mu is not "
        "orthogonal",)
    return PropertyResult("vmf.unit_norms", error,
                          tolerance(subject.dtype, np.sqrt(case.d) + subject.n),
                          f"{_label(case)}: max | |x| - 1 |", faults,
                          Case(d=case.d, kappa=case.kappa, mu=case.mu, seed=case.seed))


def term_magnitude(d: int, kappa: np.ndarray) -> np.ndarray:
    """``S(d, kappa)``: the magnitudes of the terms ``log C`` is assembled from (module notes).

    Examples
    --------
    >>> bool(term_magnitude(3, np.array([0.0]))[0] > 0)
    True
    """
    kappa = np.asarray(kappa, dtype=np.float64)
    nu = 0.5 * d - 1.0
    area = np.log(2.0) + (nu + 1.0) * np.log(np.pi) + abs(float(special.gammaln(nu + 1.0)))
    positive = np.where(kappa > 0, kappa, 1.0)
    with np.errstate(divide="ignore"):
        terms = (np.abs(nu * np.log(positive)) + (nu + 1.0) * np.log(2 * np.pi)
                 + np.abs(log_bessel_ive(nu, positive)) + positive)
    return np.where(kappa > 0, terms, area)


def log_normalizer_accuracy(subject: NormalizerSubject, case: Case) -> PropertyResult:
    """``fn(d, kappa) = log C_d(kappa)`` (fields ``d``, ``kappa``: a float or an array).

    Measured: ``max |fn - reference| / S`` relative to ``SAFETY eps``, i.e. the error in
    units of its tolerance; passes at ``<= 1``. Non-finite values fail. Faults name the
    usual convention slips: ``-log C`` (the log normalization constant ``log Z`` of
    TensorFlow Probability and s-vae) and the sphere dimension ``d - 1``.
    """
    d, kappa = int(case.d), np.atleast_1d(np.asarray(case.kappa, dtype=np.float64))
    found = subject(d, kappa)
    expected = np.asarray(subject.reference(d, kappa), dtype=np.float64)
    allowed = tolerance(subject.dtype, 1.0) * term_magnitude(d, kappa)
    ratio = np.where(np.isfinite(found), np.abs(found - expected) / allowed, np.inf)
    faults: tuple[str, ...] = ()
    bad = ratio > 1
    if np.any(bad):
        slips = {"returns -log C (the log normalization constant log Z of TFP and s-vae)":
                 -expected, "uses the sphere dimension d - 1 instead of the ambient d":
                 log_normalizer(d + 1, kappa)}
        faults = tuple(slip for slip, value in slips.items()
                       if np.all(np.abs(found[bad] - value[bad]) <= allowed[bad]))
        if not np.all(np.isfinite(found)):
            faults += (f"non-finite at kappa = {kappa[~np.isfinite(found)].tolist()[:4]} "
                       f"(I_nu(kappa) or ive under/overflowing?)",)
    worst = int(np.argmax(ratio))
    return PropertyResult("vmf.log_normalizer_accuracy", float(ratio[worst]), 1.0,
                          f"error / (SAFETY eps S); worst at d={d}, kappa={kappa[worst]:g}: "
                          f"found {found[worst]:.17g}, reference {expected[worst]:.17g}",
                          faults, Case(d=d, kappa=kappa))


def normalizer_grid(subject: NormalizerSubject) -> list[Case]:
    """One case per dimension of :data:`NORMALIZER_DIMS`, over all of the kappa grid."""
    return [Case(d=d, kappa=np.array(NORMALIZER_KAPPAS)) for d in NORMALIZER_DIMS]


def _sampler_grid(subject: SamplerSubject) -> list[Case]:
    return sampler_cases(subject)


def diagnose(subject: SamplerSubject) -> tuple[str, ...]:
    """The likely bug, named by :func:`refimpl.testing.check_vmf_sampler` from which tests
    fail where (e.g. an approximate envelope where ``11 <= kappa < d``)."""
    from refimpl.testing.vmf import check_vmf_sampler

    return check_vmf_sampler(subject.fn, cases=subject.cases, n=subject.n,
                             false_alarm=subject.false_alarm, dtype=subject.dtype).faults


_LEVEL = "-log10 p <= -log10(false_alarm / (4 cases))"

#: The properties of a vMF sampler; each runs over the grid of the subject's cases.
SAMPLER_PROPERTIES = (
    Property("vmf_sampler", "law_of_w", "w = <mu, x> has the exact marginal law (KS)", _LEVEL,
             law_of_w, "sampler_grid", diagnose=diagnose, grid=_sampler_grid),
    Property("vmf_sampler", "mean_of_w", "E[w] = A_d(kappa) (z-test)", _LEVEL, mean_of_w,
             "sampler_grid", diagnose=diagnose, grid=_sampler_grid),
    Property("vmf_sampler", "tangent_isotropy", "the tangent direction is uniform", _LEVEL,
             tangent_isotropy, "sampler_grid", diagnose=diagnose, grid=_sampler_grid),
    Property("vmf_sampler", "unit_norms", "|x| = 1", "SAFETY eps(dtype) (sqrt(d) + n)",
             unit_norms, "sampler_grid", diagnose=diagnose, grid=_sampler_grid),
)

#: The property of a log-normalizer, over Hypothesis' ``(d, kappa)`` and over the grid.
NORMALIZER_PROPERTIES = (
    Property("vmf_log_normalizer", "accuracy", "fn(d, kappa) = log C_d(kappa)",
             "SAFETY eps(dtype) S(d, kappa)", log_normalizer_accuracy, "normalizer_cases"),
    Property("vmf_log_normalizer", "accuracy_on_the_grid",
             "fn(d, kappa) = log C_d(kappa), d 2..1e5, kappa 1e-10..1e10",
             "SAFETY eps(dtype) S(d, kappa)", log_normalizer_accuracy, "normalizer_grid",
             grid=normalizer_grid),
)
