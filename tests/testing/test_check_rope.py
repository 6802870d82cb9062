"""check_rope: passes every preset and independent NumPy ports; catches and names each fault."""

import numpy as np
import pytest
from hypothesis import given, settings
from kit_standins import bf16_angle_rope, default_inv_freq, numpy_rope

from refimpl.rope.frequencies import scaled_inv_freq
from refimpl.rope.nd import mrope_frequencies
from refimpl.testing import check_rope, identify_rope, preset
from refimpl.testing.presets import EXAMPLE_SETTINGS, PRESETS, hugging_face, qwen2_vl_mrope
from refimpl.testing.strategies import rope_conventions

# Positions up to 2**12 keep each check fast; the float32 fault shows at every position.
MAX = 2**12


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_passes_its_own_check(name):
    convention = PRESETS[name](**EXAMPLE_SETTINGS[name])
    report = check_rope(convention, head_dim=convention.head_dim, expect=convention,
                        max_position=MAX)
    assert report.passed, str(report)
    assert report.identified["layout"] == convention.layout
    assert report.identified["rotary dim"] == convention.rotary_dim


@settings(max_examples=15)
@given(rope_conventions(max_head_dim=32))
def test_identifies_generated_conventions(convention):
    """Identification without an expected preset recovers layout, block, base and scale."""
    report = check_rope(convention, head_dim=convention.head_dim, max_position=MAX)
    assert report.passed, str(report)
    found = identify_rope(convention, convention.head_dim)
    assert found.layout == convention.layout or convention.rotary_dim == 2
    assert found.rotary_dim == convention.rotary_dim and found.rotary_start == 0
    if convention.rotary_dim > 2:
        assert found.base == pytest.approx(convention.parameters["base"], rel=1e-9)
        assert found.scale == pytest.approx(convention.parameters["factor"], rel=1e-9)


def test_independent_hf_port_passes_and_is_identified():
    report = check_rope(numpy_rope(default_inv_freq(64)), head_dim=64,
                        expect=preset("hf-default", head_dim=64), max_position=MAX)
    assert report.passed, str(report)
    assert report.identified["base"] == 10000.0 and report.identified["position offset"] == 0


def test_independent_meta_port_matches_meta_not_hf():
    meta_style = numpy_rope(default_inv_freq(64, 500000.0), layout="interleaved")
    assert check_rope(meta_style, head_dim=64, expect=preset("meta-llama:base=500000",
                                                             head_dim=64),
                      max_position=MAX).passed
    report = check_rope(meta_style, head_dim=64,
                        expect=preset("hf-default:base=500000", head_dim=64), max_position=MAX)
    assert not report.passed and any("wrong layout" in f for f in report.faults)


HF = hugging_face(64, partial_rotary_factor=0.5)


@pytest.mark.parametrize("fault, options, phrase", [
    ("wrong layout", {"layout": "interleaved"}, "wrong layout: expected half"),
    ("positions off by one", {"offset": 1.0}, "positions off by 1"),
    ("angles in float32", {"angle_dtype": np.float32}, "computed in float32"),
    ("wrong base", {"base": 500000.0}, "wrong base: expected 10000, found 500000"),
    ("partial rotary on the wrong block", {"start": 32}, "partial rotary on the wrong block"),
    ("attention factor", {"magnitude": 1.25}, "magnitude"),
])
def test_catches_and_names_fault(fault, options, phrase):
    base = options.pop("base", 10000.0)
    fn = numpy_rope(default_inv_freq(32, base), **options)
    report = check_rope(fn, head_dim=64, expect=HF, max_position=MAX)
    assert not report.passed
    assert any(phrase in f for f in report.faults), str(report)


def test_float32_angles_show_as_a_growing_curve():
    fn = numpy_rope(default_inv_freq(64), angle_dtype=np.float32)
    report = check_rope(fn, head_dim=64, expect=hugging_face(64), max_position=2**17)
    errors = np.array(report.curve.errors)
    assert errors[0] == 0 and errors[-1] > 100 * errors[1]  # grows with the position
    assert errors[-1] > 1e-4  # research note §9: ~1e-3 of cos at 131k positions
    assert "position" in str(report) and "<-- exceeds" in str(report)
    # The same function passes when it only claims float32.
    assert check_rope(fn, head_dim=64, expect=hugging_face(64), dtype="float32",
                      max_position=2**17).passed


@pytest.mark.parametrize("fn, name", [
    (numpy_rope(default_inv_freq(64), angle_dtype=np.float16), "float16"),
    (bf16_angle_rope(default_inv_freq(64)), "bfloat16"),
])
def test_half_precision_angles_are_named(fn, name):
    report = check_rope(fn, head_dim=64, expect=hugging_face(64), max_position=MAX)
    assert f"rounded frequencies (inv_freq stored in {name}?)" in report.faults[0]
    assert report.faults[-1].endswith(f"consistent with angles computed in {name}")


