"""The pytest plugin, tested with pytest's own ``pytester``: correct NumPy stand-ins of
each kind pass, planted faults fail with the fault named in the report, the plugin is
inert without options, and Hypothesis settings come from the user's profile.

Where refimpl was installed without its ``pytest11`` entry point (an install older than
the entry point), the runs load the hooks with ``-p refimpl.pytest_plugin``.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from hypothesis import settings

import refimpl
import refimpl.__main__  # noqa: F401  imported here, so in-process runs never re-import
import refimpl.testing.plugin  # noqa: F401  (a C extension cannot be loaded twice)

pytest_plugins = ["pytester"]

ROOT = Path(refimpl.__file__).parents[1]
STANDINS = (Path(__file__).parent / "kit_standins.py").read_text()

FOREIGN = '''
import numpy as np
from kit_standins import default_inv_freq, numpy_rope, wood_sampler, xpos_pair
from scipy.linalg import lapack

from refimpl.vmf.distribution import log_normalizer as refimpl_log_normalizer

rope = numpy_rope(default_inv_freq(16))
rope_off_by_one = numpy_rope(default_inv_freq(16), offset=1.0)
rope_interleaved = numpy_rope(default_inv_freq(16), layout="interleaved")


def pair(q, k, positions):
    return rope(q, positions), rope(k, positions)


def pair_swapped(q, k, positions):
    return rope(k, positions), rope(q, positions)


def pair_shifted(q, k, positions):
    return rope(q, positions), rope(k, np.asarray(positions) + 1)


axial = numpy_rope(np.stack([np.r_[default_inv_freq(8), np.zeros(4)],
                             np.r_[np.zeros(4), default_inv_freq(8)]]))


def summed(x, positions):
    positions = np.asarray(positions, dtype=float)
    return rope(x, positions[:, 0] + positions[:, 1])


def reflection(x, a, b):
    v = a - b if np.linalg.norm(a - b) > 0 else np.eye(a.size)[np.argmin(np.abs(a))]
    u = v / np.linalg.norm(v)
    return x - 2 * (x @ u)[..., None] * u


def regularised(x, a, b):
    u = (a - b) / (np.linalg.norm(a - b) + 1e-5)
    return x - 2 * (x @ u)[..., None] * u


def product(V, tau):
    return lapack.dorgqr(V, tau)[0] if len(tau) else np.eye(*V.shape)


def product_sign(V, tau):
    tau = np.array(tau, dtype=float)
    tau[0] = -tau[0]
    return product(V, tau)


sampler = wood_sampler()
sampler_svae = wood_sampler(envelope="svae")


def log_normalizer(d, kappa):
    return refimpl_log_normalizer(d, kappa)


def minus_log_normalizer(d, kappa):
    return -refimpl_log_normalizer(d, kappa)


def attention(q, k, v, mask):
    s = np.where(mask, q @ k.T / np.sqrt(q.shape[-1]), -np.inf)
    empty = ~mask.any(axis=-1, keepdims=True)
    w = np.exp(s - np.where(empty, 0.0, s.max(axis=-1, keepdims=True)))
    return np.where(empty, 0.0, w / np.where(empty, 1.0, w.sum(-1, keepdims=True))) @ v


def attention_unscaled(q, k, v, mask):
    return attention(q * np.sqrt(q.shape[-1]), k, v, mask)


def rope_backward(g, x, angles):
    from refimpl import rope as r
    return r.apply_vjp(g, x, angles, rotary_dim=2 * angles.shape[-1])[:2]


def rope_backward_sign(g, x, angles):
    gx, ga = rope_backward(g, x, angles)
    return -gx, ga
'''


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """``run(*args, fresh=False)``: pytest in a directory holding the stand-ins, with the
    hooks; in this process (fast), or ``fresh`` in a subprocess (clean ``sys.modules``).

    The directory's conftest loads the Hypothesis profile "quick" (8 examples, no
    shrinking: these tests read the fault, not the smallest input); the caller's profile
    is restored after an in-process run."""
    pytester.makepyfile(kit_standins=STANDINS, foreign=FOREIGN)
    pytester.makeconftest('''
from hypothesis import Phase, settings
settings.register_profile("quick", max_examples=8, deadline=None, derandomize=True,
                          database=None, phases=[Phase.explicit, Phase.generate])
settings.register_profile("tiny", max_examples=3, deadline=None, derandomize=True,
                          database=None)
settings.load_profile("quick")
''')
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}:{pytester.path}")
    pytester.syspathinsert()
    names = {e.name for e in importlib.metadata.entry_points(group="pytest11")
             if e.value.startswith("refimpl")}
    hooks = [] if names else ["-p", "refimpl.pytest_plugin"]

    def go(*args: str, fresh: bool = False) -> pytest.RunResult:
        if fresh:
            return pytester.runpytest_subprocess(*hooks, "-p", "no:cacheprovider", *args)
        profile = settings._current_profile  # restored: the conftest loads its own
        try:
            return pytester.runpytest_inprocess(*hooks, "-p", "no:cacheprovider", *args)
        finally:
            settings.load_profile(profile)

    return go


CASES = [
    ("rope", "foreign:rope", ["--refimpl-expect=hf-default", "--refimpl-head-dim=16"],
     "foreign:rope_off_by_one", "positions off by 1"),
    ("rope", "foreign:rope", ["--refimpl-expect=hf-default", "--refimpl-head-dim=16"],
     "foreign:rope_interleaved", "wrong layout"),
    ("rope-pair", "foreign:pair", ["--refimpl-expect=hf-default", "--refimpl-head-dim=16"],
     "foreign:pair_shifted", "queries and keys equal to x are rotated differently"),
    ("rope-pair", "foreign:pair", ["--refimpl-expect=hf-default", "--refimpl-head-dim=16"],
     "foreign:pair_swapped", "property rope.agreement FAILS"),
    ("rope-nd", "foreign:axial", ["--refimpl-head-dim=16", "--refimpl-n-axes=2"],
     "foreign:summed", "threshold"),
    ("orthogonal-map", "foreign:reflection", ["--refimpl-determinant=-1",
                                               "--refimpl-complement=+1"],
     "foreign:regularised", "identified as not an orthogonal map"),
    ("householder-product", "foreign:product", [], "foreign:product_sign", "negated"),
    ("vmf-sampler", "foreign:sampler", [], "foreign:sampler_svae", "approximate envelope"),
    ("vmf-log-normalizer", "foreign:log_normalizer", [], "foreign:minus_log_normalizer",
     "returns -log C"),
    ("attention", "foreign:attention", [], "foreign:attention_unscaled",
     "not divided by sqrt(d)"),
    ("vjp", "foreign:rope_backward", ["--refimpl-vjp-of=rope.apply"],
     "foreign:rope_backward_sign", "wrong sign"),
]


@pytest.mark.parametrize("kind, good, options, bad, fault", CASES,
                         ids=[f"{c[0]}-{c[4].split()[0]}" for c in CASES])
def test_command_line_passes_the_stand_in_and_names_the_planted_fault(
        run, kind, good, options, bad, fault):
    passed = run(f"--refimpl-{kind}={good}", *options)
    assert passed.ret == 0, passed.stdout.str()
    outcomes = passed.parseoutcomes()
    assert outcomes["passed"] >= 2 and "failed" not in outcomes
    failed = run(f"--refimpl-{kind}={bad}", *options)
    text = failed.stdout.str()
    assert failed.ret == 1 and fault in text, text


def test_items_have_readable_ids(run):
    result = run("--refimpl-rope=foreign:rope", "--refimpl-expect=hf-default",
                 "--refimpl-head-dim=16", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["refimpl::rope[relative_position_invariance]",
                                 "refimpl::rope[agreement]"])


def test_falsifying_example_prints_arrays_with_shapes(run):
    result = run("--refimpl-rope=foreign:rope_off_by_one", "--refimpl-expect=hf-default",
                 "--refimpl-head-dim=16", "-k", "group_law")
    text = result.stdout.str()
    assert "x=shape (4, 16) float64" in text and "lambda" not in text
    assert "property rope.group_law FAILS" in text


def test_plugin_is_inert_without_options(run, pytester):
    pytester.makepyfile(test_nothing='''
import sys

def test_refimpl_kit_not_imported():
    assert "refimpl.testing" not in sys.modules
    assert "refimpl.testing.plugin" not in sys.modules
''')
    result = run("-v", fresh=True)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_refimpl_kit_not_imported PASSED*", "*1 passed*"])
    assert "refimpl::" not in result.stdout.str()
    help_text = run("--help", fresh=True).stdout.str()
    assert "--refimpl-rope=MODULE:NAME" in help_text


def test_in_file_form_one_line_per_implementation(run, pytester):
    pytester.makepyfile(test_mine='''
from hypothesis import strategies as st
import numpy as np
import foreign
from refimpl.testing.plugin import (attention_properties, householder_product_properties,
                                    rope_properties, widening_properties)
from refimpl.testing.presets import preset

test_my_rope = rope_properties(foreign.rope, expect=preset("hf-default", head_dim=16))
test_broken_rope = rope_properties(foreign.rope_off_by_one, expect="hf-default", head_dim=16)
test_my_product = householder_product_properties(foreign.product)
test_my_attention = attention_properties(foreign.attention, fully_masked="zeros")
test_my_growth = widening_properties(
    np.tanh, lambda x: np.tanh(x) * 1.0,
    inputs=st.lists(st.floats(-3, 3), min_size=1, max_size=5).map(np.array))
''')
    result = run("-q", "-rf")
    text = result.stdout.str()
    for name in ("identity_at_zero", "group_law", "agreement"):
        assert f"FAILED test_mine.py::test_broken_rope[{name}]" in text, text
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 3 and outcomes["passed"] == 6 + 3 + 4 + 3 + 1


def test_hypothesis_settings_come_from_the_profile(run, pytester):
    """The growth property calls ``small`` once per example: 3 under the profile "tiny",
    8 under the profile the conftest loads."""
    pytester.makepyfile(test_counted='''
import numpy as np
from hypothesis import strategies as st
from refimpl.testing.plugin import widening_properties

CALLS = []

def small(x):
    CALLS.append(1)
    return np.tanh(x)

test_growth = widening_properties(small, np.tanh, inputs=st.floats(-1, 1).map(np.array))

def test_zz_count():
    print(f"small was called {len(CALLS)} times")
''')
    tiny = run("-s", "--hypothesis-profile=tiny", "test_counted.py", fresh=True).stdout.str()
    quick = run("-s", "test_counted.py", fresh=True).stdout.str()
    assert "small was called 3 times" in tiny and "small was called 8 times" in quick


def test_bad_option_is_a_usage_error(run):
    result = run("--refimpl-rope=foreign:nothing_here", "--refimpl-head-dim=16")
    assert result.ret == 4
    assert "--refimpl-rope=foreign:nothing_here" in result.stdout.str() + result.stderr.str()
