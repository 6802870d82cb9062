"""Tests of refimpl.univae.model: information flow through the [CLS] bottleneck, the three
modes, bad latent inputs, and the backward pass against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from univae_cases import (
    CLS,
    CONFIG,
    MAXLEN,
    PARAMS,
    SEP,
    make_config,
    seeds,
    sentence,
    target_slice,
)

from refimpl import transformer as tf
from refimpl import univae as uv
from refimpl.gradcheck import assert_vjp

# ---------------------------------------------------------------- information flow


@given(seeds, st.integers(0, MAXLEN - 1), st.integers(3, 12))
def test_target_depends_on_the_source_only_through_z_in_every_layer(seed, position, word):
    # decoder mode, z fixed: replacing any source token (even at the [CLS] slot) leaves
    # every layer's target states unchanged, bit for bit
    rng = np.random.default_rng(seed)
    tokens, segments = uv.pack(sentence(rng, 4), maxlen=MAXLEN)
    z = uv.sample_prior(CONFIG, rng=rng)
    changed = tokens.copy()
    changed[position] = word
    before = uv.forward(PARAMS, CONFIG, tokens, segments, "decoder", z)
    after = uv.forward(PARAMS, CONFIG, changed, segments, "decoder", z)
    for layer_before, layer_after in zip(before.hidden_states, after.hidden_states, strict=True):
        np.testing.assert_array_equal(layer_after[target_slice()], layer_before[target_slice()])
    np.testing.assert_array_equal(after.logits[target_slice()], before.logits[target_slice()])


@pytest.mark.parametrize("norm_position, positions", [
    ("pre", "rope"), ("post", "learned"), ("pre", "none")])
def test_information_flow_holds_for_every_transformer_layout(norm_position, positions):
    transformer = tf.TransformerConfig(vocab_size=13, d_model=8, n_heads=2, head_dim=4,
                                       d_ff=12, n_layers=4, norm_position=norm_position,
                                       positions=positions, n_segments=2, max_positions=16,
                                       activation="swiglu")
    config = uv.UniVAEConfig(transformer, n_latent=3, z_dim=2)
    params = uv.init_params(config, rng=5, std=0.5)
    rng = np.random.default_rng(6)
    tokens, segments = uv.pack(sentence(rng, 5), maxlen=MAXLEN)
    z = uv.sample_prior(config, rng=rng)
    changed = tokens.copy()
    changed[:MAXLEN] = np.r_[[CLS], rng.integers(3, 13, MAXLEN - 1)]
    before = uv.forward(params, config, tokens, segments, "decoder", z).hidden_states
    after = uv.forward(params, config, changed, segments, "decoder", z).hidden_states
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a[MAXLEN:], b[MAXLEN:])
        assert np.max(np.abs(a[1:MAXLEN] - b[1:MAXLEN])) > 1e-6  # the source did change


@given(seeds)
def test_the_code_carries_everything_the_target_reads_from_the_source(seed):
    # encoder(x) then decoder(z = mu) on a different source reproduces the target states
    rng = np.random.default_rng(seed)
    tokens, segments = uv.pack(sentence(rng, 4), maxlen=MAXLEN)
    other = tokens.copy()
    other[1:MAXLEN] = rng.integers(3, 13, MAXLEN - 1)
    encoded = uv.forward(PARAMS, CONFIG, tokens, segments, "encoder")
    decoded = uv.forward(PARAMS, CONFIG, other, segments, "decoder", encoded.mu)
    np.testing.assert_allclose(decoded.logits[target_slice()], encoded.logits[target_slice()],
                               rtol=0, atol=1e-12)
    # and the source does matter to the code (the test could fail)
    assert not np.allclose(uv.forward(PARAMS, CONFIG, other, segments, "encoder").mu,
                           encoded.mu)


@given(seeds)
def test_the_target_does_read_z_and_its_own_prefix(seed):
    # controls for the invariance tests: a different z, or a different earlier target
    # token, changes the later target logits
    rng = np.random.default_rng(seed)
    tokens, segments = uv.pack(sentence(rng, 4), maxlen=MAXLEN)
    z = uv.sample_prior(CONFIG, rng=rng)
    base = uv.forward(PARAMS, CONFIG, tokens, segments, "decoder", z).logits
    other_z = uv.forward(PARAMS, CONFIG, tokens, segments, "decoder", -z).logits
    assert np.max(np.abs(other_z[MAXLEN:] - base[MAXLEN:])) > 1e-6
    changed = tokens.copy()
    changed[MAXLEN + 1] = 3 if tokens[MAXLEN + 1] != 3 else 4
    other_prefix = uv.forward(PARAMS, CONFIG, changed, segments, "decoder", z).logits
    assert np.max(np.abs(other_prefix[MAXLEN + 1:] - base[MAXLEN + 1:])) > 1e-6
    np.testing.assert_array_equal(other_prefix[MAXLEN], base[MAXLEN])  # causal


@given(seeds, st.integers(2, MAXLEN))
def test_fixed_padding_hides_the_source_length(seed, length):
    rng = np.random.default_rng(seed)
    target = sentence(rng, 4)
    z = uv.sample_prior(CONFIG, rng=rng)
    short = uv.pack(sentence(rng, 2), target, maxlen=MAXLEN)
    longer = uv.pack(sentence(rng, length), target, maxlen=MAXLEN)
    logits = [uv.forward(PARAMS, CONFIG, t, s, "decoder", z).logits[MAXLEN:]
              for t, s in (short, longer)]
    np.testing.assert_array_equal(logits[0], logits[1])


def test_without_fixed_padding_the_source_length_leaks():
    # the control: unpadded sources move the target, and RoPE lets it see by how much
    rng = np.random.default_rng(1)
    target, z = sentence(rng, 4), uv.sample_prior(CONFIG, rng=2)
    logits = []
    for source in (sentence(rng, 2), sentence(rng, 5)):
        tokens = np.concatenate([source, target])
        segments = np.repeat([0, 1], [source.size, target.size])
        logits.append(uv.forward(PARAMS, CONFIG, tokens, segments, "decoder", z).logits[-4:])
    assert np.max(np.abs(logits[0] - logits[1])) > 1e-6


# ---------------------------------------------------------------- modes and latent inputs


def test_encoder_mode_is_deterministic_and_uses_the_mean_directions():
    tokens, segments = uv.pack([CLS, 5, 9, SEP], maxlen=MAXLEN)
    first = uv.forward(PARAMS, CONFIG, tokens, segments, "encoder", rng=1)
    second = uv.forward(PARAMS, CONFIG, tokens, segments, "encoder", rng=2)
    np.testing.assert_array_equal(first.mu, second.mu)
    np.testing.assert_array_equal(first.logits, second.logits)
    np.testing.assert_array_equal(first.z, first.mu)
    assert first.noise is None


def test_decoder_mode_renormalises_z_and_ignores_the_source():
    rng = np.random.default_rng(4)
    z = rng.standard_normal(CONFIG.latent_size)
    tokens, segments = uv.pack([CLS, 5, 9, SEP], maxlen=MAXLEN)
    other, _ = uv.pack([CLS, 11, 3, 3, SEP], [CLS, 5, 9, SEP], maxlen=MAXLEN)
    base = uv.forward(PARAMS, CONFIG, tokens, segments, "decoder", z)
    scaled = uv.forward(PARAMS, CONFIG, other, segments, "decoder",
                        z * np.repeat([0.1, 7.0], CONFIG.z_dim))
    np.testing.assert_allclose(scaled.logits[MAXLEN:], base.logits[MAXLEN:], rtol=0, atol=1e-13)
    assert base.mu is None


def test_vae_mode_is_reproducible_from_its_noise():
    tokens, segments = uv.pack([CLS, 5, 9, SEP], maxlen=MAXLEN)
    drawn = uv.forward(PARAMS, CONFIG, tokens, segments, "vae", rng=11)
    again = uv.forward(PARAMS, CONFIG, tokens, segments, "vae", rng=11)
    replayed = uv.forward(PARAMS, CONFIG, tokens, segments, noise=drawn.noise)
    assert drawn.noise.shape == (CONFIG.n_latent, CONFIG.z_dim + 1)
    for other in (again, replayed):
        np.testing.assert_array_equal(other.logits, drawn.logits)
        np.testing.assert_array_equal(other.z, drawn.z)
    np.testing.assert_allclose(np.linalg.norm(drawn.z.reshape(2, 3), axis=-1), 1.0, atol=1e-14)
    other = uv.forward(PARAMS, CONFIG, tokens, segments, "vae", rng=12)
    assert not np.allclose(other.z, drawn.z)


def test_vae_samples_sit_at_the_vmf_mean_cosine_around_mu():
    # E<mu_j, z_j> = A_16(32) = I_8(32) / I_7(32) = 0.789895 (40-digit mpmath) in every
    # latent layer, also the upper one whose mu depends on the lower sample. sd of <mu, z> is
    # sqrt(1 - A^2 - 15 A / 32) = 0.076, so the mean of 2000 draws has sd 0.0017; the
    # threshold 0.0095 is 5.6 sd (false alarm < 1e-7 per layer). Power: kappa = 29 or
    # z_dim = 18 (A = 0.773, 0.76) or a sample that ignores mu (mean 0) all fail.
    config = make_config(n_latent=2, z_dim=16, kappa=32.0)
    params = uv.init_params(config, rng=3, std=0.5)
    tokens, segments = uv.pack([CLS, 5, 9, SEP], maxlen=MAXLEN)
    output = uv.forward(params, config, np.broadcast_to(tokens, (2000, 2 * MAXLEN)), segments,
                        rng=2024)
    cosines = np.sum((output.z * output.mu).reshape(2000, 2, 16), axis=-1)
    assert np.all(np.abs(cosines.mean(axis=0) - 0.789895) < 0.0095)
    assert np.std(output.mu.reshape(2000, 2, 16)[:, 1], axis=0).max() > 1e-3  # hierarchical


def test_a_batch_of_codes_decodes_one_sentence_many_ways():
    tokens, segments = uv.pack([CLS, 5, 9, SEP], maxlen=MAXLEN)
    z = uv.sample_prior(CONFIG, size=3, rng=5)
    batch = uv.forward(PARAMS, CONFIG, tokens, segments, "decoder", z)
    assert batch.logits.shape == (3, 2 * MAXLEN, 13)
    for i in range(3):
        single = uv.forward(PARAMS, CONFIG, tokens, segments, "decoder", z[i])
        np.testing.assert_allclose(batch.logits[i], single.logits, rtol=0, atol=1e-13)


@pytest.mark.parametrize("mode, z, match", [
    ("decoder", np.ones(5), "z must have last dimension n_latent \\* z_dim = 2 \\* 3 = 6"),
    ("decoder", None, "decoder mode needs z"),
    ("decoder", np.r_[np.ones(3), np.zeros(3)], "all-zero chunk"),
    ("encoder", np.ones(6), "z is only used in decoder mode"),
    ("vae", np.ones(6), "z is only used in decoder mode"),
    ("sample", None, "mode"),
])
def test_bad_latent_inputs_are_rejected(mode, z, match):
    tokens, segments = uv.pack([CLS, 5, SEP], maxlen=MAXLEN)
    with pytest.raises(ValueError, match=match):
        uv.forward(PARAMS, CONFIG, tokens, segments, mode, z)


def test_bad_noise_is_rejected():
    tokens, segments = uv.pack([CLS, 5, SEP], maxlen=MAXLEN)
    with pytest.raises(ValueError, match="noise must have shape \\(..., n_latent, z_dim \\+ 1\\)"):
        uv.forward(PARAMS, CONFIG, tokens, segments, noise=np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="noise is only used in vae mode"):
        uv.forward(PARAMS, CONFIG, tokens, segments, "encoder", noise=np.full((2, 4), 0.5))


# ---------------------------------------------------------------- gradients


def _parameter_gradcheck(params, config, tokens, segments, mode, z=None, noise=None,
                         rng=0, paths=None):
    """assert_vjp of the loss in each parameter array named by ``paths``."""
    _, grads, _ = uv.loss_and_grad(params, config, tokens, segments, mode, z, noise=noise)
    paths = paths or [("latent", 0, "down", "w"), ("latent", 1, "up", "w"),
                      ("latent", 1, "down", "b"), ("transformer", "layers", 0, "attn", "wq"),
                      ("transformer", "layers", 2, "ffn", "w_down"),
                      ("transformer", "embedding", "segments")]
    for path in paths:
        def node(tree, path=path):
            for key in path[:-1]:
                tree = tree[key]
            return tree
        original = node(params)[path[-1]]

        def loss(value, path=path, original=original):
            node(params)[path[-1]] = value
            try:
                logits = uv.forward(params, config, tokens, segments, mode, z,
                                    noise=noise).logits
                return np.array(uv.seq2seq_loss(config, logits, tokens, segments))
            finally:
                node(params)[path[-1]] = original
        gradient = node(grads)[path[-1]]
        assert_vjp(loss, lambda g, value, gradient=gradient: g * gradient, [original.copy()],
                  rng=rng)


@pytest.mark.parametrize("mode", ["vae", "encoder", "decoder"])
def test_gradients_match_finite_differences(mode):
    # vae: the vMF noise is held fixed, so the loss is a smooth function of the params
    rng = np.random.default_rng(7)
    tokens, segments = uv.pack(sentence(rng, 4), maxlen=MAXLEN)
    z = uv.sample_prior(CONFIG, rng=rng) if mode == "decoder" else None
    noise = uv.forward(PARAMS, CONFIG, tokens, segments, rng=rng).noise if mode == "vae" \
        else None
    _parameter_gradcheck(PARAMS, CONFIG, tokens, segments, mode, z, noise)


def test_gradients_of_a_batch_with_several_samples_per_sentence():
    # two sentences x three noise draws each: the latent batch is larger than the tokens'
    rng = np.random.default_rng(8)
    tokens = np.stack([uv.pack(sentence(rng, 4), maxlen=MAXLEN)[0] for _ in range(2)])
    segments = np.repeat([0, 1], MAXLEN)
    noise = uv.forward(PARAMS, CONFIG, np.broadcast_to(tokens, (3, 2, 2 * MAXLEN)),
                       segments, rng=rng).noise
    _parameter_gradcheck(PARAMS, CONFIG, tokens, segments, "vae", noise=noise,
                         paths=[("latent", 0, "down", "w"), ("latent", 1, "down", "b"),
                                ("transformer", "layers", 0, "attn", "wv")])


def test_decoder_mode_gives_no_gradient_to_the_down_projections():
    tokens, segments = uv.pack([CLS, 5, 9, SEP], maxlen=MAXLEN)
    _, grads, _ = uv.loss_and_grad(PARAMS, CONFIG, tokens, segments, "decoder",
                                   uv.sample_prior(CONFIG, rng=0))
    for latent in grads["latent"]:
        assert not latent["down"]["w"].any() and latent["up"]["w"].any()
