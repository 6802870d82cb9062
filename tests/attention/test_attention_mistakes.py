"""A catalogue of user mistakes in attention, masks, norms and activations (issue #16):
each call, the exception type, and a pattern saying the message names the argument and,
where a PyTorch habit explains the mistake, gives the fix; then valid-but-unusual inputs
that must work and return finite values."""

import numpy as np
import pytest

from refimpl import rope
from refimpl.activations import gelu, gelu_tanh, gelu_tanh_vjp, gelu_vjp
from refimpl.attention import (
    alibi_bias,
    alibi_slopes,
    linear_attention,
    scaled_dot_product_attention,
    scaled_dot_product_attention_vjp,
    split_heads,
)
from refimpl.masks import as_mask, causal_mask, sliding_window_mask
from refimpl.norms import layer_norm, rms_norm

rng = np.random.default_rng(0)
Q, K, V = rng.standard_normal((3, 2, 4, 8))          # (heads 2, T 4, d 8) each
Q4 = rng.standard_normal((4, 3, 8))                  # 4 query heads
KV2, KV3 = rng.standard_normal((2, 3, 8)), rng.standard_normal((3, 3, 8))
NEG_INF = np.where(causal_mask(4), 0.0, -np.inf)     # PyTorch's additive causal mask

MISTAKES = [
    # PyTorch's additive -inf mask passed as bias: point to mask=
    (lambda: scaled_dot_product_attention(Q, K, V, bias=NEG_INF), ValueError,
     r"bias holds -inf.*mask=\(bias != -inf\)"),
    # ... and as mask: the boolean form
    (lambda: scaled_dot_product_attention(Q, K, V, mask=NEG_INF), TypeError,
     r"mask must be a boolean.*PyTorch's additive mask.*mask=\(mask == 0\)"),
    # a float mask that is not 0/-inf: a bias
    (lambda: scaled_dot_product_attention(Q, K, V, mask=np.full((4, 4), 0.5)), TypeError,
     r"mask must be a boolean.*pass it as bias="),
    # a boolean mask passed as bias
    (lambda: scaled_dot_product_attention(Q, K, V, bias=causal_mask(4)), TypeError,
     r"bias is boolean.*mask="),
    (lambda: scaled_dot_product_attention(Q, K, V, bias=np.full((4, 4), np.nan)), ValueError,
     r"bias must be finite"),
    # a mask of the wrong shape: named with both shapes
    (lambda: scaled_dot_product_attention(Q, K, V, mask=causal_mask(5)), ValueError,
     r"mask of shape \(5, 5\) does not broadcast to .*\(2, 4, 4\)"),
    (lambda: scaled_dot_product_attention(Q, K, V, bias=np.zeros((3, 4, 4))), ValueError,
     r"bias of shape \(3, 4, 4\) must broadcast to the logits shape \(2, 4, 4\)"),
    # grouped-query heads that do not divide
    (lambda: scaled_dot_product_attention(Q4, KV3, KV3, enable_gqa=True), ValueError,
     r"divide the query heads, got n_heads=4 .* n_kv_heads=3"),
    # key/value heads fewer than query heads, without enable_gqa: the torch fix
    (lambda: scaled_dot_product_attention(Q4, KV2, KV2), ValueError,
     r"k and v have 2 heads, q has 4: for grouped-query attention pass enable_gqa=True"),
    (lambda: scaled_dot_product_attention(Q4, KV2, KV2, enable_gqa=1), TypeError,
     r"enable_gqa must be True or False"),
    # partial rotary must be explicit; positions passed where angles belong
    (lambda: scaled_dot_product_attention(Q, K, V, angles=rope.angles(np.arange(4),
                                                                      rope.inv_freq(4))),
     ValueError, r"rotate only 4 of the 8 features.*pass rotary_dim=4"),
    # positions passed where angles belong (4 positions, head_dim 8: read as 4 angles)
    (lambda: scaled_dot_product_attention(Q, K, V, angles=np.arange(4)), ValueError,
     r"angles must have shape \(..., T, P\).*rope\.angles\(positions, rope\.inv_freq\(8\)\)"),
    (lambda: scaled_dot_product_attention(Q, K, V, angles=np.zeros((4, 2)), rotary_dim=6),
     ValueError, r"rotary_dim=6 does not match angles of shape \(4, 2\)"),
    (lambda: scaled_dot_product_attention(Q, K, V, key_angles=np.zeros((4, 4))), ValueError,
     r"key_angles were given without angles"),
    (lambda: linear_attention(Q, K, V, angles=np.zeros((4, 1))), ValueError,
     r"pass rotary_dim=2"),
    (lambda: split_heads(np.ones((4, 10)), 3), ValueError, r"not divisible by n_heads=3"),
    (lambda: alibi_bias(np.ones((2, 2)), np.arange(3)), ValueError,
     r"slopes must be one slope per head.*alibi_slopes\(n_heads\)"),
    (lambda: causal_mask(4, window=0), ValueError, r"window must be at least 1, got window=0"),
    (lambda: causal_mask(4, key_length=3), ValueError, r"key_length must be at least 4"),
    (lambda: sliding_window_mask(4, 2.5), TypeError, r"window must be an integer"),
    (lambda: as_mask([[0.0, 1.0]], (2, 2)), TypeError, r"mask must be a boolean"),
    # torch's F.layer_norm(x, normalized_shape, ...) habit: gain is the weight vector
    (lambda: layer_norm(np.ones((2, 4)), 4, np.zeros(4)), ValueError,
     r"gain must have shape \(4,\).*not its normalized_shape"),
    (lambda: layer_norm(np.ones((2, 4)), np.ones(4), None), TypeError,
     r"layer_norm needs a bias vector; pass np.zeros\(d\)"),
    (lambda: rms_norm(np.ones((2, 4)), np.ones(4), eps=0.0), ValueError,
     r"eps must be positive, got eps=0.0"),
    (lambda: gelu([1.0], approximate="erf"), ValueError,
     r"approximate must be one of 'none', 'tanh', got 'erf'"),
]


