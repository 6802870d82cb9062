"""A catalogue of user mistakes in the modules without a catalogue of their own (issue
#16): the mixers, the RoFormer-Sim objectives, the dimension formula, gradcheck,
widening, the norms, activations and masks, and UniVAE. Each case is the call, the
exception type, and a pattern saying the message names the argument and what was
received and, where a PyTorch habit explains the mistake, gives the fix. Then
valid-but-unusual inputs that must work and return finite values.

The other catalogues: tests/rope/test_rope_mistakes.py, tests/attention/,
tests/transformer/, tests/householder/, tests/vmf/ and tests/testing/ (each
``test_*_mistakes.py``)."""

import numpy as np
import pytest

from refimpl import activations, dimension, masks, mixers, norms, similarity, univae
from refimpl.gradcheck import assert_vjp, numerical_vjp
from refimpl.transformer import TransformerConfig, forward, init_params
from refimpl.widening import (
    add_heads,
    add_layers,
    duplicate_heads,
    grow_head_dim,
    split_ffn,
    widen,
    widen_hidden,
)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 5, 4))            # (batch, tokens n = 5, channels 4)
U, V = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
HEAD = RNG.standard_normal((12, 5))           # the pair classifier's (3d, 5) head
CONFIG = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4, d_ff=16,
                           n_layers=1, norm_position="pre", positions="rope")
PARAMS = init_params(CONFIG, rng=0)
UNIVAE_BASE = TransformerConfig(vocab_size=11, d_model=8, n_heads=2, head_dim=4, d_ff=16,
                                n_layers=2, norm_position="post", positions="rope")


def _logits(params, config):
    return forward(params, config, np.array([[1, 2, 3]]))[0]


def _sin_vjp(grad, x):
    return grad * np.cos(x)


