"""Self-checks of refimpl.vmf: normalizer values, the sampler's law, A_d, and the MLE.

The sampler row runs the properties of :mod:`refimpl.testing.properties.vmf` (the law of
w, its mean, tangent isotropy, unit norms) on :func:`refimpl.vmf.sample`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from refimpl.selfcheck._core import Check, CheckResult, from_properties
from refimpl.testing.properties.vmf import (
    law_of_w,
    mean_of_w,
    sampler_cases,
    sampler_subject,
    tangent_isotropy,
    unit_norms,
)
from refimpl.vmf import (
    bessel_iv_ratio_complement,
    fit_kappa,
    kl_to_uniform,
    log_normalizer,
    mean_resultant_length,
    sample,
)

#: mpmath 1.3 (``besseli`` at 50 digits), printed to 9 decimals: d, kappa, log C_d, A_d,
#: KL to uniform.
REFERENCE = [
    (2, 1.0, -2.073791425, 0.446389966, 0.210475607),
    (3, 10.0, -9.535291971, 0.900000004, 1.995732317),
    (8, 20.0, -15.723456480, 0.836456755, 4.485985874),
    (16, 32.0, -19.020327716, 0.789895225, 7.582144376),
    (64, 32.0, 33.521364179, 0.415546944, 6.051146371),
    (128, 1.5, 127.044668056, 0.011717166, 0.008787280),
    (1000, 10.0, 2032.007762750, 0.009999002, 0.049992517),
]


def normalizer_accuracy(rng: np.random.Generator) -> CheckResult:
    """log C_d, A_d and KL against the mpmath table (9 printed digits)."""
    worst = 0.0
    for d, kappa, log_c, a, kl in REFERENCE:
        worst = max(worst, abs(float(log_normalizer(d, kappa)) - log_c) / max(1, abs(log_c)),
                    abs(float(mean_resultant_length(d, kappa)) - a),
                    abs(float(kl_to_uniform(d, kappa)) - kl))
    return CheckResult(len(REFERENCE), worst, 2e-9, "largest deviation from the mpmath table",
                       unit="abs")


#: The sampler grid: d from 2 to 1000, kappa from 0.01 to 1e4.
SAMPLER_GRID = tuple((d, k) for d in (2, 3, 10, 1000) for k in (0.01, 30.0, 1e4))


def _refimpl_sampler(mu: np.ndarray, kappa: float, n: int, seed: int) -> np.ndarray:
    return sample(mu, kappa, size=n, rng=seed)


def sampler_properties(rng: np.random.Generator) -> CheckResult:
    """vmf.law_of_w (KS), mean_of_w, tangent_isotropy and unit_norms of refimpl.vmf.sample
    over the grid (n = 4000 each), at a 1e-6 false-alarm rate over the whole grid."""
    subject = sampler_subject(_refimpl_sampler, cases=SAMPLER_GRID)
    cases = sampler_cases(subject, seed=int(rng.integers(2**31)))
    return from_properties([check(subject, case) for case in cases
                            for check in (law_of_w, mean_of_w, tangent_isotropy, unit_norms)])


def mean_resultant_length_check(rng: np.random.Generator) -> CheckResult:
    """A_3 = coth k - 1/k and A_2 = I_1/I_0 (relative error), A_d in Amos' bounds."""
    kappa = 10.0 ** rng.uniform(-1, 3, 50)
    coth_form = 1 / np.tanh(kappa) - 1 / kappa
    worst = max(np.max(np.abs(mean_resultant_length(3, kappa) / coth_form - 1)),
                np.max(np.abs(mean_resultant_length(2, kappa) * special.i0e(kappa)
                              / special.i1e(kappa) - 1)))
    for d in (5, 100, 10**5):
        nu, a = d / 2 - 1, mean_resultant_length(d, kappa)
        below = np.maximum(kappa / (nu + 0.5 + np.hypot(kappa, nu + 1.5)) - a, 0)
        above = np.maximum(a - kappa / (nu + 0.5 + np.hypot(kappa, nu + 0.5)), 0)
        worst = max(worst, np.max((below + above) / a))
    return CheckResult(kappa.size * 5, float(worst), 1e-12, "A_d disagrees with a closed form",
                       unit="rel")


def fit_recovery(rng: np.random.Generator) -> CheckResult:
    """fit_kappa inverts A_d from exact r_bar (and 1 - r_bar) for d up to 1e5, kappa 1e-8..1e10,
    including d = 3000 where SciPy's fit returns 1e-8."""
    cases = [(3, 0.5), (10, 1e-3), (3000, 3000.0), (10**5, 1e4), (5, 1e9), (2, 1e-8), (64, 32.0)]
    worst = 0.0
    for d, kappa in cases:
        r_bar = float(mean_resultant_length(d, kappa))
        complement = float(bessel_iv_ratio_complement(d / 2 - 1, kappa))
        worst = max(worst, abs(fit_kappa(d, r_bar, complement) / kappa - 1))
    return CheckResult(len(cases), worst, 1e-12, "relative error of the recovered kappa",
                       unit="rel")


CHECKS = [
    Check("vmf log-normalizer, A_d, KL vs mpmath table", normalizer_accuracy),
    Check("vmf sampler: law of w, tangent, norms (d 2..1000)", sampler_properties),
    Check("vmf mean resultant length: closed forms, Amos", mean_resultant_length_check),
    Check("vmf fit recovers kappa (d up to 1e5)", fit_recovery),
]
