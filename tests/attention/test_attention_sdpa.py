"""Scaled dot-product attention (refimpl/attention/scaled_dot_product.py): the naive
reference, VJPs, masks, RoPE relativity, causality and input errors."""

import numpy as np
import pytest
from attention_cases import attention_case, layouts, naive_attention, seeds
from hypothesis import given
from hypothesis import strategies as st

from refimpl import rope
from refimpl.attention import (
    attention_backward_from_weights,
    attention_logits,
    attention_weights,
    linear_attention,
    scaled_dot_product_attention,
    scaled_dot_product_attention_vjp,
    softmax,
)
from refimpl.gradcheck import assert_vjp
from refimpl.masks import causal_mask


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
        options = dict(layout=layout, rotary_dim=4)  # partial rotary: 4 of 6 features
        q_rot, k_rot = rope.apply(q, phi_q, **options), rope.apply(k, phi_k, **options)
        weights = attention_weights(q_rot, k_rot)
        grad_q, grad_k, _ = attention_backward_from_weights(g, q_rot, k_rot, v, weights,
                                                            weights @ v)
        return (rope.apply_vjp(grad_q, q, phi_q, **options)[0],
                rope.apply_vjp(grad_k, k, phi_k, **options)[0])

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
