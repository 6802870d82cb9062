"""refimpl.testing.properties for VJPs, widening, attention and N-D RoPE on stand-ins,
and the shared pieces: the tolerance rule, the result type, the table of properties."""

import numpy as np
import pytest
from kit_standins import default_inv_freq, numpy_rope

import refimpl.testing.properties as P
from refimpl.testing.properties import Case, PropertyResult, attention, rope_nd, vjp, widening

# --- VJP ---------------------------------------------------------------------------------


def args(seed=0):
    return Case(arg0=np.random.default_rng(seed).standard_normal((3, 4)))


def test_correct_backward_passes_both_ways():
    subject = vjp.vjp_subject(np.sin, lambda g, x: g * np.cos(x),
                              reference=(np.sin, lambda g, x: g * np.cos(x)))
    assert vjp.against_reference(subject, args()).passed
    assert vjp.against_finite_differences(subject, args()).passed


@pytest.mark.parametrize("factor, phrase", [(-1.0, "wrong sign"), (2.0, "2 x the reference")])
def test_wrong_backward_fails_with_the_constant_named(factor, phrase):
    subject = vjp.vjp_subject(np.sin, lambda g, x: factor * g * np.cos(x),
                              reference=(np.sin, lambda g, x: g * np.cos(x)))
    result = vjp.against_reference(subject, args())
    assert not result.passed and any(phrase in f for f in result.faults)
    assert not vjp.against_finite_differences(subject, args()).passed


def test_named_reference_and_unknown_name():
    forward, backward = vjp.VJP_REFERENCES["rope.apply"]
    subject = vjp.vjp_subject(forward, backward, reference="rope.apply")
    x, phi = np.ones((2, 4)), np.full((2, 2), 0.3)
    assert vjp.against_reference(subject, Case(arg0=x, arg1=phi)).passed
    with pytest.raises(ValueError, match="reference"):
        vjp.vjp_subject(forward, backward, reference="rope.nope")


# --- widening ----------------------------------------------------------------------------


def test_growth_off_by_rounding_passes_and_off_by_1e_9_fails():
    small = lambda x: np.tanh(x)
    good = widening.WideningSubject(small, lambda x: np.tanh(x) * (1 + 2**-52))
    bad = widening.WideningSubject(small, lambda x: np.tanh(x) + 1e-9)
    case = Case(x=np.linspace(-2, 2, 7))
    assert widening.preserves_function(good, case).passed
    assert not widening.preserves_function(bad, case).passed
    shape = widening.WideningSubject(small, lambda x: np.tanh(x)[:3])
    assert "output shape" in widening.preserves_function(shape, case).faults[0]


def test_copies_that_differ_without_noise_or_stay_equal_with_it_fail():
    def copies(noise, seed, offset=0.0):
        g = np.random.default_rng(seed).standard_normal(4)
        return [(g, g + noise + offset)]

    fine = widening.WideningSubject(None, None, copy_gradients=copies)
    assert widening.copies_separate_under_noise(fine, Case(seed=1)).passed
    stuck = widening.WideningSubject(None, None, copy_gradients=lambda n, s: copies(0.0, s))
    assert "does not break its symmetry" in \
        widening.copies_separate_under_noise(stuck, Case(seed=1)).faults[0]
    apart = widening.WideningSubject(None, None,
                                     copy_gradients=lambda n, s: copies(n, s, offset=1e-3))
    assert "without noise" in widening.copies_separate_under_noise(apart, Case(seed=1)).faults[0]


# --- attention ---------------------------------------------------------------------------


