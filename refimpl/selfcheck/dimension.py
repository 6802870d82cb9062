"""Self-checks of refimpl.dimension: the post's h_n table, roots, and the JL guarantee."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, ive

from refimpl.dimension import (
    dimension_rule,
    h_n,
    jl_dimension,
    minimum_dimension,
    random_projection,
    worst_distortion,
)
from refimpl.selfcheck._core import Check, CheckResult

#: h_n as printed in kexue.fm/archives/7695 (n = 32, 64, 96, 128, 256, 512)
POST_TABLE = {32: "-7.77471", 64: "-15.4734", 96: "-23.1726", 128: "-30.8718",
              256: "-61.6692", 512: "-123.264"}
#: roots of the criterion 2 ln N + h_n = 0 of https://kexue.fm/archives/7695, computed
#: independently of refimpl (h_n by quadrature, then bisection), to 2 decimals
NOTE_ROOTS = {512: 51.54, 1e4: 76.25, 1e5: 95.39, 5e6: 127.91}


def post_table(rng: np.random.Generator) -> CheckResult:
    """Error against the printed table, in units of half the last printed digit."""
    del rng
    worst = max(abs(float(h_n(n)) - float(text)) / (0.5 * 10.0 ** -len(text.split(".")[1]))
                for n, text in POST_TABLE.items())
    return CheckResult(len(POST_TABLE), worst, 1.0, unit="half-digits")


def bessel_closed_form(rng: np.random.Generator) -> CheckResult:
    """Relative error against the Bessel closed form (scipy ``ive``, n <= 5000).

    ``h_n = ln Γ(n/2) + (n/2-1) ln(2/n) + ln I_{n/2-1}(n) - n I_{n/2}(n) / I_{n/2-1}(n)``.
    """
    n = np.concatenate([[2.0, 3.0, 5000.0], rng.uniform(2, 5000, size=20)])
    nu = n / 2 - 1
    exact = (gammaln(n / 2) + nu * np.log(2 / n) + np.log(ive(nu, n)) + n
             - n * ive(nu + 1, n) / ive(nu, n))
    return CheckResult(n.size, float(np.max(np.abs(h_n(n) / exact - 1))), 1e-11, unit="rel")


def roots_and_rule(rng: np.random.Generator) -> CheckResult:
    """|root - note| (to 0.005) and 0 < rule - root < 1 for N in [512, 5e6]."""
    worst = max(abs(minimum_dimension(N) - root) / 0.005 for N, root in NOTE_ROOTS.items())
    for N in np.exp(rng.uniform(np.log(512), np.log(5e6), size=6)):
        gap = float(dimension_rule(N)) - minimum_dimension(N)
        worst = max(worst, gap if gap > 0 else np.inf)
    return CheckResult(len(NOTE_ROOTS) + 6, worst, 1.0, unit="ratio")


def jl_guarantee(rng: np.random.Generator) -> CheckResult:
    """Failure rate of a Gaussian projection to 24 ln N / eps^2 dims (bound: 1/N)."""
    count, eps, trials = 20, 0.5, 40
    n = int(np.ceil(jl_dimension(count, eps)))
    failures = 0
    for _ in range(trials):
        points = rng.standard_normal((count, 30))
        failures += worst_distortion(points, random_projection(points, n, rng=rng)) > eps
    return CheckResult(trials, failures / trials, 1 / count,
                       f"{failures} of {trials} projections distorted a pair by > {eps}",
                       unit="fraction")


CHECKS = [
    Check("dimension: h_n reproduces the post's table", post_table),
    Check("dimension: h_n matches the Bessel closed form", bessel_closed_form),
    Check("dimension: roots; 8.33 ln N within 1 of them", roots_and_rule),
    Check("dimension: JL projection distortion <= eps", jl_guarantee),
]