MISTAKES = [
    # mixers: (out, in) weights, like torch.nn.Linear; the token axis fixes n
    (lambda: mixers.fnet_mixing(np.ones(4)), ValueError,
     r"x must have at least 2 dimension\(s\), got shape \(4,\)"),
    (lambda: mixers.fnet_mixing(np.ones((3, 4)) + 1j), TypeError,
     r"x must hold real numbers.*complex128"),
    (lambda: mixers.external_attention(X, RNG.standard_normal((4, 6)),
                                       RNG.standard_normal((6, 4))),
     ValueError, r"memory_keys must have shape \(S, 4\), got \(4, 6\)"),
    (lambda: mixers.synthesizer_random(X, np.zeros((6, 6)), np.eye(4), np.zeros(4)),
     ValueError, r"logits has shape \(6, 6\) but a sequence of n=5 tokens needs \(5, 5\)"),
    (lambda: mixers.token_mixing_mlp(X, np.zeros((5, 7)), np.zeros(7), np.zeros((7, 5)),
                                     np.zeros(5)),
     ValueError, r"w1 has shape \(5, 7\) but a sequence of n=5 tokens needs \(hidden, 5\)"),
    (lambda: mixers.token_mixing_mlp(X, np.zeros((7, 5)), np.zeros(7), np.zeros((5, 7)),
                                     np.zeros(5), activation="GELU"),
     ValueError, r"activation must be one of 'gelu', 'gelu_tanh', 'relu', 'silu', got 'GELU'"),
    (lambda: mixers.spatial_gating_unit(np.ones((5, 3)), np.eye(5), np.ones(5), np.ones(1),
                                        np.zeros(1)),
     ValueError, r"z must have an even last dimension \(two halves\), got 3"),
    (lambda: mixers.spatial_gating_init(0), ValueError, r"tokens must be at least 1, got tokens=0"),
    # RoFormer-Sim objectives
    (lambda: similarity.pair_cosine(np.zeros((2, 4)), np.ones((2, 4))), ValueError,
     r"u holds a zero vector at batch index \(0,\)"),
    (lambda: similarity.pair_cosine(U, V[:2]), ValueError,
     r"shapes do not broadcast: u \(3,\), v \(2,\)"),
    (lambda: similarity.cosent_loss(U, V, [1, 0]), ValueError,
     r"shapes do not broadcast: pairs \(3,\), labels \(2,\)"),
    (lambda: similarity.in_batch_contrastive_loss(np.ones((3, 4))), ValueError,
     r"x must hold an even number n >= 2 of sentences \(rows 2i and 2i\+1 are partners\), "
     r"got n=3"),
    (lambda: similarity.cosine_distillation_loss(U, np.ones((4, 4))), ValueError,
     r"teacher and student must hold the same number of sentences .* \(3, 4\) and \(4, 4\)"),
    (lambda: similarity.pair_classifier_loss(U, V, HEAD.T, [0, 1, 1]), ValueError,
     r"weight must have shape \(3d, 5\) = \(12, 5\).*got shape \(5, 12\); torch.nn.Linear "
     r"stores \(out, in\): pass its weight.T"),
    (lambda: similarity.pair_classifier_loss(U, V, HEAD, [0, 1, 5], nli=[True] * 3),
     ValueError, r"labels must be class ids in 0..4 .* got 5"),
    (lambda: similarity.pair_classifier_loss(U, V, HEAD, [0, 1, 1], nli=[1, 0, 1]),
     ValueError, r"labels must lie in their task's classes .* label 0 for an NLI example at "
                 r"index \(0,\)"),
    # the dimension formula
    (lambda: dimension.dimension_rule(1), ValueError, r"vocab_size must be at least 2, got"),
    (lambda: dimension.minimum_dimension(np.array([10, 100])), TypeError,
     r"vocab_size must be a real scalar, got array of shape \(2,\)"),
    (lambda: dimension.jl_dimension(100, 1.5), ValueError,
     r"distortion must be in \(0, 1\), got distortion=1.5"),
    (lambda: dimension.jl_dimension(100, 0.1, guarantee="sure"), ValueError,
     r"guarantee must be one of 'probable', 'exists', got 'sure'"),
    (lambda: dimension.random_projection(np.ones((3, 4)), 0), ValueError,
     r"dimension must be at least 1, got dimension=0"),
    (lambda: dimension.worst_distortion(np.ones((3, 4)), np.ones((2, 2))), ValueError,
     r"projected must have one row per point: points \(3, 4\), projected \(2, 2\)"),
    (lambda: dimension.h_n(1.5), ValueError, r"n must be at least 2 \(a dimension\), got n=1.5"),
    # gradcheck: one array passed where the list of arguments belongs
    (lambda: assert_vjp(np.sin, _sin_vjp, np.ones(3)), TypeError,
     r"args must be a list or tuple of f's arguments, got ndarray of shape \(3,\); for a "
     r"function of one array x write \[x\]"),
    (lambda: numerical_vjp(np.sin, np.ones(3), np.ones(3)), TypeError,
     r"args must be a list or tuple"),
    (lambda: numerical_vjp(np.sin, [np.ones(3)], np.ones(4)), ValueError,
     r"cotangent 0 must have the shape of f's output 0, \(3,\), got \(4,\)"),
    (lambda: assert_vjp(np.sin, _sin_vjp, [np.ones(3)], argnums=2), ValueError,
     r"argnums entry 2 is out of range for 1 argument\(s\)"),
    (lambda: assert_vjp(np.sin, lambda g, x: g, [np.full(3, 1.0)], rng=0), AssertionError,
     r"VJP of argument 0 disagrees with finite differences at index"),
    # widening: growth moves only grow, by the factors each move can keep exact
    (lambda: widen_hidden(PARAMS, CONFIG, 0), ValueError, r"k must be at least 1, got k=0"),
    (lambda: widen(PARAMS, CONFIG, d_model=12), ValueError,
     r"d_model must grow by an integer factor .* got 8 -> 12"),
    (lambda: widen(PARAMS, CONFIG, d_model=4), ValueError, r"d_model=4 would shrink the model"),
    (lambda: split_ffn(PARAMS, CONFIG, 8), ValueError, r"d_ff must be at least 16, got d_ff=8"),
    (lambda: add_heads(PARAMS, CONFIG, 1), ValueError,
     r"n_heads must be at least 2, got n_heads=1"),
    (lambda: grow_head_dim(PARAMS, CONFIG, 5), ValueError,
     r"head_dim must be even with RoPE \(pairs of features rotate\), got head_dim=5"),
    (lambda: widen(PARAMS, CONFIG, n_heads=4, method="copy"), ValueError,
     r"method must be one of 'duplicate_heads', 'su', got 'copy'"),
    (lambda: duplicate_heads(PARAMS, CONFIG, 2, noise=-1.0), ValueError,
     r"noise must be non-negative, got noise=-1.0"),
    (lambda: widen_hidden({"model.embed_tokens.weight": np.zeros((11, 8))}, CONFIG, 2),
     ValueError, r"params must have the keys \['embedding', 'final_norm', 'layers', "
                 r"'output'\], got \['model.embed_tokens.weight'\]"),
    (lambda: add_layers(PARAMS, CONFIG, 2, at=5), ValueError, r"at must lie in \[0, 1\], got 5"),
    (lambda: widen_hidden(PARAMS, CONFIG, 2, scaling="sqrt"), ValueError,
     r"scaling must be one of 'orthogonal', 'copy', got 'sqrt'"),
    # norms, activations, masks
    (lambda: norms.layer_norm(X, np.ones(5), np.zeros(4)), ValueError,
     r"gain must have shape \(4,\) to match x \(2, 5, 4\), got \(5,\)"),
    (lambda: norms.rms_norm(X, np.ones(4), eps=-1.0), ValueError, r"eps must be positive, got"),
    (lambda: activations.gelu(X, approximate="fast"), ValueError,
     r"approximate must be one of 'none', 'tanh', got 'fast'"),
    (lambda: masks.causal_mask(0), ValueError, r"length must be at least 1, got length=0"),
    (lambda: masks.causal_mask(3.5), TypeError, r"length must be an integer, got 3.5"),
    (lambda: masks.padding_mask([3, 5], 4), ValueError, r"lengths must lie in \[0, 4\], got"),
    # UniVAE
    (lambda: univae.UniVAEConfig(UNIVAE_BASE, n_latent=3, z_dim=4), ValueError,
     r"n_latent must be at most the number of layers n_layers=2, got n_latent=3"),
    (lambda: univae.UniVAEConfig(UNIVAE_BASE, n_latent=2, z_dim=4, kappa=-1.0), ValueError,
     r"kappa must be positive, got kappa=-1.0"),
    (lambda: univae.pack([[1, 2, 3]], [[6, 7]], maxlen=8), ValueError,
     r"source must be a 1-D integer array of 1 to maxlen=8 ids, got \[\[1, 2, 3\]\]"),
    (lambda: univae.pack([1, 2, 3, 4, 5], None, maxlen=4), ValueError,
     r"source must be a 1-D integer array of 1 to maxlen=4 ids"),
]