def test_float16_position_overflow_is_reported():
    fn = numpy_rope(default_inv_freq(64), angle_dtype=np.float16)
    report = check_rope(fn, head_dim=64, expect=hugging_face(64), max_position=2**17)
    assert any("non-finite output from position 65536" in f for f in report.faults)
    assert not report.row("agreement with hf-default").passed


def test_yarn_truncate_flag_flipped_is_named():
    settings = dict(factor=32.0, original_max_position_embeddings=4096)
    expected = hugging_face(64, "yarn", 150000.0, truncate=True, **settings)
    wrong, factor = scaled_inv_freq("yarn", 64, 150000.0, truncate=False, **settings)
    report = check_rope(numpy_rope(wrong, magnitude=factor), head_dim=64, expect=expected,
                        max_position=MAX)
    assert not report.passed
    assert report.faults == ("frequencies match YaRN with truncate=False (the truncate flag "
                             "flipped), not the expected schedule",)


@pytest.mark.parametrize("sections", [[24, 16, 24], [16, 24, 24][::-1]])
def test_mrope_sections_swapped_is_named(sections):
    fn = numpy_rope(mrope_frequencies(128, sections, base=1e6))
    report = check_rope(fn, head_dim=128, expect=qwen2_vl_mrope(128), max_position=MAX)
    assert not report.passed
    assert any("expected [0x16 1x24 2x24]" in f for f in report.faults), str(report)


def test_qwen3_interleaved_mrope_is_not_qwen2_chunked():
    fn = numpy_rope(mrope_frequencies(128, [24, 20, 20], base=1e6, interleaved=True))
    report = check_rope(fn, head_dim=128, expect=qwen2_vl_mrope(128, mrope_section=(24, 20, 20)),
                        max_position=MAX)
    assert any("axis assignment" in f for f in report.faults)


def test_llama4_vision_one_based_positions_are_identified():
    convention = preset("llama4-vision", head_dim=16)
    found = identify_rope(convention, 16, n_axes=2)
    assert list(found.offset) == [1.0, 1.0]
    # A 0-based port is one position off on both axes.
    zero_based = numpy_rope(convention.frequencies, layout="interleaved")
    report = check_rope(zero_based, head_dim=16, expect=convention, max_position=MAX)
    assert any("positions off by [-1.0, -1.0]" in f for f in report.faults)


def test_off_by_one_without_expectation_fails_identity_row():
    report = check_rope(numpy_rope(default_inv_freq(16), offset=1.0), head_dim=16,
                        max_position=MAX)
    assert not report.row("position 0 is the identity").passed
    assert any("positions off by 1" in f for f in report.faults)


def test_reversed_rotation_is_named():
    report = check_rope(numpy_rope(-default_inv_freq(16)), head_dim=16,
                        expect=hugging_face(16), max_position=MAX)
    assert any("direction reversed" in f for f in report.faults)


def test_function_rotating_nothing_fails():
    report = check_rope(lambda x, p: x, head_dim=8)
    assert not report.passed and "rotates no pair" in str(report)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="dtype"):
        check_rope(HF, head_dim=64, dtype="float8")
    with pytest.raises(ValueError, match="head_dim"):
        check_rope(HF, head_dim=0)
    with pytest.raises(ValueError, match="shaped like x"):
        check_rope(lambda x, p: x[:, :2], head_dim=8)


def test_pair_form_passes_and_names_a_fault_on_one_side():
    q_side = numpy_rope(default_inv_freq(32))
    good = lambda q, k, p: (q_side(q, p), q_side(k, p))
    expected = hugging_face(32)
    from refimpl.testing import check_rope_pair
    report = check_rope_pair(good, head_dim=32, expect=expected, max_position=MAX)
    assert report.passed, str(report)
    assert report.row("q/k scores: relative-position invariance").passed
    k_side = numpy_rope(default_inv_freq(32), offset=1.0)
    bad = lambda q, k, p: (q_side(q, p), k_side(k, p))
    report = check_rope_pair(bad, head_dim=32, expect=expected, max_position=MAX)
    assert not report.passed
    assert [f for f in report.faults if "off by" in f] == [
        "k: positions off by 1.0: the angle at position p is that of p + 1.0 in the expected "
        "convention"]


def test_xpos_pair_passes_and_a_missing_key_inverse_is_caught():
    from kit_standins import xpos_pair

    from refimpl.testing import check_rope_pair
    from refimpl.testing.presets import lucidrains
    expected = lucidrains(16, use_xpos=True, xpos_scale_base=512.0, xpos_center=100.0)
    good = check_rope_pair(xpos_pair(16, center=100.0), head_dim=16, expect=expected,
                           max_position=MAX)
    assert good.passed, str(good)
    bad = check_rope_pair(xpos_pair(16, center=100.0, invert_keys=False), head_dim=16,
                          expect=expected, max_position=MAX)
    assert not bad.row("q/k scores: relative-position invariance").passed
    assert not bad.row("k: agreement with lucidrains-xpos").passed


