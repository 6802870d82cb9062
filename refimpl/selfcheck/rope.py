"""Self-checks of refimpl.rope: relativity, orthogonality, the VJP and the schedule fixtures.

The first two rows run the properties of :mod:`refimpl.testing.properties.rope` on
refimpl's own RoPE.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from refimpl import rope
from refimpl.gradcheck import assert_vjp
from refimpl.selfcheck._core import Check, CheckResult, from_properties
from refimpl.testing.properties import Case, PropertyResult
from refimpl.testing.properties import rope as rope_properties

LAYOUTS = ("interleaved", "half")

#: ``(rotary_dim, head_dim)``: full and partial rotary, small and large heads.
SIZES = ((8, 8), (8, 11), (64, 64))


def subject(layout: str, rotary_dim: int, head_dim: int) -> rope_properties.RopeSubject:
    """refimpl's RoPE ``apply(x, angles(p, inv_freq))`` as a property subject (real positions)."""
    omega = rope.inv_freq(rotary_dim)

    def fn(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return rope.apply(x, rope.angles(positions, omega), layout=layout,
                          rotary_dim=rotary_dim)

    return rope_properties.RopeSubject(fn, head_dim, omega_max=float(np.max(omega)),
                                       integer_positions=False, name=f"apply[{layout}]")


def _cases(rng: np.random.Generator, head_dim: int, count: int) -> list[Case]:
    """Random vectors and real positions in [-1000, 1000]."""
    cases = []
    for _ in range(count):
        x, q, k = rng.standard_normal((3, 4, head_dim))
        p, m, n, s = rng.uniform(-1000, 1000, (4, 4))
        cases.append(Case(x=x, q=q, k=k, positions=p, m=m, n=n, shift=s))
    return cases


PropertyCheck = Callable[[rope_properties.RopeSubject, Case], PropertyResult]


def _run(checks: tuple[PropertyCheck, ...], rng: np.random.Generator, count: int
         ) -> CheckResult:
    results = [check(subject(layout, rotary, dim), case)
               for layout in LAYOUTS for rotary, dim in SIZES
               for case in _cases(rng, dim, count) for check in checks]
    return from_properties(results)


def relative_invariance(rng: np.random.Generator) -> CheckResult:
    """rope.relative_position_invariance over layouts and partial rotary (ratio to bound)."""
    return _run((rope_properties.relative_position_invariance,), rng, 5)


def orthogonality(rng: np.random.Generator) -> CheckResult:
    """rope.orthogonality, norm_preservation and group_law over both layouts."""
    return _run((rope_properties.orthogonality, rope_properties.norm_preservation,
                 rope_properties.group_law), rng, 3)


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
            lambda w, x=x, layout=layout: rope.apply(x, rope.angles(positions, w),
                                                     layout=layout, rotary_dim=6),
            lambda g, w, x=x, layout=layout: rope.inv_freq_vjp(
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
    return rope.apply_vjp(g, x, phi, layout=layout, magnitude=magnitude,
                          rotary_dim=6)[:3]


def schedule_fixtures(rng: np.random.Generator) -> CheckResult:
    """Relative error against anchor values of the Hugging Face schedules (llama3, YaRN,
    dynamic NTK, LongRoPE): a float64 transcription of transformers'
    ``modeling_rope_utils.py`` (``_compute_llama3_parameters``, ``_compute_yarn_parameters``,
    ...); the gpt-oss YaRN range (8.0928, 17.3980) also appears in vLLM PR #28244."""
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
             (8.092779115512402, 17.39802450158856), strict=True),
    ]
    worst = max(abs(got - want) / abs(want) for got, want in pairs)
    return CheckResult(len(pairs), float(worst), 1e-12, "a schedule moved off its anchor value",
                       unit="rel")


CHECKS = [
    Check("rope: relative-position invariance", relative_invariance),
    Check("rope: orthogonality, norms, group law", orthogonality),
    Check("rope: apply_vjp and inv_freq_vjp gradcheck", vjp),
    Check("rope: schedule fixtures (HF rope_types)", schedule_fixtures),
]
