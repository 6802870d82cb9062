"""check_rope's rows, one by one: each tolerance is the rule of refimpl.testing._tolerance
for the claim, each measured value is the quantity its docstring defines (checked on
functions whose fault has a closed-form size), the probes stay in [0, max_position], and
the faults, titles and error messages say what the report promises."""

import numpy as np
import pytest
from kit_standins import default_inv_freq, numpy_rope

from refimpl.testing import check_rope, check_rope_pair
from refimpl.testing.presets import hugging_face
from refimpl.testing.report import Row
from refimpl.testing.rope_faults import BATCH_DEPENDENT, NOT_PAIRWISE, STATEFUL

# pytest.approx also allows 1e-12 absolute by default, more than the tolerances compared
# here (~1e-13): every approx below passes abs=0.
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10}
SAFETY = 16.0
D = 16
HF = hugging_face(D)
ROPE = numpy_rope(default_inv_freq(D))  # an independent port of HF's default RoPE

BATCH, STATE = "batch independence (two batch sizes)", "no state across calls"
INVARIANCE, ORTHOGONALITY = "relative-position invariance", "orthogonality (M^T M = m^2 I)"
IDENTITY, PAIR_INVARIANCE = "position 0 is the identity", "q/k scores: relative-position invariance"


def recorder(fn):
    """``fn`` and the list of ``(rows, positions)`` of every call the kit makes."""
    calls = []

    def recording(x, positions):
        calls.append((x.shape[0], np.array(positions)))
        return fn(x, positions)

    return recording, calls


def squared(x, positions):
    """A rotation by ``omega p^2 / 100``: orthogonal at each position, not relative."""
    return ROPE(x, np.asarray(positions, dtype=np.float64) ** 2 / 100)


def scaled_second_halves(c, delta):
    """``c R(p) S`` with ``S`` scaling feature ``D/2 + k`` (the second of pair k) by
    ``1 + delta``: ``M^T M = c^2 S^2``, diagonal but unequal within each pair."""
    s = np.ones(D)
    s[D // 2:] = 1 + delta
    return lambda x, positions: c * ROPE(x * s, positions)


def permuted(x, positions):
    """DeepSeek's interleave path: interleaved pairs in, ``[evens | odds]`` out."""
    out = numpy_rope(default_inv_freq(D), layout="interleaved")(x, positions)
    return np.concatenate([out[:, 0::2], out[:, 1::2]], axis=-1)


# --- tolerances: SAFETY (eps_in + eps_angle |angle|), exactly as the claim says ----------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_tolerance_follows_the_claimed_precision(dtype):
    eps_in = eps_angle = EPS[dtype]
    top = 1000  # not a power of two: the curve's grid ends with it
    report = check_rope(ROPE, head_dim=D, expect=HF, dtype=dtype, max_position=top)
    assert report.passed, str(report)
    # entries rounded to the input dtype only: 16 eps_in (a power of two times 2^-k: exact)
    for name in (BATCH, STATE, ORTHOGONALITY):
        assert report.row(name).tolerance == SAFETY * eps_in
    # two scores at the largest angle n_axes max_position omega_max, omega_max = 1 (base^0)
    assert report.row(INVARIANCE).tolerance == pytest.approx(
        2 * SAFETY * (eps_in + eps_angle * top * 1.0), rel=1e-9, abs=0)
    grid = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)
    curve = report.curve
    assert curve.parameter == "position" and curve.values == grid
    # the first vector of each batch sits at p, where HF's fastest pair turns by p radians
    assert curve.tolerances == pytest.approx(
        [SAFETY * (eps_in + eps_angle * p) for p in grid], rel=1e-12, abs=0)
    assert len(curve.errors) == len(grid)


def test_a_power_of_two_max_position_is_the_last_point_once():
    report = check_rope(ROPE, head_dim=D, expect=HF, max_position=64)
    assert report.curve.values == (0, 1, 2, 4, 8, 16, 32, 64)


