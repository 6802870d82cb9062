"""Token mixers of the non-Transformer round-up (kexue.fm 8431): VJPs and the properties
that tell them apart (research note widening_mixers_sim.md §2).

Reference values come from independent formulas written here (explicit DFT matrices, the
two-step External Attention normalisation, the Flax/PyTorch layouts of the authors'
code), never from the code under test.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refimpl import mixers as mx
from refimpl.attention import scaled_dot_product_attention
from refimpl.gradcheck import check_vjp

seeds = st.integers(0, 2**32 - 1)
#: gradient checks cost two forwards per parameter entry: run fewer of them
GRAD_EXAMPLES = max(3, settings.default.max_examples // 8)


def normal(rng, *shape):
    return rng.standard_normal(shape)


# ----------------------------------------------------------------------------- parameter makers

def mixer_params(rng, n, d, h=3, c=5):
    return mx.MixerParams(1 + 0.1 * normal(rng, d), normal(rng, d), normal(rng, h, n),
                          normal(rng, h), normal(rng, n, h), normal(rng, n),
                          1 + 0.1 * normal(rng, d), normal(rng, d), normal(rng, d, c),
                          normal(rng, c), normal(rng, c, d), normal(rng, d))


def resmlp_params(rng, n, d, c=5):
    return mx.ResMLPParams(normal(rng, d), normal(rng, d), normal(rng, n, n), normal(rng, n),
                           normal(rng, d), normal(rng, d), normal(rng, d), normal(rng, d, c),
                           normal(rng, c), normal(rng, c, d), normal(rng, d), normal(rng, d))


def stack_params(rng, n, d, h=3, c=5):
    return mx.StackFFNParams(1 + 0.1 * normal(rng, d), normal(rng, d), normal(rng, d, c),
                             normal(rng, c), normal(rng, c, d), normal(rng, d),
                             1 + 0.1 * normal(rng, n), normal(rng, n), normal(rng, h, n),
                             normal(rng, h), normal(rng, n, h), normal(rng, n))


def tiny_params(rng, d, e, a=3):
    return mx.TinyAttentionParams(normal(rng, d, 3 * a), normal(rng, 3 * a), normal(rng, a, e),
                                  normal(rng, e))


def gmlp_params(rng, n, d, e=2, attention=False, weight_scale=1.0):
    return mx.GMLPParams(1 + 0.1 * normal(rng, d), normal(rng, d), normal(rng, d, 2 * e),
                         normal(rng, 2 * e), 1 + 0.1 * normal(rng, e), normal(rng, e),
                         weight_scale * normal(rng, n, n), 1 + weight_scale * normal(rng, n),
                         normal(rng, e, d), normal(rng, d),
                         tiny_params(rng, d, e) if attention else None)


def flatten(params):
    """Dataclass -> flat list of arrays (the nested tiny attention last)."""
    out = []
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if dataclasses.is_dataclass(value):
            out.extend(flatten(value))
        elif value is not None:
            out.append(value)
    return out


def unflatten(template, flat):
    """Inverse of :func:`flatten` for a template of the same structure."""
    flat, values = list(flat), {}
    for field in dataclasses.fields(template):
        value = getattr(template, field.name)
        if dataclasses.is_dataclass(value):
            size = len(flatten(value))
            values[field.name], flat = unflatten(value, flat[:size]), flat[size:]
        elif value is None:
            values[field.name] = None
        else:
            values[field.name], flat = flat[0], flat[1:]
    return type(template)(**values)


def check_block(block, block_vjp, x, params, **options):
    """check_vjp of a (x, params-dataclass) block through flat argument lists."""
    f = lambda x, *flat: block(x, unflatten(params, flat), **options)

    def f_vjp(grad, x, *flat):
        gx, gp = block_vjp(grad, x, unflatten(params, flat), **options)
        return (gx, *flatten(gp))
    return check_vjp(f, f_vjp, [x, *flatten(params)], rng=0)


def sizes(rng):
    return int(rng.integers(1, 3)), int(rng.integers(2, 5)), int(rng.integers(2, 5))


# ----------------------------------------------------------------------------- gradient checks

@settings(max_examples=GRAD_EXAMPLES)
@given(seeds)
def test_vjps_of_the_attention_like_mixers(seed):
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x = normal(rng, b, n, d)
    value = (normal(rng, d, 3), normal(rng, 3))
    check_vjp(mx.synthesizer_random, mx.synthesizer_random_vjp,
              [x, 2 * normal(rng, n, n), *value], rng=rng)
    check_vjp(mx.synthesizer_dense, mx.synthesizer_dense_vjp,
              [x, normal(rng, d, 4), normal(rng, 4), normal(rng, 4, n), normal(rng, n), *value],
              rng=rng)
    check_vjp(mx.fnet_mixing, mx.fnet_mixing_vjp, [x], rng=rng)
    check_vjp(mx.external_attention, mx.external_attention_vjp,
              [x, normal(rng, 5, d), normal(rng, 5, 3)], rng=rng)


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds, st.sampled_from(sorted(mx.ACTIVATIONS)))
def test_vjp_of_token_mixing_mlp(seed, activation):
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    args = [normal(rng, b, n, d), normal(rng, 3, n), normal(rng, 3), normal(rng, n, 3),
            normal(rng, n)]
    check_vjp(lambda *a: mx.token_mixing_mlp(*a, activation=activation),
              lambda g, *a: mx.token_mixing_mlp_vjp(g, *a, activation=activation), args, rng=rng)


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds)
def test_vjps_of_the_mlp_blocks(seed):
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x = normal(rng, b, n, d)
    # eps = 0.1 bounds LayerNorm's curvature: with two or three near-equal entries a tiny
    # eps makes the central difference itself inaccurate (seen at seed 3731), not the VJP.
    check_block(mx.mlp_mixer_block, mx.mlp_mixer_block_vjp, x, mixer_params(rng, n, d), eps=0.1)
    check_block(mx.resmlp_block, mx.resmlp_block_vjp, x, resmlp_params(rng, n, d))
    check_block(mx.stack_of_ffn_block, mx.stack_of_ffn_block_vjp, x, stack_params(rng, n, d),
                eps=0.1)


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds, st.booleans(), st.booleans())
def test_vjps_of_gating_pieces(seed, causal, with_residual):
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    e = 2
    args = [normal(rng, b, n, 2 * e), normal(rng, n, n), normal(rng, n), normal(rng, e),
            normal(rng, e)] + ([normal(rng, b, n, e)] if with_residual else [])
    count = len(args)
    check_vjp(lambda *a: mx.spatial_gating_unit(*a, causal=causal, eps=0.1),
              lambda g, *a: mx.spatial_gating_unit_vjp(g, *a, causal=causal, eps=0.1)[:count],
              args, rng=rng)
    x = normal(rng, b, n, d)
    check_block(mx.tiny_attention, mx.tiny_attention_vjp, x, tiny_params(rng, d, e),
                causal=causal)
    check_block(mx.gmlp_block, mx.gmlp_block_vjp, x,
                gmlp_params(rng, n, d, e, attention=with_residual), causal=causal, eps=0.1)


def test_spatial_gating_vjp_returns_none_for_absent_residual():
    g = mx.spatial_gating_unit_vjp(np.ones((2, 1)), np.ones((2, 2)), np.eye(2), np.ones(2),
                                   np.ones(1), np.zeros(1))
    assert len(g) == 6 and g[-1] is None


# ----------------------------------------------------------------------------- FNet

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


# ----------------------------------------------------------------------------- External Attention

def external_two_step(x, memory_keys, memory_values):
    """The reference code's two steps (without its 1e-9): softmax over tokens, l1 over slots."""
    scores = np.exp(x @ memory_keys.T)
    token_softmax = scores / scores.sum(axis=-2, keepdims=True)
    return token_softmax / token_softmax.sum(axis=-1, keepdims=True) @ memory_values


