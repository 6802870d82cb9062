"""The reference Transformer at the model level (refimpl/transformer/model.py):
whole-model, per-layer, embedding and head gradchecks over a sample of configurations,
float64 overflow handling, the symmetry properties (permutation equivariance, relative
positions, causality), the layer-by-layer API, and input errors."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformer_cases import CONFIGS, leaves, lookup, random_params, tiny, with_leaves

from refimpl.gradcheck import assert_vjp
from refimpl.masks import causal_mask, padding_mask, uniae_mask
from refimpl.transformer import (
    backward,
    block_backward,
    block_forward,
    check_params,
    embed_backward,
    embed_forward,
    forward,
    head_backward,
    head_forward,
    init_params,
    loss_and_grad,
    rope_angles,
)


def check_model(config, rng, tokens, mask=None, segments=None):
    params = random_params(config, rng)
    paths = [path for path, _ in leaves(params)]
    values = [value for _, value in leaves(params)]

    def f(*values):
        return forward(with_leaves(params, paths, values), config, tokens, mask,
                       segments=segments)[0]

    def f_vjp(grad, *values):
        p = with_leaves(params, paths, values)
        _, cache = forward(p, config, tokens, mask, segments=segments)
        grads = backward(p, config, cache, grad)
        assert sorted(map(str, (path for path, _ in leaves(grads)))) == sorted(map(str, paths))
        return tuple(lookup(grads, path) for path in paths)

    return assert_vjp(f, f_vjp, values, rng=rng)

@pytest.mark.parametrize("options", CONFIGS)
def test_whole_model_gradcheck(options):
    config = tiny(**options)
    rng = np.random.default_rng(len(str(options)))
    tokens = rng.integers(0, config.vocab_size, (2, 3))
    segments = rng.integers(0, config.n_segments, (2, 3)) if config.n_segments else None
    mask = None
    if config.norm_position == "pre":
        mask = causal_mask(3) & padding_mask([3, 2], 3)
    check_model(config, rng, tokens, mask, segments)

def test_whole_model_gradcheck_with_a_fully_masked_row_and_batch_of_masks():
    config = tiny(norm="rmsnorm", activation="swiglu")
    rng = np.random.default_rng(5)
    mask = uniae_mask([[0, 0, 1, 1], [0, 1, 1, 1]])
    mask[1, 2] = False                             # query 2 of sequence 1 sees nothing
    check_model(config, rng, rng.integers(0, 7, (2, 4)), mask)

@pytest.mark.parametrize("norm_position", ["pre", "post"])
@pytest.mark.parametrize("norm", ["layernorm", "rmsnorm"])
def test_block_vjp_in_input_and_parameters(norm_position, norm):
    config = tiny(norm=norm, norm_position=norm_position, activation="geglu")
    rng = np.random.default_rng(7)
    layer = random_params(config, rng)["layers"][0]
    paths = [path for path, _ in leaves(layer)]
    h = rng.standard_normal((2, 3, config.d_model))
    mask = causal_mask(3)

    def f(h, *values):
        return block_forward(with_leaves(layer, paths, values), config, h, mask)[0]

    def f_vjp(grad, h, *values):
        p = with_leaves(layer, paths, values)
        grads, grad_h = block_backward(p, config, block_forward(p, config, h, mask)[1], grad)
        return (grad_h, *(lookup(grads, path) for path in paths))

    assert_vjp(f, f_vjp, [h] + [value for _, value in leaves(layer)], rng=rng)

def test_embedding_and_head_vjps():
    config = tiny(norm_position="post", positions="learned", n_segments=2, mlm_head=True,
                  max_positions=4)
    rng = np.random.default_rng(3)
    params = random_params(config, rng)
    tokens, segments = np.array([[1, 1, 4]]), np.array([[0, 1, 1]])
    h = rng.standard_normal((1, 3, config.d_model))
    # embeddings: gradient in the three tables and the embedding norm
    paths = [("embedding", "tokens"), ("embedding", "positions"), ("embedding", "segments"),
             ("embedding_norm", "gain"), ("embedding_norm", "bias")]
    f = lambda *v: embed_forward(with_leaves(params, paths, v), config, tokens,
                                 segments=segments)[0]
    f_vjp = lambda g, *v: (lambda p: (lambda grads: tuple(lookup(grads, path) for path in paths))(
        embed_backward(p, config, embed_forward(p, config, tokens, segments=segments)[1], g))
    )(with_leaves(params, paths, v))
    assert_vjp(f, f_vjp, [lookup(params, path) for path in paths], rng=rng)
    # head: gradient in h; the MLM parameters and the tied embedding's share
    paths = [("mlm", "w"), ("mlm", "b"), ("mlm", "norm", "gain"), ("embedding", "tokens"),
             ("output", "b")]

    def head(h, *v):
        return head_forward(with_leaves(params, paths, v), config, h)[0]

    def head_vjp(g, h, *v):
        p = with_leaves(params, paths, v)
        grads, grad_h = head_backward(p, config, head_forward(p, config, h)[1], g)
        return (grad_h, *(lookup(grads, path) for path in paths))

    assert_vjp(head, head_vjp, [h] + [lookup(params, path) for path in paths], rng=rng)

def test_gradcheck_catches_a_wrong_backward():
    # power: a backward that forgets the tied output's share of the embedding gradient
    config = tiny(n_layers=1)
    rng = np.random.default_rng(0)
    params = random_params(config, rng)
    tokens = np.array([[1, 2, 3]])
    f = lambda E: forward(with_leaves(params, [("embedding", "tokens")], [E]), config, tokens)[0]

    def wrong(g, E):
        p = with_leaves(params, [("embedding", "tokens")], [E])
        cache = forward(p, config, tokens)[1]
        grads, grad_h = head_backward(p, config, cache["head"], g)
        for layer, layer_cache in zip(p["layers"][::-1], cache["layers"][::-1], strict=True):
            grad_h = block_backward(layer, config, layer_cache, grad_h)[1]
        return embed_backward(p, config, cache["embedding"], grad_h)["embedding"]["tokens"]

    with pytest.raises(AssertionError, match="disagrees"):
        assert_vjp(f, wrong, [params["embedding"]["tokens"]], rng=rng)

@pytest.mark.parametrize("options", [CONFIGS[0], CONFIGS[3]])
def test_huge_weights_give_finite_gradients(options):
    # Weights of size s = 1e150: the attention logits (~s^2 = 1e300) saturate every
    # softmax row to one-hot, so the exact logit gradients W_ij (dW_ij - sum_l W_il dW_il)
    # are ~1e300 * exp(-1e300): zero in float64. The forward and backward are finite and
    # must not raise. (The old premise, "the gradients exceed float64 here", was false;
    # the computed q/k gradients overflowed on some BLAS kernels only, through round-off
    # of FlashAttention's D = <g, o>, now replaced by the consistent row sum.)
    config = tiny(**options)
    params = init_params(config, rng=0, std=1e150)
    tokens = [[1, 2, 3]]
    logits, cache = forward(params, config, tokens, causal_mask(3))
    assert np.all(np.isfinite(logits))
    grads = backward(params, config, cache, np.ones_like(logits))
    scale = max(float(np.max(np.abs(value))) for _, value in leaves(grads))
    assert all(np.all(np.isfinite(value)) for _, value in leaves(grads))
    loss, loss_grads = loss_and_grad(params, config, tokens, [[2, 3, 4]], mask=causal_mask(3))
    assert np.isfinite(loss) and all(np.all(np.isfinite(v)) for _, v in leaves(loss_grads))
    for layer in grads["layers"]:
        for name in ("wq", "wk"):
            # exact value ~1e-(1e300) of the scale; allow round-off of the scale
            assert np.max(np.abs(layer["attn"][name])) <= 1e-14 * scale

@pytest.mark.parametrize("options", [CONFIGS[0], CONFIGS[3]])
def test_gradients_beyond_float64_raise_a_value_error(options):
    # A premise that holds under every summation order: the output projection's gradient
    # is dL/dW[i, v] = sum_t h[t, i] G[t, v] (h = the head's input, G = dL/dlogits;
    # tied: the output share of the embedding's gradient, transposed). With
    # G[t, v] = c sign(h[t, i*]) every term of entry (i*, v) has the same sign, so its
    # exact value is c sum_t |h[t, i*]| >= 2c = 2e308 > float64's 1.8e308, while
    # c = 1e308 itself is finite. No RuntimeWarning (an error in this suite).
    config = tiny(**options)
    params = init_params(config, rng=0)
    tokens = [[1, 2, 3]]
    logits, cache = forward(params, config, tokens, causal_mask(3))
    top = cache["head"]["top"]
    column = np.argmax(np.sum(np.abs(top), axis=-2), axis=-1)[0]
    assert np.sum(np.abs(top[0, :, column])) >= 2.0   # the premise, with a wide margin
    grad_logits = 1e308 * np.sign(top[..., column])[..., None] * np.ones_like(logits)
    with pytest.raises(ValueError, match="backward pass overflowed float64"):
        backward(params, config, cache, grad_logits)

@pytest.mark.parametrize("options", [CONFIGS[1], CONFIGS[2]])
def test_activations_beyond_float64_raise_a_value_error(options):
    # a gated FFN multiplies two s-sized projections: act(x W_gate) * (x W_up) W_down
    # is ~s^3 and overflows float64 already in the forward pass at s = 1e150
    config = tiny(**options)
    params = init_params(config, rng=0, std=1e150)
    with pytest.raises(ValueError, match="forward pass overflowed float64"):
        loss_and_grad(params, config, [[1, 2, 3]], [[2, 3, 4]], mask=causal_mask(3))


# ---------------------------------------------------------------- properties


@given(st.integers(0, 2**32 - 1), st.sampled_from(CONFIGS[:3]))
def test_no_positions_means_permutation_equivariance(seed, options):
    config = tiny(**{**options, "positions": "none", "n_segments": 0})
    rng = np.random.default_rng(seed)
    params = random_params(config, rng)
    tokens = rng.integers(0, 7, (2, 5))
    perm = rng.permutation(5)
    logits = forward(params, config, tokens)[0]
    np.testing.assert_allclose(forward(params, config, tokens[:, perm])[0], logits[:, perm],
                               rtol=1e-10, atol=1e-12)

@given(st.integers(0, 2**32 - 1), st.integers(1, 10**6), st.sampled_from(["pre", "post"]))
def test_rope_model_sees_only_relative_positions(seed, shift, norm_position):
    config = tiny(positions="rope", norm_position=norm_position, rope_base=50.0)
    rng = np.random.default_rng(seed)
    params = random_params(config, rng)
    tokens = rng.integers(0, 7, (2, 5))
    positions = np.arange(5)
    logits = forward(params, config, tokens, causal_mask(5), positions=positions)[0]
    shifted = forward(params, config, tokens, causal_mask(5), positions=positions + shift)[0]
    np.testing.assert_allclose(shifted, logits, rtol=1e-8, atol=1e-8)
    # not vacuous: spreading the positions apart does change the logits
    spread = forward(params, config, tokens, causal_mask(5), positions=3 * positions)[0]
    assert not np.allclose(spread, logits, atol=1e-6)

@given(st.integers(0, 2**32 - 1), st.sampled_from(CONFIGS))
def test_causal_model_output_ignores_later_tokens(seed, options):
    config = tiny(**options)
    rng = np.random.default_rng(seed)
    params = random_params(config, rng)
    tokens = rng.integers(0, 7, (1, 5))
    i = int(rng.integers(0, 4))
    changed = tokens.copy()
    changed[0, i + 1:] = (tokens[0, i + 1:] + 1 + rng.integers(0, 5, 4 - i)) % 7
    segments = np.zeros((1, 5), int) if config.n_segments else None
    before = forward(params, config, tokens, causal_mask(5), segments=segments)[0]
    after = forward(params, config, changed, causal_mask(5), segments=segments)[0]
    np.testing.assert_array_equal(after[0, :i + 1], before[0, :i + 1])
    assert not np.allclose(after[0, i + 1:], before[0, i + 1:])

def test_padding_tokens_do_not_change_real_positions():
    config = tiny(**CONFIGS[1])
    rng = np.random.default_rng(2)
    params = random_params(config, rng)
    tokens = np.array([[1, 2, 3, 0, 0]])
    other = np.array([[1, 2, 3, 6, 5]])
    mask = padding_mask([3], 5)
    np.testing.assert_array_equal(forward(params, config, other, mask)[0][0, :3],
                                  forward(params, config, tokens, mask)[0][0, :3])

def test_layer_by_layer_equals_forward():
    config = tiny(**CONFIGS[4])
    rng = np.random.default_rng(4)
    params = random_params(config, rng)
    tokens, segments = rng.integers(0, 7, (2, 4)), rng.integers(0, 3, (2, 4))
    mask = causal_mask(4)
    h, _ = embed_forward(params, config, tokens, segments=segments)
    angles = rope_angles(config, np.arange(4))
    for layer in params["layers"]:
        h, _ = block_forward(layer, config, h, mask, angles)
    logits, _ = head_forward(params, config, h)
    np.testing.assert_array_equal(logits, forward(params, config, tokens, mask,
                                                  segments=segments)[0])

def test_unbatched_tokens_and_per_sequence_positions():
    config = tiny()
    params = random_params(config, np.random.default_rng(6))
    tokens = np.array([[1, 2, 3], [4, 5, 6]])
    batched = forward(params, config, tokens)[0]
    np.testing.assert_allclose(forward(params, config, tokens[1])[0], batched[1], atol=1e-14)
    per_sequence = forward(params, config, tokens, positions=[[0, 1, 2], [5, 6, 7]])[0]
    np.testing.assert_allclose(per_sequence, batched, atol=1e-10)

def test_mlm_norm_has_its_own_eps():
    config = tiny(mlm_head=True, norm_position="post", mlm_norm_eps=0.5)
    params = random_params(config, np.random.default_rng(9))
    logits = forward(params, config, [1, 2])[0]
    other = forward(params, dataclasses.replace(config, mlm_norm_eps=None), [1, 2])[0]
    assert not np.allclose(logits, other)
    same = forward(params, dataclasses.replace(config, mlm_norm_eps=config.norm_eps), [1, 2])[0]
    np.testing.assert_array_equal(same, other)

def test_explicit_rope_frequency_table():
    config = tiny(rope_base=100.0)
    table = tiny(rope_inv_freq=(1.0, 0.1))      # the same numbers as base 100, head_dim 4
    np.testing.assert_array_equal(rope_angles(table, [0, 3]), rope_angles(config, [0, 3]))
    np.testing.assert_allclose(rope_angles(tiny(rope_inv_freq=(0.5, 2.0)), [3])[0], [1.5, 6.0])
    with pytest.raises(ValueError, match="rope_inv_freq"):
        tiny(rope_inv_freq=(1.0, 0.1, 0.01))
    with pytest.raises(ValueError, match="rope_inv_freq"):
        tiny(rope_inv_freq=(1.0, -0.1))

def test_zero_layers_and_tied_output_is_h_times_embedding():
    config = tiny(n_layers=0, norm_position="post", bias=False)
    params = random_params(config, np.random.default_rng(8))
    logits = forward(params, config, [3, 1])[0]
    h = embed_forward(params, config, [3, 1])[0]
    np.testing.assert_allclose(logits, h @ params["embedding"]["tokens"].T, rtol=1e-14)


# ---------------------------------------------------------------- errors


def test_bad_inputs():
    config = tiny(positions="learned", max_positions=4)
    params = init_params(config, rng=0)
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 7\), got 7"):
        forward(params, config, [[1, 7]])
    with pytest.raises(TypeError, match="tokens must hold integers"):
        forward(params, config, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="mask of shape"):
        forward(params, config, [[1, 2, 3]], causal_mask(4))
    with pytest.raises(ValueError, match="does not broadcast"):
        forward(params, config, [[1, 2, 3]], np.ones((3, 3, 3), bool))
    with pytest.raises(ValueError, match="positions must lie"):
        forward(params, config, [[1, 2, 3, 4, 5]])
    with pytest.raises(ValueError, match="n_segments=0"):
        forward(params, config, [[1, 2]], segments=[[0, 1]])
    with pytest.raises(ValueError, match="grad_logits"):
        backward(params, config, forward(params, config, [[1, 2]])[1], np.ones((1, 2, 6)))
    with pytest.raises(ValueError, match="targets must have shape"):
        loss_and_grad(params, config, [[1, 2]], [[1, 2, 3]])
    with pytest.raises(ValueError, match="weights"):
        loss_and_grad(params, config, [[1, 2]], [[1, 2]], weights=[[0.0, 0.0]])
    wrong = init_params(config, rng=0)
    wrong["layers"][1]["ffn"]["w_up"] = np.zeros((6, 9))
    with pytest.raises(ValueError, match=r"params\['layers'\]\[1\]\['ffn'\]\['w_up'\]"):
        forward(wrong, config, [[1, 2]])
    del wrong["layers"][1]["ffn"]["b_up"]
    with pytest.raises(ValueError, match="must have the keys"):
        check_params(wrong, config)
    with pytest.raises(ValueError, match="h must have last dimension 6"):
        block_forward(params["layers"][0], config, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="h must be finite"):
        head_forward(params, config, np.full((2, 6), np.nan))
    with pytest.raises(ValueError, match="angles must be None"):
        block_forward(params["layers"][0], config, np.zeros((2, 6)), angles=np.zeros((2, 2)))
