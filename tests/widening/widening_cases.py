"""Shared helpers of the widening tests: random models with every parameter nonzero,
inputs that exercise masks, segments and positions, and the equivalence metric."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from refimpl.masks import causal_mask
from refimpl.testing.strategies import transformer_configs
from refimpl.transformer import TransformerConfig, forward, init_params, param_shapes

#: The issue's bound: max |logits_wide - logits_small| <= TOL * max(1, max |logits|).
TOL = 1e-12



def _well_conditioned(config: TransformerConfig) -> bool:
    """False for LayerNorm over one feature: it maps every input to its bias (the input
    is centred to exactly 0), so the wide model's copies, equal only to round-off,
    feed LayerNorms at zero variance, which amplify round-off by ``1/sqrt(eps)`` per
    norm, compounding over the layers (docs/widening.md, "Limits"). Leaving them out
    costs no power: the last norm before the logits outputs its bias, so such a model's
    logits are the same for every input and no wrong rule inside it could show."""
    return not (config.norm == "layernorm" and config.d_model == 1)


def configs(**fixed):
    """:func:`refimpl.testing.strategies.transformer_configs` without the degenerate
    one-feature LayerNorm models."""
    return transformer_configs(**fixed).filter(_well_conditioned)
seeds = st.integers(0, 2**32 - 1)
factors = st.sampled_from([2, 3])


def random_params(config: TransformerConfig, rng) -> dict:
    """Matrices N(0, 0.5^2), norm gains 1 +- 0.3, every bias N(0, 0.5^2) (nonzero biases
    are what separates the post's table from the corrected one)."""
    rng = np.random.default_rng(rng)
    params = init_params(config, rng, std=0.5)

    def randomize(tree):
        for key, value in (tree.items() if isinstance(tree, dict) else enumerate(tree)):
            if isinstance(value, (dict, list)):
                randomize(value)
            elif key == "gain":
                tree[key] = 1.0 + 0.3 * rng.standard_normal(value.shape)
            elif value.ndim == 1:
                tree[key] = 0.5 * rng.standard_normal(value.shape)

    randomize(params)
    return params


def model_inputs(config: TransformerConfig, rng, length: int = 5) -> dict:
    """Two sequences of ``length`` tokens, a causal mask half the time, segments when the
    config has them, shifted positions for RoPE."""
    rng = np.random.default_rng(rng)
    length = min(length, config.max_positions)
    inputs = dict(tokens=rng.integers(0, config.vocab_size, (2, length)),
                  mask=causal_mask(length) if rng.integers(2) else None)
    if config.n_segments:
        inputs["segments"] = rng.integers(0, config.n_segments, (2, length))
    if config.positions == "rope":
        inputs["positions"] = np.arange(length) + int(rng.integers(0, 50))
    return inputs


def logits(params: dict, config: TransformerConfig, inputs: dict) -> np.ndarray:
    inputs = dict(inputs)
    return forward(params, config, inputs.pop("tokens"), inputs.pop("mask"), **inputs)[0]


def relative_error(wide: np.ndarray, small: np.ndarray) -> float:
    """``max |wide - small| / max(1, max |small|)``."""
    return float(np.max(np.abs(wide - small)) / max(1.0, float(np.max(np.abs(small)))))


def equivalence_error(small, wide, inputs) -> float:
    """Relative logit error of the model pair ``(params, config)`` x 2 on ``inputs``."""
    return relative_error(logits(*wide, inputs), logits(*small, inputs))


def shapes_of(params):
    """The tree of ``params`` with shapes at the leaves (compare with param_shapes)."""
    if isinstance(params, dict):
        return {key: shapes_of(value) for key, value in params.items()}
    if isinstance(params, list):
        return [shapes_of(value) for value in params]
    return params.shape


def assert_valid(params: dict, config: TransformerConfig) -> None:
    """The config re-validates and the parameter shapes are exactly its table."""
    config.validate()
    assert shapes_of(params) == param_shapes(config)


def flat(tree) -> list:
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in flat(value)]
    if isinstance(tree, list):
        return [leaf for value in tree for leaf in flat(value)]
    return [tree]


#: The equivalence properties are the point of the module and cost milliseconds per
#: example: run them with ten times the profile's examples.
from hypothesis import settings  # noqa: E402

many_examples = settings(max_examples=10 * settings.default.max_examples)


@st.composite
def _grouped(draw, base: st.SearchStrategy) -> TransformerConfig:
    """A config of ``base`` made grouped-query: 2, 4 or 6 query heads over 1-3 key/value
    heads, and the other options of real decoders drawn too (causal with a window, the
    parallel residual of pre-LN models, the three bias switches, a RoPE factor)."""
    import dataclasses

    config = draw(base)
    kv_heads, groups = draw(st.sampled_from([(1, 2), (2, 2), (1, 4), (3, 2), (2, 1)]))
    causal = draw(st.booleans())
    fields = dict(n_heads=kv_heads * groups, n_kv_heads=kv_heads, causal=causal,
                  sliding_window=draw(st.sampled_from([None, 2])) if causal else None,
                  parallel_residual=config.norm_position == "pre" and draw(st.booleans()),
                  attention_bias=draw(st.sampled_from([None, True, False])),
                  mlp_bias=draw(st.sampled_from([None, True, False])),
                  output_bias=draw(st.sampled_from([None, True, False])))
    if config.positions == "rope":
        fields["rope_attention_factor"] = draw(st.sampled_from([1.0, 1.25]))
    return dataclasses.replace(config, **fields)


def grouped_configs(**fixed) -> st.SearchStrategy:
    """:func:`configs` with grouped-query heads and the decoder options (see ``_grouped``)."""
    return _grouped(configs(**fixed))