@given(seeds)
def test_external_attention_matches_the_two_step_definition(seed):
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x, keys, values = normal(rng, b, n, d), normal(rng, 4, d), normal(rng, 4, 3)
    np.testing.assert_allclose(mx.external_attention(x, keys, values),
                               external_two_step(x, keys, values), rtol=1e-12, atol=1e-13)


def test_external_attention_is_finite_where_the_two_step_form_is_not():
    # Token 0 scores ~ -800 in every slot: the token softmax underflows to 0 in each
    # column, and the l1 step would be 0/0. The log-domain form still gives weights.
    x = np.array([[-800.0], [0.0], [1.0]])
    out = mx.external_attention(x, np.ones((2, 1)), np.eye(2))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=-1), 1.0)


@given(seeds)
def test_external_attention_output_i_depends_on_other_tokens(seed):
    # The token-axis softmax normaliser sum_t exp(B_ts) couples the tokens (note §2.3): a
    # change of token j moves the output of token i != j. A per-token ("isolated")
    # encoding, e.g. a softmax over the slots only, would leave row i unchanged.
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 6)), 3
    x, keys, values = normal(rng, n, d), normal(rng, 4, d), normal(rng, 4, 3)
    i, j = rng.choice(n, size=2, replace=False)
    moved = x.copy()
    moved[j] += 1.0 + normal(rng, d)
    change = np.abs(mx.external_attention(moved, keys, values)[i]
                    - mx.external_attention(x, keys, values)[i]).max()
    isolated = lambda z: (np.exp(z @ keys.T) / np.exp(z @ keys.T).sum(-1, keepdims=True)) @ values
    assert change > 1e-6
    np.testing.assert_allclose(isolated(moved)[i], isolated(x)[i], atol=1e-14)


# ----------------------------------------------------------------------------- permutations

