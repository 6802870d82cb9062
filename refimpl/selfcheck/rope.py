"""Self-checks of refimpl.rope: relativity, orthogonality, the VJP and the schedule fixtures."""

from __future__ import annotations

import functools

import numpy as np

from refimpl import rope
from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck._core import Check, CheckResult

LAYOUTS = ("interleaved", "half")


def relative_invariance(rng: np.random.Generator) -> CheckResult:
    """max |<R_m q, R_n k> - <q, R_(n-m) k>| / (|q||k|) over layouts and partial rotary."""
    worst, cases = 0.0, 0
    for layout in LAYOUTS:
        for rotary_dim, dim in [(8, 8), (8, 11), (64, 64)]:
            omega = rope.inv_freq(rotary_dim)
            for _ in range(20):
                q, k = rng.standard_normal((2, dim))
                m, n = rng.uniform(-1000, 1000, 2)
                options = dict(layout=layout, rotary_dim=rotary_dim)
                left = rope.apply(q, m * omega, **options) @ rope.apply(k, n * omega, **options)
                right = q @ rope.apply(k, (n - m) * omega, **options)
                worst = max(worst, abs(left - right) / (np.linalg.norm(q) * np.linalg.norm(k)))
                cases += 1
    return CheckResult(cases, worst, 1e-11, "scores differ beyond angle rounding", unit="rel")


def orthogonality(rng: np.random.Generator) -> CheckResult:
    """max |R^T R - I|, max | |apply(x)| - |x| | / |x|, and |apply - R x| over both layouts."""
    worst, cases = 0.0, 0
    for layout in LAYOUTS:
        phi = rng.uniform(-100, 100, (10, 6))
        matrix = rope.rotation_matrix(phi, 13, layout)
        worst = max(worst, np.max(np.abs(np.swapaxes(matrix, -1, -2) @ matrix - np.eye(13))))
        x = rng.standard_normal((10, 13))
        y = rope.apply(x, phi, layout=layout, rotary_dim=12)
        norms = np.linalg.norm(x, axis=-1)
        worst = max(worst, np.max(np.abs(np.linalg.norm(y, axis=-1) - norms) / norms),
                    np.max(np.abs(y - (matrix @ x[..., None])[..., 0])))
        cases += len(phi)
    return CheckResult(cases, float(worst), 1e-13, "rotation is not orthogonal", unit="rel")


def vjp(rng: np.random.Generator) -> CheckResult:
    """assert_vjp of apply in x, angles and magnitude (both layouts) and of learned inv_freq.

    A wrong VJP makes assert_vjp raise, which fails the row; otherwise the row shows the
    worst absolute error (gradients here are O(1-10), finite differences ~1e-9).
    """
    worst, cases = 0.0, 0
    positions = rng.uniform(-3, 3, 3)
    for layout in LAYOUTS:
        x, phi = rng.standard_normal((2, 3, 7)), rng.uniform(-4, 4, (3, 3))
        magnitude = rng.uniform(0.5, 2.0, 3)
        forward = functools.partial(_apply_scaled, layout=layout)
        backward = functools.partial(_apply_scaled_vjp, layout=layout)
        report = assert_vjp(forward, backward, [x, phi, magnitude], rng=rng)
        omega = rope.inv_freq(6)
        learned = assert_vjp(
            lambda w: rope.apply(x, rope.angles(positions, w), layout=layout, rotary_dim=6),
            lambda g, w: rope.inv_freq_vjp(
                rope.apply_vjp(g, x, rope.angles(positions, w), layout=layout,
                               rotary_dim=6)[1], positions),
            [omega], rng=rng)
        worst = max(worst, report.worst_abs_error, learned.worst_abs_error)
        cases += 2
    return CheckResult(cases, worst, 1e-7, "VJP disagrees with finite differences", unit="abs")


def _apply_scaled(x: np.ndarray, phi: np.ndarray, magnitude: np.ndarray, layout: str
                  ) -> np.ndarray:
    return rope.apply(x, phi, layout=layout, magnitude=magnitude, rotary_dim=6)


def _apply_scaled_vjp(g: np.ndarray, x: np.ndarray, phi: np.ndarray, magnitude: np.ndarray,
                      layout: str) -> tuple[np.ndarray | None, ...]:
    """The gradients in x, angles and magnitude (without a basis the fourth is None)."""
    return rope.apply_vjp(g, x, phi, layout=layout, magnitude=magnitude, rotary_dim=6)[:3]


def schedule_fixtures(rng: np.random.Generator) -> CheckResult:
    """Relative error against rope_anchors.md §11 (llama3, YaRN, dynamic NTK, LongRoPE)."""
    llama3, _ = rope.llama3_inv_freq(128, 5e5, factor=8.0, low_freq_factor=1.0,
                                     high_freq_factor=4.0, original_max_position_embeddings=8192)
    yarn, yarn_factor = rope.yarn_inv_freq(64, 1e4, factor=40.0, mscale=1.0, mscale_all_dim=1.0,
                                           original_max_position_embeddings=4096)
    dynamic, _ = rope.dynamic_inv_freq(128, factor=2.0, max_position_embeddings=4096,
                                       seq_len=8192)
    _, oss_factor = rope.yarn_inv_freq(64, 150000.0, factor=32.0, truncate=False,
                                       original_max_position_embeddings=4096)
    _, longrope_factor = rope.longrope_inv_freq(
        64, short_factor=np.ones(32), long_factor=np.ones(32), seq_len=1,
        original_max_position_embeddings=4096, max_position_embeddings=131072)
    pairs = [
        (llama3[20], 0.016560440080994446), (llama3[40], 3.428102195952591e-05),
        (llama3[63], 3.068925988914511e-07), (yarn[10], 0.056234132519034905),
        (yarn[31], 3.33380358040831e-06), (yarn_factor, 1.0),
        (dynamic[63], 3.849273282298194e-05), (oss_factor, 1.3465735902799727),
        (longrope_factor, 1.1902380714238083),
        (rope.ntk_base(1e4, 3.0, 128), 30527.7367488067),
        *zip(rope.yarn_correction_range(64, 150000.0, 4096, truncate=False),
             (8.092779115512402, 17.39802450158856)),
    ]
    worst = max(abs(got - want) / abs(want) for got, want in pairs)
    return CheckResult(len(pairs), float(worst), 1e-12, "a schedule moved off its anchor value",
                       unit="rel")


CHECKS = [
    Check("rope: relative-position invariance", relative_invariance),
    Check("rope: orthogonality, norms, apply = dense R x", orthogonality),
    Check("rope: apply_vjp and inv_freq_vjp gradcheck", vjp),
    Check("rope: schedule fixtures (HF rope_types)", schedule_fixtures),
]
