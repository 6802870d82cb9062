"""refimpl.testing.properties.vmf on independent stand-ins: Wood's sampler written in
kit_standins passes; the s-vae envelope and an unprojected tangent fail the property
that states the law they break; log-normalizer slips are named."""

import numpy as np
import pytest
from kit_standins import wood_sampler

from refimpl.testing.properties import Case
from refimpl.testing.properties import vmf as properties
from refimpl.vmf.distribution import log_normalizer

SAMPLER = properties.SAMPLER_PROPERTIES


def run(fn, names):
    subject = properties.sampler_subject(fn)
    return {(case.d, case.kappa, name): getattr(properties, name)(subject, case)
            for case in properties.sampler_cases(subject) for name in names}


def test_independent_wood_sampler_passes_every_property():
    results = run(wood_sampler(), [p.name for p in SAMPLER])
    failed = [key for key, result in results.items() if not result.passed]
    assert not failed, failed


def test_svae_envelope_fails_the_law_of_w_where_kappa_is_below_d():
    results = run(wood_sampler(envelope="svae"), ["law_of_w", "mean_of_w"])
    failed = {(d, kappa) for (d, kappa, _), result in results.items() if not result.passed}
    assert failed == {(100, 11.0), (1000, 100.0)}


def test_unprojected_tangent_fails_unit_norms_with_the_fault_named():
    subject = properties.sampler_subject(wood_sampler(project_tangent=False))
    case = properties.sampler_cases(subject)[1]
    result = properties.unit_norms(subject, case)
    assert not result.passed and "not orthogonal to mu" in result.faults[0]


def test_a_crashing_sampler_fails_every_property():
    def crash(mu, kappa, n, seed):
        raise RuntimeError("no")

    subject = properties.sampler_subject(crash)
    case = properties.sampler_cases(subject)[0]
    for name in ("law_of_w", "mean_of_w", "tangent_isotropy", "unit_norms"):
        assert not getattr(properties, name)(subject, case).passed


def test_level_is_bonferroni_over_the_grid():
    subject = properties.sampler_subject(wood_sampler())
    assert subject.level == pytest.approx(1e-6 / (4 * len(properties.SAMPLER_CASES)))


@pytest.mark.parametrize("slip, phrase", [
    (lambda d, k: -log_normalizer(d, k), "returns -log C"),
    (lambda d, k: log_normalizer(d + 1, k), "sphere dimension"),
])
def test_log_normalizer_slips_are_named(slip, phrase):
    subject = properties.normalizer_subject(slip)
    result = properties.log_normalizer_accuracy(
        subject, Case(d=10, kappa=np.array([0.5, 3.0, 40.0])))
    assert not result.passed and any(phrase in f for f in result.faults)


def test_kappa_zero_has_a_finite_tolerance():
    """At kappa = 0 the terms are those of -log|S^(d-1)|: a finite, failing tolerance."""
    assert np.all(np.isfinite(properties.term_magnitude(50, np.array([0.0, 1e-300]))))
    wrong = properties.normalizer_subject(lambda d, k: log_normalizer(d, k) + 1e-9)
    assert not properties.log_normalizer_accuracy(wrong, Case(d=50, kappa=0.0)).passed


def test_scalar_only_and_crashing_normalizers():
    scalar = properties.normalizer_subject(lambda d, k: float(log_normalizer(d, float(k))))
    assert properties.log_normalizer_accuracy(
        scalar, Case(d=3, kappa=np.array([1.0, 2.0]))).passed

    def crash(d, k):
        raise OverflowError

    result = properties.log_normalizer_accuracy(properties.normalizer_subject(crash),
                                                Case(d=3, kappa=1.0))
    assert not result.passed and np.isinf(result.measured)