def numpy_attention(q, k, v, mask, *, scale=True, keep="allowed"):
    """A framework-style kernel: masked_fill(-inf) then softmax; zeros for empty rows."""
    s = q @ k.T / (np.sqrt(q.shape[-1]) if scale else 1.0)
    allowed = mask if keep == "allowed" else ~mask
    s = np.where(allowed, s, -np.inf)
    empty = ~np.any(allowed, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        w = np.exp(s - np.where(empty, 0.0, np.max(s, axis=-1, keepdims=True)))
        w = np.where(empty, 0.0, w / np.where(empty, 1.0, w.sum(axis=-1, keepdims=True)))
    return w @ v


def attention_case(seed=0):
    rng = np.random.default_rng(seed)
    mask = np.tril(np.ones((4, 5), dtype=bool), 1)
    return Case(q=rng.standard_normal((4, 3)), k=rng.standard_normal((5, 3)),
                v=rng.standard_normal((5, 2)), mask=mask, changed=np.arange(5) >= 3,
                k_noise=rng.standard_normal((5, 3)), v_noise=rng.standard_normal((5, 2)))


def test_numpy_kernel_passes():
    subject = attention.attention_subject(numpy_attention, fully_masked="zeros")
    for check in (attention.values, attention.masked_keys_ignored,
                  attention.fully_masked_rows_are_zero):
        check(subject, attention_case()).assert_holds()


def test_kernel_faults_are_named():
    unscaled = attention.attention_subject(lambda *a: numpy_attention(*a, scale=False))
    assert "not divided by sqrt(d)" in attention.values(unscaled, attention_case()).faults[0]
    inverted = attention.attention_subject(lambda *a: numpy_attention(*a, keep="masked"))
    leak = attention.masked_keys_ignored(inverted, attention_case())
    assert not leak.passed and "inverted" in leak.faults[0]

    def nan_rows(q, k, v, mask):
        out = numpy_attention(q, k, v, mask)
        out[~mask.any(axis=-1)] = np.nan
        return out

    nan = attention.attention_subject(nan_rows, fully_masked="zeros")
    assert "NaN" in attention.fully_masked_rows_are_zero(nan, attention_case()).faults[0]


def test_kernel_backward_with_a_sign_error_fails():
    from refimpl.attention import scaled_dot_product_attention_vjp as vjp_

    def backward(g, q, k, v, mask, sign=1.0):
        dq, dk, dv, _ = vjp_(g, q, k, v, mask)
        return sign * dq, dk, dv

    good = attention.attention_subject(numpy_attention, backward)
    assert attention.backward(good, attention_case()).passed
    bad = attention.attention_subject(numpy_attention,
                                      lambda *a: backward(*a, sign=-1.0))
    result = attention.backward(bad, attention_case())
    assert not result.passed and any("wrong sign" in f for f in result.faults)


# --- N-D RoPE ----------------------------------------------------------------------------


def test_axial_stand_in_passes_and_a_non_commuting_one_fails():
    axial = numpy_rope(np.stack([np.r_[default_inv_freq(8), np.zeros(4)],
                                 np.r_[np.zeros(4), default_inv_freq(8)]]))
    good = rope_nd.rope_nd_subject(axial, head_dim=16, n_axes=2, grid=(8, 8))
    rng = np.random.default_rng(0)
    case = Case(x=rng.standard_normal((3, 16)), p=rng.integers(-9, 9, (3, 2)).astype(float),
                q=rng.integers(-9, 9, (3, 2)).astype(float))
    for check in (rope_nd.relativity, rope_nd.commutation, rope_nd.invertibility_on_grid):
        check(good, case).assert_holds()
    Q = np.linalg.qr(rng.standard_normal((16, 16)))[0]
    one = numpy_rope(default_inv_freq(16))

    def mixed(x, positions):  # R(p0) Q R(p1) Q^T: the two axes do not commute
        positions = np.asarray(positions, dtype=float)
        return one(one(x, positions[:, 1]) @ Q, positions[:, 0]) @ Q.T

    bad = rope_nd.rope_nd_subject(mixed, head_dim=16, n_axes=2)
    assert not rope_nd.relativity(bad, case).passed
    assert not rope_nd.commutation(bad, case).passed


def test_grid_offsets_are_half_of_the_differences():
    offsets = rope_nd.grid_offsets((3, 2))
    assert len(offsets) == (5 * 3 - 1) // 2
    assert not any(np.array_equal(-d, e) for d in offsets for e in offsets)


# --- shared pieces -----------------------------------------------------------------------


def test_tolerance_rule_and_unknown_dtype():
    assert P.tolerance("float32", 3.0) == 16 * 2.0**-23 * 3.0
    with pytest.raises(ValueError, match="dtype"):
        P.eps("float8")


def test_result_passes_like_a_row_and_nan_never_passes():
    assert PropertyResult("p", 1.0, 1.0).passed
    assert not PropertyResult("p", float("nan"), 1.0).passed
    assert not PropertyResult("p", 1e-300, 0.0).passed
    chosen = P.worst([PropertyResult("a", 1.0, 10.0), PropertyResult("b", 2.0, 4.0)])
    assert chosen.name == "b"
    with pytest.raises(ValueError, match="empty"):
        P.worst([])


def test_case_fields_and_missing_field_message():
    case = Case(x=np.zeros(2))
    with pytest.raises(AttributeError, match="no field 'y'"):
        _ = case.y


def test_describe_lists_every_property_once():
    text = P.describe()
    for kind, properties in P.KINDS.items():
        assert kind in text
        for prop in properties:
            assert text.count(f"  {prop.name} ") >= 1
    with pytest.raises(ValueError, match="kind"):
        P.describe("nope")
    assert len({p.id for props in P.KINDS.values() for p in props}) == \
        sum(len(props) for props in P.KINDS.values())
