"""Grouped-query attention and NumPy broadcasting of q, k, v
(refimpl/attention/scaled_dot_product.py, heads.py): the grouped path equals its textbook
form over repeated key/value heads, per-head masks and biases, VJPs by gradcheck."""

import numpy as np
import pytest
from attention_cases import layouts, seeds
from hypothesis import given
from hypothesis import strategies as st

from refimpl import rope
from refimpl.attention import (
    attention_backward_from_weights,
    attention_logits,
    attention_weights,
    repeat_kv,
    repeat_kv_vjp,
    scaled_dot_product_attention,
    scaled_dot_product_attention_vjp,
)
from refimpl.gradcheck import assert_vjp

EPS = np.finfo(np.float64).eps


@st.composite
def gqa_case(draw):
    """q (B, H, Tq, d), k and v (B or 1, H_kv, Tk, .), a per-head mask and bias, RoPE."""
    rng = np.random.default_rng(draw(seeds))
    kv_heads, groups = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    heads = kv_heads * groups
    batch, kv_batch = 2, draw(st.sampled_from([1, 2]))
    tq, tk, d, dv = draw(st.integers(1, 4)), draw(st.integers(1, 4)), 4, draw(st.integers(1, 3))
    q = rng.standard_normal((batch, heads, tq, d))
    k = rng.standard_normal((kv_batch, kv_heads, tk, d))
    v = rng.standard_normal((kv_batch, kv_heads, tk, dv))
    mask = rng.random((heads, tq, tk)) < 0.7 if draw(st.booleans()) else None
    bias = rng.standard_normal((batch, heads, 1, tk)) if draw(st.booleans()) else None
    options = dict(scale=draw(st.booleans()), layout=draw(layouts))
    if draw(st.booleans()):
        options["angles"] = rope.angles(rng.integers(0, 40, tq), rope.inv_freq(d))
        options["key_angles"] = rope.angles(rng.integers(0, 40, tk), rope.inv_freq(d))
    return rng, q, k, v, mask, bias, groups, options


def repeated(k, v, groups):
    return repeat_kv(k, groups), repeat_kv(v, groups)


@given(gqa_case())
def test_grouped_attention_equals_attention_over_repeated_heads(case):
    _, q, k, v, mask, bias, groups, options = case
    k_rep, v_rep = repeated(k, v, groups)
    # Each entry is the same length-d dot product and the same weighted sum on both paths;
    # only the BLAS blocking of the two products may differ, a few eps per term: entries
    # are O(1) here (standard normal q, k, v, d = 4, at most 4 keys), so 1e-13 absolute.
    for got, want in [
        (scaled_dot_product_attention(q, k, v, mask, bias, enable_gqa=True, **options),
         scaled_dot_product_attention(q, k_rep, v_rep, mask, bias, **options)),
        (attention_weights(q, k, mask, bias, enable_gqa=True, **options),
         attention_weights(q, k_rep, mask, bias, **options)),
        (attention_logits(q, k, bias, enable_gqa=True, **options),
         attention_logits(q, k_rep, bias, **options)),
    ]:
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


@given(gqa_case())
def test_grouped_vjp_sums_over_the_shared_heads(case):
    rng, q, k, v, mask, bias, groups, options = case
    grad = rng.standard_normal(np.broadcast_shapes(q.shape[:-1], v.shape[:-3] + (1, 1))
                               + v.shape[-1:])
    grouped = scaled_dot_product_attention_vjp(grad, q, k, v, mask, bias, enable_gqa=True,
                                               **options)
    k_rep, v_rep = repeated(k, v, groups)
    plain = scaled_dot_product_attention_vjp(grad, q, k_rep, v_rep, mask, bias, **options)
    expected = (plain[0], repeat_kv_vjp(plain[1], k, groups),
                repeat_kv_vjp(plain[2], v, groups), plain[3])
    for got, want in zip(grouped, expected, strict=True):
        if want is None:
            assert got is None
        else:
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)  # O(1) sums, as above