@pytest.mark.parametrize("call, error, pattern", MISTAKES)
def test_mistake_gets_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


VALID_UNUSUAL = [
    # lists and ints where arrays of floats are expected
    lambda: mixers.fnet_mixing([[1, 2], [3, 4]]),
    lambda: similarity.pair_cosine([1, 0, 0], [[0, 2, 0], [3, 3, 0]]),
    lambda: similarity.cosent_loss(U, V, [0.5, 1.0, 0.0]),     # real-valued scores
    lambda: similarity.cosine_distillation_loss(U, RNG.standard_normal((3, 7))),  # other width
    lambda: dimension.dimension_rule([2, 10**6]),
    lambda: dimension.random_projection([1.0, 2.0, 3.0, 4.0], 2, rng=0),          # one point
    lambda: norms.layer_norm(np.zeros(4), np.ones(4), np.zeros(4)),                # constant row
    lambda: activations.gelu(np.array(-40.0)),                                     # 0-d, far tail
    lambda: masks.padding_mask([0, 4], 4),                                         # empty row
    lambda: _logits(*widen_hidden(PARAMS, CONFIG, 1)),                             # k = 1
    lambda: _logits(*split_ffn(PARAMS, CONFIG, 16.0)),                             # integral float
]


@pytest.mark.parametrize("call", VALID_UNUSUAL)
def test_valid_unusual_input_works_and_is_finite(call):
    out = np.asarray(call(), dtype=np.float64)
    assert np.all(np.isfinite(out))


def test_numerical_vjp_accepts_a_tuple_of_arguments_and_ints():
    """The list check does not refuse tuples, and integer arguments are differentiated as
    floats: the central difference of sin at 1 and 2 is cos to O(h^2), h = eps^(1/3)."""
    grad, = numerical_vjp(np.sin, (np.array([1, 2]),), np.ones(2))
    np.testing.assert_allclose(grad, np.cos([1.0, 2.0]), rtol=1e-9)
