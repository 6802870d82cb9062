"""Stack of FFN (Melas-Kyriazi, arXiv 2105.02723): the block's VJP and the LayerNorm over
the token axis."""

import dataclasses

import numpy as np
from hypothesis import given, settings
from mixers_cases import GRAD_EXAMPLES, check_block, normal, seeds, sizes, stack_params

from refimpl import mixers as mx


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds)
def test_vjp_of_the_stack_of_ffn_block(seed):
    # Split from test_vjps_of_the_mlp_blocks (one test per module).
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    # eps = 0.1 bounds LayerNorm's curvature: with two or three near-equal entries a tiny
    # eps makes the central difference itself inaccurate, not the VJP.
    check_block(mx.stack_of_ffn_block, mx.stack_of_ffn_block_vjp, normal(rng, b, n, d),
                stack_params(rng, n, d), eps=0.1)


@given(seeds)
def test_stack_of_ffn_normalises_the_token_axis(seed):
    # With a zero channel FFN, Y - X = FFN_t(LN over tokens): unchanged when a constant is
    # added to a channel's column, and when the column is scaled by 3 with eps scaled by
    # 9 (LayerNorm(3x; 9 eps) = LayerNorm(x; eps) exactly; with eps fixed the invariance
    # fails for low-variance columns by (8/9) eps / (2 var)).
    rng = np.random.default_rng(seed)
    n, d = 4, 3
    p = dataclasses.replace(stack_params(rng, n, d), channel_w1=np.zeros((5, d)),
                            channel_b1=np.zeros(5), channel_w2=np.zeros((d, 5)),
                            channel_b2=np.zeros(d))
    x = normal(rng, n, d)
    moved = 3.0 * x + normal(rng, 1, d)
    def branch(z, eps):
        return mx.stack_of_ffn_block(z, p, eps=eps) - z
    # error model: O(10) roundings of O(1) values through the norm and the token MLP,
    # amplified by 1/std of the column (>= 1e-3 here: normal entries): 1e-9 absolute
    np.testing.assert_allclose(branch(moved, 9e-12), branch(x, 1e-12), rtol=0, atol=1e-9)
