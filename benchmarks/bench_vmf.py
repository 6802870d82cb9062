"""von Mises-Fisher: sampling and the log-normalizer against SciPy, and finiteness.

Prints, measured side by side in one run:

* ``refimpl.vmf.sample`` (default method and tangent route) for n = 100,000 draws at
  d = 3, 10, 100, 1000 against ``scipy.stats.vonmises_fisher(mu, kappa).rvs(n)`` (targets:
  <= 1.2x SciPy's time at d = 3, >= 1.5x faster at d = 10 and 100, >= 10x faster at
  d = 1000) and against the floor, drawing n*d standard normals (target <= 2x);
* per-example kappa: ``transform``, ``transform_vjp`` and ``sample`` with n = 100,000
  distinct kappas (log-uniform in [1, 100]) against the same call with one shared kappa,
  d = 64 (target <= 2x each; no Python loop over kappa values);
* ``log_normalizer`` over 10^6 kappas against SciPy's ``ive``-based formula (<= 3x);
* the fraction of a (d, kappa) grid (d in 2..1e5, kappa in 1e-10..1e10) where SciPy's
  ``entropy``/``logpdf`` are non-finite, and where ours are (target 0).

SciPy at d = 1000 takes about a minute (a d x d QR per call), so it is timed once. With
torch installed, ``sample`` against a torch port of Wood's sampler (benchmarks/torch_ports.py,
Gaussian tangent projected off mu) at d = 10, 100, 1000, target <= 1.0.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from _timing import interleaved_best, median_time, print_table, torch_ports
from scipy import special, stats

from refimpl.vmf import (
    draw_noise,
    entropy,
    log_normalizer,
    logpdf,
    sample,
    transform,
    transform_vjp,
)

N = 100_000
KAPPA = 10.0


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sampling_rows() -> list[tuple[str, float, str]]:
    rows = []
    for d, target in [(3, "<= 1.2"), (10, "<= 0.67"), (100, "<= 0.67"), (1000, "<= 0.1")]:
        mu = np.random.default_rng(d).standard_normal(d)
        mu /= np.linalg.norm(mu)
        rng = np.random.default_rng(0)
        repeat = 7 if d < 1000 else 1
        frozen = stats.vonmises_fisher(mu, KAPPA)

        def ours_draw(mu=mu, rng=rng):
            return sample(mu, KAPPA, size=N, rng=rng)

        def floor_draw(rng=rng, d=d):
            return rng.standard_normal(N * d)

        def peer_draw(frozen=frozen, rng=rng):
            return frozen.rvs(N, random_state=rng)

        ours = median_time(ours_draw, repeat=repeat)
        floor = median_time(floor_draw, repeat=repeat)
        peer = median_time(peer_draw, repeat=repeat) if d < 1000 else _once(peer_draw)
        rows.append((f"sample d={d}, n={N} / scipy vonmises_fisher.rvs", ours / peer, target))
        rows.append((f"sample d={d}, n={N} / draw n*d normals (floor)", ours / floor, "<= 2"))
    return rows


def normalizer_rows() -> list[tuple[str, float, str]]:
    kappa = np.geomspace(1e-2, 1e4, 10**6)
    rows = []
    for d in (10, 100):
        nu = d / 2 - 1

        def scipy_formula(nu=nu):
            with np.errstate(divide="ignore", invalid="ignore"):
                return (nu * np.log(kappa) - (nu + 1) * np.log(2 * np.pi)
                        - np.log(special.ive(nu, kappa)) - kappa)

        def ours(d=d):
            return log_normalizer(d, kappa)

        ratio = median_time(ours, repeat=3) / median_time(scipy_formula, repeat=3)
        rows.append((f"log_normalizer d={d}, 1e6 kappas / scipy ive formula", ratio, "<= 3"))
    return rows


def finiteness_rows() -> list[tuple[str, float, str]]:
    dims = [2, 3, 5, 10, 100, 1000, 10**4, 10**5]
    kappas = np.geomspace(1e-10, 1e10, 13)
    scipy_bad = ours_bad = 0
    for d in dims:
        mu = np.zeros(d)
        mu[0] = 1.0
        for kappa in kappas:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                frozen = stats.vonmises_fisher(mu, kappa)
                values = [frozen.entropy(), frozen.logpdf(mu)]
            scipy_bad += not np.all(np.isfinite(values))
            ours = [entropy(d, kappa), logpdf(mu, mu, kappa)]
            ours_bad += not np.all(np.isfinite(ours))
    total = len(dims) * len(kappas)
    return [(f"fraction non-finite entropy/logpdf, scipy ({total} grid points)",
             scipy_bad / total, "(context: peer)"),
            (f"fraction non-finite entropy/logpdf, refimpl ({total} grid points)",
             ours_bad / total, "<= 0")]


def per_example_kappa_rows() -> list[tuple[str, float, str]]:
    """n distinct kappas against one shared kappa, same n, d and noise, interleaved."""
    n, d = N, 64
    rng = np.random.default_rng(5)
    distinct = 10.0 ** rng.uniform(0.0, 2.0, n)
    shared = np.full(n, 10.0)
    mu = np.eye(d)[0]
    noise = draw_noise(d, size=n, rng=6)
    grad = rng.standard_normal((n, d))
    calls = {
        "transform": lambda k: transform(noise, mu, k),
        "transform_vjp": lambda k: transform_vjp(grad, noise, mu, k),
        "sample": lambda k: sample(mu, k, rng=np.random.default_rng(0)),
    }
    rows = []
    for name, call in calls.items():
        best = interleaved_best({"distinct": lambda call=call: call(distinct),
                                 "shared": lambda call=call: call(shared)}, rounds=3)
        rows.append((f"{name} n={n}, d={d}: distinct kappas / one shared kappa",
                     best["distinct"] / best["shared"], "<= 2"))
    return rows


def torch_rows(ports) -> list[tuple[str, float, str]]:
    """``sample`` against the torch port of Wood's sampler (benchmarks/torch_ports.py)."""
    rows = []
    for d in (10, 100, 1000):
        mu = np.random.default_rng(d).standard_normal(d)
        mu /= np.linalg.norm(mu)
        tmu, rng = ports.tensor(mu), np.random.default_rng(0)
        best = interleaved_best({
            "ours": lambda mu=mu, rng=rng: sample(mu, KAPPA, size=N, rng=rng),
            "torch": lambda tmu=tmu: ports.wood_vmf_sample(tmu, KAPPA, N)}, rounds=5)
        rows.append((f"sample d={d}, n={N} / torch port of Wood's sampler",
                     best["ours"] / best["torch"], "<= 1.0"))
    return rows


def main() -> None:
    print_table("vMF sampling (time ratios)", sampling_rows())
    ports = torch_ports()
    if ports is not None:
        print_table(f"vMF sampling against torch CPU float64 (kappa = {KAPPA:g})",
                    torch_rows(ports))
    print_table("vMF per-example kappa (time ratios)", per_example_kappa_rows())
    print_table("vMF log-normalizer (time ratio)", normalizer_rows())
    print_table("vMF finiteness on d in [2, 1e5] x kappa in [1e-10, 1e10]", finiteness_rows())


if __name__ == "__main__":
    main()
