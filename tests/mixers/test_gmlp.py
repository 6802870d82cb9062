"""gMLP / aMLP (Liu et al., arXiv 2105.08050): the spatial gating unit and the block, their
VJPs, the near-identity initialisation, causality and a timm state dict."""

import dataclasses

import numpy as np
import pytest
import timm_port
from hypothesis import given, settings
from hypothesis import strategies as st
from mixers_cases import GRAD_EXAMPLES, check_block, gmlp_params, normal, seeds, sizes

from refimpl import mixers as mx
from refimpl.gradcheck import assert_vjp


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds, st.booleans(), st.booleans())
def test_vjps_of_gating_pieces(seed, causal, with_residual):
    # The tiny attention's own check moved to test_tiny_attention.py.
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    e = 2
    args = [normal(rng, b, n, 2 * e), normal(rng, n, n), normal(rng, n), normal(rng, e),
            normal(rng, e)] + ([normal(rng, b, n, e)] if with_residual else [])
    count = len(args)
    assert_vjp(lambda *a: mx.spatial_gating_unit(*a, causal=causal, eps=0.1),
              lambda g, *a: mx.spatial_gating_unit_vjp(g, *a, causal=causal, eps=0.1)[:count],
              args, rng=rng)
    x = normal(rng, b, n, d)
    check_block(mx.gmlp_block, mx.gmlp_block_vjp, x,
                gmlp_params(rng, n, d, e, attention=with_residual), causal=causal, eps=0.1)


def test_spatial_gating_vjp_returns_none_for_absent_residual():
    g = mx.spatial_gating_unit_vjp(np.ones((2, 1)), np.ones((2, 2)), np.eye(2), np.ones(2),
                                   np.ones(1), np.zeros(1))
    assert len(g) == 6 and g[-1] is None


def gmlp_at_init(rng, n, d, e=2, attention=False):
    weight, bias = mx.spatial_gating_init(n, rng=rng)
    return dataclasses.replace(gmlp_params(rng, n, d, e, attention=attention),
                               spatial_weight=weight, spatial_bias=bias)


@given(seeds)
def test_spatial_gating_starts_as_the_identity_gate(seed):
    rng = np.random.default_rng(seed)
    n, e = int(rng.integers(1, 6)), 3
    z = normal(rng, 2, n, 2 * e)
    weight, bias = mx.spatial_gating_init(n, rng=rng)
    out = mx.spatial_gating_unit(z, weight, bias, np.ones(e), np.zeros(e))
    # |W LN(z2)| <= n * 1e-6 * 6 sigma * sqrt(e): the gate is 1 to within ~1e-4.
    np.testing.assert_allclose(out, z[..., :e], rtol=1e-4, atol=1e-4 * np.abs(z).max())


@given(seeds)
def test_gmlp_at_init_barely_mixes_tokens(seed):
    # At init the block is a per-token FFN: moving token j changes output i != j through
    # W_ij ~ 1e-6 only, about a million times less than with a trained-size W (entries ~ 1).
    rng = np.random.default_rng(seed)
    n, d = 4, 3
    x = normal(rng, n, d)
    moved = x.copy()
    moved[0] += 2 * normal(rng, d)  # not a constant shift, which LayerNorm would remove
    at_init = gmlp_at_init(rng, n, d)
    change = np.abs(mx.gmlp_block(moved, at_init) - mx.gmlp_block(x, at_init))[1:].max()
    trained = dataclasses.replace(at_init, spatial_weight=normal(rng, n, n))
    mixed = np.abs(mx.gmlp_block(moved, trained) - mx.gmlp_block(x, trained))[1:].max()
    assert 0 < 1e3 * change < mixed and change < 1e-4


@given(seeds, st.booleans())
def test_causal_gmlp_output_ignores_later_tokens(seed, attention):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 6)), 3
    params = gmlp_params(rng, n, d, attention=attention)
    x = normal(rng, n, d)
    i = int(rng.integers(0, n - 1))
    later = x.copy()
    later[i + 1:] += normal(rng, n - i - 1, d)
    causal = lambda z: mx.gmlp_block(z, params, causal=True)
    np.testing.assert_allclose(causal(later)[: i + 1], causal(x)[: i + 1], atol=1e-12)


@pytest.mark.parametrize("attention", [False, True])
def test_non_causal_gmlp_sees_later_tokens(attention):
    # The control for the causal test: without the mask, W's upper triangle (and the
    # tiny attention) carry later tokens into output 0.
    rng = np.random.default_rng(11)
    n, d = 4, 3
    params = gmlp_params(rng, n, d, attention=attention)
    x = normal(rng, n, d)
    later = x.copy()
    later[1:] += normal(rng, n - 1, d)
    change = np.abs(mx.gmlp_block(later, params) - mx.gmlp_block(x, params))[0].max()
    assert change > 1e-3


def test_timm_spatial_gating_block_state_dict_plugs_in_without_transposes():
    # timm is not installed: timm_port is our own NumPy port of timm's SpatialGatingBlock
    # (GatedMlp with a SpatialGatingUnit) in the torch convention (y = x @ W.T + b, W
    # stored (out, in)), independent of refimpl. The weights go in exactly as stored. The
    # spatial weight gate.proj is square, so a transposed read would run: the comparison
    # catches it. timm's two LayerNorms use eps 1e-6 (block) and 1e-5 (gate); gmlp_block
    # has one eps for both, so the port is run with 1e-5 for both here.
    rng = np.random.default_rng(23)
    n, d = 4, 6
    state = timm_port.random_state(rng, timm_port.spatial_gating_block_shapes(n, d,
                                                                              channels_dim=8))
    params = mx.GMLPParams(*(state[name] for name in (
        "norm.weight", "norm.bias", "mlp_channels.fc1.weight", "mlp_channels.fc1.bias",
        "mlp_channels.gate.norm.weight", "mlp_channels.gate.norm.bias",
        "mlp_channels.gate.proj.weight", "mlp_channels.gate.proj.bias",
        "mlp_channels.fc2.weight", "mlp_channels.fc2.bias")))
    x = normal(rng, 2, n, d)
    expected = timm_port.spatial_gating_block(x, state, eps=1e-5, gate_eps=1e-5)
    # Error model: the same float64 operations in another order: two LayerNorms
    # (condition ~ 1 for rows of spread ~ 1) and products of <= 8 terms of O(1) entries,
    # so the two differ by at most a few hundred eps times the output scale; 1e-11 (about
    # 45000 eps) leaves a margin of > 100.
    scale = max(np.abs(expected).max(), np.abs(x).max())
    np.testing.assert_allclose(mx.gmlp_block(x, params), expected, rtol=0, atol=1e-11 * scale)
