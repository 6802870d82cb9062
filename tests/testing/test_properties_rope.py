"""refimpl.testing.properties.rope on NumPy stand-ins: correct code passes, planted faults
fail the property that states them, and the failure names the fault and shows shapes."""

import numpy as np
import pytest
from hypothesis import given
from kit_standins import default_inv_freq, numpy_rope, xpos_pair

from refimpl.testing import strategies as rst
from refimpl.testing.presets import hugging_face, lucidrains, meta_llama
from refimpl.testing.properties import Case, PropertyFailure, tolerance
from refimpl.testing.properties import rope as properties

HF = hugging_face(16)
CORRECT = properties.rope_subject(numpy_rope(default_inv_freq(16)), head_dim=16, expect=HF)
ONE_AXIS = [p for p in properties.PROPERTIES if p.applies(CORRECT)]


def case(seed=0, high=1000):
    rng = np.random.default_rng(seed)
    x, q, k = rng.standard_normal((3, 4, 16))
    p, m, n, s = rng.integers(0, high, (4, 4)).astype(float)
    return Case(x=x, q=q, k=k, positions=p, m=m, n=n, shift=s)


@pytest.mark.parametrize("prop", ONE_AXIS, ids=lambda p: p.name)
@given(case=rst.rope_cases(16))
def test_correct_stand_in_passes(prop, case):
    prop.check(CORRECT, case).assert_holds()


def test_every_property_applies_to_a_plain_rope_with_an_expectation():
    assert [p.name for p in ONE_AXIS] == [p.name for p in properties.PROPERTIES]


def test_off_by_one_positions_fail_identity_and_group_law_and_agreement():
    subject = properties.rope_subject(numpy_rope(default_inv_freq(16), offset=1.0),
                                      head_dim=16, expect=HF)
    identity = properties.identity_at_zero(subject, case())
    assert not identity.passed and "1-based, or off by one" in identity.faults[0]
    assert not properties.group_law(subject, case()).passed
    assert not properties.agreement(subject, case()).passed
    assert any("positions off by 1" in f for f in properties.diagnose(subject))
    # an offset is still relative and orthogonal
    assert properties.relative_position_invariance(subject, case()).passed
    assert properties.orthogonality(subject, case()).passed


def test_a_scale_fails_orthogonality_and_norms():
    scaled = numpy_rope(default_inv_freq(16), magnitude=1.01)
    subject = properties.rope_subject(scaled, head_dim=16)
    assert not properties.orthogonality(subject, case()).passed
    # |f(x, p)| = |f(x, 0)| still holds: the scale is the same at every position
    assert properties.norm_preservation(subject, case()).passed
    assert not properties.identity_at_zero(subject, case()).passed


def test_absolute_positions_fail_relative_invariance():
    rope = numpy_rope(default_inv_freq(16))

    def squared(x, positions):  # angle p^2 omega: a rotation, not a relative one
        return rope(x, np.asarray(positions, dtype=float) ** 2 / 100)

    subject = properties.rope_subject(squared, head_dim=16, integer_positions=False)
    result = properties.relative_position_invariance(subject, case())
    assert not result.passed and result.measured > 1e-3
    assert properties.orthogonality(subject, case()).passed


def test_wrong_layout_fails_agreement_and_the_diagnosis_names_it():
    subject = properties.rope_subject(numpy_rope(default_inv_freq(16), layout="interleaved"),
                                      head_dim=16, expect=HF)
    assert not properties.agreement(subject, case()).passed
    assert any("wrong layout" in f for f in properties.diagnose(subject))
    meta = properties.rope_subject(subject.fn, head_dim=16, expect=meta_llama(16))
    assert properties.agreement(meta, case()).passed


def test_float32_angles_pass_only_at_the_claimed_precision():
    fn = numpy_rope(default_inv_freq(16), angle_dtype=np.float32)
    large = case(high=2**16)
    strict = properties.rope_subject(fn, head_dim=16, expect=HF)
    claimed = properties.rope_subject(fn, head_dim=16, expect=HF, dtype="float32")
    assert not properties.agreement(strict, large).passed
    assert properties.agreement(claimed, large).passed
    assert claimed.omega_max == 1.0 and claimed.dtype == "float32"


def test_tolerance_grows_with_the_positions():
    small, large = case(high=10), case(high=10**5)
    a = properties.relative_position_invariance(CORRECT, small).tolerance
    b = properties.relative_position_invariance(CORRECT, large).tolerance
    assert a < b <= tolerance("float64", 2 * (1 + 4 * 10**5))


def test_omega_max_is_read_off_the_function_without_expectation():
    rope = numpy_rope(default_inv_freq(16) * 0.25)
    assert properties.rope_subject(rope, head_dim=16).omega_max == pytest.approx(0.25)


def test_pair_form_with_xpos_and_its_forgotten_inverse():
    good = properties.rope_pair_subject(xpos_pair(32), head_dim=32,
                                        expect=lucidrains(32, use_xpos=True, xpos_scale_base=512.0))
    bad = properties.rope_pair_subject(xpos_pair(32, invert_keys=False), head_dim=32)
    c = Case(**{name: (np.resize(value, (4, 32)) if value.ndim == 2 else value)
                for name, value in case()})
    assert properties.pair_score_invariance(good, c).passed
    assert not properties.pair_score_invariance(bad, c).passed
    applies = {p.name for p in properties.PAIR_PROPERTIES if p.applies(good)}
    assert applies == {"score_invariance", "agreement"}  # xPos sides differ on purpose


def test_pair_with_swapped_sides_fails_sides_agree():
    rope = numpy_rope(default_inv_freq(16))
    subject = properties.rope_pair_subject(lambda q, k, p: (rope(q, p), rope(k, p + 1)),
                                           head_dim=16)
    result = properties.pair_sides_agree(subject, case())
    assert not result.passed


def test_failure_prints_the_arrays_with_their_shapes():
    subject = properties.rope_subject(numpy_rope(default_inv_freq(16), offset=1.0),
                                      head_dim=16, expect=HF)
    with pytest.raises(PropertyFailure) as raised:
        properties.group_law(subject, case()).assert_holds()
    text = str(raised.value)
    assert "property rope.group_law FAILS" in text
    assert "x = shape (4, 16) float64" in text and "lambda" not in text
    assert raised.value.result.case is not None
    assert "shape (4,)" in repr(case())


def test_agreement_needs_an_expectation():
    with pytest.raises(ValueError, match="expect"):
        properties.agreement(properties.rope_subject(numpy_rope(default_inv_freq(16)),
                                                     head_dim=16), case())


def test_non_finite_output_is_a_named_fault():
    def broken(x, positions):
        return np.full(x.shape, np.nan)

    result = properties.norm_preservation(properties.rope_subject(broken, head_dim=16), case())
    assert not result.passed and "non-finite" in result.faults[0]
