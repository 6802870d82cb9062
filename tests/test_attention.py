"""Softmax, scaled dot-product attention and linear attention: properties, references, VJPs."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from refimpl import rope
from refimpl.attention import (attention_backward_from_weights, attention_logits,
                               attention_weights, linear_attention, linear_attention_vjp,
                               merge_heads, scaled_dot_product_attention,
                               scaled_dot_product_attention_vjp, softmax, softmax_vjp,
                               split_heads)
from refimpl.gradcheck import assert_vjp
from refimpl.masks import causal_mask

seeds = st.integers(0, 2**32 - 1)
layouts = st.sampled_from(["interleaved", "half"])


# ---------------------------------------------------------------- softmax


@given(seeds, st.sampled_from([1.0, 30.0, 1e3, 1e300]))
def test_softmax_is_a_distribution_and_shift_invariant(seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 5)) * scale
    s = softmax(x)
    assert np.all(s >= 0) and np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-14)
    if scale < 1e300:
        np.testing.assert_allclose(softmax(x + 123.0), s, rtol=1e-9, atol=1e-300)


def test_softmax_closed_forms_and_axis():
    np.testing.assert_allclose(softmax([0.0, np.log(3.0)]), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(softmax([[0.0, 0.0], [np.log(3.0), 0.0]], axis=0),
                               [[0.25, 0.5], [0.75, 0.5]], rtol=1e-15)
    np.testing.assert_array_equal(softmax([-1e308, 1e308]), [0.0, 1.0])


def test_masked_softmax_and_fully_masked_rows():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = np.array([[True, False, True], [False, False, False]])
    s = softmax(x, mask=mask)
    np.testing.assert_allclose(s[0], [1 / (1 + np.e**2), 0.0, np.e**2 / (1 + np.e**2)])
    np.testing.assert_array_equal(s[1], 0.0)
    np.testing.assert_array_equal(softmax_vjp(np.ones((2, 3)) * [1, 2, 3], x, mask=mask)[1], 0)


@given(seeds, st.sampled_from([0, 1, -1]), st.booleans())
def test_softmax_vjp(seed, axis, masked):
    rng = np.random.default_rng(seed)
    x = 3.0 * rng.standard_normal((3, 4))
    mask = rng.random((3, 4)) < 0.6 if masked else None
    assert_vjp(lambda x: softmax(x, axis, mask=mask),
              lambda g, x: softmax_vjp(g, x, axis, mask=mask), [x], rng=rng)


# ---------------------------------------------------------------- softmax attention


def naive_attention(q, k, v, mask, bias, scale, angles, key_angles, layout):
    """Loop-per-query reference with dense RoPE matrices (refimpl.rope.rotation_matrix)."""
    d = q.shape[-1]
    out = np.zeros(q.shape[:-1] + v.shape[-1:])
    for index in np.ndindex(q.shape[:-2]):
        for i in range(q.shape[-2]):
            qi = q[index][i] if angles is None else \
                rope.rotation_matrix(angles[i], d, layout) @ q[index][i]
            logits, allowed = [], []
            for j in range(k.shape[-2]):
                kj = k[index][j] if key_angles is None else \
                    rope.rotation_matrix(key_angles[j], d, layout) @ k[index][j]
                b = 0.0 if bias is None else np.broadcast_to(bias, q.shape[:-1] + (k.shape[-2],))[
                    index + (i, j)]
                logits.append(qi @ kj / (np.sqrt(d) if scale else 1.0) + b)
                allowed.append(True if mask is None else bool(
                    np.broadcast_to(mask, q.shape[:-1] + (k.shape[-2],))[index + (i, j)]))
            logits, allowed = np.array(logits), np.array(allowed)
            if allowed.any():
                w = np.where(allowed, np.exp(logits - logits[allowed].max()), 0.0)
                out[index][i] = (w / w.sum()) @ v[index]
    return out


@st.composite
def attention_case(draw, rope_allowed=True):
    """Random q, k, v (batch 2, heads 2), a mask with a fully masked row, options."""
    rng = np.random.default_rng(draw(seeds))
    tq, tk = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    d, dv = 2 * draw(st.integers(1, 3)), draw(st.integers(1, 3))
    q, k = rng.standard_normal((2, 2, tq, d)), rng.standard_normal((2, 2, tk, d))
    v = rng.standard_normal((2, 2, tk, dv))
    mask = None
    if draw(st.booleans()):
        mask = rng.random((2, 1, tq, tk)) < 0.7
        mask[0, 0, 0] = False                      # a fully masked row
    bias_shape = draw(st.sampled_from([None, (tq, tk), (2, 1, tq, tk), (2, 1, 1)]))
    bias = None if bias_shape is None else rng.standard_normal(bias_shape)
    angles = key_angles = rotary_dim = None
    layout = draw(layouts)
    if rope_allowed and draw(st.booleans()):
        pairs = draw(st.integers(1, d // 2))       # partial rotary included (explicitly)
        frequencies = rope.inv_freq(2 * pairs, 10.0)
        angles = rope.angles(rng.integers(0, 50, tq), frequencies)
        key_angles = rope.angles(rng.integers(0, 50, tk), frequencies)
        rotary_dim = 2 * pairs if 2 * pairs < d else None
    options = dict(scale=draw(st.booleans()), angles=angles, key_angles=key_angles,
                   layout=layout, rotary_dim=rotary_dim)
    return rng, q, k, v, mask, bias, options


@given(attention_case())
def test_attention_matches_naive_reference(case):
    _, q, k, v, mask, bias, options = case
    expected = naive_attention(q, k, v, mask, bias, options["scale"], options["angles"],
                               options["key_angles"], options["layout"])
    out = scaled_dot_product_attention(q, k, v, mask, bias, **options)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-13)


@given(attention_case())
def test_attention_vjp(case):
    rng, q, k, v, mask, bias, options = case
    args = [q, k, v] + ([] if bias is None else [bias])
    f = lambda *a: scaled_dot_product_attention(*a[:3], mask, *a[3:], **options)
    f_vjp = lambda g, *a: scaled_dot_product_attention_vjp(
        g, *a[:3], mask, *a[3:], **options)[:len(args)]
    assert_vjp(f, f_vjp, args, rng=rng)


def test_attention_vjp_check_has_power():
    # forgetting the RoPE backward (returning the gradient of the rotated q) is caught
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    phi = rope.angles(np.arange(3), rope.inv_freq(4))
    f = lambda q: scaled_dot_product_attention(q, k, v, angles=phi)
    unrotated = lambda g, q: scaled_dot_product_attention_vjp(
        g, rope.apply(q, phi), rope.apply(k, phi), v)[0]
    with pytest.raises(AssertionError, match="disagrees"):
        assert_vjp(f, unrotated, [q], rng=rng)


@given(attention_case())
def test_attention_weights_match_naive_reference(case):
    # with v = I the naive reference's output rows are the weights themselves
    _, q, k, _, mask, bias, options = case
    identity = np.broadcast_to(np.eye(k.shape[-2]), k.shape[:-1] + (k.shape[-2],))
    expected = naive_attention(q, k, identity, mask, bias, options["scale"], options["angles"],
                               options["key_angles"], options["layout"])
    np.testing.assert_allclose(attention_weights(q, k, mask, bias, **options), expected,
                               rtol=1e-12, atol=1e-13)


@given(attention_case(rope_allowed=False))
def test_attention_backward_from_weights(case):
    rng, q, k, v, mask, bias, options = case
    scale = options["scale"]
    f = lambda q, k, v: scaled_dot_product_attention(q, k, v, mask, bias, scale=scale)

    def f_vjp(g, q, k, v):
        weights = attention_weights(q, k, mask, bias, scale=scale)
        return attention_backward_from_weights(g, q, k, v, weights, weights @ v, scale=scale)

    assert_vjp(f, f_vjp, [q, k, v], rng=rng)


@given(seeds, layouts)
def test_attention_backward_from_weights_chains_with_the_rope_vjp(seed, layout):
    # the documented recipe: weights of the rotated q, k; then rope.apply_vjp to unrotate
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal((4, 2))
    phi_q = rope.angles(np.arange(3) + 4, rope.inv_freq(4, 10.0))
    phi_k = rope.angles(np.arange(4), rope.inv_freq(4, 10.0))
    f = lambda q, k: scaled_dot_product_attention(q, k, v, angles=phi_q, key_angles=phi_k,
                                                  layout=layout)

    def f_vjp(g, q, k):
        q_rot, k_rot = rope.apply(q, phi_q, layout=layout), rope.apply(k, phi_k, layout=layout)
        weights = attention_weights(q_rot, k_rot)
        grad_q, grad_k, _ = attention_backward_from_weights(g, q_rot, k_rot, v, weights,
                                                            weights @ v)
        return (rope.apply_vjp(grad_q, q, phi_q, layout=layout)[0],
                rope.apply_vjp(grad_k, k, phi_k, layout=layout)[0])

    assert_vjp(f, f_vjp, [q, k], rng=rng)


def test_fully_masked_rows_give_zeros_and_zero_gradients():
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    mask = np.ones((3, 5), bool)
    mask[1] = False
    bias = rng.standard_normal((3, 5))
    out = scaled_dot_product_attention(q, k, v, mask, bias)
    np.testing.assert_array_equal(out[1], 0.0)
    grad = np.zeros((3, 2))
    grad[1] = 1.0                                   # only the masked row has a cotangent
    for g in scaled_dot_product_attention_vjp(grad, q, k, v, mask, bias):
        np.testing.assert_array_equal(g, 0.0)


@given(seeds, st.integers(2, 6))
def test_permutation_equivariance_without_positions(seed, length):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((2, length, 4)) for _ in range(3))
    mask = rng.random((length, length)) < 0.7
    bias = rng.standard_normal((length, length))
    perm = rng.permutation(length)
    out = scaled_dot_product_attention(q, k, v, mask, bias)
    permuted = scaled_dot_product_attention(q[:, perm], k[:, perm], v[:, perm],
                                            mask[np.ix_(perm, perm)], bias[np.ix_(perm, perm)])
    np.testing.assert_allclose(permuted, out[:, perm], rtol=1e-12, atol=1e-14)


@given(seeds, layouts, st.integers(-40, 40))
def test_rope_logits_depend_only_on_relative_position(seed, layout, shift):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    frequencies = rope.inv_freq(6, 100.0)          # partial rotary: 6 of 8 features
    positions = rng.integers(0, 30, 5) + 40
    logits = lambda p: attention_logits(q, k, angles=rope.angles(p, frequencies),
                                        layout=layout, rotary_dim=6)
    np.testing.assert_allclose(logits(positions + shift), logits(positions), atol=1e-12)
    # the same q and k at every position give a Toeplitz matrix of logits
    same = attention_logits(np.tile(q[0], (6, 1)), np.tile(k[0], (6, 1)),
                            angles=rope.angles(np.arange(6), frequencies), layout=layout,
                            rotary_dim=6)
    np.testing.assert_allclose(same[1:, 1:], same[:-1, :-1], atol=1e-12)
    # and the positions do matter
    assert not np.allclose(same[0, 1:], same[0, 0])


@given(seeds, st.integers(2, 6))
def test_causal_mask_hides_the_future(seed, length):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((length, 4)) for _ in range(3))
    phi = rope.angles(np.arange(length), rope.inv_freq(4))
    i = int(rng.integers(0, length - 1))
    k2, v2 = k.copy(), v.copy()
    k2[i + 1:] += rng.standard_normal(k2[i + 1:].shape)
    v2[i + 1:] += rng.standard_normal(v2[i + 1:].shape)
    before = scaled_dot_product_attention(q, k, v, causal_mask(length), angles=phi)
    after = scaled_dot_product_attention(q, k2, v2, causal_mask(length), angles=phi)
    np.testing.assert_array_equal(after[:i + 1], before[:i + 1])
    assert not np.allclose(after[i + 1:], before[i + 1:])


def test_scale_switch():
    q, k, v = np.array([[2.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 0.0]]), np.eye(2)
    w_scaled = 1 / (1 + np.exp(-2 / np.sqrt(2)))
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v)[0, 0], w_scaled)
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, scale=False)[0, 0],
                               1 / (1 + np.exp(-2.0)))


def test_no_keys_at_all_gives_zeros():
    # T_k = 0: every query has nothing to attend to, the fully masked convention
    q, k, v = np.ones((2, 3)), np.ones((0, 3)), np.ones((0, 4))
    np.testing.assert_array_equal(scaled_dot_product_attention(q, k, v), np.zeros((2, 4)))
    grad_q, grad_k, grad_v, _ = scaled_dot_product_attention_vjp(np.ones((2, 4)), q, k, v)
    np.testing.assert_array_equal(grad_q, np.zeros((2, 3)))
    assert grad_k.shape == (0, 3) and grad_v.shape == (0, 4)
    assert softmax(np.zeros((3, 0))).shape == (3, 0)


def test_split_and_merge_heads():
    x = np.arange(24.0).reshape(2, 3, 4)
    heads = split_heads(x, 2)
    assert heads.shape == (2, 2, 3, 2)
    np.testing.assert_array_equal(heads[:, 1], x[..., 2:])
    np.testing.assert_array_equal(merge_heads(heads), x)
    with pytest.raises(ValueError, match="n_heads"):
        split_heads(x, 3)
    empty = np.zeros((0, 3, 4))                    # an empty batch round-trips too
    assert merge_heads(split_heads(empty, 2)).shape == (0, 3, 4)


@pytest.mark.parametrize("call, error, match", [
    (lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=np.ones((3, 3), bool)),
     ValueError, "mask of shape"),
    (lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=np.ones((2, 2))),
     TypeError, "mask must be a boolean"),
    (lambda q, k, v: scaled_dot_product_attention(q, k, v, bias=np.ones(3)), ValueError, "bias"),
    (lambda q, k, v: scaled_dot_product_attention(q, k[:, :2], v), ValueError, "head dimension"),
    (lambda q, k, v: scaled_dot_product_attention(q, k, v[:1]), ValueError, "number of keys"),
    (lambda q, k, v: scaled_dot_product_attention(q, k, v, angles=np.ones((2, 3))),
     ValueError, "rotary_dim > head_dim"),
    (lambda q, k, v: scaled_dot_product_attention(q, k, v, angles=np.ones((2, 1)),
                                                  layout="pairs"), ValueError, "layout"),
    (lambda q, k, v: scaled_dot_product_attention(q, k, v, scale=1), TypeError, "scale"),
    (lambda q, k, v: scaled_dot_product_attention(q * 1e200, k * 1e200, v), ValueError,
     "overflowed"),
    # every allowed logit of a row overflows to -inf: raise rather than return 0/0 = NaN
    (lambda q, k, v: scaled_dot_product_attention(q * 1e154, -k * 1e154, v, bias=-1e308,
                                                  scale=False), ValueError, "overflowed"),
    (lambda q, k, v: scaled_dot_product_attention(
        q * 1e154, -k * 1e154, v, mask=[[True, False], [True, True]], bias=[[-1e308, 0.0]],
        scale=False), ValueError, "overflowed"),
    (lambda q, k, v: scaled_dot_product_attention_vjp(np.ones((2, 3)), q, k, v), ValueError,
     "grad"),
    (lambda q, k, v: attention_weights(q, k, mask=np.ones((2, 3), bool)), ValueError,
     "mask of shape"),
    (lambda q, k, v: attention_weights(q * 1e200, k * 1e200), ValueError, "overflowed"),
    (lambda q, k, v: attention_backward_from_weights(
        np.ones((2, 2)), q, k, v, np.ones((2, 3)), np.ones((2, 2))), ValueError, "weights"),
    (lambda q, k, v: attention_backward_from_weights(
        np.ones((2, 2)), q, k, v, np.ones((2, 2)), np.ones((2, 3))), ValueError, "output"),
    (lambda q, k, v: attention_backward_from_weights(
        np.ones((2, 3)), q, k, v, np.ones((2, 2)), np.ones((2, 2))), ValueError, "grad"),
    (lambda q, k, v: attention_backward_from_weights(
        np.ones((2, 2)), q, k[:, :2], v, np.ones((2, 2)), np.ones((2, 2))), ValueError,
     "head dimension"),
    (lambda q, k, v: attention_backward_from_weights(
        np.ones((2, 2)), q, k, v, np.ones((2, 2)), np.ones((2, 2)), scale=1), TypeError,
     "scale"),
    (lambda q, k, v: linear_attention(q - 1e3, k - 1e3, v), ValueError, "underflowed"),
    (lambda q, k, v: linear_attention(q, k[:0], v[:0]), ValueError, "at least one key"),
    (lambda q, k, v: linear_attention(q, k, v, angles=np.ones((2, 2))), ValueError,
     "rotary_dim > head_dim"),
])
def test_bad_input(call, error, match):
    q, k, v = np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 2))
    with pytest.raises(error, match=match):
        call(q, k, v)


# ---------------------------------------------------------------- linear attention


def naive_linear_attention(q, k, v, angles, layout):
    feature = lambda x: np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))
    out = np.zeros(q.shape[:-1] + v.shape[-1:])
    d = q.shape[-1]
    for i in range(q.shape[-2]):
        numerator, denominator = 0.0, 0.0
        for j in range(k.shape[-2]):
            a, b = feature(q[i]), feature(k[j])
            if angles is not None:
                a_rot = rope.rotation_matrix(angles[i], d, layout) @ a
                b_rot = rope.rotation_matrix(angles[j], d, layout) @ b
            else:
                a_rot, b_rot = a, b
            numerator = numerator + (a_rot @ b_rot) * v[j]
            denominator += a @ b
        out[i] = numerator / denominator
    return out


@given(seeds, layouts, st.booleans())
def test_linear_attention_matches_naive_formula(seed, layout, with_rope):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((4, 6)), rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    phi = rope.angles(np.arange(4) * 3, rope.inv_freq(4)) if with_rope else None
    rotary_dim = 4 if with_rope else None          # partial rotary: 4 of 6 features
    np.testing.assert_allclose(linear_attention(q, k, v, angles=phi, layout=layout,
                                                rotary_dim=rotary_dim),
                               naive_linear_attention(q, k, v, phi, layout), rtol=1e-11,
                               atol=1e-12)


@given(seeds, layouts, st.integers(-1000, 1000))
def test_linear_attention_is_invariant_to_a_common_position_shift(seed, layout, shift):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((2, 5, 4)) for _ in range(3))
    frequencies = rope.inv_freq(4)
    positions = rng.integers(0, 100, 5)
    out = lambda p: linear_attention(q, k, v, angles=rope.angles(p, frequencies), layout=layout)
    np.testing.assert_allclose(out(positions + shift + 1000), out(positions), atol=1e-10)


@given(seeds, layouts, st.booleans())
def test_linear_attention_vjp(seed, layout, with_rope):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), \
        rng.standard_normal((2, 5, 2))
    phi = rope.angles(np.arange(3), rope.inv_freq(4)) if with_rope else None
    key_phi = rope.angles(np.arange(5) + 2, rope.inv_freq(4)) if with_rope else None
    options = dict(angles=phi, key_angles=key_phi, layout=layout)
    assert_vjp(lambda q, k, v: linear_attention(q, k, v, **options),
              lambda g, q, k, v: linear_attention_vjp(g, q, k, v, **options), [q, k, v], rng=rng)