@pytest.mark.parametrize("call, error, pattern", MISTAKES)
def test_mistake_is_named_with_its_fix(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_valid_but_unusual_inputs_work():
    # lists and ints for q, k, v; a 0-d bias broadcast everywhere
    out = scaled_dot_product_attention([[1, 0], [0, 1]], [[1, 0], [0, 1]], [[2, 0], [0, 2]],
                                       bias=np.float64(0.5))
    assert out.shape == (2, 2) and np.all(np.isfinite(out))
    # 0/1 integer masks; a window wider than the sequence is the causal mask
    np.testing.assert_array_equal(
        scaled_dot_product_attention(Q, K, V, mask=causal_mask(4).astype(int)),
        scaled_dot_product_attention(Q, K, V, mask=sliding_window_mask(4, 99)))
    # window 1: every query sees only itself, so the output is its own value
    np.testing.assert_allclose(scaled_dot_product_attention(Q, K, V, mask=causal_mask(4, window=1)),
                               V, rtol=0, atol=0)
    # multi-query attention by broadcasting, grouped-query with one group, a batch axis
    assert scaled_dot_product_attention(Q4, KV2[:1], KV2[:1]).shape == (4, 3, 8)
    assert scaled_dot_product_attention(Q4[None], KV2[None], KV2[None],
                                        enable_gqa=True).shape == (1, 4, 3, 8)
    # keys decoded one at a time: one query after three cached keys
    row = scaled_dot_product_attention(Q[:, -1:], K, V, mask=causal_mask(1, key_length=4))
    np.testing.assert_allclose(row, scaled_dot_product_attention(Q, K, V, causal_mask(4))[:, -1:],
                               rtol=0, atol=1e-14)
    # negative positions in ALiBi and in RoPE angles
    assert np.all(np.isfinite(alibi_bias(alibi_slopes(3), [-5, -4, -3])))
    phi = rope.angles(np.array([-3, -2, -1, 0]), rope.inv_freq(8))
    grads = scaled_dot_product_attention_vjp(np.ones((2, 4, 8)), Q, K, V, angles=phi)
    assert all(np.all(np.isfinite(g)) for g in grads[:3])
    # torch's approximate="tanh" keyword is the tanh form
    x = np.linspace(-5, 5, 11)
    np.testing.assert_array_equal(gelu(x, approximate="tanh"), gelu_tanh(x))
    np.testing.assert_array_equal(gelu_vjp(np.ones(11), x, approximate="tanh"),
                                  gelu_tanh_vjp(np.ones(11), x))
    # a 0-d input to an activation, a list to a norm
    assert gelu(2.0).shape == ()
    assert np.isfinite(layer_norm([[1, 2, 3]], [1, 1, 1], [0, 0, 0])).all()