@given(seeds)
def test_position_free_mixers_are_permutation_equivariant(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 6)), 3
    x, perm = normal(rng, n, d), rng.permutation(n)
    wq, wk, wv = normal(rng, d, 4), normal(rng, d, 4), normal(rng, d, 2)
    attention = lambda z: scaled_dot_product_attention(z @ wq, z @ wk, z @ wv)
    keys, values = normal(rng, 5, d), normal(rng, 5, 2)
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
    value = (normal(rng, d, 2), normal(rng, 2))
    calls = {
        "logits": lambda: mx.synthesizer_random(x, normal(rng, n, n), *value),
        "logit_weight": lambda: mx.synthesizer_dense(x, normal(rng, d, 2), normal(rng, 2),
                                                     normal(rng, 2, n), normal(rng, n), *value),
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
    keys, values = normal(rng, 4, 3), normal(rng, 4, 2)
    x = normal(rng, n, 3)
    assert mx.fnet_mixing(x).shape == (n, 3)
    out = mx.external_attention(x, keys, values)
    assert out.shape == (n, 2) and np.all(np.isfinite(out))


# ----------------------------------------------------------------------------- Synthesizer

@given(seeds)
def test_dense_synthesizer_with_constant_rows_is_a_random_synthesizer(seed):
    # With W_2 = 0 every token writes the same logit row b_2, so A = softmax(1 b_2^T):
    # the random synthesizer with R = 1 b_2^T.
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x, row = normal(rng, b, n, d), normal(rng, n)
    value = (normal(rng, d, 2), normal(rng, 2))
    dense = mx.synthesizer_dense(x, normal(rng, d, 3), normal(rng, 3), np.zeros((3, n)), row,
                                 *value)
    np.testing.assert_allclose(dense, mx.synthesizer_random(x, np.tile(row, (n, 1)), *value),
                               atol=1e-12)


def test_random_synthesizer_rows_are_convex_combinations():
    x = np.array([[0.0], [10.0]])
    out = mx.synthesizer_random(x, [[0.0, np.log(3.0)], [np.log(4.0), 0.0]], np.eye(1), [0.0])
    np.testing.assert_allclose(out, [[7.5], [2.0]])  # 3/4 * 10 and 1/5 * 10


# ----------------------------------------------------------------------------- authors' layouts

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


def test_resmlp_matches_the_pytorch_layout():
    # resmlp_models.py: x + gamma_1 * Linear(n, n)(Aff(x).transpose(1, 2)).transpose(1, 2);
    # nn.Linear computes y = x W^T + b with W shaped (out, in).
    rng = np.random.default_rng(4)
    n, d = 3, 2
    p = resmlp_params(rng, n, d)
    p = dataclasses.replace(p, channel_w2=np.zeros((5, d)), channel_b2=np.zeros(d))
    x = normal(rng, 2, n, d)
    affine = np.swapaxes(p.affine1_alpha * x + p.affine1_beta, 1, 2)
    expected = x + p.layer_scale1 * np.swapaxes(affine @ p.token_weight.T + p.token_bias, 1, 2)
    np.testing.assert_allclose(mx.resmlp_block(x, p), expected, atol=1e-12)


@given(seeds)
def test_stack_of_ffn_normalises_the_token_axis(seed):
    # With a zero channel FFN, Y - X = FFN_t(LN over tokens): unchanged when a constant is
    # added to a channel's column or the column is scaled (LayerNorm over tokens, eps ~ 0).
    rng = np.random.default_rng(seed)
    n, d = 4, 3
    p = dataclasses.replace(stack_params(rng, n, d), channel_w1=np.zeros((d, 5)),
                            channel_b1=np.zeros(5), channel_w2=np.zeros((5, d)),
                            channel_b2=np.zeros(d))
    x = normal(rng, n, d)
    moved = 3.0 * x + normal(rng, 1, d)
    branch = lambda z: mx.stack_of_ffn_block(z, p, eps=1e-12) - z
    np.testing.assert_allclose(branch(moved), branch(x), atol=1e-9)


# ----------------------------------------------------------------------------- gMLP

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


# ----------------------------------------------------------------------------- bad input

def test_bad_inputs_name_the_argument():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="x must have at least 2 dimension"):
        mx.fnet_mixing(np.ones(3))
    with pytest.raises(ValueError, match="memory_values must have shape"):
        mx.external_attention(x, np.ones((4, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="memory_keys must have shape"):
        mx.external_attention(x, np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="activation must be one of"):
        mx.token_mixing_mlp(x, np.ones((2, 3)), np.ones(2), np.ones((3, 2)), np.ones(3),
                            activation="tanh")
    with pytest.raises(TypeError, match="params must be a MixerParams"):
        mx.mlp_mixer_block(x, resmlp_params(np.random.default_rng(0), 3, 2))
    with pytest.raises(ValueError, match="z must have an even last dimension"):
        mx.spatial_gating_unit(np.ones((3, 3)), np.eye(3), np.ones(3), np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match="value_weight must have shape"):
        mx.synthesizer_random(x, np.zeros((3, 3)), np.ones((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="grad must have the output's shape"):
        mx.fnet_mixing_vjp(np.ones((2, 2)), x)
    with pytest.raises(ValueError, match="x must be finite"):
        mx.fnet_mixing([[np.nan, 0.0]])
