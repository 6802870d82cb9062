"""FNet's Fourier mixing (Lee-Thorp et al., arXiv 2105.03824): the real 2-D DFT over
(tokens, channels), its definition with explicit DFT matrices, and its VJP."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from mixers_cases import GRAD_EXAMPLES, normal, seeds, sizes

from refimpl import mixers as mx
from refimpl.gradcheck import assert_vjp

EPS = np.finfo(np.float64).eps


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds)
def test_vjp_of_fnet_mixing(seed):
    # Split from test_vjps_of_the_attention_like_mixers (one test per module).
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    assert_vjp(mx.fnet_mixing, mx.fnet_mixing_vjp, [normal(rng, b, n, d)], rng=rng)


@given(seeds)
def test_fnet_equals_real_part_of_fft2_on_token_channel_axes(seed):
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x = normal(rng, b, 2, n, d)
    out = mx.fnet_mixing(x)
    for index in np.ndindex(b, 2):
        np.testing.assert_allclose(out[index], np.fft.fft2(x[index]).real, atol=1e-12)
    # Explicit DFT matrices F = C - iS: Re(F_n X F_d) = C_n X C_d - S_n X S_d.
    cos = lambda m: np.cos(2 * np.pi * np.outer(np.arange(m), np.arange(m)) / m)
    sin = lambda m: np.sin(2 * np.pi * np.outer(np.arange(m), np.arange(m)) / m)
    np.testing.assert_allclose(out, cos(n) @ x @ cos(d) - sin(n) @ x @ sin(d), atol=1e-12)


@given(seeds, st.integers(1, 12), st.integers(1, 12))
def test_fnet_mixing_matches_its_definition(seed, n, d):
    # Error model: an output entry is a signed sum of 2 n d terms |C_ij x_jk C_kl| <=
    # max|x|. The matrix products round each term by <= (n + d) eps, the tables cos/sin
    # of 2 pi jk / m are off by <= 2 pi m eps each (the angle's rounding), and the FFT is
    # within O(log(n d)) eps of exact; so |fft - definition| <= 2 n d (n + d + 4 pi
    # max(n, d) + log2(n d) + 2) eps max|x|.
    rng = np.random.default_rng(seed)
    x = normal(rng, 2, n, d)
    bound = 2 * n * d * (n + d + 4 * np.pi * max(n, d) + np.log2(n * d) + 2) * EPS
    np.testing.assert_allclose(mx.fnet_mixing(x), mx.fnet_mixing_definition(x), rtol=0,
                               atol=bound * np.abs(x).max())