def test_xpos_scaling_where_none_is_expected_is_named():
    from kit_standins import xpos_pair

    from refimpl.testing.presets import lucidrains
    queries_only = lambda x, p: xpos_pair(16)(x, x, p)[0]
    report = check_rope(queries_only, head_dim=16, expect=lucidrains(16), max_position=MAX)
    assert any("xPos-like" in f for f in report.faults), str(report)


def test_split_pairs_and_permuted_outputs_are_described():
    # HF "proportional": only the first r pairs of a half-layout head rotate (pairs k, D/2+k)
    omega = np.zeros(8)
    omega[:2] = default_inv_freq(16)[:2]
    report = check_rope(numpy_rope(omega), head_dim=16, expect=preset("hf-default", head_dim=16),
                        max_position=MAX)
    assert report.identified["layout"] == "other"
    assert report.identified["pairs"] == [(0, 8), (1, 9)]
    # DeepSeek's interleave path: interleaved pairs in, [evens | odds] out
    meta = numpy_rope(default_inv_freq(16), layout="interleaved")
    deepseek = lambda x, p: np.concatenate([meta(x, p)[:, 0::2], meta(x, p)[:, 1::2]], axis=-1)
    for expect in (preset("meta-llama", head_dim=16), None):
        report = check_rope(deepseek, head_dim=16, expect=expect, max_position=MAX)
        assert not report.passed and report.faults[0].startswith("not a pairwise rotation")


# --- issue #18: thresholds follow the claim, probes respect max_position, every fault ---

def test_honest_bfloat16_function_passes_with_its_convention_identified():
    """HF's bf16 path (float32 inv_freq and angles, cos/sin and products in bf16) claimed
    as bf16 passes; the old fixed thresholds called it xPos-like with rounded inv_freq."""
    from kit_standins import hf_bf16_rope

    fn = hf_bf16_rope(default_inv_freq(64))
    report = check_rope(fn, head_dim=64, expect=hugging_face(64), dtype="bfloat16",
                        max_position=MAX)
    assert report.passed, str(report)
    assert report.identified["base"] == 10000.0 and report.identified["magnitude"] == 1.0
    assert report.identified["claimed precision"] == "inputs bfloat16, angles float32"
    claimed_float64 = check_rope(fn, head_dim=64, expect=hugging_face(64), max_position=MAX)
    assert not claimed_float64.passed
    assert not any("xPos" in f for f in claimed_float64.faults), str(claimed_float64)


def test_angle_precision_is_claimed_separately_from_the_inputs():
    inv32 = default_inv_freq(64).astype(np.float32)

    def fn(x, positions):  # float32 angles, float64 cos/sin and arithmetic
        phi = (np.asarray(positions, dtype=np.float32)[:, None] * inv32).astype(np.float64)
        emb = np.concatenate([phi, phi], axis=-1)
        return x * np.cos(emb) + np.concatenate([-x[:, 32:], x[:, :32]], axis=-1) * np.sin(emb)

    expect = hugging_face(64)
    assert not check_rope(fn, head_dim=64, expect=expect, max_position=MAX).passed
    report = check_rope(fn, head_dim=64, expect=expect, angle_dtype="float32", max_position=MAX)
    assert report.passed, str(report)
    assert report.identified["claimed precision"] == "inputs float64, angles float32"
    # the curve's tolerance grows with the position only through the angle precision
    tolerances = report.curve.tolerances
    assert tolerances[-1] > 100 * tolerances[1]
    with pytest.raises(ValueError, match="angle_dtype"):
        check_rope(fn, head_dim=64, angle_dtype="float8")


def test_no_probe_goes_beyond_max_position():
    from kit_standins import table_rope

    seen = []
    table = table_rope(32, table_size=2048)

    def recording(x, positions):
        seen.append(int(np.max(positions)))
        return table(x, positions)

    report = check_rope(recording, head_dim=32, expect=preset("gpt-j", head_dim=32, rotary_dim=32),
                        max_position=2047)
    assert report.passed, str(report)
    assert max(seen) == 2047 and report.curve.values[-1] == 2047


def test_a_table_overrun_is_a_foreign_error_with_the_call_and_a_hint():
    from kit_standins import table_rope

    from refimpl.testing.adapters import ForeignError
    with pytest.raises(ForeignError, match=r"IndexError.*\n.*fn\(x: numpy.ndarray float64 "
                                           r"\(\d+, 32\), positions: numpy.ndarray int64.*\n.*"
                                           r"max_position"):
        check_rope(table_rope(32), head_dim=32, max_position=4096)


