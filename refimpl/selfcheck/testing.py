"""Self-checks of the conformance kit: it accepts refimpl's own code and names planted faults."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from refimpl.householder import householder_product
from refimpl.selfcheck._core import Check, CheckResult
from refimpl.testing import (
    check_householder_product,
    check_rope,
    check_vmf_log_normalizer,
    preset,
    write_vectors,
)
from refimpl.testing.presets import EXAMPLE_SETTINGS, PRESETS
from refimpl.vmf.distribution import log_normalizer


def presets_pass(rng: np.random.Generator) -> CheckResult:
    """Every named preset passes check_rope against itself; counts the failures."""
    failed = []
    for name in sorted(PRESETS):
        convention = PRESETS[name](**EXAMPLE_SETTINGS[name])
        if not check_rope(convention, head_dim=convention.head_dim, expect=convention,
                          max_position=1024, rng=rng).passed:
            failed.append(name)
    return CheckResult(len(PRESETS), float(len(failed)), 0.0, f"failing presets: {failed}",
                       unit="count")


def faults_named(rng: np.random.Generator) -> CheckResult:
    """Planted RoPE and Householder faults are reported with the right name; counts misses."""
    hf = preset("hf-default", head_dim=32, partial_rotary_factor=0.5)
    planted = [
        (replace(hf, layout="interleaved"), "wrong layout"),
        (replace(hf, position_offset=(1.0,)), "positions off by 1"),
        (replace(hf, frequencies=hf.frequencies**1.1), "wrong base"),
        (replace(hf, rotary_start=16), "partial rotary on the wrong block"),
        (replace(hf, frequencies=hf.frequencies.astype(np.float32)), "rounded frequencies"),
    ]
    missed = [phrase for fn, phrase in planted
              if not any(phrase in f for f in check_rope(fn, head_dim=32, expect=hf,
                                                         max_position=1024, rng=rng).faults)]

    def one_tau_negated(V: np.ndarray, tau: np.ndarray) -> np.ndarray:
        return householder_product(V, np.asarray(tau) * np.where(np.arange(len(tau)) == 0,
                                                                  -1.0, 1.0))

    if not any("negated" in f for f in check_householder_product(one_tau_negated).faults):
        missed.append("tau negated")
    return CheckResult(len(planted) + 1, float(len(missed)), 0.0, f"not named: {missed}",
                       unit="count")


def references_pass(rng: np.random.Generator) -> CheckResult:
    """refimpl's householder_product and vMF log-normalizer pass their own checks."""
    reports = [check_householder_product(householder_product, rng=rng),
               check_vmf_log_normalizer(log_normalizer)]
    failed = [r.title for r in reports if not r.passed]
    return CheckResult(len(reports), float(len(failed)), 0.0, f"failing: {failed}", unit="count")


def vectors_deterministic(rng: np.random.Generator) -> CheckResult:
    """Two runs of write_vectors give byte-identical files; counts differing files."""
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        write_vectors(first)
        write_vectors(second)
        names = sorted(p.name for p in Path(first).iterdir())
        differing = [n for n in names
                     if (Path(first) / n).read_bytes() != (Path(second) / n).read_bytes()]
    return CheckResult(len(names), float(len(differing)), 0.0, f"differing: {differing}",
                       unit="count")


CHECKS = [
    Check("testing: every RoPE preset passes check_rope", presets_pass),
    Check("testing: planted faults are named", faults_named),
    Check("testing: refimpl passes householder/vMF checks", references_pass),
    Check("testing: golden vectors are byte-identical", vectors_deterministic),
]
