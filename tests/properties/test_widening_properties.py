"""The widening properties, run on refimpl's growth operators.

``preserves_function``: Su's widening, head duplication (HyperCloning) and the Net2Net
FFN split, with and without symmetry-breaking noise, on small random Transformers of
:func:`refimpl.testing.strategies.transformer_configs` (one-feature LayerNorm models
left out: they map every input to their bias and amplify round-off by 1/sqrt(eps)).
Tolerance: the property's ``16 eps 256 = 9.1e-13`` of ``max(1, |logits|)``.

``copies_separate_under_noise``: after ``duplicate_heads(k=2)``, FFN unit ``j`` and unit
``j + d_ff`` of every layer are copies; their up-projection gradients are equal without
noise and differ with noise 0.3.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from refimpl.testing.properties import Case
from refimpl.testing.properties import widening as properties
from refimpl.testing.strategies import transformer_configs
from refimpl.transformer import TransformerConfig, forward, init_params, loss_and_grad
from refimpl.widening import duplicate_heads, split_ffn, widen_hidden

seeds = st.integers(0, 2**32 - 1)
configs = transformer_configs().filter(lambda c: not (c.norm == "layernorm" and c.d_model == 1))


def random_model(config, seed):
    """Weights N(0, 0.5^2), every bias and gain perturbed (biases are what break the
    post's verbatim table)."""
    rng = np.random.default_rng(seed)
    params = init_params(config, rng, std=0.5)

    def randomize(tree):
        for key, value in (tree.items() if isinstance(tree, dict) else enumerate(tree)):
            if isinstance(value, (dict, list)):
                randomize(value)
            elif value.ndim == 1:
                tree[key] = (key == "gain") + 0.4 * rng.standard_normal(value.shape)

    randomize(params)
    return params, config


def logits(model):
    params, config = model
    return lambda tokens: forward(params, config, tokens)[0]


def _tokens(config, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, config.vocab_size, (2, min(5, config.max_positions)))


MOVES = {
    "widen_hidden": lambda m, noise, seed: widen_hidden(*m, 2, rope_method="repeat_frequencies",
                                                        noise=noise, rng=seed),
    "widen_hidden_x3": lambda m, noise, seed: widen_hidden(*m, 3, noise=noise, rng=seed),
    "duplicate_heads": lambda m, noise, seed: duplicate_heads(*m, 2, noise=noise, rng=seed),
    "split_ffn": lambda m, noise, seed: split_ffn(*m, m[1].d_ff + 3, noise=noise, rng=seed),
}


@given(configs, st.sampled_from(sorted(MOVES)), st.sampled_from([0.0, 0.3]), seeds)
def test_growth_preserves_the_function(config, move, noise, seed):
    small = random_model(config, seed)
    subject = properties.WideningSubject(logits(small), logits(MOVES[move](small, noise, seed)))
    properties.preserves_function(subject, Case(x=_tokens(config, seed))).assert_holds()


CONFIG = TransformerConfig(vocab_size=11, d_model=4, n_heads=2, head_dim=4, d_ff=6,
                           n_layers=2, activation="gelu")


def ffn_copy_gradients(noise, seed):
    """Gradients of the up-projection of FFN units j and j + d_ff, for every unit j."""
    small = random_model(CONFIG, 0)
    wide, wide_config = duplicate_heads(*small, 2, noise=noise, rng=seed)
    rng = np.random.default_rng(5)
    tokens, targets = rng.integers(0, CONFIG.vocab_size, (2, 2, 6))
    grads = loss_and_grad(wide, wide_config, tokens, targets)[1]
    groups = []
    for layer in grads["layers"]:
        up = layer["ffn"]["w_up"]
        groups += [(up[:, j], up[:, j + CONFIG.d_ff]) for j in range(CONFIG.d_ff)]
    return groups


@given(seeds)
def test_copies_separate_under_noise(seed):
    subject = properties.WideningSubject(lambda x: x, lambda x: x,
                                         copy_gradients=ffn_copy_gradients, noise=0.3)
    properties.copies_separate_under_noise(subject, Case(seed=seed)).assert_holds()
