"""MLP-Mixer (Tolstikhin et al., arXiv 2105.01601): the token-mixing MLP and the block,
their VJPs, the Flax layout of the authors' code and a timm state dict."""

import numpy as np
import timm_port
from hypothesis import given, settings
from hypothesis import strategies as st
from mixers_cases import GRAD_EXAMPLES, check_block, mixer_params, normal, seeds, sizes

from refimpl import mixers as mx
from refimpl.gradcheck import assert_vjp

EPS = np.finfo(np.float64).eps


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds, st.sampled_from(sorted(mx.ACTIVATIONS)))
def test_vjp_of_token_mixing_mlp(seed, activation):
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    args = [normal(rng, b, n, d), normal(rng, 3, n), normal(rng, 3), normal(rng, n, 3),
            normal(rng, n)]
    assert_vjp(lambda *a: mx.token_mixing_mlp(*a, activation=activation),
              lambda g, *a: mx.token_mixing_mlp_vjp(g, *a, activation=activation), args, rng=rng)


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds)
def test_vjp_of_the_mlp_mixer_block(seed):
    # Split from test_vjps_of_the_mlp_blocks (one test per module).
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x = normal(rng, b, n, d)
    # eps = 0.1 bounds LayerNorm's curvature: with two or three near-equal entries a tiny
    # eps makes the central difference itself inaccurate (seen at seed 3731), not the VJP.
    check_block(mx.mlp_mixer_block, mx.mlp_mixer_block_vjp, x, mixer_params(rng, n, d), eps=0.1)


def test_mixer_token_mlp_matches_the_flax_layout():
    # models_mixer.py: y = Dense(h)(swapaxes(x)) -> gelu (tanh form) -> Dense(n) -> swapaxes,
    # Flax kernels (in, out) = our (out, in) weights transposed.
    rng = np.random.default_rng(3)
    x, w1, b1 = normal(rng, 2, 4, 3), normal(rng, 5, 4), normal(rng, 5)
    w2, b2 = normal(rng, 4, 5), normal(rng, 4)
    t = np.swapaxes(x, 1, 2) @ w1.T + b1
    t = 0.5 * t * (1 + np.tanh(np.sqrt(2 / np.pi) * (t + 0.044715 * t**3)))
    expected = np.swapaxes(t @ w2.T + b2, 1, 2)
    np.testing.assert_allclose(mx.token_mixing_mlp(x, w1, b1, w2, b2), expected, atol=1e-12)


def test_timm_mixer_block_state_dict_plugs_in_without_transposes():
    # timm is not installed: timm_port is our own NumPy port of timm's MixerBlock in the
    # torch convention (y = x @ W.T + b, W stored (out, in)), independent of refimpl. Its
    # state dict goes into MixerParams exactly as stored. Channel weights are not square
    # here (8 x 6), so a layout mismatch would raise; the token weights are compared too.
    rng = np.random.default_rng(21)
    n, d = 4, 6
    state = timm_port.random_state(rng, timm_port.mixer_block_shapes(n, d, tokens_dim=3,
                                                                     channels_dim=8))
    params = mx.MixerParams(*(state[name] for name in (
        "norm1.weight", "norm1.bias", "mlp_tokens.fc1.weight", "mlp_tokens.fc1.bias",
        "mlp_tokens.fc2.weight", "mlp_tokens.fc2.bias", "norm2.weight", "norm2.bias",
        "mlp_channels.fc1.weight", "mlp_channels.fc1.bias", "mlp_channels.fc2.weight",
        "mlp_channels.fc2.bias")))
    x = normal(rng, 2, n, d)
    expected = timm_port.mixer_block(x, state)
    # Error model: the same float64 operations in another order. Each branch is a
    # LayerNorm (condition ~ 1 for rows of spread ~ 1) and two products of <= 8 terms of
    # O(1) entries, so the two differ by at most a few hundred eps times the output scale;
    # 1e-11 (about 45000 eps) leaves a margin of > 100.
    scale = max(np.abs(expected).max(), np.abs(x).max())
    np.testing.assert_allclose(mx.mlp_mixer_block(x, params, activation="gelu"), expected,
                               rtol=0, atol=1e-11 * scale)
