"""The torch ports of benchmarks/torch_ports.py agree with refimpl, so that every
benchmark ratio against torch is a ratio against a correct port.

Tolerances: all ports run in float64; a port and refimpl compute the same formulas in
different orders, so they differ by a few eps times the condition of the result. Each
comparison is relative to the largest magnitude of the expected array, with a factor
that covers the depth of the computation (stated per test)."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
import torch_ports  # noqa: E402

from refimpl import rope, vmf  # noqa: E402
from refimpl.attention import (  # noqa: E402
    scaled_dot_product_attention,
    scaled_dot_product_attention_vjp,
)
from refimpl.masks import causal_mask  # noqa: E402
from refimpl.transformer import TransformerConfig, backward, forward, init_params  # noqa: E402

EPS = float(np.finfo(np.float64).eps)


def close(actual, expected, factor):
    """max |actual - expected| <= factor * eps * max(1, max |expected|)."""
    actual = actual.detach().numpy() if hasattr(actual, "detach") else np.asarray(actual)
    scale = max(1.0, float(np.max(np.abs(expected))) if np.size(expected) else 1.0)
    return float(np.max(np.abs(actual - expected), initial=0.0)) <= factor * EPS * scale


@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_rope_ports_match_refimpl_forward_and_vjp(layout):
    """x * cos + rot(x) * sin: one rounding per product, so 8 eps of the magnitude
    covers both forms; the angle gradient sums 2 * 64 * ... terms over batch and heads:
    a sum of 2 * 3 * 4 terms of size |x||g|, 64 eps."""
    rng = np.random.default_rng(0)
    x, grad = rng.standard_normal((2, 3, 16, 64)), rng.standard_normal((2, 3, 16, 64))
    angles = rope.angles(np.arange(-3, 13), rope.inv_freq(64))
    tx, tangles = torch_ports.tensor(x, True), torch_ports.tensor(angles, True)
    out = torch_ports.ROPE[layout](tx, tangles)
    assert close(out, rope.apply(x, angles, layout=layout), 8)
    out.backward(torch_ports.tensor(grad))
    grad_x, grad_angles, _, _ = rope.apply_vjp(grad, x, angles, layout=layout)
    assert close(tx.grad, grad_x, 8)
    assert close(tangles.grad, grad_angles, 64)


def test_sdpa_matches_refimpl_forward_and_vjp():
    """softmax(q k^T / sqrt(d)) v with a causal mask: logits of size ~sqrt(d) |q||k|, the
    softmax's relative error ~ d eps in the exponent, so 256 eps of the magnitude."""
    rng = np.random.default_rng(1)
    q, k, v, g = (rng.standard_normal((2, 4, 32, 16)) for _ in range(4))
    tq, tk, tv = (torch_ports.tensor(a, True) for a in (q, k, v))
    out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    mask = causal_mask(32)
    assert close(out, scaled_dot_product_attention(q, k, v, mask), 256)
    out.backward(torch_ports.tensor(g))
    expected = scaled_dot_product_attention_vjp(g, q, k, v, mask)
    for actual, wanted in zip((tq.grad, tk.grad, tv.grad), expected[:3], strict=True):
        assert close(actual, wanted, 256)


CONFIGS = [
    dict(),  # the benchmark's model: layernorm, gelu, interleaved RoPE, biases, tied
    dict(norm="rmsnorm", activation="swiglu", rope_layout="half", bias=False,
         tie_output=False),
    dict(activation="gelu_tanh", rotary_dim=4, attention_scale=False),
    dict(positions="none", activation="relu"),
]


