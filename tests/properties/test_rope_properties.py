"""The RoPE properties of refimpl.testing.properties.rope, run on refimpl's own RoPE.

Each test draws a configuration (layout, partial rotary, base) and a case from the
public strategy :func:`refimpl.testing.strategies.rope_cases`, with real positions; the
tolerances are the properties' own (``16 eps (1 + omega_max |p|)`` per rotation).
"""

from hypothesis import given
from hypothesis import strategies as st
from rope_subjects import apply_subject, configurations, convention, pair_subject

from refimpl.testing import strategies as rst
from refimpl.testing.presets import lucidrains
from refimpl.testing.properties import rope as properties
from refimpl.testing.properties.rope import RopeSubject


def _draw(data) -> tuple[RopeSubject, object]:
    head_dim, rotary, base, layout = data.draw(configurations(), label="configuration")
    subject = apply_subject(head_dim, rotary, base, layout)
    case = data.draw(rst.rope_cases(head_dim, integer=False, max_position=2**20), label="case")
    return subject, case


@given(st.data())
def test_relative_position_invariance(data):
    properties.relative_position_invariance(*_draw(data)).assert_holds()


@given(st.data())
def test_norm_preservation(data):
    properties.norm_preservation(*_draw(data)).assert_holds()


@given(st.data())
def test_orthogonality(data):
    properties.orthogonality(*_draw(data)).assert_holds()


@given(st.data())
def test_identity_at_zero(data):
    properties.identity_at_zero(*_draw(data)).assert_holds()


@given(st.data())
def test_group_law(data):
    properties.group_law(*_draw(data)).assert_holds()


@given(st.data(), st.sampled_from([1.0, 0.7, 1.3465735902799727]))
def test_textbook_form_agrees_with_the_fast_convention(data, magnitude):
    """apply_definition (the 2x2 rotation of each pair) against a convention computed by
    the fast apply, with Hugging Face's attention factor as magnitude."""
    head_dim, rotary, base, layout = data.draw(configurations(), label="configuration")
    expect = convention(head_dim, rotary, base, layout, magnitude)
    textbook = apply_subject(head_dim, rotary, base, layout, definition=True)

    def scaled(x, positions):
        out = textbook(x, positions)
        out[..., :rotary] *= magnitude
        return out

    subject = RopeSubject(scaled, head_dim, expect, integer_positions=False)
    case = data.draw(rst.rope_cases(head_dim, integer=False, max_position=2**20), label="case")
    properties.agreement(subject, case).assert_holds()


@given(st.data())
def test_pair_form(data):
    head_dim, rotary, base, layout = data.draw(configurations(), label="configuration")
    subject = pair_subject(convention(head_dim, rotary, base, layout))
    case = data.draw(rst.rope_cases(head_dim, integer=False), label="case")
    properties.pair_score_invariance(subject, case).assert_holds()
    properties.pair_sides_agree(subject, case).assert_holds()


@given(rst.rope_cases(32, max_position=2048))
def test_xpos_pair_scores_are_relative(case):
    """lucidrains' xPos scales queries by zeta^(p/512) and keys by its inverse: the pair's
    scores stay relative although neither side alone is (positions up to 2048 keep
    zeta^(p/512) within float64)."""
    subject = pair_subject(lucidrains(32, use_xpos=True, xpos_scale_base=512.0,
                                      xpos_center=512.0))
    properties.pair_score_invariance(subject, case).assert_holds()
