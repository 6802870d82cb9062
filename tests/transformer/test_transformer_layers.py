"""The sublayers of the reference Transformer (refimpl/transformer/layers.py), each
backward checked on its own against central differences of its forward (the model-level
gradchecks in test_transformer_model.py cover them only through a whole layer).

Tolerances are assert_vjp's defaults: the central difference with step u^(1/3) max(1, |x|)
is accurate to about u^(2/3) ~ 4e-11 of the function's scale, well inside atol = 1e-7;
rtol = 1e-5 catches a wrong sign or factor on a small entry."""

import numpy as np
import pytest
from transformer_cases import CONFIGS, leaves, lookup, random_params, tiny, with_leaves

from refimpl.gradcheck import assert_vjp
from refimpl.masks import causal_mask, padding_mask
from refimpl.transformer import ACTIVATIONS, NORMS, rope_angles
from refimpl.transformer.layers import (
    activate,
    activate_backward,
    attention_backward,
    attention_forward,
    dense,
    dense_backward,
    ffn_backward,
    ffn_forward,
    norm,
    norm_backward,
)


def check_sublayer(forward_fn, backward_fn, p, x, rng):
    """Gradcheck ``forward_fn(p, x) -> (y, cache)`` against
    ``backward_fn(p, cache, g) -> (grads, grad_x)`` in ``x`` and every leaf of ``p``."""
    paths = [path for path, _ in leaves(p)]

    def f(x, *values):
        return forward_fn(with_leaves(p, paths, values), x)[0]

    def f_vjp(grad, x, *values):
        q = with_leaves(p, paths, values)
        grads, grad_x = backward_fn(q, forward_fn(q, x)[1], grad)
        assert sorted(map(str, (path for path, _ in leaves(grads)))) == sorted(map(str, paths))
        return (grad_x, *(lookup(grads, path) for path in paths))

    assert_vjp(f, f_vjp, [x] + [value for _, value in leaves(p)], rng=rng)


@pytest.mark.parametrize("eps", [None, 0.3])
@pytest.mark.parametrize("kind", NORMS)
def test_norm_backward(kind, eps):
    # eps = 0.3 (of the order of the variance) makes a dropped eps term visible
    config = tiny(norm=kind)
    rng = np.random.default_rng(1)
    p = random_params(config, rng)["layers"][0]["attn_norm"]
    check_sublayer(lambda p, x: (norm(p, config, x, eps), x),
                   lambda p, x, g: norm_backward(p, config, x, g, eps),
                   p, rng.standard_normal((2, 3, config.d_model)), rng)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activate_backward(activation):
    config = tiny(activation=activation)
    rng = np.random.default_rng(2)
    x = 2.0 * rng.standard_normal((2, 3, 5))     # away from relu's kink at 0 (w.p. 1)

    def f_vjp(grad, x):
        return activate_backward(config, grad, x, activate(config, x)[1])

    assert_vjp(lambda x: activate(config, x)[0], f_vjp, [x], rng=rng)


@pytest.mark.parametrize("has_bias", [True, False])
def test_dense_backward(has_bias):
    rng = np.random.default_rng(3)
    x, weight = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    bias = rng.standard_normal(5) if has_bias else None

    def f(x, weight, *bias):
        return dense(x, weight, *bias) if bias else dense(x, weight, None)

    def f_vjp(grad, x, weight, *bias):
        grads, grad_x = dense_backward(x, weight, grad, ("w", "b"), has_bias)
        assert sorted(grads) == (["b", "w"] if has_bias else ["w"])
        return (grad_x, grads["w"], *([grads["b"]] if has_bias else []))

    assert_vjp(f, f_vjp, [x, weight] + ([bias] if has_bias else []), rng=rng)


@pytest.mark.parametrize("options", CONFIGS)
def test_attention_backward(options):
    # a batch of masks (causal and padding), with RoPE where the config has it
    config = tiny(**options)
    rng = np.random.default_rng(4)
    p = random_params(config, rng)["layers"][0]["attn"]
    mask = np.expand_dims(np.broadcast_to(causal_mask(3) & padding_mask([3, 2], 3),
                                          (2, 3, 3)), -3)
    angles = rope_angles(config, np.arange(3))
    check_sublayer(lambda p, x: attention_forward(p, config, x, mask, angles),
                   lambda p, cache, g: attention_backward(p, config, cache, g),
                   p, rng.standard_normal((2, 3, config.d_model)), rng)


@pytest.mark.parametrize("has_bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_ffn_backward(activation, has_bias):
    config = tiny(activation=activation, bias=has_bias)
    rng = np.random.default_rng(5)
    p = random_params(config, rng)["layers"][0]["ffn"]
    assert ("w_gate" in p) == config.gated
    check_sublayer(lambda p, x: ffn_forward(p, config, x),
                   lambda p, cache, g: ffn_backward(p, config, cache, g),
                   p, rng.standard_normal((2, 3, config.d_model)), rng)
