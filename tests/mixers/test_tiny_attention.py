"""aMLP's tiny attention (Liu et al., arXiv 2105.08050, Fig. 5): its VJP and the fused
``(3a, d)`` projection of the PyTorch layout."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from mixers_cases import GRAD_EXAMPLES, check_block, normal, seeds, sizes, tiny_params

from refimpl import mixers as mx

EPS = np.finfo(np.float64).eps


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds, st.booleans())
def test_vjp_of_tiny_attention(seed, causal):
    # Moved out of test_vjps_of_gating_pieces (one test per module).
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    check_block(mx.tiny_attention, mx.tiny_attention_vjp, normal(rng, b, n, d),
                tiny_params(rng, d, 2), causal=causal)


def test_tiny_attention_takes_a_fused_pytorch_projection_as_stored():
    # A port in torch's nn.Linear convention: to_qkv = nn.Linear(d, 3a) with weight
    # (3a, d), chunked into q, k, v along the output features; to_out = nn.Linear(a, e).
    # The weights go in as stored, with no transpose.
    rng = np.random.default_rng(6)
    n, d, a, e = 5, 4, 3, 2
    qkv_weight, qkv_bias = normal(rng, 3 * a, d), normal(rng, 3 * a)
    out_weight, out_bias = normal(rng, e, a), normal(rng, e)
    x = normal(rng, 2, n, d)
    q, k, v = np.split(x @ qkv_weight.T + qkv_bias, 3, axis=-1)
    scores = q @ np.swapaxes(k, 1, 2) / np.sqrt(a)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    expected = (weights / weights.sum(axis=-1, keepdims=True)) @ v @ out_weight.T + out_bias
    params = mx.TinyAttentionParams(qkv_weight, qkv_bias, out_weight, out_bias)
    # Error model: scores are sums of a terms of q, k (each a sum of d + 1 terms), off by
    # <= (a + d + 1) eps |q||k| a; the softmax makes that a relative weight error of twice
    # it; the convex sum and W_o add (n + a + 1) eps |v||W_o| a.
    qk = a * np.abs(q).max() * np.abs(k).max()
    v_scale = a * np.abs(v).max() * np.abs(out_weight).max()
    tolerance = (2 * (a + d + 1) * qk + (n + a + 1)) * EPS * v_scale + EPS * np.abs(out_bias).max()
    np.testing.assert_allclose(mx.tiny_attention(x, params), expected, rtol=0,
                               atol=4 * tolerance)
