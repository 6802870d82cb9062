"""The vMF properties, run on refimpl's sampler (every method and tangent route) and on
its log-normalizer.

Sampler: the four properties over the grid of
:data:`refimpl.testing.properties.vmf.SAMPLER_CASES` (n = 4000 per case). Budget: five
samplers share a total false-alarm rate of 1e-6 (each subject gets 2e-7, i.e. 6.25e-9
per test); power as stated in the module (the KS critical distance grows from 0.047 to
0.049 at this level).

Log-normalizer: against mpmath's 50-digit values of tests/vmf/vmf_bessel_fixture.py
(``d`` 2..1e5, ``kappa`` 1e-10..1e10, read here without importing refimpl's code), so
the reference is independent of the code under test.
"""

import importlib.util
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from refimpl.testing.properties import Case
from refimpl.testing.properties import vmf as properties
from refimpl.vmf import log_normalizer, sample

OPTIONS = [{}, {"method": "wood"}, {"method": "inverse"}, {"method": "table"},
           {"tangent": "projection"}]
SAMPLER_PROPERTIES = ("law_of_w", "mean_of_w", "tangent_isotropy", "unit_norms")


def _sampler(options, mu, kappa, n, seed):
    return sample(mu, kappa, size=n, rng=seed, **options)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o.values()) or "default")
def test_sampler_properties(options):
    subject = properties.sampler_subject(partial(_sampler, options),
                                         false_alarm=1e-6 / len(OPTIONS))
    for case in properties.sampler_cases(subject):
        for name in SAMPLER_PROPERTIES:
            getattr(properties, name)(subject, case).assert_holds()


def _fixture():
    path = Path(__file__).parents[1] / "vmf" / "vmf_bessel_fixture.py"
    spec = importlib.util.spec_from_file_location("vmf_bessel_fixture_for_properties", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {(int(row[0]), float(row[1])): float(row[2]) for row in module.DISTRIBUTION_FIXTURE}


MPMATH = _fixture()


def _mpmath_log_normalizer(d, kappa):
    return np.array([MPMATH[(d, float(k))] for k in np.atleast_1d(kappa)])


@pytest.mark.parametrize("d", sorted({d for d, _ in MPMATH}))
def test_log_normalizer_against_mpmath(d):
    kappa = np.array(sorted(k for e, k in MPMATH if e == d))
    subject = properties.NormalizerSubject(log_normalizer, reference=_mpmath_log_normalizer)
    properties.log_normalizer_accuracy(subject, Case(d=d, kappa=kappa)).assert_holds()
