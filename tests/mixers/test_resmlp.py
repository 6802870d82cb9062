"""ResMLP (Touvron et al., arXiv 2105.03404): the block's VJP, the PyTorch layout of the
authors' code and a timm state dict."""

import dataclasses

import numpy as np
import timm_port
from hypothesis import given, settings
from mixers_cases import GRAD_EXAMPLES, check_block, normal, resmlp_params, seeds, sizes

from refimpl import mixers as mx


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds)
def test_vjp_of_the_resmlp_block(seed):
    # Split from test_vjps_of_the_mlp_blocks (one test per module).
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    check_block(mx.resmlp_block, mx.resmlp_block_vjp, normal(rng, b, n, d),
                resmlp_params(rng, n, d))


def test_resmlp_matches_the_pytorch_layout():
    # resmlp_models.py: x + gamma_1 * Linear(n, n)(Aff(x).transpose(1, 2)).transpose(1, 2);
    # nn.Linear computes y = x W^T + b with W shaped (out, in).
    rng = np.random.default_rng(4)
    n, d = 3, 2
    p = resmlp_params(rng, n, d)
    p = dataclasses.replace(p, channel_w2=np.zeros((d, 5)), channel_b2=np.zeros(d))
    x = normal(rng, 2, n, d)
    affine = np.swapaxes(p.affine1_alpha * x + p.affine1_beta, 1, 2)
    expected = x + p.layer_scale1 * np.swapaxes(affine @ p.token_weight.T + p.token_bias, 1, 2)
    np.testing.assert_allclose(mx.resmlp_block(x, p), expected, atol=1e-12)


def test_timm_res_block_state_dict_plugs_in_without_transposes():
    # timm is not installed: timm_port is our own NumPy port of timm's ResBlock in the
    # torch convention (y = x @ W.T + b, W stored (out, in)), independent of refimpl. The
    # weights go in as stored; the only change is timm's Affine shape (1, 1, d) flattened
    # to (d,) (a reshape, not a transpose; facebookresearch/deit stores them as (d,)).
    # linear_tokens.weight is square, so a transposed read would run: the comparison,
    # not a shape error, is what catches it.
    rng = np.random.default_rng(22)
    n, d = 4, 6
    state = timm_port.random_state(rng, timm_port.res_block_shapes(n, d, channels_dim=8))
    flat = lambda name: state[name].reshape(-1)
    params = mx.ResMLPParams(
        flat("norm1.alpha"), flat("norm1.beta"), state["linear_tokens.weight"],
        state["linear_tokens.bias"], state["ls1"], flat("norm2.alpha"), flat("norm2.beta"),
        state["mlp_channels.fc1.weight"], state["mlp_channels.fc1.bias"],
        state["mlp_channels.fc2.weight"], state["mlp_channels.fc2.bias"], state["ls2"])
    x = normal(rng, 2, n, d)
    expected = timm_port.res_block(x, state)
    # Error model: the same float64 operations in another order, products of <= 8 terms
    # of O(1) entries and no normalisation: the two differ by tens of eps times the
    # largest intermediate; 1e-11 of the output scale leaves a margin of > 100.
    scale = max(np.abs(expected).max(), np.abs(x).max())
    np.testing.assert_allclose(mx.resmlp_block(x, params), expected, rtol=0, atol=1e-11 * scale)
