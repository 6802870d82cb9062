"""check_vmf_sampler and check_vmf_log_normalizer: pass correct code, name the known bugs."""

import numpy as np
import pytest
from kit_standins import wood_sampler
from scipy import special

from refimpl.testing import check_vmf_log_normalizer, check_vmf_sampler
from refimpl.vmf.distribution import log_normalizer

# The sampler check has a total false-alarm rate of 1e-6 (Bonferroni over its 32 tests)
# and fixed seeds. Power: the KS test rejects a CDF error above 0.047 and the mean test a
# bias of 5.53 standard errors (0.0086 at d=100, kappa=11); the s-vae envelope is off by ~0.5.


def test_independent_wood_sampler_passes():
    report = check_vmf_sampler(wood_sampler(), rng=1)
    assert report.passed, str(report)
    assert report.identified["level per test"] == pytest.approx(1e-6 / 32)


@pytest.mark.parametrize("options", [{}, {"method": "wood"}, {"method": "inverse"},
                                     {"method": "table"}, {"tangent": "projection"}])
def test_refimpl_sampler_passes(options):
    from functools import partial

    from refimpl.vmf.sampling import sample
    report = check_vmf_sampler(partial(sample, **options))
    assert report.passed, str(report)


def test_svae_envelope_is_caught_where_kappa_is_below_d():
    report = check_vmf_sampler(wood_sampler(envelope="svae"), rng=1)
    assert not report.passed
    failing = {row.name.split(":")[0] for row in report.rows if not row.passed}
    assert failing == {"d=100 kappa=11", "d=1000 kappa=100"}
    assert any("approximate envelope" in f and "s-vae" in f for f in report.faults)


def test_unprojected_tangent_is_caught():
    report = check_vmf_sampler(wood_sampler(project_tangent=False), rng=1)
    assert not report.passed
    assert any("not orthogonal to mu" in f for f in report.faults)


def test_renormalised_unprojected_tangent_is_caught_by_the_law_of_w():
    raw = wood_sampler(project_tangent=False)

    def renormalised(mu, kappa, n, seed):
        x = raw(mu, kappa, n, seed)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    report = check_vmf_sampler(renormalised, rng=1)
    assert not report.passed
    assert not report.row("d=3 kappa=2: KS of w").passed


def test_sampler_returning_nan_or_wrong_shape_fails():
    report = check_vmf_sampler(lambda mu, kappa, n, seed: np.full((n, mu.size), np.nan),
                               cases=((3, 1.0),))
    assert not report.passed and "finite samples" in str(report)


def scipy_log_normalizer(d, kappa):
    """The textbook formula through ``scipy.special.ive``: underflows at large d."""
    nu = d / 2 - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        return (nu * np.log(kappa) - (nu + 1) * np.log(2 * np.pi)
                - (np.log(special.ive(nu, kappa)) + kappa))


def test_refimpl_log_normalizer_passes():
    assert check_vmf_log_normalizer(log_normalizer).passed


def test_scipy_formula_is_flagged_non_finite():
    report = check_vmf_log_normalizer(scipy_log_normalizer)
    assert not report.row("finite on the grid").passed
    # about a third of the grid is non-finite: ive underflows to 0 at large d, small kappa
    assert 20 <= report.identified["non-finite points"] <= 50
    assert report.row("accuracy where finite (error / tolerance)").passed


@pytest.mark.parametrize("slip, phrase", [
    (lambda d, k: -log_normalizer(d, k), "returns -log C"),
    (lambda d, k: log_normalizer(d + 1, k), "sphere dimension"),
])
def test_convention_slips_are_named(slip, phrase):
    report = check_vmf_log_normalizer(slip)
    assert not report.passed and any(phrase in f for f in report.faults)


def test_scalar_only_function_is_accepted():
    report = check_vmf_log_normalizer(lambda d, k: float(log_normalizer(d, float(k))))
    assert report.passed