def test_tolerances_without_expectation_and_with_two_axes():
    inv = np.zeros((2, D // 2))  # 2-D RoPE: axis 0 drives pairs 0-3, axis 1 pairs 4-7
    inv[0, :4] = inv[1, 4:] = default_inv_freq(8)
    top = 64
    report = check_rope(numpy_rope(inv), head_dim=D, n_axes=2, max_position=top)
    assert report.passed, str(report)
    assert report.row(IDENTITY).tolerance == SAFETY * EPS["float64"]
    # the largest angle of a 2-axis probe: n_axes max_position omega_max = 2 * 64 * 1
    assert report.row(INVARIANCE).tolerance == pytest.approx(
        2 * SAFETY * EPS["float64"] * (1 + 2 * top), rel=1e-9, abs=0)
    assert report.curve.tolerances[-1] == pytest.approx(
        SAFETY * EPS["float64"] * (1 + top), rel=1e-12, abs=0)


def test_the_angle_term_uses_the_largest_identified_frequency():
    # frequencies 2 omega: the fastest pair turns 2 radians per position
    top, fast = 64, numpy_rope(2 * default_inv_freq(D))
    report = check_rope(fast, head_dim=D, max_position=top)
    assert report.passed, str(report)
    assert report.row(INVARIANCE).tolerance == pytest.approx(
        2 * SAFETY * EPS["float64"] * (1 + top * 2.0), rel=1e-9, abs=0)
    pair = check_rope_pair(lambda q, k, p: (fast(q, p), fast(k, p)), head_dim=D,
                           max_position=top)
    assert pair.row(PAIR_INVARIANCE).tolerance == pytest.approx(
        2 * SAFETY * EPS["float64"] * (1 + top * 2.0), rel=1e-9, abs=0)


def test_the_angle_term_of_a_slow_schedule_is_floored_at_one_radian_per_position():
    # frequencies omega / 4 (linear scaling by 4): the single form still allows angles up
    # to max_position (omega_max floored at 1, as its docstring states)
    top, slow = 64, numpy_rope(default_inv_freq(D) / 4)
    report = check_rope(slow, head_dim=D, max_position=top)
    assert report.passed, str(report)
    assert report.row(INVARIANCE).tolerance == pytest.approx(
        2 * SAFETY * EPS["float64"] * (1 + top * 1.0), rel=1e-9, abs=0)


def test_a_pair_function_rotating_nothing_fails_without_crashing():
    # no side identifies a frequency: the invariance row gets no angle term (it crashed
    # on the empty frequency array before)
    report = check_rope_pair(lambda q, k, p: (q, k), head_dim=D, max_position=64)
    assert not report.passed
    assert report.row("q: features rotated").detail == "fn rotates no pair of features"
    assert report.row(PAIR_INVARIANCE).tolerance == 2 * SAFETY * EPS["float64"]


def test_pair_tolerance_has_no_angle_term_when_no_frequency_is_identified():
    # a non-pairwise map identifies no frequencies: the pair check allows 2 x 16 eps
    report = check_rope_pair(lambda q, k, p: (permuted(q, p), permuted(k, p)), head_dim=D,
                             max_position=64)
    assert report.row(PAIR_INVARIANCE).tolerance == 2 * SAFETY * EPS["float64"]
    assert report.faults == (f"q: {NOT_PAIRWISE}", f"k: {NOT_PAIRWISE}")


def test_pair_tolerance_follows_the_claim():
    top = 100
    pair = lambda q, k, p: (ROPE(q, p), ROPE(k, p))
    report = check_rope_pair(pair, head_dim=D, expect=HF, max_position=top)
    assert report.passed, str(report)
    assert report.row(PAIR_INVARIANCE).tolerance == pytest.approx(
        2 * SAFETY * EPS["float64"] * (1 + top), rel=1e-9, abs=0)
    assert report.row(f"q: {BATCH}").tolerance == SAFETY * EPS["float64"]


# --- measured values: faults of known size ----------------------------------------------

def test_batch_and_state_rows_measure_the_relative_change_of_a_row():
    """A function whose output grows by 1e-3 per call: the three probe calls (alone,
    together, alone again) scale by 1, 1 + d, 1 + 2d. The rows measure the largest entry
    of the change over |x|; a rotation keeps |x|, and the largest entry of a vector lies
    between |v| / sqrt(D) and |v|."""
    delta, calls = 1e-3, [0]

    def counting(x, positions):
        calls[0] += 1
        return ROPE(x, positions) * (1 + delta * (calls[0] - 1))

    report = check_rope(counting, head_dim=D, max_position=64)
    for name, change in ((BATCH, delta), (STATE, 2 * delta)):
        row = report.row(name)
        # 1e-12: the rounding of the products, far below delta / sqrt(D)
        assert change / np.sqrt(D) - 1e-12 <= row.measured <= change + 1e-12, str(report)
        assert not row.passed
    assert BATCH_DEPENDENT in report.faults and STATEFUL in report.faults


def test_a_state_only_fault_is_named_alone():
    calls = [0]

    def remembers(x, positions):  # the third call (alone again) differs from the first
        calls[0] += 1
        return ROPE(x, positions) * (1.001 if calls[0] == 3 else 1.0)

    report = check_rope(remembers, head_dim=D, max_position=64)
    assert report.row(BATCH).measured == 0.0 and report.row(BATCH).passed
    assert not report.row(STATE).passed
    assert STATEFUL in report.faults and BATCH_DEPENDENT not in report.faults


def test_a_change_exactly_at_the_tolerance_passes_and_names_no_fault():
    """``measured <= tolerance`` passes (report.Row), so a change of exactly 16 eps |x|
    must neither fail the row nor name the fault. The change is built so that the kit's
    quotient is exact: 16 eps is a power of two, so (16 eps |x|) / |x| rounds to it."""
    tol, calls = SAFETY * EPS["float64"], [0]

    def at_the_edge(x, positions):
        calls[0] += 1
        out = np.zeros_like(x)
        if calls[0] in (2, 3):  # together (rows 0-7 of it) and alone again
            out[:8, 0] = -tol * np.linalg.norm(x[:8], axis=-1)
        return out

    report = check_rope(at_the_edge, head_dim=D, max_position=64)
    for name in (BATCH, STATE):
        assert report.row(name).measured == tol and report.row(name).passed
    assert BATCH_DEPENDENT not in report.faults and STATEFUL not in report.faults


def test_relative_invariance_measures_score_changes_relative_to_the_norms():
    """A rotation by omega p^2 / 100 is not relative: the score change of each pair is
    q^T (A - B) k with A, B orthogonal, at most 2 |q| |k| (Cauchy-Schwarz). The row divides
    by |q| |k| max(1, m)^2 for an identified magnitude m, so the same function scaled by c
    (same probes, the same seed) measures c^2 / max(1, c)^2 times as much."""
    plain = check_rope(squared, head_dim=D, max_position=64).row(INVARIANCE).measured
    assert 1e-3 < plain <= 2 + 1e-12
    for c, ratio in ((0.5, 0.25), (1.5, 1.0)):
        report = check_rope(lambda x, p, c=c: c * squared(x, p), head_dim=D, max_position=64)
        assert report.identified["magnitude"] == pytest.approx(c, rel=1e-9, abs=0)
        # 1e-9: the magnitude is identified to ~1e-12 and enters squared
        assert report.row(INVARIANCE).measured == pytest.approx(ratio * plain, rel=1e-9, abs=0)


def test_pair_invariance_measures_score_changes_relative_to_the_norms():
    """The pair row divides by |q| |k| only: at most 2 for orthogonal sides
    (Cauchy-Schwarz), and c^2 times as much for both sides scaled by c."""
    pair = lambda q, k, p: (squared(q, p), squared(k, p))
    plain = check_rope_pair(pair, head_dim=D, max_position=64).row(PAIR_INVARIANCE).measured
    assert 1e-3 < plain <= 2 + 1e-12
    half = lambda q, k, p: (0.5 * squared(q, p), 0.5 * squared(k, p))
    scaled = check_rope_pair(half, head_dim=D, max_position=64).row(PAIR_INVARIANCE)
    assert scaled.measured == pytest.approx(0.25 * plain, rel=1e-12, abs=0)  # powers of two: exact


@pytest.mark.parametrize("c", [0.5, 2.0])
def test_orthogonality_measures_the_unequal_scale_within_a_pair(c):
    """M = c R S with S = diag(1, 1 + d) per pair: M^T M = c^2 S^2 exactly (R orthogonal).
    Each pair's expected scale is the mean c^2 (1 + (1 + d)^2) / 2 of its two diagonal
    entries; both entries miss it by c^2 ((1 + d)^2 - 1) / 2, and the row divides by
    max(1, expected scale)."""
    delta = 1e-3
    report = check_rope(scaled_second_halves(c, delta), head_dim=D, max_position=64)
    assert report.identified["layout"] == "half"
    expected_scale = c**2 * (1 + (1 + delta) ** 2) / 2
    miss = c**2 * ((1 + delta) ** 2 - 1) / 2
    # 1e-9 relative: rounding of M (~1e-16) against a miss of ~1e-4
    assert report.row(ORTHOGONALITY).measured == pytest.approx(
        miss / max(1.0, expected_scale), rel=1e-9, abs=0)


@pytest.mark.parametrize("magnitude", [0.5, 1.25])
def test_a_scaled_rotation_is_orthogonal_times_a_scale_and_identity_at_zero(magnitude):
    report = check_rope(lambda x, p: magnitude * ROPE(x, p), head_dim=D, max_position=64)
    assert report.passed, str(report)
    assert report.row(ORTHOGONALITY).measured <= SAFETY * EPS["float64"]
    # M(0) / magnitude = I up to the rounding of magnitude * x and of the division
    assert report.row(IDENTITY).measured <= 4 * EPS["float64"]


def test_error_curve_is_relative_to_the_larger_norm():
    """(1 + d) times the reference: each row's error is d max_j |ref_j| over
    max(|x|, (1 + d) |x|) = (1 + d) |x|, between d / ((1 + d) sqrt(D)) and d / (1 + d)."""
    delta = 1e-3
    report = check_rope(lambda x, p: (1 + delta) * ROPE(x, p), head_dim=D, expect=HF,
                        max_position=1000)
    errors = np.array(report.curve.errors)
    assert errors.shape == (12,)
    low, high = delta / ((1 + delta) * np.sqrt(D)), delta / (1 + delta)
    assert np.all((low * (1 - 1e-9) <= errors) & (errors <= high * (1 + 1e-9))), errors
    assert any("magnitude" in f for f in report.faults), str(report)


def test_agreement_row_is_the_point_with_the_largest_excess():
    """(1 + d) times the reference, claimed float32: errors lie in [d/(4 (1 + d)), d] (as
    above), tolerances are 16 eps32 (1 + p). With d = 1e-5 position 0 exceeds its tolerance
    (2.5e-6 > 1.9e-6) and from position 8 on the tolerance (1.7e-5) exceeds d, so the worst
    point is one of 0, 1, 2, 4 and the row fails."""
    report = check_rope(lambda x, p: (1 + 1e-5) * ROPE(x, p), head_dim=D, expect=HF,
                        dtype="float32", max_position=1000)
    curve = report.curve
    excess = np.array(curve.errors) - np.array(curve.tolerances)
    worst = int(np.argmax(excess))
    assert worst <= 3 and excess[0] > 0
    row = report.row("agreement with hf-default")
    assert (row.measured, row.tolerance) == (curve.errors[worst], curve.tolerances[worst])
    assert row.detail == f"worst at position {curve.values[worst]:g}; see the curve"
    assert not row.passed


# --- probes: positions, sizes, dtypes ---------------------------------------------------

@pytest.mark.parametrize("top, points", [(2, 3), (3, 4), (8, 5)])
def test_probes_stay_in_range_and_cover_it(top, points):
    """Batch probes: eight rows in [0, max(1, top // 4)] alone, again with eight more in
    [0, top], the first of those at top. Invariance probes: 32 pairs at m, n, m + s, n + s
    with m, n, s in [0, top // 2]. Over three seeds every allowed value shows up (for these
    sizes a value is missed with probability below 1e-3: the seeds are fixed, the test is
    deterministic). The curve has ``points`` grid positions (0, 1, 2, 4, ..., top)."""
    small = max(1, top // 4)
    seen_alone, seen_invariance = set(), set()
    for seed in range(3):
        fn, calls = recorder(numpy_rope(default_inv_freq(6)))
        check_rope(fn, head_dim=6, expect=hugging_face(6), max_position=top, rng=seed)
        everything = np.concatenate([np.ravel(p) for _, p in calls])
        assert everything.min() >= 0 and everything.max() == top
        # batch (3 calls), identification (multiples of head_dim 6), orthogonality (four
        # positions x 6 basis vectors), four invariance calls, the curve (8 rows a point)
        sizes = [rows for rows, _ in calls]
        assert sizes[:3] == [8, 16, 8] and sizes[-6:] == [4 * 6] + [32] * 4 + [8 * points]
        alone, together, again = (p for _, p in calls[:3])
        assert np.array_equal(alone, again) and np.array_equal(together[:8], alone)
        assert together[8] == top and together.max() == top
        assert set(alone.tolist()) <= set(range(small + 1))
        seen_alone |= set(alone.tolist())
        for _, p in calls[-5:-1]:
            seen_invariance |= set(p.tolist())
        # the curve: eight vectors per grid point p, the first exactly at p
        curve_positions = calls[-1][1].reshape(points, 8)
        assert list(curve_positions[:, 0]) == [0, 1, 2, 4, 8][:points - 1] + [top]
        assert np.all(curve_positions <= curve_positions[:, :1])
    assert seen_alone == set(range(small + 1))
    assert seen_invariance == set(range(2 * (top // 2) + 1))


@pytest.mark.parametrize("top", [2, 8])
def test_pair_probes_stay_in_range_and_cover_it(top):
    """The pair check's score probes: the q side at m and m + s, the k side at n and n + s,
    m, n, s in [0, top // 2] (the last four calls of the pair function)."""
    seen = set()
    for seed in range(3):
        fn, calls = recorder(ROPE)
        pair = lambda q, k, p, fn=fn: (fn(q, p), ROPE(k, p))
        check_rope_pair(pair, head_dim=D, expect=HF, max_position=top, rng=seed)
        everything = np.concatenate([np.ravel(p) for _, p in calls])
        assert everything.min() >= 0 and everything.max() == top
        assert [rows for rows, _ in calls[-4:]] == [32] * 4
        for _, p in calls[-4:]:
            seen |= set(p.tolist())
    assert seen == set(range(2 * (top // 2) + 1))


@pytest.mark.parametrize("dtype, received", [("float64", "float64"), ("float32", "float32"),
                                             ("float16", "float16"), ("bfloat16", "float32")])
def test_x_is_cast_to_the_claimed_dtype(dtype, received):
    """NumPy has no bfloat16: a NumPy function claiming it gets float32 (check_rope doc)."""
    seen = set()

    def fn(x, positions):
        seen.add(x.dtype.name)
        return ROPE(x.astype(np.float64), positions)

    check_rope(fn, head_dim=D, dtype=dtype, max_position=64)
    check_rope(fn, head_dim=D, dtype=dtype, framework="numpy", max_position=64)
    assert seen == {received}


def test_default_max_position_is_2_to_the_17():
    fn, calls = recorder(ROPE)
    report = check_rope(fn, head_dim=D, expect=HF)
    assert max(int(np.max(p)) for _, p in calls) == 2**17 == report.curve.values[-1]
    pair_fn, pair_calls = recorder(ROPE)
    check_rope_pair(lambda q, k, p: (pair_fn(q, p), ROPE(k, p)), head_dim=D, expect=HF)
    assert max(int(np.max(p)) for _, p in pair_calls) == 2**17


def test_the_default_random_source_is_seed_0():
    default, seeded = (check_rope(squared, head_dim=D, max_position=64, **kw)
                       for kw in ({}, {"rng": 0}))
    assert default.row(INVARIANCE).measured == seeded.row(INVARIANCE).measured
    other = check_rope(squared, head_dim=D, max_position=64, rng=1)
    assert other.row(INVARIANCE).measured != seeded.row(INVARIANCE).measured
    pair = lambda q, k, p: (squared(q, p), squared(k, p))
    measured = [check_rope_pair(pair, head_dim=D, max_position=64, **kw).row(
        PAIR_INVARIANCE).measured for kw in ({}, {"rng": 0}, {"rng": 1})]
    assert measured[0] == measured[1] != measured[2]


# --- the report: rows in order, identification, titles ----------------------------------

def test_rows_come_in_the_documented_order():
    with_expectation = check_rope(ROPE, head_dim=D, expect=HF, max_position=64)
    assert [row.name for row in with_expectation.rows] == [
        BATCH, STATE, INVARIANCE, ORTHOGONALITY, "agreement with hf-default"]
    assert with_expectation.identified["expected"].startswith(
        "hf-default {'base': 10000.0, 'partial_rotary_factor': 1.0} (")
    without = check_rope(ROPE, head_dim=D, max_position=64)
    assert [row.name for row in without.rows] == [
        BATCH, STATE, INVARIANCE, ORTHOGONALITY, IDENTITY, "agreement with identified"]
    assert "expected" not in without.identified


def test_a_function_rotating_nothing_reports_it_in_the_first_row():
    report = check_rope(lambda x, p: x, head_dim=8, max_position=64)
    assert report.rows[0] == Row("features rotated", 0.0, -1.0, "fn rotates no pair of features")
    assert [row.name for row in report.rows[1:]] == [BATCH, STATE]
    assert report.curve is None and not report.passed


def test_the_title_names_the_function():
    def my_rope(x, positions):
        return ROPE(x, positions)

    assert check_rope(my_rope, head_dim=D, max_position=64).title == \
        "RoPE conformance of my_rope"
    # a callable object without __name__: its .name (the presets have one)
    assert check_rope(HF, head_dim=D, max_position=64).title == \
        "RoPE conformance of hf-default"


def test_smallest_arguments_are_accepted_and_smaller_ones_name_the_argument():
    two = check_rope(numpy_rope(np.array([1.0])), head_dim=2, max_position=1)
    assert two.passed and two.identified["rotary dim"] == 2
    assert two.curve.values == (0, 1)  # max_position 1: the grid 0, 1, nothing twice
    fn, calls = recorder(ROPE)
    with pytest.raises(ValueError, match="max_position"):
        check_rope(fn, head_dim=D, max_position=0)
    assert calls == []  # rejected before any probe (position 1 would exceed it)
    for bad, name in ((dict(head_dim=1), "head_dim"), (dict(n_axes=0), "n_axes"),
                      (dict(max_position=0), "max_position")):
        arguments = dict(head_dim=D, max_position=64) | bad
        with pytest.raises(ValueError, match=name):
            check_rope(ROPE, **arguments)
        with pytest.raises(ValueError, match=name):
            check_rope_pair(lambda q, k, p: (ROPE(q, p), ROPE(k, p)), **arguments)


# --- the pair form ----------------------------------------------------------------------

def test_pair_function_returning_no_pair_is_a_type_error():
    for wrong in (lambda q, k, p: ROPE(q, p), lambda q, k, p: (q, k, q)):
        with pytest.raises(TypeError, match=r"must return \(q_rot, k_rot\)"):
            check_rope_pair(wrong, head_dim=D, max_position=64)


def test_pair_sides_are_identified_separately():
    interleaved = numpy_rope(default_inv_freq(D), layout="interleaved")
    report = check_rope_pair(lambda q, k, p: (ROPE(q, p), interleaved(k, p)), head_dim=D,
                             expect=HF, max_position=64)
    assert report.identified["layout"] == "half"
    assert report.identified["k layout"] == "interleaved"
    assert not report.row("k: agreement with hf-default").passed
    assert report.row("q: agreement with hf-default").passed
    assert any(f.startswith("k: wrong layout") for f in report.faults)
    assert not any(f.startswith("q: ") for f in report.faults), str(report)
    # the report's curve is the query side's: within tolerance everywhere
    assert all(e <= t for e, t in zip(report.curve.errors, report.curve.tolerances, strict=True))
    same = check_rope_pair(lambda q, k, p: (ROPE(q, p), ROPE(k, p)), head_dim=D, expect=HF,
                           max_position=64)
    assert "k layout" not in same.identified
    assert report.title == "RoPE q/k pair conformance of <lambda>"


def test_bhtd_pair_functions():
    def bhtd_pair(q, k, position_ids):  # (B, H, T, D) tensors and (B, T) positions
        assert q.ndim == 4 and position_ids.ndim == 2
        rotate = lambda t: ROPE(t[0, 0], position_ids[0])[None, None]
        return rotate(q), rotate(k)

    report = check_rope_pair(bhtd_pair, head_dim=D, expect=HF, tensor_layout="BHTD",
                             max_position=64)
    assert report.passed, str(report)


def test_identity_row_probes_position_0_once_with_the_basis_vectors():
    """A function that offsets every position by (rows in the call) / 1000, as a cache
    offset read off the batch would. The identity row probes position 0 with the D basis
    vectors in one call, so it sees the offset a = D / 1000 and measures
    max_k max(|cos(omega_k a) - 1|, |sin(omega_k a)|) = sin(a) (omega_0 = 1, a small)."""
    def offset_by_rows(x, positions):
        return ROPE(x, np.asarray(positions, dtype=np.float64) + x.shape[0] / 1000)

    report = check_rope(offset_by_rows, head_dim=D, max_position=64)
    assert report.identified["magnitude"] == pytest.approx(1.0, rel=1e-12, abs=0)
    assert report.row(IDENTITY).measured == pytest.approx(np.sin(D / 1000), rel=1e-9, abs=0)