def test_every_fault_is_named_not_only_the_layout():
    """Issue #18: an interleaved function with base 500000 was reported only as a wrong layout."""
    fn = numpy_rope(default_inv_freq(64, 500000.0), layout="interleaved", offset=1.0)
    report = check_rope(fn, head_dim=64, expect=hugging_face(64), max_position=MAX)
    assert any(f.startswith("wrong layout") for f in report.faults)
    assert "wrong base: expected 10000, found 500000" in report.faults
    assert any(f.startswith("positions off by 1") for f in report.faults)


def test_batch_dependent_angles_are_detected_and_named():
    from kit_standins import dynamic_ntk_rope

    report = check_rope(dynamic_ntk_rope(32, original=64), head_dim=32, max_position=1024)
    assert not report.row("batch independence (two batch sizes)").passed
    assert report.row("no state across calls").passed
    assert any(f.startswith("batch dependence") and "dynamic NTK" in f for f in report.faults)
    # below the original length the same function is an ordinary RoPE
    assert check_rope(dynamic_ntk_rope(32, original=4096), head_dim=32, max_position=1024).passed


def test_a_function_that_remembers_earlier_calls_is_named():
    longest = [0]

    def cached(x, positions):  # grows its cache, never shrinks it
        longest[0] = max(longest[0], int(np.max(positions)) + 1)
        base = 10000.0 * (1 + longest[0] / 512)
        return numpy_rope(default_inv_freq(16, base))(x, positions)

    report = check_rope(cached, head_dim=16, max_position=1024)
    assert any(f.startswith("state:") for f in report.faults), str(report)


def test_pair_function_given_to_check_rope_says_what_to_use():
    with pytest.raises(TypeError, match=r"fn\(x, positions\).*check_rope_pair.*cos_sin_pair"):
        check_rope(lambda q, k, positions: (q, k), head_dim=8)
    with pytest.raises(TypeError, match=r"check_rope_pair calls fn\(q, k, positions\)"):
        from refimpl.testing import check_rope_pair
        check_rope_pair(lambda q, k, cos, sin: (q, k), head_dim=8)


def test_bhtd_functions_and_the_cos_sin_adapter():
    """A Hugging Face-shaped port: (B, H, T, D) tensors, rotary_emb(x, position_ids) ->
    (cos, sin) of shape (B, T, D), apply_rotary_pos_emb(q, k, cos, sin) unsqueezing heads."""
    from refimpl.testing import check_rope_pair
    from refimpl.testing.adapters import cos_sin_pair

    inv = default_inv_freq(16)

    def rotary_emb(x, position_ids):
        phi = position_ids[..., None] * inv
        emb = np.concatenate([phi, phi], axis=-1)
        return np.cos(emb), np.sin(emb)

    def rotate_half(t):
        return np.concatenate([-t[..., 8:], t[..., :8]], axis=-1)

    def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
        cos, sin = np.expand_dims(cos, unsqueeze_dim), np.expand_dims(sin, unsqueeze_dim)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin

    pair = cos_sin_pair(apply_rotary_pos_emb, rotary_emb)
    report = check_rope_pair(pair, head_dim=16, expect=hugging_face(16), max_position=MAX)
    assert report.passed, str(report)
    single = lambda x, position_ids: apply_rotary_pos_emb(x, x, *rotary_emb(x, position_ids))[0]
    report = check_rope(single, head_dim=16, expect=hugging_face(16), tensor_layout="BHTD",
                        max_position=MAX)
    assert report.passed, str(report)
    with pytest.raises(ValueError, match="tensor_layout"):
        check_rope(single, head_dim=16, tensor_layout="NCHW")


def test_zero_frequency_pairs_of_the_proportional_schedule_are_not_a_fault():
    """Hugging Face's ``proportional`` schedule zero-pads inv_freq to the head dimension,
    so a correct function rotates only the first half of each ``(k, k + H/2)`` pair set
    and probing finds 16 pairs of no standard layout. That is the expected convention,
    not a departure (the transformers audit reported lfm3 so before); a function that
    rotates the same number of pairs in the standard half layout of width 32 is wrong
    (its pairs differ) and must still fail."""
    expected = hugging_face(64, "proportional", partial_rotary_factor=0.5)
    omega = expected.frequencies[0]
    assert np.count_nonzero(omega == 0) == 16
    report = check_rope(numpy_rope(omega), head_dim=64, expect=expected, max_position=MAX)
    assert report.passed, str(report)
    wrong = numpy_rope(omega[:16])  # pairs (k, k + 16): a rotary block of 32
    report = check_rope(wrong, head_dim=64, expect=expected, max_position=MAX)
    assert not report.passed and any("rotary dim" in f for f in report.faults), str(report)