@given(gqa_case())
def test_grouped_vjp_gradcheck(case):
    rng, q, k, v, mask, bias, _, options = case
    args = [q, k, v] + ([] if bias is None else [bias])
    f = lambda *a: scaled_dot_product_attention(*a[:3], mask, *a[3:], enable_gqa=True,
                                                **options)
    f_vjp = lambda g, *a: scaled_dot_product_attention_vjp(
        g, *a[:3], mask, *a[3:], enable_gqa=True, **options)[:len(args)]
    assert_vjp(f, f_vjp, args, rng=rng)


@given(seeds, st.booleans())
def test_backward_from_weights_with_groups(seed, scale):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal(s) for s in [(2, 4, 3, 2), (2, 2, 5, 2), (2, 2, 5, 3)])
    f = lambda q, k, v: scaled_dot_product_attention(q, k, v, scale=scale, enable_gqa=True)

    def f_vjp(g, q, k, v):
        w = attention_weights(q, k, scale=scale, enable_gqa=True)
        out = f(q, k, v)
        return attention_backward_from_weights(g, q, k, v, w, out, scale=scale,
                                               enable_gqa=True)

    assert_vjp(f, f_vjp, [q, k, v], rng=rng)


@given(seeds)
def test_batch_and_head_broadcasting_equals_explicit_copies(seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((3, 1, 4, 2))          # one query head per batch entry
    k = rng.standard_normal((1, 2, 5, 2))          # shared over the batch
    v = rng.standard_normal((5, 3))                # shared over batch and heads
    out = scaled_dot_product_attention(q, k, v)
    assert out.shape == (3, 2, 4, 3)
    full = [np.broadcast_to(a, (3, 2) + a.shape[-2:]).copy() for a in (q, k, v)]
    np.testing.assert_array_equal(out, scaled_dot_product_attention(*full))
    grad = rng.standard_normal(out.shape)
    grads = scaled_dot_product_attention_vjp(grad, q, k, v)
    full_grads = scaled_dot_product_attention_vjp(grad, *full)
    for got, want, arg in zip(grads[:3], full_grads[:3], (q, k, v), strict=True):
        assert got.shape == arg.shape
        # the broadcast axes summed back: sums of at most 6 O(1) terms, a few eps each
        np.testing.assert_allclose(got, want.reshape((-1,) + arg.shape).sum(axis=0)
                                   if want.ndim > arg.ndim else
                                   want.sum(axis=tuple(i for i, n in enumerate(arg.shape)
                                                       if n == 1), keepdims=True),
                                   rtol=0, atol=1e-13)
    assert_vjp(lambda q, k, v: scaled_dot_product_attention(q, k, v),
               lambda g, q, k, v: scaled_dot_product_attention_vjp(g, q, k, v)[:3],
               [q, k, v], rng=rng)


def test_multi_query_attention_by_broadcasting_equals_enable_gqa():
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((4, 3, 2)), rng.standard_normal((1, 5, 2)), \
        rng.standard_normal((1, 5, 2))
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v),
                               scaled_dot_product_attention(q, k, v, enable_gqa=True),
                               rtol=0, atol=1e-14)


def test_per_head_mask_and_bias_act_on_their_head_only():
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2)), \
        rng.standard_normal((3, 4, 2))
    mask = rng.random((3, 4, 4)) < 0.6
    bias = rng.standard_normal((3, 4, 4))
    out = scaled_dot_product_attention(q, k, v, mask, bias)
    for h in range(3):
        np.testing.assert_array_equal(
            out[h], scaled_dot_product_attention(q[h], k[h], v[h], mask[h], bias[h]))


def test_repeat_kv_and_its_vjp():
    x = np.arange(6.0).reshape(2, 3, 1)
    np.testing.assert_array_equal(repeat_kv(x, 3)[:, 0, 0], [0, 0, 0, 3, 3, 3])
    rng = np.random.default_rng(5)
    assert_vjp(lambda x: repeat_kv(x, 2), lambda g, x: repeat_kv_vjp(g, x, 2),
               [rng.standard_normal((2, 3, 2, 2))], rng=rng)


@pytest.mark.parametrize("q_shape, k_shape, match", [
    ((4, 3, 2), (3, 5, 2), "divide the query heads"),
    ((3, 2), (5, 2), "at least 3 dimension"),
])
def test_grouped_query_errors(q_shape, k_shape, match):
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(np.ones(q_shape), np.ones(k_shape), np.ones(k_shape),
                                     enable_gqa=True)
