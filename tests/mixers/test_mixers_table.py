"""What the package's ``O = A V`` table predicts, across mixers (refimpl/mixers/__init__.py,
docs/mixers.md; Su's round-up, kexue.fm/archives/8431): which mixers commute with a token
permutation, which fix the sequence length, and that bad input names the argument."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mixers_cases import gmlp_params, mixer_params, normal, resmlp_params, seeds, stack_params

from refimpl import mixers as mx
from refimpl.attention import scaled_dot_product_attention

# ----------------------------------------------------------------------------- permutations

@given(seeds)
def test_position_free_mixers_are_permutation_equivariant(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 6)), 3
    x, perm = normal(rng, n, d), rng.permutation(n)
    wq, wk, wv = normal(rng, d, 4), normal(rng, d, 4), normal(rng, d, 2)
    attention = lambda z: scaled_dot_product_attention(z @ wq, z @ wk, z @ wv)
    keys, values = normal(rng, 5, d), normal(rng, 2, 5)
    external = lambda z: mx.external_attention(z, keys, values)
    for mixer in (attention, external):
        np.testing.assert_allclose(mixer(x[perm]), mixer(x)[perm], atol=1e-12)


def test_mixers_with_token_parameters_are_not_permutation_equivariant():
    # Swapping tokens 0 and 1 moves the outputs by O(1) while a position-free mixer
    # would only swap them back.
    rng = np.random.default_rng(7)
    n, d = 4, 3
    x, swap = normal(rng, n, d), np.array([1, 0, 2, 3])
    value = (normal(rng, d, d), normal(rng, d))
    logits = 3 * normal(rng, n, n)
    cases = {
        "MLP-Mixer": lambda z: mx.mlp_mixer_block(z, mixer_params(np.random.default_rng(1), n, d)),
        "ResMLP": lambda z: mx.resmlp_block(z, resmlp_params(np.random.default_rng(2), n, d)),
        "Synthesizer-random": lambda z: mx.synthesizer_random(z, logits, *value),
        "gMLP": lambda z: mx.gmlp_block(z, gmlp_params(np.random.default_rng(3), n, d)),
    }
    for name, mixer in cases.items():
        gap = np.abs(mixer(x[swap]) - mixer(x)[swap]).max()
        assert gap > 1e-2, f"{name} looked permutation-equivariant (gap {gap:.2e})"


# ----------------------------------------------------------------------------- sequence length

def test_token_parameter_mixers_reject_another_length():
    rng = np.random.default_rng(0)
    n, d = 4, 3
    x = normal(rng, 2, n + 1, d)
    value = (normal(rng, 2, d), normal(rng, 2))
    calls = {
        "logits": lambda: mx.synthesizer_random(x, normal(rng, n, n), *value),
        "logit_weight": lambda: mx.synthesizer_dense(x, normal(rng, 2, d), normal(rng, 2),
                                                     normal(rng, n, 2), normal(rng, n), *value),
        "w1": lambda: mx.token_mixing_mlp(x, normal(rng, 3, n), normal(rng, 3),
                                          normal(rng, n, 3), normal(rng, n)),
        "token_w1": lambda: mx.mlp_mixer_block(x, mixer_params(rng, n, d)),
        "token_weight": lambda: mx.resmlp_block(x, resmlp_params(rng, n, d)),
        "token_w1 ": lambda: mx.stack_of_ffn_block(x, stack_params(rng, n, d)),
        "spatial_weight": lambda: mx.gmlp_block(x, gmlp_params(rng, n, d)),
        "spatial_weight ": lambda: mx.spatial_gating_unit(normal(rng, n + 1, 4),
                                                          normal(rng, n, n), normal(rng, n),
                                                          np.ones(2), np.zeros(2)),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=rf"{name.strip()} has shape .* n={n + 1} tokens"):
            call()


@given(st.integers(1, 9))
def test_fnet_and_external_attention_accept_any_length(n):
    rng = np.random.default_rng(n)
    keys, values = normal(rng, 4, 3), normal(rng, 2, 4)
    x = normal(rng, n, 3)
    assert mx.fnet_mixing(x).shape == (n, 3)
    out = mx.external_attention(x, keys, values)
    assert out.shape == (n, 2) and np.all(np.isfinite(out))


# ----------------------------------------------------------------------------- bad input

def test_bad_inputs_name_the_argument():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="x must have at least 2 dimension"):
        mx.fnet_mixing(np.ones(3))
    with pytest.raises(ValueError, match="memory_values must have shape"):
        mx.external_attention(x, np.ones((4, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="memory_keys must have shape"):
        mx.external_attention(x, np.ones((4, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="activation must be one of"):
        mx.token_mixing_mlp(x, np.ones((2, 3)), np.ones(2), np.ones((3, 2)), np.ones(3),
                            activation="tanh")
    with pytest.raises(TypeError, match="params must be a MixerParams"):
        mx.mlp_mixer_block(x, resmlp_params(np.random.default_rng(0), 3, 2))
    with pytest.raises(ValueError, match="z must have an even last dimension"):
        mx.spatial_gating_unit(np.ones((3, 3)), np.eye(3), np.ones(3), np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match="value_weight must have shape"):
        mx.synthesizer_random(x, np.zeros((3, 3)), np.ones((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="grad must have the output's shape"):
        mx.fnet_mixing_vjp(np.ones((2, 2)), x)
    with pytest.raises(ValueError, match="x must be finite"):
        mx.fnet_mixing([[np.nan, 0.0]])