@pytest.mark.parametrize("options", CONFIGS)
def test_gpt_port_matches_refimpl_forward_and_backward(options):
    """Two layers, each a few dozen roundings deep on values of size ~1: 1e-11 relative
    (about 5e4 eps) is loose for that and tight for any wrong formula."""
    config = TransformerConfig(vocab_size=50, d_model=16, n_heads=2, head_dim=8, d_ff=32,
                               n_layers=2, **options)
    rng = np.random.default_rng(2)
    params = init_params(config, rng)
    tokens = rng.integers(0, config.vocab_size, (2, 12))
    grad_logits = rng.standard_normal((2, 12, config.vocab_size))
    logits, cache = forward(params, config, tokens, causal_mask(12))
    grads = backward(params, config, cache, grad_logits)
    tparams = torch_ports.gpt_params(params)
    tlogits = torch_ports.gpt_forward(tparams, config, torch.tensor(tokens))
    assert close(tlogits, logits, 5e4)
    tlogits.backward(torch_ports.tensor(grad_logits))

    def compare(tree, expected):
        if isinstance(tree, dict):
            assert tree.keys() == expected.keys()
            for name in tree:
                compare(tree[name], expected[name])
        elif isinstance(tree, list):
            for t, e in zip(tree, expected, strict=True):
                compare(t, e)
        else:
            assert close(tree.grad, expected, 5e4)

    compare(tparams, grads)


def test_gpt_port_refuses_what_it_does_not_implement():
    config = TransformerConfig(vocab_size=5, d_model=4, n_heads=1, head_dim=4, d_ff=4,
                               n_layers=1, norm_position="post")
    params = torch_ports.gpt_params(init_params(config, 0))
    with pytest.raises(NotImplementedError, match="norm_position='post'"):
        torch_ports.gpt_forward(params, config, torch.tensor([[1, 2]]))


@pytest.mark.parametrize("d, kappa", [(5, 2.0), (10, 10.0), (100, 10.0), (1000, 300.0)])
def test_wood_port_round_agrees_with_refimpl_on_the_same_draws(d, kappa):
    """refimpl's wood_definition draws g1, g2 ~ Gamma(m/2) and u = 1 - U[0, 1) first;
    on those draws the port's first round accepts the same entries with the same w
    (1e-13: the two forms of b differ by a few ulps of kappa/m-sized terms)."""
    n, m = 2000, d - 1.0
    generator = np.random.default_rng(3)
    g1, g2 = generator.standard_gamma(m / 2.0, size=(2, n))
    u = 1.0 - generator.random(n)
    w = vmf.wood_definition(d, kappa, size=n, rng=3)
    proposal, accept = torch_ports.wood_accepts(torch_ports.tensor(g1 / (g1 + g2)),
                                                torch_ports.tensor(u), d, kappa)
    accept = accept.numpy()
    assert accept.mean() > 0.5  # Wood's envelope accepts most proposals
    assert np.max(np.abs(proposal.numpy()[accept] - w[accept])) <= 1e-13


@pytest.mark.parametrize("d, kappa", [(3, 1.0), (10, 10.0), (100, 30.0)])
def test_wood_port_samples_the_vmf_law(d, kappa):
    """Unit norm; <mu, x> has refimpl's marginal CDF (Kolmogorov-Smirnov, n = 20,000:
    the statistic sqrt(n) D exceeds 1.95 with probability 1e-3, so a correct port fails
    here less than once in 1000 runs; a Beta proposal without the rejection step, or a
    wrong b, moves the CDF by more than 0.05 and gives sqrt(n) D > 7); the tangent part
    is orthogonal to mu with mean 0."""
    torch.manual_seed(4)
    n = 20_000
    mu = np.random.default_rng(d).standard_normal(d)
    mu /= np.linalg.norm(mu)
    x = torch_ports.wood_vmf_sample(torch_ports.tensor(mu), kappa, n).numpy()
    assert np.max(np.abs(np.linalg.norm(x, axis=1) - 1.0)) <= 1e-14
    w = np.sort(x @ mu)
    cdf = vmf.marginal_cdf(w, d, kappa)
    ks = np.max(np.maximum(np.arange(1, n + 1) / n - cdf, cdf - np.arange(n) / n))
    assert np.sqrt(n) * ks <= 1.95
    tangent = x - (x @ mu)[:, None] * mu
    assert np.max(np.abs(tangent.mean(axis=0))) <= 5.0 / np.sqrt(n)
