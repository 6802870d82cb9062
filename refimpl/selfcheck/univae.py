"""Self-checks of refimpl.univae: the [CLS] bottleneck and the constant KL."""

from __future__ import annotations

import numpy as np

from refimpl import transformer as tf
from refimpl import univae as uv
from refimpl.selfcheck._core import Check, CheckResult

MAXLEN = 6


def _small_model(rng: np.random.Generator) -> tuple[uv.UniVAEConfig, dict]:
    transformer = tf.TransformerConfig(vocab_size=16, d_model=8, n_heads=2, head_dim=4,
                                       d_ff=16, n_layers=4, norm_position="post",
                                       n_segments=2)
    config = uv.UniVAEConfig(transformer, n_latent=2, z_dim=4)
    return config, uv.init_params(config, rng, std=0.5)


def information_flow(rng: np.random.Generator) -> CheckResult:
    """Largest change of any layer's target states when source tokens change, z fixed.

    Must be exactly zero: the target reads the source only through the replaced [CLS].
    As a control, the detail reports how much the same edit moves the source states.
    """
    config, params = _small_model(rng)
    worst, moved, cases = 0.0, 0.0, 0
    for _ in range(10):
        source = np.concatenate([[1], rng.integers(3, 16, MAXLEN - 2), [2]])
        tokens, segments = uv.pack(source, maxlen=MAXLEN)
        z = uv.sample_prior(config, rng=rng)
        changed = tokens.copy()
        changed[1:MAXLEN - 1] = rng.integers(3, 16, MAXLEN - 2)
        before = uv.forward(params, config, tokens, segments, "decoder", z).hidden_states
        after = uv.forward(params, config, changed, segments, "decoder", z).hidden_states
        for a, b in zip(before, after, strict=True):
            worst = max(worst, float(np.max(np.abs(a[MAXLEN:] - b[MAXLEN:]))))
            moved = max(moved, float(np.max(np.abs(a[:MAXLEN] - b[:MAXLEN]))))
            cases += 1
    return CheckResult(cases, worst, 0.0, f"source states moved by up to {moved:.3g}", unit="abs")


def kl_constant(rng: np.random.Generator) -> CheckResult:
    """The post's KL, 4 x KL(16, 32) = 30.328578 nats, against the closed form in mpmath."""
    transformer = tf.TransformerConfig(vocab_size=16, d_model=8, n_heads=2, head_dim=4,
                                       d_ff=16, n_layers=12)
    config = uv.UniVAEConfig(transformer, n_latent=4, z_dim=16, kappa=32.0)
    return CheckResult(1, abs(uv.kl(config) - 30.328578), 1e-6, unit="abs")


CHECKS = [
    Check("univae: target reads the source only via z", information_flow),
    Check("univae: KL constant 4 x KL(16, 32) nats", kl_constant),
]
